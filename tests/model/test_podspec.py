"""What KAI reads from a pod: queue, GPU request, priority class and preemptibility (both label generations)."""

from __future__ import annotations

import pytest
import yaml

from console.model.podspec import (
    DEFAULT_PRIORITY, PRIORITY_CLASSES, GpuRequest, default_priority_class, gpu_request, is_preemptible,
    node_gpu_memory, pod_requests, preemptibility_of, priority_class_of, priority_value, queue_of, top_owner_ref,
    validate_sharing,
)


def pod(labels=None, annotations=None, limits=None, containers=None, spec=None) -> dict:
    c = containers or [{"name": "main", "image": "x", "resources": {"limits": limits} if limits else {}}]
    return {"metadata": {"name": "p", "namespace": "ns", "labels": labels or {}, "annotations": annotations or {}},
            "spec": {"containers": c, **(spec or {})}}


# ---------------------------------------------------------------- queue
def test_queue_label_precedence() -> None:
    owner = {"metadata": {"labels": {"kai.scheduler/queue": "from-owner"}}}
    p = pod({"kai.scheduler/queue": "from-pod", "project": "proj"})
    assert queue_of(p, owner) == "from-owner"
    assert queue_of(p) == "from-pod"


def test_runai_queue_label_generation() -> None:
    assert queue_of(pod({"runai/queue": "team-b"})) == "team-b"
    # the current key wins over the old one on the same object
    assert queue_of(pod({"runai/queue": "old", "kai.scheduler/queue": "new"})) == "new"


def test_project_label_and_node_pool() -> None:
    assert queue_of(pod({"project": "pa"})) == "pa"
    assert queue_of(pod({"project": "pa", "kai.scheduler/node-pool": "a100"})) == "pa-a100"
    assert queue_of(pod(), {"metadata": {"labels": {"project": "owner-proj"}}}) == "owner-proj"


def test_no_queue_label_means_caller_default() -> None:
    assert queue_of(pod({"app": "x"})) is None


# ---------------------------------------------------------------- GPU request
def test_whole_gpus_from_limits_summed_over_containers() -> None:
    cs = [{"name": "a", "resources": {"limits": {"nvidia.com/gpu": "2"}}},
          {"name": "b", "resources": {"limits": {"nvidia.com/gpu": 1}}}]
    r = gpu_request(pod(containers=cs))
    assert (r.kind, r.count, r.total, r.portion) == ("whole", 3, 3.0, 0.0)


def test_fraction() -> None:
    r = gpu_request(pod(annotations={"gpu-fraction": "0.5"}))
    assert (r.kind, r.count, r.portion, r.total) == ("fraction", 1, 0.5, 0.5)
    assert r.shared


def test_multi_device_fraction() -> None:
    r = gpu_request(pod(annotations={"gpu-fraction": "0.25", "gpu-fraction-num-devices": "4"}))
    assert (r.kind, r.count, r.portion, r.total) == ("fraction", 4, 0.25, 1.0)


def test_gpu_memory_resolves_with_gpu_size() -> None:
    r = gpu_request(pod(annotations={"gpu-memory": "20000"}))
    assert (r.kind, r.memory_mib, r.total) == ("memory", 20000, 0.0)
    r2 = gpu_request(pod(annotations={"gpu-memory": "20000"}), gpu_memory_mib=40000)
    assert r2.portion == pytest.approx(0.5) and r2.total == pytest.approx(0.5)
    # KAI floors the node's GPU memory to a multiple of 100 MiB: 40960 counts as 40900
    assert r.portion_on(40960) == pytest.approx(20000 / 40900)
    assert r.portion_on(None) == 1.0
    assert r.portion_on(10000) == 1.0  # never more than one device


def test_mig_profile() -> None:
    r = gpu_request(pod(limits={"nvidia.com/mig-1g.5gb": "2"}))
    assert (r.kind, r.count, r.mig_profile) == ("mig", 2, "1g.5gb")


def test_no_gpu() -> None:
    assert gpu_request(pod(limits={"cpu": "1"})) == GpuRequest()


