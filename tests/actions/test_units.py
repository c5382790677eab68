"""Pure parts of the actions: parsing, manifests, queue-label detection, the audit log's scrubbing."""

from __future__ import annotations

import os
import stat

import pytest
import yaml

from console.actions.audit import AuditLog, default_path, scrub
from console.actions.errors import ActionError
from console.actions.facts import ClusterFacts
from console.actions.manifests import GpuAsk, Placement, Values, build
from console.actions.preview import preview_new, pods_from_template, workload_of
from console.actions.scale import autoscale_range, parse_count
from console.actions.targets import UsageError, parse_ref
from console.actions.validate import dns_label_problem, parse_gpu, parse_int, validate_objects
from console.actions.yaml_input import parse_documents
from console.model.podspec import gpu_request, queue_of


def _load(path) -> dict:
    return yaml.safe_load(path.read_text())


@pytest.mark.parametrize("text,kind,value", [
    ("2", "whole", 2), (3, "whole", 3), ("0.25", "fraction", 0.25), (0.5, "fraction", 0.5),
    ("20000Mi", "memory", 20000), ("20Gi", "memory", 20480), (None, "none", 0), ("", "none", 0),
])
def test_parse_gpu_accepts_whole_fraction_and_memory(text, kind, value) -> None:
    ask, err = parse_gpu(text, 40960)
    assert err is None and ask.kind == kind
    assert {"whole": ask.count, "fraction": ask.fraction, "memory": ask.memory_mib, "none": 0}[kind] == value


@pytest.mark.parametrize("text", ["1.5", "0", "-1", "abc", "nan", "inf", True, "0Mi", "99999Mi"])
def test_parse_gpu_refuses_with_a_reason(text) -> None:
    ask, err = parse_gpu(text, 40960)
    assert ask is None and err


def test_memory_limit_comes_from_the_real_node_labels(realworld) -> None:
    node = _load(realworld / "runai" / "node_fraction_1_workload.yaml")
    facts = ClusterFacts({"nodes": [node]})
    assert facts.gpu_memory_max() == 15360
    assert parse_gpu("15360Mi", facts.gpu_memory_max())[1] is None
    assert "(15360 MiB)" in parse_gpu("16000Mi", facts.gpu_memory_max())[1]


@pytest.mark.parametrize("value,ok", [(0, True), ("3", True), (2.0, True), (-1, False), (2.5, False),
                                      ("x", False), (True, False), ("1e3", False)])
def test_parse_int(value, ok) -> None:
    n, err = parse_int(value, "replicas")
    assert (err is None) == ok and (n is not None) == ok


@pytest.mark.parametrize("name,ok", [("llm-serve", True), ("a", True), ("a" * 63, True), ("a" * 64, False),
                                     ("Upper", False), ("-x", False), ("x-", False), ("a_b", False), ("", False),
                                     (None, False), ("a.b", False)])
def test_dns_label(name, ok) -> None:
    assert (dns_label_problem(name) is None) == ok


def _values(**kw) -> Values:
    base = dict(type="inference", name="llm", image="img:1", gpu=GpuAsk("fraction", 1, 0.25), replicas=2,
                min_replicas=None, max_replicas=None, port=8000, priority="inference")
    return Values(**{**base, **kw})


def test_inference_manifest_matches_kai_examples(realworld) -> None:
    dep, svc = build(_values(), Placement("team-a", "runai-team-a", "kai.scheduler/queue"))
    example = _load(realworld / "kai" / "gpu-sharing__gpu-sharing.yaml")
    tmpl = dep["spec"]["template"]
    assert tmpl["spec"]["schedulerName"] == example["spec"]["schedulerName"]
    assert set(tmpl["metadata"]["annotations"]) == set(example["metadata"]["annotations"])  # gpu-fraction
    assert set(example["metadata"]["labels"]) <= set(tmpl["metadata"]["labels"])  # kai.scheduler/queue
    assert gpu_request(tmpl).kind == "fraction" and gpu_request(tmpl).portion == 0.25
    assert queue_of(tmpl, dep) == "team-a"
    assert dep["metadata"]["labels"]["priorityClassName"] == "inference" == tmpl["spec"]["priorityClassName"]
    assert svc["spec"]["selector"] == dep["spec"]["selector"]["matchLabels"] == {"app": "llm"}


