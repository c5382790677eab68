"""The simulated KAI scheduler against the store: grouping, binding, fractions, reasons, status, events."""

from __future__ import annotations

from typing import Any

import pytest

from console.sim import scheduler
from console.sim.cluster import SimCluster
from console.sim.errors import ApiError
from console.sim.gpus import gfd_labels, gpu_uuid
from console.sim.resources import (
    BINDREQUESTS, DEPLOYMENTS, EVENTS, JOBS, NAMESPACES, NODES, PODGROUPS, PODS, PRIORITYCLASSES, QUEUES,
    REPLICASETS,
)
from console.sim.store import Change

Obj = dict[str, Any]
KAI_CLASSES = {"train": 50, "build-preemptible": 75, "build": 100, "inference": 125}


# ---------------------------------------------------------------- helpers (shared by the scheduler tests)
def make_cluster(seed: int = 1, classes: dict[str, int] | None = KAI_CLASSES) -> tuple[SimCluster, Any]:
    c = SimCluster(seed=seed, manual_clock=True)
    sched = scheduler.install(c)
    c.store.create(NAMESPACES, {"metadata": {"name": "default"}})
    for name, value in (classes or {}).items():
        c.store.create(PRIORITYCLASSES, {"metadata": {"name": name}, "value": value})
    return c, sched


def add_node(c: SimCluster, name: str, gpus: int = 4, ready: bool = True, cordon: bool = False,
             cpu: str = "64", memory: str = "512Gi", product: str = "NVIDIA-A100-SXM4-40GB") -> Obj:
    node: Obj = {"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **gfd_labels(product, gpus)}},
                 "spec": {"unschedulable": True} if cordon else {},
                 "status": {"allocatable": {"nvidia.com/gpu": str(gpus), "cpu": cpu, "memory": memory, "pods": "110"},
                            "capacity": {"nvidia.com/gpu": str(gpus), "cpu": cpu, "memory": memory},
                            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}
    return c.store.create(NODES, node)


def add_queue(c: SimCluster, name: str, quota: float = -1, limit: float = -1, weight: float = 1,
              parent: str | None = None, priority: int | None = None) -> Obj:
    spec: Obj = {"resources": {"gpu": {"quota": quota, "limit": limit, "overQuotaWeight": weight},
                               "cpu": {"quota": -1, "limit": -1, "overQuotaWeight": 1},
                               "memory": {"quota": -1, "limit": -1, "overQuotaWeight": 1}}}
    if parent:
        spec["parentQueue"] = parent
    if priority is not None:
        spec["priority"] = priority
    return c.store.create(QUEUES, {"metadata": {"name": name}, "spec": spec})


def add_pod(c: SimCluster, name: str, queue: str | None = "q", gpus: int | None = None, fraction: str | None = None,
            labels: dict[str, str] | None = None, annotations: dict[str, str] | None = None, ns: str = "default",
            scheduler_name: str | None = "kai-scheduler", owner: Obj | None = None, cpu: str | None = None,
            priority_class: str | None = None, extra_ann: dict[str, str] | None = None) -> Obj:
    res: Obj = {}
    if gpus:
        res.setdefault("limits", {})["nvidia.com/gpu"] = str(gpus)
    if cpu:
        res.setdefault("requests", {})["cpu"] = cpu
    md: Obj = {"name": name, "namespace": ns, "labels": dict(labels or {}), "annotations": dict(annotations or {})}
    if queue:
        md["labels"]["kai.scheduler/queue"] = queue
    if priority_class:
        md["labels"]["priorityClassName"] = priority_class
    if fraction:
        md["annotations"]["gpu-fraction"] = fraction
    md["annotations"].update(extra_ann or {})
    if owner is not None:
        md["ownerReferences"] = [{"apiVersion": owner["apiVersion"], "kind": owner["kind"], "controller": True,
                                  "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"]}]
    spec: Obj = {"containers": [{"name": "main", "image": "ubuntu", "resources": res}]}
    if scheduler_name:
        spec["schedulerName"] = scheduler_name
    return c.store.create(PODS, {"metadata": md, "spec": spec, "status": {"phase": "Pending"}})


