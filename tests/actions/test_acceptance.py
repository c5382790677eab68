"""The actions against the simulated cluster over loopback: what the preview promised is what happens."""

from __future__ import annotations

from console.actions.manifests import SubmitForm
from console.model.kai_read import GPU_GROUP_LABEL, is_reservation_pod
from console.sim.resources import DEPLOYMENTS, JOBS, PODGROUPS, PODS
from console.sim.store import Change

from .conftest import scenario


def _pods(cluster, ns: str, prefix: str) -> list[dict]:
    return [p for p in cluster.store.items(PODS, ns) if p["metadata"]["name"].startswith(prefix)]


def _timeline(cluster, ns: str) -> dict[str, list[str]]:
    """Per pod of `ns`, what each change did: `disruption-target`, `deletion-timestamp`, `gone`."""
    seen: dict[str, list[str]] = {}

    def watch(ch: Change) -> None:
        if ch.rkey != "pods" or ch.obj["metadata"]["namespace"] != ns:
            return
        steps = seen.setdefault(ch.obj["metadata"]["name"], [])
        if ch.type == "DELETED":
            steps.append("gone")
        elif ch.type == "MODIFIED":
            def dt(o: dict) -> bool:
                return any(c.get("type") == "DisruptionTarget" and c.get("status") == "True"
                           for c in (o.get("status") or {}).get("conditions") or [])
            if dt(ch.obj) and not dt(ch.old):
                steps.append("disruption-target")
            if ch.obj["metadata"].get("deletionTimestamp") and not ch.old["metadata"].get("deletionTimestamp"):
                steps.append("deletion-timestamp")
    cluster.store.subscribe(watch)
    return seen


def _pending_reasons(cluster, ns: str, pods: list[dict]) -> list[str]:
    out = []
    for p in pods:
        pg = cluster.store.get(PODGROUPS, ns, p["metadata"]["annotations"]["pod-group-name"])
        conds = (pg.get("status") or {}).get("schedulingConditions") or []
        out += [r["reason"] for c in conds for r in c.get("reasons") or []]
    return out


async def test_submit_fractional_inference_runs_next_to_a_reservation_pod(make_env) -> None:
    env = await make_env(scenario([{"name": "team-a", "quota": 2}]))
    s = await env.session()
    plan = await s.plan_submit(SubmitForm("inference", "frac-llm", "team-a", "vllm/vllm-openai:v0.6.3", gpu="0.5",
                                          replicas=2, port=8000))
    assert plan.ok, plan.blockers()
    kinds = [m["kind"] for m in plan.manifests]
    assert kinds == ["Deployment", "Service"]
    dep = plan.manifests[0]
    tmpl = dep["spec"]["template"]
    assert tmpl["spec"]["schedulerName"] == "kai-scheduler"
    assert tmpl["metadata"]["annotations"] == {"gpu-fraction": "0.5"}
    assert tmpl["metadata"]["labels"]["kai.scheduler/queue"] == "team-a"
    assert dep["metadata"]["labels"]["priorityClassName"] == "inference"
    assert tmpl["spec"]["priorityClassName"] == "inference"
    assert "nvidia.com/gpu" not in str(tmpl["spec"]["containers"][0].get("resources"))
    assert plan.preview is not None and plan.preview.running == 2 and not plan.preview.victims
    assert all(p.shared_gpu for p in plan.preview.pods)

    out = await s.apply(plan)
    assert out.ok, out.message
    env.settle()
    pods = _pods(env.cluster, "runai-team-a", "frac-llm-")
    assert len(pods) == 2 and all(p["status"]["phase"] == "Running" for p in pods)
    groups = {p["metadata"]["labels"][GPU_GROUP_LABEL] for p in pods}
    reservations = [p for p in env.cluster.store.items(PODS, "kai-resource-reservation") if is_reservation_pod(p)]
    res_groups = {p["metadata"]["labels"][GPU_GROUP_LABEL]: p for p in reservations}
    assert groups <= set(res_groups), "each shared GPU has its reservation pod"
    for p in pods:
        r = res_groups[p["metadata"]["labels"][GPU_GROUP_LABEL]]
        assert r["spec"]["nodeName"] == p["spec"]["nodeName"]
        assert r["metadata"]["annotations"]["run.ai/reserve_for_gpu_index"].startswith("GPU-")
    # the two halves pack onto one GPU, as the preview said (the second joins the first's group)
    assert len(groups) == 1 and [p.new_shared_gpu for p in plan.preview.pods] == [True, False]