def test_memory_and_whole_gpu_requests_use_kai_keys(realworld) -> None:
    p = Placement("team-a", "runai-team-a", "kai.scheduler/queue")
    (dep,) = build(_values(gpu=GpuAsk("memory", 1, 0, 2000), port=None), p)
    example = _load(realworld / "kai" / "gpu-sharing__gpu-memory.yaml")
    assert dep["spec"]["template"]["metadata"]["annotations"] == example["metadata"]["annotations"] \
        | {"gpu-memory": "2000"}
    (job,) = build(_values(type="training", gpu=GpuAsk("whole", 2), priority="train", port=None), p)
    example = _load(realworld / "kai" / "batch__batch-job.yaml")
    c = job["spec"]["template"]["spec"]["containers"][0]
    assert c["resources"]["limits"] == {"nvidia.com/gpu": "2"}
    assert set(example["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]) == set(
        c["resources"]["limits"])
    assert job["spec"]["parallelism"] == job["spec"]["completions"] == 2
    assert "annotations" not in job["spec"]["template"]["metadata"]


def test_runai_projects_get_the_runai_label_and_project(realworld) -> None:
    pod = _load(realworld / "runai" / "fractional_pod.yaml")
    facts = ClusterFacts({"pods": [pod]})
    key = facts.queue_label_key("pa", "runai-pa")
    assert key == "runai/queue"
    (dep,) = build(_values(port=None), Placement("pa", "runai-pa", key))
    labels = dep["spec"]["template"]["metadata"]["labels"]
    assert labels["runai/queue"] == "pa" and labels["project"] == pod["metadata"]["labels"]["project"]
    assert queue_of(dep["spec"]["template"], dep) == "pa"


def test_queue_label_follows_the_projects_own_workloads() -> None:
    def dep(ns: str, key: str) -> dict:
        return {"metadata": {"name": "d", "namespace": ns, "labels": {key: "q"}}}
    facts = ClusterFacts({"deployments": [dep("ns-a", "runai/queue"), dep("ns-b", "kai.scheduler/queue"),
                                          dep("ns-b", "kai.scheduler/queue")]})
    assert facts.queue_label_key("a", "ns-a") == "runai/queue"
    assert facts.queue_label_key("c", "ns-c") == "kai.scheduler/queue"  # the cluster's majority
    assert ClusterFacts({}).queue_label_key("x", "y") == "kai.scheduler/queue"


def test_default_queues_from_kai_quickstart_are_projects(realworld) -> None:
    queues = list(yaml.safe_load_all((realworld / "kai" / "quickstart__default-queues.yaml").read_text()))
    facts = ClusterFacts({"queues": queues})
    assert facts.projects() == ["default-queue"] and facts.departments() == ["default-parent-queue"]


def test_every_kai_example_pod_validates(realworld) -> None:
    facts = ClusterFacts({"namespaces": [{"metadata": {"name": "default"}}]})
    for f in sorted((realworld / "kai").glob("*.yaml")):
        docs = parse_documents(f.read_text(), f.name)
        pods = [d for d in docs if d.get("kind") in ("Pod", "Job")]
        assert validate_objects(pods, facts, "default") == [], f.name


def test_yaml_lists_and_multiple_documents() -> None:
    docs = parse_documents("kind: List\nitems: [{kind: A}, {kind: B}]\n---\nkind: C\n")
    assert [d["kind"] for d in docs] == ["A", "B", "C"]
    with pytest.raises(ActionError, match="line 2"):
        parse_documents("a: 1\n b: [\n")


@pytest.mark.parametrize("text,current,want", [("5", 2, 5), ("+2", 2, 4), ("-1", 2, 1), (" 3 ", 0, 3), (7, 1, 7)])
def test_parse_count(text, current, want) -> None:
    assert parse_count(text, current) == want


@pytest.mark.parametrize("text", ["2.5", "abc", "+", "++1", "", "1-"])
def test_parse_count_refuses(text) -> None:
    with pytest.raises(UsageError):
        parse_count(text, 1)


def test_parse_ref() -> None:
    assert str(parse_ref("ns/name")) == "ns/name"
    assert parse_ref("ns/deploy/name").kind == "deploy"
    for bad in ("name", "a/b/c/d", "/x", "ns/", "NS/x", "ns/thing/x"):
        with pytest.raises(UsageError):
            parse_ref(bad)


def test_autoscale_range() -> None:
    assert autoscale_range({"metadata": {"annotations": {"sim.gpuconsole.io/autoscale": "1-4"}}}) == (1, 4)
    assert autoscale_range({"metadata": {"annotations": {"sim.gpuconsole.io/autoscale": "4-1"}}}) is None
    assert autoscale_range({}) is None


def test_scrub_removes_tokens_by_key_and_value() -> None:
    entry = {"user": "u", "token": "abc", "nested": [{"Authorization": "Bearer xyz"}],
             "note": "sent with Bearer sekret-token-value", "echo": "the secret sim.admin.0123456789 leaked",
             "manifest": {"kind": "Secret", "data": {"k": "dmFsdWU="}, "metadata": {"name": "s"}}}
    out = scrub(entry, ["sim.admin.0123456789"])
    text = str(out)
    for secret in ("abc", "xyz", "sekret-token-value", "sim.admin.0123456789", "dmFsdWU="):
        assert secret not in text
    assert out["user"] == "u" and out["manifest"]["metadata"] == {"name": "s"}


def test_audit_log_appends_private_lines(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert default_path() == tmp_path / "xdg" / "gpuconsole" / "audit.jsonl"
    log = AuditLog(secrets=["tok-123456"])
    log.record(context="c", user="u", action="scale", target="t", outcome="ok", diff={"x": [1, 2]})
    log.record(context="c", user="u", action="delete", target="t tok-123456", outcome="failed")
    assert [e["action"] for e in log.entries()] == ["scale", "delete"]
    assert "tok-123456" not in log.path.read_text()
    assert stat.S_IMODE(os.stat(log.path).st_mode) == 0o600
    assert set(log.entries()[0]) == {"time", "context", "user", "action", "target", "diff", "dry_run", "outcome"}


def test_preview_reads_real_run_ai_objects(realworld) -> None:
    """A Run:ai node (2 GPUs) holding one preemptible half-GPU pod: new non-preemptible halves pack next to it,
    open the second GPU, and the fourth preempts the Run:ai pod, which runs at a lower priority."""
    node = _load(realworld / "runai" / "node_fraction_1_workload.yaml")
    pod = _load(realworld / "runai" / "fractional_pod.yaml")
    res = _load(realworld / "runai" / "fractional_pod_reservation.yaml")
    node["metadata"]["name"] = pod["spec"]["nodeName"]  # the samples come from two clusters; put them on one node
    queue = {"metadata": {"name": "pa"}, "spec": {"resources": {"gpu": {"quota": 4, "limit": -1}}}}
    facts = ClusterFacts({"nodes": [node], "pods": [pod, res], "queues": [queue]})
    assert node["status"]["allocatable"]["nvidia.com/gpu"] == "2"
    owner = {"kind": "Deployment", "metadata": {"name": "half", "namespace": "runai-pa"}, "spec": {"template": {
        "metadata": {"labels": {"runai/queue": "pa"}, "annotations": {"gpu-fraction": "0.5"}},
        "spec": {"schedulerName": "runai-scheduler", "containers": [{"name": "c", "image": "i"}]}}}}
    pv = preview_new(facts, pods_from_template(owner, 4), owner)
    assert [p.runs for p in pv.pods] == [True, True, True, True]
    assert [p.new_shared_gpu for p in pv.pods] == [False, True, False, False]
    run_ai_job = pod["metadata"]["ownerReferences"][0]["name"]
    assert workload_of(facts, pod) == ("RunaiJob", "runai-pa", run_ai_job)
    assert [(v.workload, v.action, v.pods) for v in pv.victims] == [
        (f"RunaiJob runai-pa/{run_ai_job}", "Preempt", ("runai-pa/frac-1-0-0",))]


async def test_session_turns_an_unreadable_target_into_a_plan_problem() -> None:
    from console.actions.session import ActionSession

    async def bad() -> None:
        parse_ref("not a target")

    session = ActionSession.__new__(ActionSession)  # _planned needs no connection
    plan = await session._planned("scale", bad())
    assert not plan.ok and plan.problems and "not a target" in plan.problems[0]
