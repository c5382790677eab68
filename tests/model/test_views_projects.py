"""Project rows: the queue tree sums its children; reported and pod-derived figures are both kept."""

from __future__ import annotations

from console.model.cluster_store import ClusterStore


def queue(name: str, parent: str | None = None, status: dict | None = None, quota: float = 2) -> dict:
    spec: dict = {"priority": 100, "resources": {"gpu": {"quota": quota, "limit": -1, "overQuotaWeight": 3}}}
    if parent:
        spec["parentQueue"] = parent
    return {"metadata": {"name": name}, "spec": spec, "status": status or {}}


def pod(name: str, q: str, gpus: int = 1, node: str | None = "n1", pc: str | None = None,
        fraction: str | None = None) -> dict:
    labels = {"kai.scheduler/queue": q}
    if pc:
        labels["priorityClassName"] = pc
    ann = {"gpu-fraction": fraction} if fraction else {}
    limits = {} if fraction else {"nvidia.com/gpu": str(gpus)}
    spec: dict = {"schedulerName": "kai-scheduler", "containers": [{"name": "c", "resources": {"limits": limits}}]}
    if node:
        spec["nodeName"] = node
    return {"metadata": {"name": name, "namespace": "ns-" + q, "labels": labels, "annotations": ann},
            "spec": spec, "status": {"phase": "Running" if node else "Pending"}}


def store_with(*objs: tuple[str, dict]) -> ClusterStore:
    s = ClusterStore()
    for kind, o in objs:
        assert s.apply(kind, "ADDED", o)
    s.refresh()
    return s


def test_departments_sum_their_projects() -> None:
    s = store_with(("Queue", queue("dept")), ("Queue", queue("a", "dept")), ("Queue", queue("b", "dept")),
                   ("pods", pod("a1", "a", gpus=2)), ("pods", pod("a2", "a", fraction="0.5", node=None)),
                   ("pods", pod("b1", "b", pc="inference")), ("pods", pod("b2", "b", node=None)))
    rows = s.projects.rows
    a, b, d = rows["a"], rows["b"], rows["dept"]
    assert (a.allocated_gpu_pods, a.requested_gpu_pods, a.allocated_nonpreemptible_gpu_pods) == (2.0, 2.5, 0.0)
    assert (b.allocated_gpu_pods, b.requested_gpu_pods, b.allocated_nonpreemptible_gpu_pods) == (1.0, 2.0, 1.0)
    assert (d.allocated_gpu_pods, d.requested_gpu_pods, d.allocated_nonpreemptible_gpu_pods) == (3.0, 4.5, 1.0)
    assert (a.pending_workloads, b.pending_workloads, d.pending_workloads) == (1, 1, 2)
    assert d.children == ("a", "b") and a.leaf and not d.leaf
    assert (a.quota_gpu, a.limit_gpu, a.over_quota_weight, a.priority) == (2.0, -1.0, 3.0, 100)
    # moving a project re-sums both departments
    s.apply("Queue", "MODIFIED", queue("b", "dept2"))
    s.apply("Queue", "ADDED", queue("dept2"))
    s.refresh()
    assert s.projects.rows["dept"].requested_gpu_pods == 2.5 and s.projects.rows["dept2"].requested_gpu_pods == 2.0
    assert s.current() == s.full_recompute()


def test_reported_status_wins_and_mismatch_is_flagged() -> None:
    s = store_with(("Queue", queue("a", status={"allocated": {"nvidia.com/gpu": "1500m"},
                                               "allocatedNonPreemptible": {"nvidia.com/gpu": "0"},
                                               "requested": {"nvidia.com/gpu": "1500m"}})),
                   ("pods", pod("p", "a", fraction="0.5")), ("pods", pod("q", "a")))
    r = s.projects.rows["a"]
    assert r.status_reported and (r.allocated_gpu, r.allocated_gpu_pods) == (1.5, 1.5) and r.mismatch == ()
    s.apply("pods", "DELETED", pod("q", "a"))
    s.refresh()
    r = s.projects.rows["a"]
    assert r.allocated_gpu == 1.5 and r.allocated_gpu_pods == 0.5
    assert r.mismatch == ("allocated_gpu", "requested_gpu")


def test_pods_of_a_missing_queue_are_shown_not_lost() -> None:
    s = store_with(("Queue", queue("a")), ("pods", pod("p", "ghost")))
    g = s.projects.rows["ghost"]
    assert g.queue_missing and g.quota_gpu is None and g.allocated_gpu == 1.0
    s.apply("pods", "DELETED", pod("p", "ghost"))
    s.refresh()
    assert "ghost" not in s.projects.rows


def test_parent_cycle_is_not_summed_twice() -> None:
    s = store_with(("Queue", queue("x", "y")), ("Queue", queue("y", "x")), ("Queue", queue("leaf", "x")),
                   ("pods", pod("p", "leaf")))
    rows = s.projects.rows
    assert rows["x"].children == ("leaf",) and rows["y"].children == ()
    assert rows["x"].allocated_gpu_pods == 1.0 and rows["y"].allocated_gpu_pods == 0.0
    assert s.current() == s.full_recompute()