async def test_scale_beyond_quota_pends_exactly_as_previewed(make_env) -> None:
    env = await make_env(scenario([{"name": "team-a", "quota": 3}],
                                  workloads=[{"name": "serve", "project": "team-a", "kind": "inference",
                                              "gpu": 1, "replicas": 2}]))
    s = await env.session()
    plan = await s.plan_scale("runai-team-a/serve", "5")
    assert plan.ok, plan.blockers()
    assert plan.diff == {"spec.replicas": [2, 5]}
    assert plan.preview.running == 1 and plan.preview.pending == 2
    assert plan.preview.pending_reasons() == {"NonPreemptibleOverQuota": 2}
    assert not plan.preview.victims
    out = await s.apply(plan)
    assert out.ok, out.message
    env.settle()
    pods = _pods(env.cluster, "runai-team-a", "serve-")
    running = [p for p in pods if p["status"].get("phase") == "Running"]
    pending = [p for p in pods if p["status"].get("phase") == "Pending"]
    assert (len(running), len(pending)) == (3, 2)
    assert _pending_reasons(env.cluster, "runai-team-a", pending) == ["NonPreemptibleOverQuota"] * 2


async def test_inference_into_a_full_cluster_reclaims_what_the_preview_listed(make_env) -> None:
    env = await make_env(scenario([{"name": "team-a", "quota": 2}, {"name": "team-b", "quota": 2}],
                                  workloads=[{"name": "big-train", "project": "team-b", "kind": "training",
                                              "gpu": 1, "parallelism": 4}]))
    job_pods = _pods(env.cluster, "runai-team-b", "big-train-")
    assert len(job_pods) == 4 and all(p["status"]["phase"] == "Running" for p in job_pods)
    s = await env.session()
    plan = await s.plan_submit(SubmitForm("inference", "urgent", "team-a", "nginx:1.27", gpu="1", replicas=2))
    assert plan.ok, plan.blockers()
    pv = plan.preview
    assert pv.running == 2
    assert pv.evicted_by_workload() == {"Job runai-team-b/big-train": 2}
    assert {v.action for v in pv.victims} == {"Reclaim"}
    # the victims terminate for their grace period first: the new pods run once they are gone
    assert all(p.after_release for p in pv.pods)
    assert pv.pods[0].line().endswith("once the pods being deleted there have terminated")

    timeline = _timeline(env.cluster, "runai-team-b")
    assert (await s.apply(plan)).ok
    env.settle()
    env.settle()
    # the victims are marked and terminate for their grace period, still holding their GPUs, so the
    # inference pods wait (pipelined to the node) instead of more being evicted for them
    victims = sorted(n for n, steps in timeline.items() if "deletion-timestamp" in steps)
    assert len(victims) == 2 and set(victims) <= {p["metadata"]["name"] for p in job_pods}
    for v in victims:
        assert timeline[v] == ["disruption-target", "deletion-timestamp"]
        assert env.cluster.store.get(PODS, "runai-team-b", v)["spec"]["nodeName"]
    urgent = _pods(env.cluster, "runai-team-a", "urgent-")
    assert len(urgent) == 2 and all(not p["spec"].get("nodeName") for p in urgent)
    env.settle(28)
    assert all(not p["spec"].get("nodeName") for p in _pods(env.cluster, "runai-team-a", "urgent-"))
    # a preview now sees the victims as releasing: their room goes to the waiting urgent pods, and
    # nothing more is evicted for new work
    more = await s.plan_submit(SubmitForm("inference", "later", "team-a", "nginx:1.27", gpu="1", replicas=1))
    assert more.ok and not more.preview.victims and more.preview.pods[0].runs is False
    env.settle(1)  # 30 s since the eviction: the victims are gone and the GPUs theirs
    for v in victims:
        assert timeline[v] == ["disruption-target", "deletion-timestamp", "gone"]
    env.settle()
    urgent = _pods(env.cluster, "runai-team-a", "urgent-")
    assert len(urgent) == 2 and all(p["status"]["phase"] == "Running" for p in urgent)
    assert sorted(n for n, steps in timeline.items() if "gone" in steps) == victims


