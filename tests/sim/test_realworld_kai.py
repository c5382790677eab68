"""KAI's own example manifests and captured Run:ai objects, applied to the simulated cluster."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from console.sim.resources import JOBS, NAMESPACES, NODES, PODGROUPS, PODS, QUEUES, for_kind

from .test_scheduler import add_node, condition, grant_gpus, make_cluster

Obj = dict[str, Any]


def docs(path: Path) -> list[Obj]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def apply(c, obj: Obj, ns: str | None = None) -> Obj:
    rt = for_kind(obj["apiVersion"], obj["kind"])
    assert rt is not None, f"{obj['apiVersion']} {obj['kind']} is not served"
    return c.store.create(rt, copy.deepcopy(obj), namespace=ns if rt.namespaced else None)


def job_pods(c, job: Obj) -> None:
    """What the Job controller does: pods from the template, owned by the Job."""
    tmpl = job["spec"]["template"]
    for i in range(job["spec"].get("parallelism", 1)):
        md = {"name": f"{job['metadata']['name']}-{i}", "namespace": job["metadata"]["namespace"],
              "labels": dict(tmpl["metadata"].get("labels") or {}),
              "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": job["metadata"]["name"],
                                   "uid": job["metadata"]["uid"], "controller": True}]}
        c.store.create(PODS, {"metadata": md, "spec": copy.deepcopy(tmpl["spec"]), "status": {"phase": "Pending"}})


@pytest.fixture
def kai_cluster(realworld):
    c, sched = make_cluster()
    for f in ("quickstart__default-queues.yaml", "priority__example__limited-queue.yaml"):
        for q in docs(realworld / "kai" / f):
            apply(c, q)
    add_node(c, "gpu-a", gpus=4)
    add_node(c, "gpu-b", gpus=4)
    return c


def reasons(c, pod: Obj) -> list[dict[str, str]]:
    pg = c.store.get(PODGROUPS, pod["metadata"]["namespace"], pod["metadata"]["annotations"]["pod-group-name"])
    return [r for cond in pg["status"].get("schedulingConditions") or [] for r in cond["reasons"]]


def test_every_kai_manifest_applies_and_is_scheduled_as_its_queue_allows(kai_cluster, realworld) -> None:
    c = kai_cluster
    for path in sorted((realworld / "kai").glob("*.yaml")):
        ns = path.stem.replace("__", "-").replace("_", "-").lower()[:63]
        if c.store.try_get(NAMESPACES, None, ns) is None:
            c.store.create(NAMESPACES, {"metadata": {"name": ns}})
        for d in docs(path):
            if d["kind"] == "Queue" and c.store.try_get(QUEUES, None, d["metadata"]["name"]) is not None:
                continue
            obj = apply(c, d, ns)
            if d["kind"] == "Job":
                job_pods(c, obj)
    c.settle()
    grant_gpus(c)
    c.settle()
    pods = {(p["metadata"]["namespace"], p["metadata"]["name"]): p for p in c.store.items(PODS)
            if p["metadata"]["namespace"] != "kai-resource-reservation"}
    bound = {k for k, p in pods.items() if p["spec"].get("nodeName")}
    # Everything in default-queue runs except the non-preemptible build pod (default-queue has quota 0).
    build = next(p for k, p in pods.items() if k[1] == "build-pod")
    assert build["spec"].get("nodeName") is None
    assert reasons(c, build)[0]["reason"] == "NonPreemptibleOverQuota"
    assert condition(build, "PodScheduled")["reason"] == "Unschedulable"
    expected_bound = {"batch-job-0", "batch-job-1", "gpu-sharing", "gpu-sharing-non-default",
                      "gpu-sharing-init-container", "train-pod", "cpu-only-pod", "gpu-pod"}
    assert {k[1] for k in bound} == expected_bound
    assert len([k for k in pods if k[1] == "gpu-sharing"]) == 2  # fraction and gpu-memory examples
    # the Job's two pods share one PodGroup named after the Job
    pgs = {pods[k]["metadata"]["annotations"]["pod-group-name"] for k in pods if k[1].startswith("batch-job-")}
    assert len(pgs) == 1 and next(iter(pgs)).startswith("pg-batch-job-")
    # three half-GPU pods (one of them for an init container) and a 2000 MiB pod pack onto two shared GPUs
    res = list(c.store.items(PODS, "kai-resource-reservation"))
    assert len(res) == 2
    init = next(p for k, p in pods.items() if k[1] == "gpu-sharing-init-container")
    group = init["metadata"]["labels"]["runai-gpu-group"]
    assert any(r["metadata"]["labels"]["runai-gpu-group"] == group for r in res)
    assert init["metadata"]["annotations"]["received-resource-type"] == "Fraction"
    q = c.store.get(QUEUES, None, "default-queue")["status"]
    # 2 (job) + 1 (gpu-pod) + 1 (train-pod) + 0.5 + 0.5 + 0.5 + 2000/40900
    assert q["allocated"]["nvidia.com/gpu"] == "5549m"
    assert q["requested"]["nvidia.com/gpu"] == "6549m"  # plus the pending build pod
    assert c.store.get(QUEUES, None, "default-parent-queue")["status"]["childQueues"] == ["default-queue"]
    assert c.store.get(QUEUES, None, "default")["status"]["childQueues"] == ["test"]


def test_limited_queue_runs_one_gpu_and_the_rest_wait_over_limit(kai_cluster, realworld) -> None:
    c = kai_cluster
    base = docs(realworld / "kai/quickstart__pods__gpu-pod.yaml")[0]
    for i in range(3):
        p = copy.deepcopy(base)
        p["metadata"]["name"] = f"gpu-pod-{i}"
        p["metadata"]["labels"]["kai.scheduler/queue"] = "test"
        apply(c, p, "default")
        c.clock.advance(1)
    c.settle()
    running = [i for i in range(3) if c.store.get(PODS, "default", f"gpu-pod-{i}")["spec"].get("nodeName")]
    assert len(running) == 1
    for i in set(range(3)) - set(running):
        (r,) = reasons(c, c.store.get(PODS, "default", f"gpu-pod-{i}"))
        assert r == {"reason": "OverLimit", "message": "test: workload requests 1 GPU over limit 1 (allocated 1)"}
    status = c.store.get(QUEUES, None, "test")["status"]
    assert status["allocated"]["nvidia.com/gpu"] == "1" and status["requested"]["nvidia.com/gpu"] == "3"
    assert c.store.get(QUEUES, None, "default")["status"]["allocated"]["nvidia.com/gpu"] == "1"


def test_runai_objects_load_and_are_understood(realworld) -> None:
    c, sched = make_cluster()
    for ns in ("runai-pa", "runai-reservation"):
        c.store.create(NAMESPACES, {"metadata": {"name": ns}})
    c.store.create(QUEUES, {"metadata": {"name": "pa"}, "spec": {"resources": {"gpu": {"quota": 1, "limit": -1}}}})
    for f in ("node_fraction_1_workload.yaml", "node_mig_7g-40gb.yaml"):
        apply(c, docs(realworld / "runai" / f)[0])
    frac = apply(c, docs(realworld / "runai/fractional_pod.yaml")[0])
    res = apply(c, docs(realworld / "runai/fractional_pod_reservation.yaml")[0])
    c.settle()
    # the captured pair stays as it is: already bound, its reservation pod still has a member
    assert c.store.get(PODS, "runai-pa", "frac-1-0-0")["spec"]["nodeName"] == frac["spec"]["nodeName"]
    assert c.store.try_get(PODS, "runai-reservation", res["metadata"]["name"]) is not None
    group = frac["metadata"]["labels"]["runai-gpu-group"]
    assert sched.state.groups[group].used == pytest.approx(0.5)
    assert c.store.get(QUEUES, None, "pa")["status"]["allocated"]["nvidia.com/gpu"] == "500m"
    # the nodes' GFD labels and allocatable are read as KAI reads them
    t4 = sched.state.nodes["qa-mig-worker-gpu-1"]
    assert (t4.gpus, t4.gpu_memory_mib, t4.schedulable) == (2, 15360, True)
    mig = sched.state.nodes["qa-mig-worker-gpu-a100"]
    assert mig.gpus == 0 and mig.mig == {"1g.5gb": 0, "2g.10gb": 0, "3g.20gb": 0, "7g.40gb": 1}
    # new Run:ai-style work lands where it can: a MIG slice on the A100, a fraction on the T4 node
    c.store.create(PODS, {"metadata": {"name": "mig-job", "namespace": "runai-pa", "labels": {"project": "pa"}},
                          "spec": {"schedulerName": "runai-scheduler", "containers": [
                              {"name": "m", "resources": {"limits": {"nvidia.com/mig-7g.40gb": "1"}}}]}})
    c.store.create(PODS, {"metadata": {"name": "frac-2", "namespace": "runai-pa", "labels": {"project": "pa"},
                                       "annotations": {"gpu-fraction": "0.25"}},
                          "spec": {"schedulerName": "runai-scheduler", "containers": [{"name": "m"}]}})
    c.settle()
    assert c.store.get(PODS, "runai-pa", "mig-job")["spec"]["nodeName"] == "qa-mig-worker-gpu-a100"
    grant_gpus(c)
    c.settle()
    assert c.store.get(PODS, "runai-pa", "frac-2")["spec"]["nodeName"] == "qa-mig-worker-gpu-1"
    assert c.store.get(QUEUES, None, "pa")["status"]["allocated"]["nvidia.com/gpu"] == "1750m"  # 0.5 + 0.25 + a 7g slice (7/7)
    # deleting the captured fraction pod releases its GPU group and its reservation pod, once its grace
    # period (the captured pod's terminationGracePeriodSeconds) is over
    c.store.delete(PODS, "runai-pa", "frac-1-0-0")
    c.settle()
    assert c.store.try_get(PODS, "runai-reservation", res["metadata"]["name"]) is not None
    c.clock.advance(frac["spec"]["terminationGracePeriodSeconds"])
    c.settle()
    # then the binder deletes the reservation pod, which (captured from Run:ai) has a 30 s grace period too
    gone = c.store.get(PODS, "runai-reservation", res["metadata"]["name"])
    assert gone["metadata"]["deletionGracePeriodSeconds"] == res["spec"]["terminationGracePeriodSeconds"] == 30
    assert group not in sched.state.groups
    c.clock.advance(30)
    c.settle()
    assert c.store.try_get(PODS, "runai-reservation", res["metadata"]["name"]) is None
    assert group not in sched.state.groups
    assert c.store.get(NODES, None, "qa-mig-worker-gpu-1")  # nothing else disturbed
    assert c.store.count(JOBS) == 0