def grant_gpus(c: SimCluster) -> int:
    """Play the device plugin: give each reservation pod without a GPU a distinct one on its node."""
    n = 0
    used: dict[str, set[str]] = {}
    pods = c.store.items(PODS, "kai-resource-reservation")
    for p in pods:
        got = (p["metadata"].get("annotations") or {}).get("run.ai/reserve_for_gpu_index")
        if got:
            used.setdefault(p["spec"]["nodeName"], set()).add(got)
    for p in pods:
        if (p["metadata"].get("annotations") or {}).get("run.ai/reserve_for_gpu_index"):
            continue
        node = p["spec"]["nodeName"]
        uuid = next(gpu_uuid(node, i) for i in range(64) if gpu_uuid(node, i) not in used.get(node, set()))
        used.setdefault(node, set()).add(uuid)
        c.store.mutate(PODS, "kai-resource-reservation", p["metadata"]["name"],
                       lambda o, u=uuid: o["metadata"].setdefault("annotations", {}).__setitem__(
                           "run.ai/reserve_for_gpu_index", u))
        n += 1
    return n


def get_pod(c: SimCluster, name: str, ns: str = "default") -> Obj | None:
    return c.store.try_get(PODS, ns, name)


def node_of(c: SimCluster, name: str, ns: str = "default") -> str | None:
    p = get_pod(c, name, ns)
    return (p or {}).get("spec", {}).get("nodeName")


def condition(obj: Obj, ctype: str) -> Obj | None:
    return next((x for x in (obj.get("status") or {}).get("conditions") or [] if x.get("type") == ctype), None)


def events(c: SimCluster, reason: str | None = None, name: str | None = None) -> list[Obj]:
    return [e for e in c.store.items(EVENTS)
            if (reason is None or e["reason"] == reason) and (name is None or e["involvedObject"]["name"] == name)]


def podgroup_of(c: SimCluster, pod_name: str, ns: str = "default") -> Obj:
    pg = (get_pod(c, pod_name, ns) or {})["metadata"]["annotations"]["pod-group-name"]
    return c.store.get(PODGROUPS, ns, pg)


def reservation_pods(c: SimCluster) -> list[Obj]:
    return list(c.store.items(PODS, "kai-resource-reservation"))


# ---------------------------------------------------------------- grouping and whole-GPU binding
def test_bare_pod_is_grouped_and_bound() -> None:
    c, _ = make_cluster()
    add_node(c, "n1")
    add_queue(c, "q")
    p = add_pod(c, "train-1", gpus=2, labels={"team": "x"})
    c.settle()
    pod = get_pod(c, "train-1")
    assert pod["spec"]["nodeName"] == "n1"
    assert condition(pod, "PodScheduled")["status"] == "True"
    pg_name = f"pg-train-1-{p['metadata']['uid']}"
    assert pod["metadata"]["annotations"]["pod-group-name"] == pg_name
    pg = c.store.get(PODGROUPS, "default", pg_name)
    assert pg["spec"] == {"minMember": 1, "queue": "q", "priorityClassName": "train", "markUnschedulable": True}
    assert pg["metadata"]["ownerReferences"][0]["kind"] == "Pod"
    assert pg["metadata"]["labels"]["team"] == "x"
    assert "kai.scheduler/top-owner-metadata" in pg["metadata"]["annotations"]
    (ev,) = events(c, "Scheduled", "train-1")
    assert ev["source"]["component"] == "kai-scheduler" and ev["message"].endswith("to n1")
    assert ev["involvedObject"]["kind"] == "Pod" and ev["involvedObject"]["uid"] == p["metadata"]["uid"]


def test_job_pods_share_one_podgroup_named_after_the_job() -> None:
    c, _ = make_cluster()
    add_node(c, "n1", gpus=4)
    add_queue(c, "q")
    job = c.store.create(JOBS, {"metadata": {"name": "batch", "namespace": "default",
                                             "labels": {"kai.scheduler/queue": "q", "owner-label": "yes"}},
                                "spec": {"template": {"spec": {"containers": []}}}})
    add_pod(c, "batch-a", queue=None, gpus=1, owner=job)
    add_pod(c, "batch-b", queue=None, gpus=1, owner=job)
    c.settle()
    name = f"pg-batch-{job['metadata']['uid']}"
    assert podgroup_of(c, "batch-a")["metadata"]["name"] == name == podgroup_of(c, "batch-b")["metadata"]["name"]
    pg = c.store.get(PODGROUPS, "default", name)
    assert pg["metadata"]["labels"]["owner-label"] == "yes"
    assert pg["metadata"]["ownerReferences"][0]["kind"] == "Job"
    assert pg["spec"]["queue"] == "q" and pg["spec"]["priorityClassName"] == "train"
    assert node_of(c, "batch-a") == node_of(c, "batch-b") == "n1"
    assert pg["status"]["running"] == 2 and pg["status"]["resourcesStatus"]["allocated"]["nvidia.com/gpu"] == "2"


