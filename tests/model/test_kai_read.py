"""How KAI reads nodes and pods, and the allocation records and preview state built from raw objects."""

from __future__ import annotations

from console.model.kai_read import (
    default_gpu_request, gpu_groups_of, is_reservation_pod, min_member_of, node_filter, node_info, pod_record,
    priority_lookup, state_from_objects,
)


def test_node_readiness_and_cordon() -> None:
    base = {"metadata": {"name": "n", "labels": {"nvidia.com/gpu.memory": "81559"}},
            "status": {"allocatable": {"nvidia.com/gpu": "8", "cpu": "96", "memory": "1Ti"}}}
    n = node_info(base)
    assert (n.gpus, n.gpu_memory_mib, n.cpu, n.memory, n.schedulable) == (8, 81559, 96.0, 2.0**40, True)
    not_ready = {**base, "status": {**base["status"], "conditions": [{"type": "Ready", "status": "Unknown"}]}}
    assert not node_info(not_ready).schedulable
    cordoned = {**base, "spec": {"unschedulable": True}}
    assert not node_info(cordoned).schedulable


def test_node_gpu_count_falls_back_to_gfd_label() -> None:
    n = node_info({"metadata": {"name": "n", "labels": {"nvidia.com/gpu.count": "2"}}, "status": {}})
    assert n.gpus == 2 and n.cpu is None


def test_gpu_groups_single_and_multi_device() -> None:
    assert gpu_groups_of({"metadata": {"labels": {"runai-gpu-group": "g1"}}}) == ("g1",)
    multi = {"metadata": {"labels": {"runai-gpu-group/a": "a", "runai-gpu-group/b": "b", "app": "x"}}}
    assert sorted(gpu_groups_of(multi)) == ["a", "b"]
    assert is_reservation_pod({"metadata": {"namespace": "runai-reservation", "labels": {"runai-gpu-group": "g"}}})
    assert not is_reservation_pod({"metadata": {"namespace": "default", "labels": {"runai-gpu-group": "g"}}})