@pytest.mark.parametrize("ann,limits,msg", [
    ({"gpu-fraction": "1.5"}, None, "gpu-fraction must be between 0 and 1 (exclusive), got 1.5"),
    ({"gpu-fraction": "0"}, None, "between 0 and 1"),
    ({"gpu-fraction": "half"}, None, "gpu-fraction must be a number"),
    ({"gpu-fraction": "0.5"}, {"nvidia.com/gpu": "1"}, "cannot be combined with a nvidia.com/gpu limit"),
    ({"gpu-memory": "-5"}, None, "gpu-memory must be a positive integer"),
    ({"gpu-memory": "2G"}, None, "gpu-memory must be a positive integer"),
    ({"gpu-memory": "100"}, {"nvidia.com/gpu": "1"}, "cannot be combined"),
    ({"gpu-memory": "100", "gpu-fraction": "0.5"}, None, "cannot be used together"),
    ({"gpu-fraction-num-devices": "2"}, None, "needs gpu-fraction or gpu-memory"),
    ({"gpu-fraction": "0.5", "gpu-fraction-num-devices": "0"}, None, "positive integer"),
    ({"mps": "true"}, None, "mps is only valid"),
    ({"gpu-fraction": "0.5", "gpu-fraction-container-name": "nope"}, None, "names no container"),
    ({}, {"nvidia.com/gpu": "1.5"}, "whole number"),
    ({}, {"nvidia.com/gpu": "1", "nvidia.com/mig-1g.5gb": "1"}, "cannot be combined with MIG"),
])
def test_invalid_requests_explain(ann, limits, msg) -> None:
    with pytest.raises(ValueError) as e:
        gpu_request(pod(annotations=ann, limits=limits))
    assert msg in str(e.value)
    assert validate_sharing(pod(annotations=ann, limits=limits)) == str(e.value)


def test_valid_request_passes_validation() -> None:
    assert validate_sharing(pod(annotations={"gpu-fraction": "0.5", "mps": "true"})) is None


def test_container_name_selects_gpu_container(realworld) -> None:
    p = yaml.safe_load((realworld / "kai/gpu-sharing__gpu-sharing-non-default-container.yaml").read_text())
    r = gpu_request(p)
    assert r.container == "gpu-workload" and r.portion == 0.5


def test_container_name_may_name_an_init_container(realworld) -> None:
    """KAI's init-container example: the fraction goes to `gpu-init`, an init container."""
    p = yaml.safe_load((realworld / "kai/gpu-sharing__gpu-sharing-init-container.yaml").read_text())
    r = gpu_request(p)
    assert (r.kind, r.portion, r.total, r.container, r.init_container) == ("fraction", 0.5, 0.5, "gpu-init", True)
    assert validate_sharing(p) is None


def test_init_containers_are_searched_first_as_kai_does() -> None:
    p = pod(annotations={"gpu-fraction": "0.25", "gpu-fraction-container-name": "x"},
            spec={"initContainers": [{"name": "x"}], "containers": [{"name": "x"}]})
    assert gpu_request(p).init_container is True


def test_unknown_container_names_both_lists() -> None:
    p = pod(annotations={"gpu-fraction": "0.5", "gpu-fraction-container-name": "nope"},
            spec={"initContainers": [{"name": "warm"}], "containers": [{"name": "main"}]})
    with pytest.raises(ValueError, match=r"names no container of the pod \(containers: main; init containers: warm\)"):
        gpu_request(p)


# ---------------------------------------------------------------- priority and preemptibility
def test_priority_class_precedence() -> None:
    owner = {"metadata": {"labels": {"priorityClassName": "inference"}}}
    p = pod({"priorityClassName": "build"}, spec={"priorityClassName": "train"})
    assert priority_class_of(p, owner) == "inference"
    assert priority_class_of(p) == "build"
    assert priority_class_of(pod(spec={"priorityClassName": "train"})) == "train"
    assert priority_class_of(pod()) is None