def test_deployment_pods_get_one_podgroup_each_with_inference_priority() -> None:
    c, _ = make_cluster()
    add_node(c, "n1", gpus=4)
    add_queue(c, "q", quota=4)
    dep = c.store.create(DEPLOYMENTS, {"metadata": {"name": "llm", "namespace": "default",
                                                    "labels": {"kai.scheduler/queue": "q"}},
                                       "spec": {"selector": {"matchLabels": {"app": "llm"}},
                                                "template": {"spec": {"containers": []}}}})
    rs = c.store.create(REPLICASETS, {"metadata": {"name": "llm-abc", "namespace": "default", "ownerReferences": [
        {"apiVersion": "apps/v1", "kind": "Deployment", "name": "llm", "uid": dep["metadata"]["uid"],
         "controller": True}]}, "spec": {"selector": {"matchLabels": {"app": "llm"}}}})
    p1 = add_pod(c, "llm-abc-1", queue=None, gpus=1, owner=rs)
    add_pod(c, "llm-abc-2", queue=None, gpus=1, owner=rs)
    c.settle()
    pg1, pg2 = podgroup_of(c, "llm-abc-1"), podgroup_of(c, "llm-abc-2")
    assert pg1["metadata"]["name"] == f"pg-llm-abc-1-{p1['metadata']['uid']}" != pg2["metadata"]["name"]
    assert pg1["metadata"]["ownerReferences"][0]["name"] == "llm-abc-1"
    assert pg1["spec"]["priorityClassName"] == "inference" and pg1["spec"]["queue"] == "q"
    q = c.store.get(QUEUES, None, "q")
    assert q["status"]["allocatedNonPreemptible"]["nvidia.com/gpu"] == "2"


def test_other_schedulers_pods_are_left_to_the_default_scheduler() -> None:
    c, _ = make_cluster()
    add_node(c, "n1", gpus=2, cpu="4")
    add_queue(c, "q")
    add_pod(c, "plain", queue=None, scheduler_name=None, gpus=1, cpu="1")
    add_pod(c, "too-big", queue=None, scheduler_name="default-scheduler", cpu="8")
    add_pod(c, "kai", gpus=1)
    c.settle()
    assert node_of(c, "plain") == "n1" and node_of(c, "kai") == "n1"
    assert "pod-group-name" not in (get_pod(c, "plain")["metadata"].get("annotations") or {})
    (ev,) = events(c, "Scheduled", "plain")
    assert ev["source"]["component"] == "default-scheduler"
    assert node_of(c, "too-big") is None
    (fail,) = events(c, "FailedScheduling", "too-big")
    assert fail["type"] == "Warning" and "Insufficient cpu" in fail["message"]
    assert fail["source"]["component"] == "default-scheduler"
    # both GPUs are taken now (one by each scheduler): a third GPU pod waits
    add_pod(c, "third", scheduler_name=None, queue=None, gpus=1)
    c.settle()
    assert node_of(c, "third") is None
    assert "Insufficient nvidia.com/gpu" in events(c, "FailedScheduling", "third")[0]["message"]


