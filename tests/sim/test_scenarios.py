"""Scenarios: the demo's promised shape, the large bulk load (small knobs), and validated YAML files."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from console.sim import controllers, scenarios
from console.sim.cluster import SimCluster
from console.sim.gpus import gpu_uuid
from console.sim.resources import (CRDS, DAEMONSETS, DEPLOYMENTS, HPAS, INFERENCEWORKLOADS, ISVCS, JOBS, KSVCS,
                                   NAMESPACES, NODES, PODGROUPS, PODS, PRIORITYCLASSES, QUEUES, REPLICASETS,
                                   SERVICES)
from console.sim.scenarios import ScenarioError


def fresh() -> SimCluster:
    c = SimCluster(seed=11, manual_clock=True)
    controllers.install(c)
    return c


@pytest.fixture(scope="module")
def demo() -> SimCluster:
    c = fresh()
    scenarios.build(c, "demo")
    return c


def test_demo_has_the_fixed_furniture(demo: SimCluster) -> None:
    ns = {n["metadata"]["name"] for n in demo.store.items(NAMESPACES)}
    assert {"default", "kube-system", "kai-resource-reservation", "gpu-operator"} <= ns
    pcs = {p["metadata"]["name"]: p["value"] for p in demo.store.items(PRIORITYCLASSES)}
    assert pcs == {"train": 50, "build-preemptible": 75, "build": 100, "inference": 125, "very-low": 25,
                   "low": 40, "medium-low": 65, "medium": 80, "medium-high": 90, "high": 125, "very-high": 150}
    assert {c["metadata"]["name"] for c in demo.store.items(CRDS)} == {
        "queues.scheduling.run.ai", "podgroups.scheduling.run.ai", "bindrequests.scheduling.run.ai",
        "services.serving.knative.dev", "configurations.serving.knative.dev", "revisions.serving.knative.dev",
        "routes.serving.knative.dev", "inferenceservices.serving.kserve.io", "inferenceworkloads.run.ai"}
    dq = demo.store.get(QUEUES, None, "default-queue")
    assert dq["spec"]["parentQueue"] == "default-parent-queue"


def test_demo_queues_and_projects(demo: SimCluster) -> None:
    queues = {q["metadata"]["name"]: q for q in demo.store.items(QUEUES)}
    parents = {q["spec"].get("parentQueue") for q in queues.values()} - {None, "default-parent-queue"}
    assert parents == {"research", "production"}
    leaves = [q for q in queues.values() if q["spec"].get("parentQueue") in parents]
    assert len(leaves) >= 6
    for q in leaves:
        gpu = q["spec"]["resources"]["gpu"]
        assert {"quota", "limit", "overQuotaWeight"} <= set(gpu)
        ns = demo.store.get(NAMESPACES, None, f"runai-{q['metadata']['name']}")
        assert ns["metadata"]["labels"]["runai/queue"] == q["metadata"]["name"]


def test_demo_nodes_and_exporters(demo: SimCluster) -> None:
    nodes = list(demo.store.items(NODES))
    models = Counter((n["metadata"]["labels"]["nvidia.com/gpu.product"], n["status"]["capacity"]["nvidia.com/gpu"])
                     for n in nodes)
    assert models == {("NVIDIA-H100-80GB-HBM3", "8"): 5, ("NVIDIA-A100-SXM4-40GB", "8"): 5, ("NVIDIA-L40S", "4"): 4}
    for n in nodes:
        assert n["metadata"]["labels"]["nvidia.com/gpu.count"] == n["status"]["allocatable"]["nvidia.com/gpu"]
        assert [c["status"] for c in n["status"]["conditions"] if c["type"] == "Ready"] == ["True"]
        assert n["status"]["nodeInfo"]["kubeletVersion"].startswith("v1.")
    ex = [p for p in demo.store.items(PODS, "gpu-operator") if p["metadata"]["labels"].get("app") ==
          "nvidia-dcgm-exporter"]
    assert sorted(p["spec"]["nodeName"] for p in ex) == sorted(n["metadata"]["name"] for n in nodes)
    assert all(p["status"]["phase"] == "Running" for p in ex)
    assert all(p["metadata"]["ownerReferences"][0]["kind"] == "DaemonSet" for p in ex)
    assert ex[0]["spec"]["containers"][0]["ports"][0]["containerPort"] == 9400


def test_demo_workloads(demo: SimCluster) -> None:
    # Top-level Deployments only: Knative revisions and KServe predictors own theirs.
    deps = [d for d in demo.store.items(DEPLOYMENTS) if d["metadata"]["namespace"].startswith("runai-")
            and not d["metadata"].get("ownerReferences")]
    jobs = list(demo.store.items(JOBS))
    assert 35 <= len(deps) + len(jobs) <= 45
    inference = [d for d in deps if d["metadata"]["labels"].get("priorityClassName") == "inference"]
    assert len(inference) >= 12
    fractions = Counter((d["spec"]["template"]["metadata"].get("annotations") or {}).get("gpu-fraction")
                        for d in inference)
    assert fractions["0.25"] >= 2 and fractions["0.5"] >= 2
    assert any("gpu-memory" in (d["spec"]["template"]["metadata"].get("annotations") or {}) for d in inference)
    for d in inference:
        svc = demo.store.get(SERVICES, d["metadata"]["namespace"], d["metadata"]["name"])
        assert svc["spec"]["selector"] == {"app": d["metadata"]["name"]}
    assert any(j["spec"]["parallelism"] > 1 for j in jobs)
    for w in deps + jobs:
        labels = w["metadata"]["labels"]
        assert labels.get("kai.scheduler/queue") or labels.get("runai/queue")
        assert labels["priorityClassName"] and labels["app"]
        assert w["spec"]["template"]["spec"]["schedulerName"] == "kai-scheduler"
    assert any("runai/queue" in d["metadata"]["labels"] for d in deps + jobs)
    # every way inference is deployed: Knative (one scaling to zero), KServe, Run:ai, an HPA
    ksvcs = {k["metadata"]["name"] for k in demo.store.items(KSVCS)}
    assert {"llama-8b-chat", "sdxl-preview", "summarizer", "reranker-predictor"} <= ksvcs
    assert [i["metadata"]["name"] for i in demo.store.items(ISVCS)] == ["reranker"]
    assert [i["metadata"]["name"] for i in demo.store.items(INFERENCEWORKLOADS)] == ["summarizer"]
    assert [h["spec"]["scaleTargetRef"]["name"] for h in demo.store.items(HPAS)] == ["embeddings"]


def test_demo_with_the_scheduler_runs_and_leaves_some_pending() -> None:
    pytest.importorskip("console.sim.scheduler")
    from console.sim.build import make_cluster
    c = make_cluster("demo", manual_clock=True)
    phases = Counter(p["status"].get("phase") for p in c.store.items(PODS))
    assert phases["Running"] > 60 and phases["Pending"] >= 1
    from console.sim.kubelet import devices
    res = [p for p in c.store.items(PODS, "kai-resource-reservation") if p["status"].get("phase") == "Running"]
    assert res
    for p in res:
        node = p["spec"]["nodeName"]
        (uuid,) = [u for _, u, h in devices(c, node) if h == ("kai-resource-reservation", p["metadata"]["name"])]
        assert p["metadata"]["annotations"]["run.ai/reserve_for_gpu_index"] == uuid


def test_large_with_small_knobs() -> None:
    c = fresh()
    scenarios.build(c, "large", nodes=50, gpus_per_node=8, pods=1000, queues=30)
    pods = list(c.store.items(PODS))
    assert len(pods) == 1000 and len(list(c.store.items(NODES))) == 50
    assert len(list(c.store.items(QUEUES))) == 30 + 2
    assert all(p["status"]["phase"] == "Running" and p["spec"]["nodeName"] for p in pods)
    from console.model.podspec import gpu_request
    kinds = Counter(gpu_request(p).kind for p in pods if p["metadata"]["namespace"] != "kai-resource-reservation")
    assert kinds["whole"] > 20 and kinds["fraction"] > 50 and kinds["none"] > 200
    # Every fraction pod's group has a reservation pod on the same node carrying a GPU UUID of that node.
    res = {p["metadata"]["labels"]["runai-gpu-group"]: p for p in c.store.items(PODS, "kai-resource-reservation")}
    for p in pods:
        g = p["metadata"]["labels"].get("runai-gpu-group")
        if g and p["metadata"]["namespace"] != "kai-resource-reservation":
            r = res[g]
            assert r["spec"]["nodeName"] == p["spec"]["nodeName"]
            uuid = r["metadata"]["annotations"]["run.ai/reserve_for_gpu_index"]
            assert uuid in {gpu_uuid(r["spec"]["nodeName"], i) for i in range(8)}
    # No node holds more GPUs than it has.
    per_node = Counter()
    for p in pods:
        per_node[p["spec"]["nodeName"]] += gpu_request(p).count if gpu_request(p).kind == "whole" else 0
    assert max(per_node.values()) <= 8
    # Owners exist: pods → ReplicaSets / Jobs / DaemonSet; every workload pod has its PodGroup.
    uids = {o["metadata"]["uid"] for rt in (REPLICASETS, JOBS, DAEMONSETS) for o in c.store.items(rt)}
    owned = [p for p in pods if p["metadata"].get("ownerReferences")]
    assert all(p["metadata"]["ownerReferences"][0]["uid"] in uids for p in owned)
    pgs = {(g["metadata"]["namespace"], g["metadata"]["name"]) for g in c.store.items(PODGROUPS)}
    for p in owned:
        name = (p["metadata"].get("annotations") or {}).get("pod-group-name")
        if p["metadata"]["namespace"].startswith("runai-"):
            assert (p["metadata"]["namespace"], name) in pgs
    # Controllers agree with the loaded state: a round after the load changes nothing but exporter status.
    assert c.settle() == 0


def test_large_rejects_bad_knobs() -> None:
    with pytest.raises(ScenarioError, match="nodes: must be a whole number"):
        scenarios.build(fresh(), "large", nodes=-1)
    with pytest.raises(ScenarioError, match="pods: must be at least nodes"):
        scenarios.build(fresh(), "large", nodes=100, pods=10)
    with pytest.raises(ScenarioError, match="size knobs apply only to the large scenario"):
        scenarios.build(fresh(), "demo", nodes=3)
    with pytest.raises(ScenarioError, match="unknown scenario 'bogus'"):
        scenarios.build(fresh(), "bogus")


GOOD = """
name: lab
departments:
  - {name: research, quota: 8}
