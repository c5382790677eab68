"""How the simulated scheduler reads nodes and pods: readiness, cordon, GPU groups, node constraints."""

from __future__ import annotations

from console.sim.kai_read import default_gpu_request, gpu_groups_of, is_reservation_pod, node_filter, node_info


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