# ---------------------------------------------------------------- fractions
def test_two_halves_share_one_gpu_through_one_reservation_pod() -> None:
    c, _ = make_cluster()
    add_node(c, "n1", gpus=2)
    add_queue(c, "q")
    add_pod(c, "half-a", fraction="0.5")
    add_pod(c, "half-b", fraction="0.5")
    c.settle()
    (res,) = reservation_pods(c)
    group = res["metadata"]["labels"]["runai-gpu-group"]
    assert res["metadata"]["name"].startswith("gpu-reservation-n1-") and len(res["metadata"]["name"]) == len(
        "gpu-reservation-n1-") + 5
    assert res["metadata"]["labels"]["app"] == "kai-resource-reservation"
    assert res["spec"]["nodeName"] == "n1" and res["spec"]["runtimeClassName"] == "nvidia"
    assert res["spec"]["containers"][0]["resources"]["limits"] == {"nvidia.com/gpu": "1"}
    assert c.store.try_get(NAMESPACES, None, "kai-resource-reservation") is not None
    # until the reservation pod has its GPU, the pods wait with a pending BindRequest
    for name in ("half-a", "half-b"):
        pod = get_pod(c, name)
        assert pod["metadata"]["labels"]["runai-gpu-group"] == group
        assert "nodeName" not in pod["spec"]
        br = c.store.get(BINDREQUESTS, "default", name)
        assert br["status"]["phase"] == "Pending"
        assert br["metadata"]["labels"]["selected-node"] == "n1"
        assert br["spec"]["receivedResourceType"] == "Fraction"
        assert br["spec"]["receivedGPU"] == {"count": 1, "portion": "0.50"}
        assert br["spec"]["selectedGPUGroups"] == [group] and br["spec"]["podName"] == name
    assert grant_gpus(c) == 1
    c.settle()
    for name in ("half-a", "half-b"):
        pod = get_pod(c, name)
        assert pod["spec"]["nodeName"] == "n1"
        assert pod["metadata"]["annotations"]["received-resource-type"] == "Fraction"
        assert c.store.get(BINDREQUESTS, "default", name)["status"]["phase"] == "Succeeded"
    assert c.store.get(QUEUES, None, "q")["status"]["allocated"]["nvidia.com/gpu"] == "1"
    # the last fraction pod of the group going takes the reservation pod with it; a terminating member
    # still holds its share of the GPU, so the reservation stays until its grace period is over
    c.store.delete(PODS, "default", "half-a")
    c.settle()
    assert len(reservation_pods(c)) == 1
    assert get_pod(c, "half-a")["metadata"]["deletionTimestamp"]
    assert c.store.get(QUEUES, None, "q")["status"]["allocated"]["nvidia.com/gpu"] == "500m"
    c.store.delete(PODS, "default", "half-b")
    c.settle()
    assert len(reservation_pods(c)) == 1
    c.clock.advance(30)
    c.settle()
    assert c.store.try_get(PODS, "default", "half-b") is None
    assert reservation_pods(c) == []


def test_thirds_pack_and_point_six_opens_a_second_gpu() -> None:
    c, _ = make_cluster()
    add_node(c, "n1", gpus=2)
    add_queue(c, "q")
    for i in range(3):
        add_pod(c, f"third-{i}", fraction="0.3")
    c.settle()
    assert len(reservation_pods(c)) == 1
    add_pod(c, "big", fraction="0.6")
    c.settle()
    assert len(reservation_pods(c)) == 2
    groups = {get_pod(c, f"third-{i}")["metadata"]["labels"]["runai-gpu-group"] for i in range(3)}
    assert len(groups) == 1
    assert get_pod(c, "big")["metadata"]["labels"]["runai-gpu-group"] not in groups
    grant_gpus(c)
    c.settle()
    uuids = {r["metadata"]["annotations"]["run.ai/reserve_for_gpu_index"] for r in reservation_pods(c)}
    assert uuids == {gpu_uuid("n1", 0), gpu_uuid("n1", 1)}
    assert c.store.get(QUEUES, None, "q")["status"]["allocated"]["nvidia.com/gpu"] == "1500m"
    # a whole GPU pod finds no free device now
    add_pod(c, "whole", gpus=1)
    c.settle()
    assert node_of(c, "whole") is None


def test_multi_device_fraction_labels_each_group() -> None:
    c, _ = make_cluster()
    add_node(c, "n1", gpus=4)
    add_queue(c, "q")
    add_pod(c, "multi", fraction="0.5", extra_ann={"gpu-fraction-num-devices": "2"})
    c.settle()
    labels = get_pod(c, "multi")["metadata"]["labels"]
    keys = [k for k in labels if k.startswith("runai-gpu-group/")]
    assert len(keys) == 2 and all(labels[k] == k.split("/", 1)[1] for k in keys)
    assert "runai-gpu-group" not in labels
    assert len(reservation_pods(c)) == 2
    br = c.store.get(BINDREQUESTS, "default", "multi")
    assert br["spec"]["receivedGPU"]["count"] == 2 and sorted(br["spec"]["selectedGPUGroups"]) == sorted(
        labels[k] for k in keys)
    grant_gpus(c)
    c.settle()
    assert node_of(c, "multi") == "n1"


