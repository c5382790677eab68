"""Node rows: capacity, whole devices allocated (fractions through their reservation), ready, cordoned."""

from __future__ import annotations

from console.model.cluster_store import ClusterStore


def node(ready: str = "True", cordoned: bool = False) -> dict:
    return {"metadata": {"name": "n1", "labels": {"nvidia.com/gpu.count": "8", "nvidia.com/gpu.product": "L40S",
                                                  "nvidia.com/gpu.memory": "46068"}},
            "spec": {"unschedulable": cordoned},
            "status": {"conditions": [{"type": "Ready", "status": ready}]}}


def pod(name: str, ns: str = "a", gpus: int = 0, ann: dict | None = None, labels: dict | None = None,
        phase: str = "Running", mig: int = 0) -> dict:
    limits = {"nvidia.com/gpu": str(gpus)} if gpus else {}
    if mig:
        limits = {"nvidia.com/mig-1g.10gb": str(mig)}
    return {"metadata": {"name": name, "namespace": ns, "annotations": ann or {}, "labels": labels or {}},
            "spec": {"nodeName": "n1", "containers": [{"name": "c", "resources": {"limits": limits}}]},
            "status": {"phase": phase}}


def test_allocated_counts_whole_devices_once() -> None:
    s = ClusterStore()
    for o in (node(), pod("w", gpus=3), pod("r", ns="runai-reservation", gpus=1, labels={"runai-gpu-group": "g"}),
              pod("f1", ann={"gpu-fraction": "0.5"}, labels={"runai-gpu-group": "g"}),
              pod("f2", ann={"gpu-fraction": "0.5"}, labels={"runai-gpu-group": "g"}),
              pod("cpu"), pod("done", gpus=2, phase="Succeeded"), pod("m", mig=2)):
        s.apply("Node" if "unschedulable" in o.get("spec", {}) else "pods", "ADDED", o)
    s.refresh()
    r = s.nodes_view.rows["n1"]
    assert (r.gpu_capacity, r.gpu_allocated, r.gpu_free, r.gpu_shared) == (8, 4, 4, 1)
    assert (r.mig_allocated, r.pods, r.gpu_product, r.gpu_memory_mib) == (2, 6, "L40S", 46068)


def test_ready_and_cordoned_follow_the_node() -> None:
    s = ClusterStore()
    s.apply("nodes", "ADDED", node())
    s.refresh()
    assert (s.nodes_view.rows["n1"].ready, s.nodes_view.rows["n1"].cordoned) == (True, False)
    s.apply("nodes", "MODIFIED", node(ready="False", cordoned=True))
    d = s.drain()
    assert (d.nodes.upserts["n1"].ready, d.nodes.upserts["n1"].cordoned) == (False, True)


def test_pods_on_unknown_nodes_make_no_node_rows() -> None:
    s = ClusterStore()
    s.apply("pods", "ADDED", pod("w", gpus=1))
    s.refresh()
    assert s.nodes_view.rows == {} and len(s.gpus.rows) == 1  # the GPU it holds is still shown
