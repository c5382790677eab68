"""Workload rows: type, status, replicas, GPU per replica, pending reason and the Service in front."""

from __future__ import annotations

import pytest

from console.model.cluster_store import ClusterStore
from console.model.views_workloads import workload_type


@pytest.mark.parametrize("kind, pc, runai, expected", [
    ("Deployment", None, None, "inference"),
    ("Service", None, None, "inference"),
    ("InferenceWorkload", None, None, "inference"),
    ("Job", None, None, "training"),
    ("PyTorchJob", "train", None, "training"),
    ("JobSet", None, None, "training"),
    ("RunaiJob", None, None, "training"),
    ("Job", "build", None, "build"),
    ("Deployment", "build-preemptible", None, "build"),
    ("Job", "interactive-preemptible", None, "interactive"),
    ("RunaiJob", None, "InteractiveWorkload", "interactive"),
    ("Pod", "inference", None, "inference"),
    ("Pod", None, None, "training"),
])
def test_workload_type(kind: str, pc: str | None, runai: str | None, expected: str) -> None:
    assert workload_type(kind, pc, runai) == expected


def pod(name: str, owner: tuple[str, str, str] | None = None, node: str | None = "n1", phase: str | None = None,
        ready: bool = True, labels: dict | None = None, ann: dict | None = None, gpus: int = 1,
        msg: str | None = None) -> dict:
    md: dict = {"name": name, "namespace": "ns", "labels": {"kai.scheduler/queue": "q", **(labels or {})},
                "annotations": ann or {}}
    if owner:
        md["ownerReferences"] = [{"apiVersion": owner[2], "kind": owner[0], "name": owner[1],
                                  "uid": f"uid-{owner[1]}", "controller": True}]
    spec: dict = {"schedulerName": "kai-scheduler",
                  "containers": [{"name": "c", "resources": {"limits": {"nvidia.com/gpu": str(gpus)}}}]}
    if node:
        spec["nodeName"] = node
    conds = [{"type": "Ready", "status": "True" if ready else "False"}]
    if msg:
        conds.append({"type": "PodScheduled", "status": "False", "message": msg})
    return {"metadata": md, "spec": spec,
            "status": {"phase": phase or ("Running" if node else "Pending"), "conditions": conds}}


def owner(kind: str, name: str, api: str, **spec) -> dict:
    return {"metadata": {"name": name, "namespace": "ns", "uid": f"uid-{name}", "labels": {}}, "spec": spec}


JOB = ("Job", "train", "batch/v1")


def store_with(*objs: tuple[str, dict]) -> ClusterStore:
    s = ClusterStore()
    for kind, o in objs:
        assert s.apply(kind, "ADDED", o)
    s.refresh()
    return s


@pytest.mark.parametrize("pods, job_status, expected", [
    ([("a", "n1", None), ("b", "n1", None)], {}, "Running"),
    ([("a", "n1", None), ("b", None, None)], {}, "Partially running"),
    ([("a", None, None), ("b", None, None)], {}, "Pending"),
    ([("a", "n1", "Succeeded"), ("b", "n1", "Succeeded")], {}, "Completed"),
    ([("a", "n1", "Succeeded"), ("b", "n1", "Failed")], {}, "Failed"),
    ([("a", "n1", None)], {"conditions": [{"type": "Failed", "status": "True"}]}, "Failed"),
    ([("a", "n1", None)], {}, "Partially running"),   # one of two running
    ([], {}, "Pending"),                              # the Job wants pods that do not exist yet
])
def test_status(pods: list, job_status: dict, expected: str) -> None:
    job = owner("Job", "train", "batch/v1", parallelism=2)
    job["status"] = job_status
    s = store_with(("jobs.batch", job), *[("pods", pod(n, JOB, node=nd, phase=ph)) for n, nd, ph in pods])
    assert s.workloads.rows[("ns", "Job", "train")].status == expected