def test_gpu_memory_request_uses_node_gpu_size() -> None:
    c, _ = make_cluster()
    add_node(c, "n1", gpus=1, product="NVIDIA-A100-SXM4-40GB")
    add_queue(c, "q")
    add_pod(c, "mem", extra_ann={"gpu-memory": "20450"})
    c.settle()
    br = c.store.get(BINDREQUESTS, "default", "mem")
    assert br["spec"]["receivedGPU"]["portion"] == "0.50"  # 20450 of 40900 MiB
    req = podgroup_of(c, "mem")["status"]["resourcesStatus"]["requested"]
    assert req["run.ai/gpu.memory"] == "20450"


def test_admission_rejects_invalid_sharing_request() -> None:
    c, _ = make_cluster()
    with pytest.raises(ApiError) as e:
        add_pod(c, "bad", fraction="1.5")
    assert e.value.code == 400
    assert "gpu-fraction must be between 0 and 1 (exclusive), got 1.5" in e.value.message
    assert get_pod(c, "bad") is None
    # the same annotations mean nothing to another scheduler's pods
    add_pod(c, "ok", fraction="1.5", scheduler_name="default-scheduler")
    assert get_pod(c, "ok") is not None


# ---------------------------------------------------------------- reasons, status and events
def test_over_limit_reason_everywhere_and_no_event_storm() -> None:
    c, sched = make_cluster()
    add_node(c, "n1", gpus=4)
    add_queue(c, "q", quota=1, limit=1)
    add_pod(c, "one", gpus=1)
    c.settle()
    add_pod(c, "two", gpus=1)
    c.settle()
    assert node_of(c, "one") == "n1" and node_of(c, "two") is None
    pg = podgroup_of(c, "two")
    (cond,) = pg["status"]["schedulingConditions"]
    assert cond["type"] == "UnschedulableOnNodePool" and cond["nodePool"] == "default"
    assert cond["reasons"] == [{"reason": "OverLimit", "message": "q: workload requests 1 GPU over limit 1 "
                                                                  "(allocated 1)"}]
    assert pg["status"]["pending"] == 1 and pg["status"]["running"] == 0
    ps = condition(get_pod(c, "two"), "PodScheduled")
    assert (ps["status"], ps["reason"]) == ("False", "Unschedulable") and "OverLimit" in ps["message"]
    (ev,) = events(c, "FailedScheduling", "two")
    assert ev["type"] == "Warning" and ev["count"] == 1
    rv = c.store.resource_version
    assert c.settle() == 0 and c.store.resource_version == rv
    # another pending pod of the same queue triggers a retry: the same reason is not a new event,
    # and within the repeat interval not even a count bump
    add_pod(c, "three", gpus=1)
    c.settle()
    (ev,) = events(c, "FailedScheduling", "two")
    assert ev["count"] == 1
    assert len(events(c, "FailedScheduling", "three")) == 1
    c.clock.advance(60)
    add_pod(c, "four", gpus=1)
    c.settle()
    (ev,) = events(c, "FailedScheduling", "two")
    assert ev["count"] == 2
    # lifting the limit schedules both
    c.store.mutate(QUEUES, None, "q", lambda o: o["spec"]["resources"]["gpu"].update(limit=-1))
    c.settle()
    assert node_of(c, "two") == "n1" and node_of(c, "three") == "n1" and node_of(c, "four") == "n1"
    assert "schedulingConditions" not in podgroup_of(c, "two")["status"]


def test_non_preemptible_over_quota_reason() -> None:
    c, _ = make_cluster()
    add_node(c, "n1", gpus=8)
    add_queue(c, "team-a", quota=4)
    add_pod(c, "inf-1", queue="team-a", gpus=3, priority_class="inference")
    add_pod(c, "inf-2", queue="team-a", gpus=2, priority_class="inference")
    c.settle()
    why = podgroup_of(c, "inf-2")["status"]["schedulingConditions"][0]["reasons"][0]
    assert why == {"reason": "NonPreemptibleOverQuota",
                   "message": "team-a: non-preemptible workload requests 2 GPU over quota 4 (allocated 3)"}


def test_queue_does_not_exist_reason() -> None:
    c, _ = make_cluster()
    add_node(c, "n1")
    add_pod(c, "lost", queue="ghost", gpus=1)
    c.settle()
    why = podgroup_of(c, "lost")["status"]["schedulingConditions"][0]["reasons"][0]
    assert why["reason"] == "QueueDoesNotExist" and "ghost" in why["message"]
    add_queue(c, "ghost")
    c.settle()
    assert node_of(c, "lost") == "n1"