def test_priority_table_and_defaults() -> None:
    assert PRIORITY_CLASSES["train"] == 50 and PRIORITY_CLASSES["inference"] == 125
    assert PRIORITY_CLASSES["very-high"] == 150 and PRIORITY_CLASSES["medium-high"] == 90
    assert priority_value("build") == 100
    assert priority_value("custom", {"custom": 7}) == 7
    assert priority_value("missing", {"x": 1}, global_default=33) == 33
    assert priority_value("missing", {}) == DEFAULT_PRIORITY == 50
    assert default_priority_class("Deployment") == "inference"
    assert default_priority_class("Job") == "train"
    assert default_priority_class(None) == "train"


def test_preemptibility() -> None:
    assert is_preemptible(50, {})
    assert not is_preemptible(100, {})
    assert is_preemptible(125, {"kai.scheduler/preemptibility": "preemptible"})
    assert not is_preemptible(50, {"kai.scheduler/preemptibility": "non-preemptible"})
    # the PodGroup's word wins over the pod label
    assert is_preemptible(125, {"kai.scheduler/preemptibility": "non-preemptible"}, "preemptible")
    assert not is_preemptible(50, {}, "non-preemptible")
    assert is_preemptible(50, {"kai.scheduler/preemptibility": "bogus"})
    owner = {"metadata": {"labels": {"kai.scheduler/preemptibility": "preemptible"}}}
    assert preemptibility_of(pod(), owner) == "preemptible"


# ---------------------------------------------------------------- owners and requests
def test_top_owner_walks_controller_refs() -> None:
    rs_ref = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "u-rs", "controller": True}
    dep_ref = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "d", "uid": "u-d", "controller": True}
    objs = {"u-rs": {"metadata": {"ownerReferences": [dep_ref]}}, "u-d": {"metadata": {}}}
    p = pod()
    p["metadata"]["ownerReferences"] = [rs_ref]
    assert top_owner_ref(p, lambda ref, ns: objs.get(ref["uid"]))["name"] == "d"
    assert top_owner_ref(p)["name"] == "rs"
    assert top_owner_ref(pod()) is None


def test_pod_requests_sum_and_init_floor() -> None:
    p = pod(containers=[{"name": "a", "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}},
                        {"name": "b", "resources": {"limits": {"cpu": "1"}}}],
            spec={"initContainers": [{"name": "i", "resources": {"requests": {"cpu": "4"}}}]})
    r = pod_requests(p)
    assert r["cpu"] == 4.0 and r["memory"] == 2**30


# ---------------------------------------------------------------- real Run:ai objects
def test_runai_fractional_pod(realworld) -> None:
    p = yaml.safe_load((realworld / "runai/fractional_pod.yaml").read_text())
    assert queue_of(p) == "pa"
    r = gpu_request(p)
    assert (r.kind, r.portion, r.total, r.count) == ("fraction", 0.5, 0.5, 1)
    assert priority_class_of(p) is None


def test_runai_reservation_pod_is_one_whole_gpu(realworld) -> None:
    p = yaml.safe_load((realworld / "runai/fractional_pod_reservation.yaml").read_text())
    r = gpu_request(p)
    assert (r.kind, r.count) == ("whole", 1)


def test_runai_nodes_gpu_memory(realworld) -> None:
    n = yaml.safe_load((realworld / "runai/node_fraction_1_workload.yaml").read_text())
    assert node_gpu_memory(n) == 15360
    m = yaml.safe_load((realworld / "runai/node_mig_7g-40gb.yaml").read_text())
    assert node_gpu_memory(m) == 40960


@pytest.mark.parametrize("name", ["gpu-sharing__gpu-sharing.yaml", "gpu-sharing__gpu-memory.yaml",
                                  "quickstart__pods__gpu-pod.yaml", "quickstart__pods__cpu-only-pod.yaml",
                                  "priority__example__train-priority-pod.yaml"])
def test_kai_examples_parse(realworld, name) -> None:
    p = yaml.safe_load((realworld / "kai" / name).read_text())
    assert queue_of(p) == "default-queue"
    r = gpu_request(p)
    expected = {"gpu-sharing__gpu-sharing.yaml": "fraction", "gpu-sharing__gpu-memory.yaml": "memory",
                "quickstart__pods__cpu-only-pod.yaml": "none"}.get(name, "whole")
    assert r.kind == expected