def test_node_constraints() -> None:
    pod = {"spec": {"nodeSelector": {"pool": "a"}, "affinity": {"nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "runai/node-pool", "operator": "DoesNotExist"}]},
            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n2"]}]}]}}}}}
    f = node_filter(pod)
    assert f is not None
    assert f.matches("n2", {"pool": "a"})
    assert not f.matches("n1", {"pool": "b"})
    assert not f.matches("n3", {"pool": "a", "runai/node-pool": "x"})  # neither term
    assert f.matches("n3", {"pool": "a"})  # terms are ORed: the first one holds
    assert node_filter({"spec": {}}) is None


def test_default_scheduler_ignores_sharing_annotations() -> None:
    pod = {"metadata": {"annotations": {"gpu-fraction": "0.5"}}, "spec": {"containers": [
        {"name": "m", "resources": {"limits": {"nvidia.com/gpu": "2"}}}]}}
    r = default_gpu_request(pod)
    assert (r.kind, r.count) == ("whole", 2)
    pod["spec"]["containers"][0]["resources"] = {}
    assert default_gpu_request(pod).kind == "none"


def test_malformed_nodes_read_as_unusable_not_crash() -> None:
    n = node_info({"metadata": {"name": "odd", "labels": "x"}, "status": {"allocatable": "lots", "conditions": ["?"]},
                   "spec": []})
    assert n.name == "odd" and n.gpus == 0 and n.cpu is None
    m = node_info({"metadata": {"name": "m", "labels": {"nvidia.com/gpu.memory": "big"}},
                   "status": {"allocatable": {"nvidia.com/gpu": "two", "cpu": "8"}}})
    assert m.gpus == 0 and m.gpu_memory_mib is None and m.cpu == 8.0


# ---------------------------------------------------------------- records and a preview state from raw objects
def _node(name: str, gpus: int = 4) -> dict:
    return {"metadata": {"name": name, "labels": {"nvidia.com/gpu.memory": "40960"}},
            "status": {"allocatable": {"nvidia.com/gpu": str(gpus)}, "conditions": [{"type": "Ready", "status": "True"}]}}


def _pod(name: str, node: str | None, queue: str = "a", gpus: int = 0, fraction: str | None = None,
         pg: str | None = None, labels: dict | None = None, phase: str = "Running", ns: str = "team") -> dict:
    md = {"name": name, "namespace": ns, "labels": {"kai.scheduler/queue": queue, **(labels or {})},
          "annotations": {}}
    if pg:
        md["annotations"]["pod-group-name"] = pg
    if fraction:
        md["annotations"]["gpu-fraction"] = fraction
        md["labels"]["runai-gpu-group"] = "grp-1"
    spec = {"schedulerName": "kai-scheduler",
            "containers": [{"name": "m", "resources": {"limits": {"nvidia.com/gpu": str(gpus)}} if gpus else {}}]}
    if node:
        spec["nodeName"] = node
    return {"metadata": md, "spec": spec, "status": {"phase": phase}}


def test_pod_record_uses_the_podgroup_then_labels() -> None:
    prio = priority_lookup([{"metadata": {"name": "inference"}, "value": 125},
                            {"metadata": {"name": "train"}, "value": 50}])
    pg = {"metadata": {"name": "pg1"}, "spec": {"queue": "from-pg", "priorityClassName": "inference",
                                                "preemptibility": "preemptible", "minMember": 3}}
    rec, err = pod_record(_pod("p", None, gpus=2, pg="pg1"), pg, prio)
    assert err is None
    assert (rec.key, rec.job, rec.queue, rec.priority, rec.preemptible) == ("team/p", "team/pg1", "from-pg", 125, True)
    assert min_member_of(pg) == 3 and min_member_of(None) == 1
    rec2, _ = pod_record(_pod("q", None, queue="b", labels={"priorityClassName": "inference"}), None, prio)
    assert (rec2.queue, rec2.priority, rec2.preemptible) == ("b", 125, False)
    bad, err = pod_record(_pod("r", None, fraction="1.5"), None, prio)
    assert "gpu-fraction must be between 0 and 1" in err and bad.req.kind == "none"


def test_priority_lookup_falls_back_to_global_default_then_50() -> None:
    assert priority_lookup([])("train") == 50
    look = priority_lookup([{"metadata": {"name": "d"}, "value": 7, "globalDefault": True}])
    assert look("missing") == 7 and look("d") == 7 and look(None) == 7


def test_state_from_objects_for_a_preview() -> None:
    nodes = [_node("n1"), _node("n2")]
    pods = [_pod("w", "n1", gpus=2, pg="pg-w"), _pod("f1", "n2", fraction="0.5"), _pod("f2", "n2", fraction="0.25"),
            _pod("done", "n1", gpus=2, phase="Succeeded"), _pod("waiting", None, gpus=1),
            {"metadata": {"name": "gpu-reservation-n2-abcde", "namespace": "kai-resource-reservation",
                          "labels": {"app": "kai-resource-reservation", "runai-gpu-group": "grp-1"}},
             "spec": {"nodeName": "n2", "containers": [{"name": "r", "resources": {"limits": {"nvidia.com/gpu": "1"}}}]},
             "status": {"phase": "Running"}}]
    queues = [{"metadata": {"name": "a"}, "spec": {"resources": {"gpu": {"quota": 2, "limit": -1}}}}]
    pgs = [{"metadata": {"name": "pg-w", "namespace": "team"}, "spec": {"queue": "a", "minMember": 2}}]
    st = state_from_objects(nodes, pods, queues, pgs, [])
    assert sorted(st.pods) == ["team/f1", "team/f2", "team/w"]
    assert st.alloc["a"] == 2.75
    assert st.nodes["n1"].free_whole == 2 and st.nodes["n2"].free_whole == 3
    assert st.groups["grp-1"].used == 0.75
    assert st.jobs["team/pg-w"].min_member == 2