def test_queue_status_sums_podgroups_and_children() -> None:
    c, _ = make_cluster()
    add_node(c, "n1", gpus=8)
    add_queue(c, "dept", quota=8)
    add_queue(c, "a", quota=2, parent="dept")
    add_queue(c, "b", quota=2, parent="dept")
    add_pod(c, "a-train", queue="a", gpus=1, cpu="2")
    add_pod(c, "a-inf", queue="a", gpus=1, priority_class="inference")
    add_pod(c, "a-frac", queue="a", fraction="0.5")
    add_pod(c, "b-big", queue="b", gpus=3)
    c.settle()
    grant_gpus(c)
    c.settle()
    a = c.store.get(QUEUES, None, "a")["status"]
    assert a["allocated"] == {"cpu": "2", "nvidia.com/gpu": "2500m"}
    assert a["allocatedNonPreemptible"] == {"nvidia.com/gpu": "1"}
    assert a["requested"]["nvidia.com/gpu"] == "2500m"
    assert a["conditions"][0]["type"] == "OverQuota"
    dept = c.store.get(QUEUES, None, "dept")["status"]
    assert dept["allocated"]["nvidia.com/gpu"] == "5500m" and dept["childQueues"] == ["a", "b"]
    assert "conditions" not in dept
    b = c.store.get(QUEUES, None, "b")["status"]
    assert b["allocated"]["nvidia.com/gpu"] == "3"


def test_cordoned_and_not_ready_nodes_take_nothing_new() -> None:
    c, _ = make_cluster()
    add_node(c, "cordoned", cordon=True)
    add_node(c, "sick", ready=False)
    add_queue(c, "q")
    add_pod(c, "p", gpus=1)
    c.settle()
    assert node_of(c, "p") is None
    msg = podgroup_of(c, "p")["status"]["schedulingConditions"][0]["reasons"][0]["message"]
    assert msg == "0/2 nodes are available: 2 node(s) were unschedulable or not ready."
    c.store.mutate(NODES, None, "cordoned", lambda o: o["spec"].pop("unschedulable"))
    c.settle()
    assert node_of(c, "p") == "cordoned"


def test_missing_priority_class_falls_back_to_global_default_then_50() -> None:
    c, sched = make_cluster(classes={"inference": 125})
    add_node(c, "n1")
    add_queue(c, "q", quota=0)
    add_pod(c, "train-pod", gpus=1, priority_class="train")  # no such class: 50, preemptible
    c.settle()
    assert node_of(c, "train-pod") == "n1"
    c.store.create(PRIORITYCLASSES, {"metadata": {"name": "everything"}, "value": 1000, "globalDefault": True})
    c.settle()
    assert sched.priority("train") == 1000 and sched.priority("inference") == 125
    add_pod(c, "now-np", gpus=1, priority_class="unknown")
    c.settle()
    why = podgroup_of(c, "now-np")["status"]["schedulingConditions"][0]["reasons"][0]
    assert why["reason"] == "NonPreemptibleOverQuota"


def test_gang_podgroup_is_all_or_nothing() -> None:
    c, _ = make_cluster()
    add_node(c, "n1", gpus=2)
    add_queue(c, "q")
    c.store.create(PODGROUPS, {"metadata": {"name": "gang", "namespace": "default"},
                               "spec": {"minMember": 3, "queue": "q", "priorityClassName": "train"}})
    for i in range(3):
        add_pod(c, f"w{i}", gpus=1, extra_ann={"pod-group-name": "gang"})
    c.settle()
    assert [node_of(c, f"w{i}") for i in range(3)] == [None, None, None]
    assert c.store.get(PODGROUPS, "default", "gang")["status"]["pending"] == 3
    add_node(c, "n2", gpus=1)
    c.settle()
    assert sorted(node_of(c, f"w{i}") for i in range(3)) == ["n1", "n1", "n2"]


