"""Objects captured from real Run:ai / KAI clusters and docs land in the right records and rows."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from console.model import snapshot
from console.model.cluster_store import ClusterStore

FRAC_GROUP = "df7c0dd3-9795-443c-85b9-acbf49c8fb6b"
FRAC_UUID = "GPU-8983c66a-23df-e63b-4c2f-afcae9ec79b3"
FRAC_NODE = "i-0b498db53280b86a6"


def _docs(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _one(path: Path) -> dict:
    (doc,) = _docs(path)
    return doc


def _load_kai(store: ClusterStore, realworld: Path) -> None:
    """Every KAI doc example; namespaced objects without a namespace go to one named after the file."""
    for f in sorted((realworld / "kai").glob("*.yaml")):
        for d in _docs(f):
            kind = d["kind"]
            if kind != "Queue":
                d["metadata"].setdefault("namespace", "ns-" + f.stem.split("__")[-1])
            assert store.apply(kind, "ADDED", d), f"{f.name}: {list(store.problems)}"


@pytest.fixture
def fractional(realworld: Path) -> ClusterStore:
    store = ClusterStore()
    for name in ("fractional_pod.yaml", "fractional_pod_reservation.yaml"):
        assert store.apply("pods", "ADDED", _one(realworld / "runai" / name))
    return store


def test_fractional_pod_record(fractional: ClusterStore) -> None:
    p = fractional.pods[("runai-pa", "frac-1-0-0")]
    assert (p.gpu.kind, p.gpu.portion, p.gpu.total) == ("fraction", 0.5, 0.5)
    assert p.gpu_groups == (FRAC_GROUP,)
    assert "runai-gpu-group" not in p.labels and p.labels["project"] == "pa"
    assert (p.owner.kind, p.owner.group, p.owner.name) == ("RunaiJob", "run.ai", "frac-1")
    assert p.podgroup == "pg-frac-1-0-2237ca39-cac0-4601-b658-8a3c5f406a4f"
    assert (p.node, p.phase, p.ready, p.reservation) == (FRAC_NODE, "Running", True, False)
    assert p.scheduler == "runai-scheduler"


def test_reservation_pod_record(fractional: ClusterStore) -> None:
    r = fractional.pods[("runai-reservation", "runai-reservation-gpu-i-0b498db53280b86a6-fzdhl")]
    assert r.reservation and r.reserved_uuid == FRAC_UUID
    assert r.gpu_groups == (FRAC_GROUP,)
    assert (r.gpu.kind, r.gpu.count) == ("whole", 1)
    assert r.workload is None and r.queue is None  # infrastructure, not a workload


def test_fraction_found_through_reservation_uuid(fractional: ClusterStore) -> None:
    """The capture's node object is from another machine: the GPU row exists, its model honestly unknown."""
    snap = snapshot.build(fractional)
    (gpu,) = snap["gpus"]
    assert gpu["node"] == FRAC_NODE and gpu["uuid"] == FRAC_UUID and gpu["device_reported"] is True
    assert gpu["holders"] == [{"namespace": "runai-pa", "pod": "frac-1-0-0", "workload": "frac-1", "share": 0.5,
                               "terminating": False, "terminating_since": None, "terminating_for_s": None}]
    assert gpu["free_share"] == 0.5
    assert gpu["model"] is None and gpu["memory_mib"] is None


def test_fraction_on_its_node_with_gfd_labels(fractional: ClusterStore, realworld: Path) -> None:
    node = _one(realworld / "runai" / "node_fraction_1_workload.yaml")
    node = copy.deepcopy(node)
    node["metadata"]["name"] = FRAC_NODE  # the pod ran on a node like this one (2 x Tesla T4)
    assert fractional.apply("nodes", "ADDED", node)
    gpus = snapshot.build(fractional)["gpus"]
    # rows are keyed by their slot on the node; the device index is not in the API (the telemetry names it)
    assert [(g["slot"], g["index"], g["uuid"], g["model"], g["memory_mib"]) for g in gpus] == [
        (0, None, FRAC_UUID, "Tesla-T4", 15360), (1, None, None, "Tesla-T4", 15360)]
    assert gpus[0]["holders"][0]["share"] == 0.5 and gpus[0]["free_share"] == 0.5
    assert gpus[1]["holders"] == [] and gpus[1]["free_share"] == 1.0 and gpus[1]["device_reported"] is False
    (n,) = snapshot.build(fractional, "nodes")["nodes"]
    # the reservation pod holds one whole device; the fraction counts through it, not again
    assert (n["gpu_capacity"], n["gpu_allocated"], n["gpu_shared"], n["gpu_free"]) == (2, 1, 1, 1)