def test_replicas_and_gpus() -> None:
    s = store_with(("Queue", {"metadata": {"name": "q"}, "spec": {"resources": {"gpu": {"quota": 1}}}}),
                   ("jobs.batch", owner("Job", "train", "batch/v1", parallelism=3)),
                   ("pods", pod("a", JOB, gpus=2)), ("pods", pod("b", JOB, gpus=2, ready=False)),
                   ("pods", pod("c", JOB, gpus=2, node=None)))
    r = s.workloads.rows[("ns", "Job", "train")]
    assert (r.replicas_desired, r.replicas_ready, r.replicas_running, r.replicas_pending) == (3, 1, 2, 1)
    assert (r.gpu_per_replica, r.gpu_request, r.gpu_total, r.gpu_allocated) == (2.0, "2", 6.0, 4.0)
    assert (r.project, r.priority_class, r.preemptible) == ("q", "train", True)


def test_pending_reason_prefers_podgroup_reasons() -> None:
    s = store_with(("pods", pod("p", node=None, msg="0/4 nodes available", ann={"pod-group-name": "pg"})))
    assert s.workloads.rows[("ns", "Pod", "p")].pending_reason == "0/4 nodes available"
    s.apply("podgroups.scheduling.run.ai", "ADDED", {
        "metadata": {"name": "pg", "namespace": "ns"},
        "status": {"schedulingConditions": [{"reasons": [{"reason": "NonPreemptibleOverQuota",
                                                          "message": "quota 2, asked 3"}]}]}})
    s.refresh()
    assert s.workloads.rows[("ns", "Pod", "p")].pending_reason == "NonPreemptibleOverQuota: quota 2, asked 3"
    s.apply("pods", "MODIFIED", pod("p", ann={"pod-group-name": "pg"}))  # scheduled: the reason goes
    s.refresh()
    assert s.workloads.rows[("ns", "Pod", "p")].pending_reason is None


def test_service_in_front_of_inference() -> None:
    rs = ("ReplicaSet", "llm-1", "apps/v1")
    rs_obj = owner("ReplicaSet", "llm-1", "apps/v1", replicas=1)
    rs_obj["metadata"]["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "llm",
                                              "uid": "uid-llm", "controller": True}]
    s = store_with(("deployments.apps", owner("Deployment", "llm", "apps/v1", replicas=1)),
                   ("replicasets.apps", rs_obj), ("pods", pod("llm-1-x", rs, labels={"app": "llm"})),
                   ("services", {"metadata": {"name": "other", "namespace": "ns"}, "spec": {"selector": {"app": "x"}}}))
    key = ("ns", "Deployment", "llm")
    assert s.workloads.rows[key].service is None and s.workloads.rows[key].type == "inference"
    s.apply("services", "ADDED", {"metadata": {"name": "llm-svc", "namespace": "ns"},
                                  "spec": {"selector": {"app": "llm"}}})
    s.refresh()
    assert s.workloads.rows[key].service == "llm-svc"
    s.apply("services", "DELETED", {"metadata": {"name": "llm-svc", "namespace": "ns"}})
    s.refresh()
    assert s.workloads.rows[key].service is None


def test_knative_revision_pods_group_under_the_service() -> None:
    rev = ("Revision", "chat-00001", "serving.knative.dev/v1")
    s = store_with(("pods", pod("chat-x", rev, labels={"serving.knative.dev/service": "chat"})))
    assert set(s.workloads.rows) == {("ns", "Service", "chat")}
    ksvc = owner("Service", "chat", "serving.knative.dev/v1")
    ksvc["metadata"]["ownerReferences"] = [{"apiVersion": "run.ai/v2alpha1", "kind": "InferenceWorkload",
                                            "name": "chat", "uid": "uid-iw", "controller": True}]
    s.apply("services.serving.knative.dev", "ADDED", ksvc)
    s.refresh()
    assert set(s.workloads.rows) == {("ns", "InferenceWorkload", "chat")}
    assert s.workloads.rows[("ns", "InferenceWorkload", "chat")].type == "inference"
    assert s.current() == s.full_recompute()