def test_bulk_loaded_objects_are_picked_up() -> None:
    c, sched = make_cluster()
    add_queue(c, "q")
    c.settle()
    c.store.load(NODES, [{"metadata": {"name": f"bulk-{i}", "labels": gfd_labels("Tesla-T4", 2)},
                          "status": {"allocatable": {"nvidia.com/gpu": "2"},
                                     "conditions": [{"type": "Ready", "status": "True"}]}} for i in range(3)])
    c.store.load(PODS, [{"metadata": {"name": f"bound-{i}", "namespace": "default",
                                      "labels": {"kai.scheduler/queue": "q"}},
                         "spec": {"schedulerName": "kai-scheduler", "nodeName": f"bulk-{i}",
                                  "containers": [{"name": "m", "resources": {"limits": {"nvidia.com/gpu": "2"}}}]},
                         "status": {"phase": "Running"}} for i in range(2)])
    add_pod(c, "new", gpus=2)
    c.settle()
    assert node_of(c, "new") == "bulk-2"
    assert c.store.get(QUEUES, None, "q")["status"]["allocated"]["nvidia.com/gpu"] == "6"


def test_a_round_over_a_new_pod_does_not_rescan_the_store(monkeypatch) -> None:
    c, sched = make_cluster()
    for i in range(5):
        add_node(c, f"n{i}", gpus=8)
    add_queue(c, "q")
    for i in range(20):
        add_pod(c, f"p{i}", gpus=1)
    c.settle()
    scans: list[int] = []
    real_items = c.store.items

    def counting_items(rt, namespace=None):
        if rt is PODS:
            scans.append(1)
        return real_items(rt, namespace)
    monkeypatch.setattr(c.store, "items", counting_items)
    add_pod(c, "late", gpus=1)
    c.settle()
    assert node_of(c, "late") is not None
    assert scans == []


def test_settled_cluster_is_quiet() -> None:
    c, sched = make_cluster()
    add_node(c, "n1", gpus=2)
    add_queue(c, "q", quota=1, limit=1)
    for i in range(3):
        add_pod(c, f"p{i}", gpus=1)
    c.settle()
    seen: list[Change] = []
    c.store.subscribe(seen.append)
    assert sched.reconcile() is False
    assert seen == []


def test_deleted_reservation_pod_is_made_again_while_pods_wait() -> None:
    c, _ = make_cluster()
    add_node(c, "n1", gpus=1)
    add_queue(c, "q")
    add_pod(c, "f", fraction="0.5")
    c.settle()
    (first,) = reservation_pods(c)
    c.store.delete(PODS, "kai-resource-reservation", first["metadata"]["name"])
    c.settle()
    (second,) = reservation_pods(c)
    assert second["metadata"]["name"] != first["metadata"]["name"]
    assert second["metadata"]["labels"]["runai-gpu-group"] == first["metadata"]["labels"]["runai-gpu-group"]
    grant_gpus(c)
    c.settle()
    assert node_of(c, "f") == "n1"


@pytest.mark.parametrize("spec", [
    {"schedulerName": "kai-scheduler", "containers": "not-a-list"},
    {"schedulerName": "kai-scheduler", "containers": [{"name": "m", "resources": ["x"]}]},
    {"schedulerName": "kai-scheduler", "containers": [{"name": "m", "resources": {"limits": {"nvidia.com/gpu": "lots"}}}]},
    {"schedulerName": "kai-scheduler", "containers": [{"name": "m", "resources": {"requests": {"cpu": {"a": 1}}}}],
     "nodeSelector": {"x": "y"}},
    {"schedulerName": "default-scheduler", "containers": [{"name": "m", "resources": {"limits": "8"}}],
     "affinity": {"nodeAffinity": "weird"}},
])
def test_malformed_pods_never_crash_the_scheduler(spec) -> None:
    c, sched = make_cluster()
    add_node(c, "n1")
    add_queue(c, "q")
    c.store.load(PODS, [{"metadata": {"name": "odd", "namespace": "default", "labels": {"kai.scheduler/queue": "q"},
                                      "annotations": {"gpu-fraction": 7}, "ownerReferences": [{"kind": "Job"}]},
                         "spec": spec, "status": {"phase": "Pending"}}])
    add_pod(c, "fine", gpus=1)
    c.settle()
    assert node_of(c, "fine") == "n1"
    odd = get_pod(c, "odd")
    assert odd is not None
    if spec["schedulerName"] == "kai-scheduler" and not spec.get("nodeSelector"):
        why = podgroup_of(c, "odd")["status"]["schedulingConditions"][0]["reasons"][0]
        # the request is invalid (gpu-fraction 7, or a bad nvidia.com/gpu): the message says which pod and why
        assert why["reason"] == "Unschedulable" and why["message"].startswith("default/odd: ")
        assert "gpu-fraction" in why["message"] or "nvidia.com/gpu" in why["message"]