projects:
  - {name: alpha, department: research, quota: 4, limit: 8, overQuotaWeight: 2}
  - {name: beta, department: research, quota: 4, queueLabel: runai}
nodePools:
  - {name: a100, product: NVIDIA-A100-SXM4-40GB, count: 2, gpus: 4}
workloads:
  - {name: serve, project: alpha, kind: inference, replicas: 2, gpu: 0.5}
  - {name: mem, project: alpha, kind: inference, gpuMemory: 4000}
  - {name: train, project: beta, kind: training, gpu: 2, parallelism: 2, runSeconds: 60, count: 2}
  - {name: nb, project: beta, kind: interactive, gpu: 1}
"""


def test_custom_yaml_scenario(tmp_path: Path) -> None:
    f = tmp_path / "lab.yaml"
    f.write_text(GOOD)
    c = fresh()
    assert scenarios.build(c, str(f)) == "lab"
    assert sorted(n["metadata"]["name"] for n in c.store.items(NODES)) == ["a100-01", "a100-02"]
    assert c.store.get(QUEUES, None, "alpha")["spec"]["resources"]["gpu"] == {"quota": 4, "limit": 8,
                                                                              "overQuotaWeight": 2}
    assert c.store.get(NAMESPACES, None, "runai-beta")["metadata"]["labels"]["runai/queue"] == "beta"
    assert sorted(j["metadata"]["name"] for j in c.store.items(JOBS)) == ["train-1", "train-2"]
    assert c.store.get(JOBS, "runai-beta", "train-1")["metadata"]["labels"]["runai/queue"] == "beta"
    assert c.store.get(SERVICES, "runai-alpha", "serve")
    mem = c.store.get(DEPLOYMENTS, "runai-alpha", "mem")
    assert mem["spec"]["template"]["metadata"]["annotations"]["gpu-memory"] == "4000"


@pytest.mark.parametrize("text, message", [
    ("projects:\n  - {name: a}\n  - {name: b}\n  - {name: c, quota: -5}\n",
     "projects[2].quota: must be a number >= -1, got -5"),
    ("projects:\n  - {name: a, department: nope}\n", "projects[0].department: no department named 'nope'"),
    ("nodePools:\n  - {name: p, product: Tesla-T4}\n", "nodePools[0].count: required"),
    ("nodePools:\n  - {name: p, product: Tesla-T4, count: two}\n", "nodePools[0].count: must be an integer >= 0"),
    ("projects: [{name: a}]\nworkloads:\n  - {name: w, project: a, gpu: 0.5, gpuMemory: 100}\n",
     "workloads[0].gpuMemory: cannot be combined with gpu"),
    ("projects: [{name: a}]\nworkloads:\n  - {name: W_bad, project: a}\n", "workloads[0].name: must be a DNS label"),
    ("projects: [{name: a}]\nworkloads:\n  - {name: w, project: a, priority: urgent}\n",
     "workloads[0].priority: unknown priority class 'urgent'"),
    ("projects: [{name: a}]\nworkloads:\n  - {name: w, project: a, kind: batch}\n",
     "workloads[0].kind: must be one of inference, training, interactive"),
    ("projects: [{name: a, colour: red}]\n", "projects[0].colour: unknown field"),
    ("nodePools: [{name: p, product: Tesla-T4, count: 1, gpus: 2}]\ngpuFaults: [{node: p-02, gpu: 0, xid: 79}]\n",
     "gpuFaults[0].node: no node named 'p-02'"),
    ("nodePools: [{name: p, product: Tesla-T4, count: 1, gpus: 2}]\ngpuFaults: [{node: p-01, gpu: 2, xid: 79}]\n",
     "gpuFaults[0].gpu: p-01 has 2 GPUs, no GPU 2"),
    ("nodePools: [{name: p, product: Tesla-T4, count: 1}]\ngpuFaults: [{node: p-01, gpu: 0, clockEvents: [hot]}]\n",
     "gpuFaults[0].clockEvents: must be a list of gpu_idle"),
    ("projects: {name: a}\n", "projects: must be a list"),
    ("projects: [{name: a\n", "not valid YAML at line"),
    ("- just\n- a list\n", "scenario: must be a mapping"),
])
def test_bad_yaml_names_the_field_and_builds_nothing(tmp_path: Path, text: str, message: str) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    c = fresh()
    with pytest.raises(ScenarioError) as e:
        scenarios.build(c, str(f))
    assert message in str(e.value)
    assert str(f) in str(e.value)
    assert list(c.store.items(NAMESPACES)) == [] and list(c.store.items(QUEUES)) == []


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="no such scenario file"):
        scenarios.build(fresh(), str(tmp_path / "nope.yaml"))


def test_admission_refusal_rolls_back(tmp_path: Path) -> None:
    """An object the apiserver refuses undoes everything the build created."""
    from console.sim.errors import ApiError

    c = fresh()

    def refuse_jobs(rt, obj, old, op) -> None:
        if rt.kind == "Job":
            raise ApiError(422, "Job is invalid: spec.template: nope", "Invalid")
    c.store.admission.append(refuse_jobs)
    f = tmp_path / "lab.yaml"
    f.write_text(GOOD)
    with pytest.raises(ScenarioError, match=r"Job runai-beta/train-1: Job is invalid"):
        scenarios.build(c, str(f))
    assert list(c.store.items(NODES)) == [] and list(c.store.items(QUEUES)) == []
    assert list(c.store.items(DEPLOYMENTS)) == []


def test_gpu_faults_become_what_the_nodes_exporter_reports(tmp_path: Path) -> None:
    from console.sim.exporter import Exporter
    from console.telemetry.dcgm_parse import parse, to_sample

    f = tmp_path / "faults.yaml"
    f.write_text("nodePools: [{name: p, product: NVIDIA-H100-80GB-HBM3, count: 1, gpus: 4}]\n"
                 "gpuFaults:\n"
                 "  - {node: p-01, gpu: 1, clockEvents: [power_cap]}\n"
                 "  - {node: p-01, gpu: 3, xid: 79, eccUncorrected: 2, rowRemapFailure: true}\n")
    c = fresh()
    scenarios.build(c, str(f))
    node = c.store.get(NODES, None, "p-01")
    ann = node["metadata"]["annotations"]
    assert ann["sim.gpuconsole.io/xid-errors"] == "3=79" and ann["sim.gpuconsole.io/clock-events"] == "1=power_cap"
    pod = {"metadata": {"name": "nvidia-dcgm-exporter-x"}, "spec": {"nodeName": "p-01"}}
    health = {g.index: to_sample(g, "p-01").health for g in parse(Exporter(c).render(pod)).gpus.values()}
    assert health[0].ok and health[2].ok
    assert health[1].throttle == ("power_cap",)
    assert health[3].problems() == ["XID 79", "row remap failed", "ECC"]