def test_scaled_to_zero_deployment_keeps_its_row() -> None:
    s = store_with(("deployments.apps", owner("Deployment", "idle", "apps/v1", replicas=0)))
    r = s.workloads.rows[("ns", "Deployment", "idle")]
    assert (r.status, r.replicas_desired, r.pods) == ("Scaled to zero", 0, 0)


def deleting(p: dict, at: str = "2026-01-01T00:00:30Z", grace: int = 30) -> dict:
    """The pod as the apiserver leaves it after a graceful delete: deletionTimestamp = the delete + grace."""
    p["metadata"]["deletionTimestamp"] = at
    p["metadata"]["deletionGracePeriodSeconds"] = grace
    return p


def test_a_terminating_pod_is_shown_apart_and_its_replacement_counts() -> None:
    from console.model import snapshot
    from console.model.events import parse_time
    s = store_with(("jobs.batch", owner("Job", "train", "batch/v1", parallelism=1)),
                   ("pods", deleting(pod("old", JOB, gpus=2))), ("pods", pod("new", JOB, gpus=2, node=None)))
    r = s.workloads.rows[("ns", "Job", "train")]
    # the replacement is the replica; the old pod still runs, holding 2 GPUs, since its delete at 00:00:00
    assert (r.replicas_running, r.replicas_pending, r.pods, r.status) == (0, 1, 1, "Pending")
    assert (r.terminating, r.gpu_terminating, r.gpu_allocated, r.gpu_total) == (1, 2.0, 0.0, 2.0)
    start = parse_time("2026-01-01T00:00:00Z")
    assert r.terminating_since == start
    (w,) = snapshot.build(s, "workloads", now=start + 12)["workloads"]
    assert (w["terminating"], w["terminating_for_s"]) == (1, 12)
    # with no replacement (a deleted workload), the row itself is Terminating
    s.apply("pods", "DELETED", pod("new", JOB))
    s.refresh()
    assert s.workloads.rows[("ns", "Job", "train")].status == "Terminating"
    s.apply("pods", "DELETED", pod("old", JOB))
    s.refresh()
    r = s.workloads.rows[("ns", "Job", "train")]
    assert (r.terminating, r.terminating_since, r.status) == (0, None, "Pending")


def test_a_finished_pod_being_deleted_is_not_terminating() -> None:
    s = store_with(("pods", deleting(pod("done", phase="Succeeded"))))
    r = s.workloads.rows[("ns", "Pod", "done")]
    assert (r.terminating, r.status) == (0, "Completed")


def test_a_service_kai_never_schedules_and_that_holds_no_gpu_is_system() -> None:
    """KAI's own scheduler Deployment (default-scheduler, no queue, no GPU) is a cluster service, not inference;
    a CPU-only workload KAI schedules in a queue keeps its type, and so does a GPU one on another scheduler."""
    svc = pod("kai-scheduler-default-1", ("ReplicaSet", "kai-rs", "apps/v1"), gpus=0)
    svc["metadata"]["labels"] = {}
    svc["spec"]["schedulerName"] = "default-scheduler"
    svc["spec"]["containers"][0]["resources"] = {}
    cpu = pod("cpu-only", gpus=0)
    cpu["spec"]["containers"][0]["resources"] = {}
    gpu = pod("plain-gpu", gpus=1)
    gpu["metadata"]["labels"] = {}
    gpu["spec"]["schedulerName"] = "default-scheduler"
    s = store_with(("Pod", svc), ("Pod", cpu), ("Pod", gpu))
    types = {k[2]: r.type for k, r in s.workloads.rows.items()}
    assert types == {"kai-rs": "system", "cpu-only": "training", "plain-gpu": "training"}