def test_fractional_workload_row(fractional: ClusterStore) -> None:
    (w,) = snapshot.build(fractional, "workloads")["workloads"]
    assert (w["namespace"], w["name"], w["kind"]) == ("runai-pa", "frac-1", "RunaiJob")
    assert w["type"] == "training"                  # workloadKind: TrainingWorkload, RunaiJob
    assert w["status"] == "Running" and w["replicas_ready"] == 1
    assert w["gpu_total"] == 0.5 and w["gpu_request"] == "0.5"
    assert w["replicas_desired"] is None            # RunaiJob is not watched: the console does not know


def test_fractional_project_without_queues_and_with(fractional: ClusterStore) -> None:
    assert snapshot.build(fractional, "projects")["projects"] == []  # no Queue, no GPU quota: no projects
    fractional.apply("Queue", "ADDED", {"metadata": {"name": "pa"}, "spec": {"resources": {"gpu": {"quota": 1}}}})
    (p,) = snapshot.build(fractional, "projects")["projects"]
    assert p["name"] == "pa" and p["quota_gpu"] == 1.0
    assert p["allocated_gpu"] == 0.5 and p["requested_gpu"] == 0.5  # label `project: pa` bills queue pa
    assert p["status_reported"] is False and p["mismatch"] == []


@pytest.mark.parametrize("name, product, memory, count, mig", [
    ("node_fraction_1_workload.yaml", "Tesla-T4", 15360, 2, 0),
    ("node_mig_7g-40gb.yaml", "NVIDIA-A100-SXM4-40GB", 40960, 1, 1),
])
def test_nodes_from_feature_discovery_labels(realworld: Path, name: str, product: str, memory: int,
                                             count: int, mig: int) -> None:
    store = ClusterStore()
    raw = _one(realworld / "runai" / name)
    assert store.apply("nodes", "ADDED", raw)
    rec = store.nodes[raw["metadata"]["name"]]
    assert (rec.gpu_product, rec.gpu_memory_mib, rec.gpu_count, rec.mig_capacity) == (product, memory, count, mig)
    assert rec.ready is True and rec.cordoned is False
    gpus = snapshot.build(store, "gpus")["gpus"]
    assert len(gpus) == count and all(g["model"] == product and g["memory_mib"] == memory for g in gpus)
    assert all(g["mig"] is bool(mig) for g in gpus)


def test_kai_examples(realworld: Path) -> None:
    store = ClusterStore()
    _load_kai(store, realworld)
    snap = snapshot.build(store)
    projects = {p["name"]: p for p in snap["projects"]}
    assert projects["default-queue"]["parent"] == "default-parent-queue"
    assert projects["default-parent-queue"]["children"] == ["default-queue"]
    assert projects["test"]["parent"] == "default" and projects["test"]["quota_gpu"] == 1.0
    assert projects["test"]["limit_gpu"] == 1.0 and projects["default"]["quota_gpu"] == -1.0

    assert len(store.pods) == 8
    pods = {k[1]: p for k, p in store.pods.items()}
    mem = store.pods[("ns-gpu-memory", "gpu-sharing")]
    assert (mem.gpu.kind, mem.gpu.memory_mib) == ("memory", 2000)
    frac = store.pods[("ns-gpu-sharing", "gpu-sharing")]
    assert (frac.gpu.kind, frac.gpu.portion) == ("fraction", 0.5)
    other = pods["gpu-sharing-non-default"]
    assert other.gpu.container == "gpu-workload" and not other.gpu.init_container
    init = pods["gpu-sharing-init-container"]  # the fraction goes to the init container, as KAI's example asks
    assert (init.gpu.kind, init.gpu.portion, init.gpu.total) == ("fraction", 0.5, 0.5)
    assert (init.gpu.container, init.gpu.init_container) == ("gpu-init", True)
    assert pods["cpu-only-pod"].gpu.kind == "none" and pods["gpu-pod"].gpu.count == 1
    assert all(p.queue == "default-queue" for p in store.pods.values())

    wl = {(w["namespace"], w["name"]): w for w in snap["workloads"]}
    build = wl[("ns-build-priority-pod", "build-pod")]
    assert (build["type"], build["priority_class"], build["preemptible"]) == ("build", "build", False)
    train = wl[("ns-train-priority-pod", "train-pod")]
    assert (train["type"], train["priority_class"], train["preemptible"]) == ("training", "train", True)
    job = wl[("ns-batch-job", "batch-job")]
    assert (job["kind"], job["replicas_desired"], job["gpu_per_replica"]) == ("Job", 2, 1.0)
    assert job["project"] == "default-queue" and job["status"] == "Pending"  # no pods yet
    # eight pods wait in default-queue asking 1 + 1 + 1 + 0.5 + 0.5 + 0.5 GPUs (+ memory: GPU size unknown, + CPU)
    dq = projects["default-queue"]
    assert dq["requested_gpu_pods"] == 4.5 and dq["allocated_gpu_pods"] == 0.0
    assert dq["pending_workloads"] == 9 and projects["default-parent-queue"]["pending_workloads"] == 9