async def test_preempting_training_evicts_with_disruption_target_and_new_pods_wait(make_env) -> None:
    env = await make_env(scenario([{"name": "team-a", "quota": 4}], gpus=2, workloads=[
        {"name": "first", "project": "team-a", "kind": "training", "gpu": 2}]))
    env.settle()
    # a second job of the same priority waits: KAI never preempts an equal for it
    env.cluster.store.create(JOBS, _job_like(env, "second"))
    env.settle()
    first = _pods(env.cluster, "runai-team-a", "first-")
    assert [p["status"]["phase"] for p in first] == ["Running"]
    s = await env.session()
    plan = await s.plan_preempt("runai-team-a/first")
    assert plan.ok, plan.blockers()
    assert plan.destructive and plan.confirm_phrase is None
    assert any("Job runai-team-a/second" in line for line in plan.preview.started)
    assert [p.runs for p in plan.preview.pods] == [False]

    timeline = _timeline(env.cluster, "runai-team-a")
    out = await s.apply(plan)
    assert out.ok, out.message
    victim = first[0]["metadata"]["name"]
    # the Eviction API marks the pod DisruptionTarget, then deletes it gracefully: it stays Terminating
    assert timeline == {victim: ["disruption-target", "deletion-timestamp"]}
    env.settle()
    # the Job replaces it at once (a terminating pod is not active), but the GPU is still the victim's:
    # the replacement and the waiting job both pend until it is gone
    assert env.cluster.store.get(PODS, "runai-team-a", victim)["metadata"]["deletionTimestamp"]
    new = [p for p in _pods(env.cluster, "runai-team-a", "first-") if p["metadata"]["name"] != victim]
    assert len(new) == 1 and new[0]["status"]["phase"] == "Pending" and not new[0]["spec"].get("nodeName")
    second = _pods(env.cluster, "runai-team-a", "second-")
    assert second[0]["status"]["phase"] == "Pending" and not second[0]["spec"].get("nodeName")
    env.settle(29)  # 30 s after the eviction
    assert timeline[victim] == ["disruption-target", "deletion-timestamp", "gone"]
    env.settle()
    new = _pods(env.cluster, "runai-team-a", "first-")
    assert len(new) == 1 and new[0]["metadata"]["name"] != victim
    assert new[0]["status"]["phase"] == "Pending" and not new[0]["spec"].get("nodeName")
    second = _pods(env.cluster, "runai-team-a", "second-")
    assert second[0]["status"]["phase"] == "Running"
    entry = env.audit.entries()[-1]
    assert (entry["action"], entry["target"], entry["outcome"]) == ("preempt", "Job runai-team-a/first", "ok")
    assert entry["dry_run"] == "eviction of 1 pod(s) accepted"


def _job_like(env, name: str) -> dict:
    import copy
    job = copy.deepcopy(env.cluster.store.get(JOBS, "runai-team-a", "first"))
    md = job["metadata"]
    for k in ("uid", "resourceVersion", "creationTimestamp", "generation"):
        md.pop(k, None)
    md["name"] = name
    md["labels"]["app"] = name
    job["spec"]["template"]["metadata"]["labels"] = {
        k: v for k, v in job["spec"]["template"]["metadata"]["labels"].items()
        if k not in ("batch.kubernetes.io/controller-uid", "controller-uid", "batch.kubernetes.io/job-name",
                     "job-name")}
    job["spec"]["template"]["metadata"]["labels"]["app"] = name
    job["spec"].pop("selector", None)
    job.pop("status", None)
    return job


async def test_every_mutation_is_audited_and_no_token_is_written(make_env) -> None:
    env = await make_env(scenario([{"name": "team-a", "quota": 4}]))
    s = await env.session()
    plan = await s.plan_submit(SubmitForm("inference", "svc", "team-a", "nginx:1.27", gpu="0.5", replicas=1))
    assert (await s.apply(plan)).ok
    env.settle()
    plan = await s.plan_scale("runai-team-a/svc", "+1")
    assert (await s.apply(plan)).ok
    env.settle()
    viewer = await env.session("sim-viewer")
    refused = await viewer.plan_scale("runai-team-a/svc", "3")
    assert not (await viewer.apply(refused)).ok
    plan = await s.plan_delete(["runai-team-a/svc"])
    assert (await s.apply(plan)).ok
    entries = env.audit.entries()
    assert [(e["action"], e["outcome"]) for e in entries] == [
        ("submit", "ok"), ("scale", "ok"), ("scale", "refused"), ("delete", "ok")]
    for e in entries:
        assert e["context"] and e["user"] and e["time"] and e["target"]
    assert entries[0]["manifest"][0]["kind"] == "Deployment"
    assert entries[1]["diff"] == {"spec.replicas": [1, 2]}
    assert entries[0]["dry_run"]
    raw = env.audit.path.read_text()
    for user in ("admin", "viewer"):
        assert env.token(user) not in raw
    assert env.cluster.store.try_get(DEPLOYMENTS, "runai-team-a", "svc") is None
