"""The store: events and re-lists keep records and indexes exact; drain reports only what changed."""

from __future__ import annotations

from console.model import snapshot
from console.model.cluster_store import ClusterStore


def pod(name: str, ns: str = "team-a", node: str | None = "n1", owner: tuple[str, str, str] | None = None,
        labels: dict | None = None, gpus: int = 0, phase: str = "Running", ann: dict | None = None) -> dict:
    md: dict = {"name": name, "namespace": ns, "uid": f"uid-{ns}-{name}",
                "labels": {"kai.scheduler/queue": "qa", **(labels or {})}, "annotations": ann or {}}
    if owner:
        kind, oname, api = owner
        md["ownerReferences"] = [{"apiVersion": api, "kind": kind, "name": oname, "uid": f"uid-{ns}-{oname}",
                                  "controller": True}]
    spec: dict = {"schedulerName": "kai-scheduler",
                  "containers": [{"name": "c", "resources": {"limits": {"nvidia.com/gpu": str(gpus)} if gpus else {}}}]}
    if node:
        spec["nodeName"] = node
    return {"metadata": md, "spec": spec,
            "status": {"phase": phase if node else "Pending", "conditions": [{"type": "Ready", "status": "True"}]}}


def owner(kind: str, name: str, ns: str = "team-a", parent: tuple[str, str, str] | None = None, **spec) -> dict:
    md: dict = {"name": name, "namespace": ns, "uid": f"uid-{ns}-{name}"}
    if parent:
        pk, pn, api = parent
        md["ownerReferences"] = [{"apiVersion": api, "kind": pk, "name": pn, "uid": f"uid-{ns}-{pn}",
                                  "controller": True}]
    return {"metadata": md, "spec": spec}


def node(name: str, count: int = 8) -> dict:
    return {"metadata": {"name": name, "labels": {"nvidia.com/gpu.count": str(count),
                                                  "nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}}


def queue(name: str, parent: str | None = None) -> dict:
    spec: dict = {"resources": {"gpu": {"quota": 2, "limit": -1, "overQuotaWeight": 1}}}
    if parent:
        spec["parentQueue"] = parent
    return {"metadata": {"name": name}, "spec": spec}


RS = ("ReplicaSet", "web-1", "apps/v1")
DEP = ("Deployment", "web", "apps/v1")


def _index_keys(store: ClusterStore) -> set:
    keys: set = set()
    for index in (store.pods_by_node, store.pods_by_queue, store.pods_by_ns, store.pods_by_workload,
                  store.pods_by_owner_uid, store.fractions_by_group, store.reservations_by_group,
                  store.pods_by_podgroup):
        for s in index.values():
            keys.update(s)
    return keys


def test_relist_leaves_no_stale_or_duplicate_records() -> None:
    store = ClusterStore()
    store.replace("nodes", [node("n1"), node("n2")])
    store.replace("pods", [pod("a", gpus=1), pod("b", node="n2", gpus=2), pod("c", node=None, gpus=1)])
    store.drain()
    # after a 410: b is gone, a moved, d is new, c unchanged
    store.replace("pods", [pod("a", node="n2", gpus=1), pod("c", node=None, gpus=1), pod("d", gpus=1)])
    assert set(store.pods) == {("team-a", "a"), ("team-a", "c"), ("team-a", "d")}
    assert _index_keys(store) == set(store.pods)
    assert {n: set(ks) for n, ks in store.pods_by_node.items()} == {"n1": {("team-a", "d")}, "n2": {("team-a", "a")}}
    snap = snapshot.build(store)
    assert sorted(w["name"] for w in snap["workloads"]) == ["a", "c", "d"]
    holders = sorted((g["node"], h["pod"]) for g in snap["gpus"] for h in g["holders"])
    assert holders == [("n1", "d"), ("n2", "a")]
    assert store.current() == store.full_recompute()


def test_namespace_scoped_relist_touches_only_its_namespace() -> None:
    store = ClusterStore()
    store.replace("pods", [pod("a", ns="x"), pod("b", ns="y")])
    store.replace("pods", [pod("c", ns="x")], namespace="x")
    assert set(store.pods) == {("x", "c"), ("y", "b")}
    bad = store.replace("pods", [pod("d", ns="y")], namespace="x")
    assert bad and "outside it" in bad[0] and ("y", "d") not in store.pods


def test_bad_objects_are_skipped_whole_and_reported() -> None:
    store = ClusterStore()
    bad = store.replace("pods", [pod("a"), {"metadata": {"namespace": "x"}}, "junk"])
    assert set(store.pods) == {("team-a", "a")} and len(bad) == 2
    assert all("object skipped" in m for m in bad) and list(store.problems)[-2:] == bad
    assert store.apply("pods", "ADDED", {"metadata": {"name": "nameless-ns"}}) is False
    assert "no metadata.namespace" in store.problems[-1]
    assert store.apply("widgets", "ADDED", pod("z")) is False and "not a kind" in store.problems[-1]
    assert store.apply("pods", "BOOKMARK", pod("z")) is False and "unknown event type" in store.problems[-1]
    assert ("team-a", "z") not in store.pods


def test_event_types_are_forgiving() -> None:
    store = ClusterStore()
    assert store.apply("Pod", "MODIFIED", pod("a"))       # a MODIFIED for an unknown object adds it
    assert store.apply("pods", "DELETED", pod("ghost"))   # deleting what is not there changes nothing
    assert store.apply("pods", "ADDED", pod("a", node="n2"))  # a repeated ADDED replaces
    assert set(store.pods) == {("team-a", "a")} and store.pods[("team-a", "a")].node == "n2"
    assert store.health["pods"].objects == 1


def test_drain_reports_changes_once() -> None:
    store = ClusterStore()
    store.apply("nodes", "ADDED", node("n1", count=2))
    store.apply("pods", "ADDED", pod("a", gpus=1))
    first = store.drain()
    assert set(first.workloads.upserts) == {("team-a", "Pod", "a")}
    assert set(first.gpus.upserts) == {("n1", 0), ("n1", 1)} and set(first.nodes.upserts) == {"n1"}
    assert not store.drain()                       # nothing new
    store.replace("pods", [pod("a", gpus=1)])      # an identical re-list
    assert not store.drain()
    store.apply("pods", "MODIFIED", pod("a", gpus=1, phase="Succeeded"))
    d = store.drain()
    assert d.workloads.upserts[("team-a", "Pod", "a")].status == "Completed"
    assert set(d.gpus.upserts) == {("n1", 0)} and d.gpus.upserts[("n1", 0)].free_share == 1.0
    store.apply("pods", "DELETED", pod("a"))
    d = store.drain()
    assert d.workloads.removed == {("team-a", "Pod", "a")} and not d.workloads.upserts
    store.apply("nodes", "DELETED", node("n1"))
    d = store.drain()
    assert d.nodes.removed == {"n1"} and d.gpus.removed == {("n1", 0), ("n1", 1)}


def test_changes_between_drains_fold_together() -> None:
    store = ClusterStore()
    store.apply("pods", "ADDED", pod("a"))
    store.refresh()                                # a snapshot in between does not consume the delta
    store.apply("pods", "DELETED", pod("a"))
    store.refresh()
    d = store.drain()
    assert d.workloads.removed == {("team-a", "Pod", "a")} and not d.workloads.upserts


def test_owners_arriving_after_pods_regroup_them() -> None:
    store = ClusterStore()
    store.apply("pods", "ADDED", pod("web-1-x", owner=RS))
    store.apply("pods", "ADDED", pod("web-1-y", owner=RS, node=None))
    store.refresh()
    assert set(store.workloads.rows) == {("team-a", "ReplicaSet", "web-1")}  # the top owner it can see
    store.apply("replicasets.apps", "ADDED", owner("ReplicaSet", "web-1", parent=DEP, replicas=2))
    store.refresh()
    assert set(store.workloads.rows) == {("team-a", "Deployment", "web")}
    row = store.workloads.rows[("team-a", "Deployment", "web")]
    assert row.replicas_desired is None and row.status == "Partially running"  # Deployment not seen yet
    store.apply("Deployment", "ADDED", owner("Deployment", "web", replicas=3))
    store.refresh()
    row = store.workloads.rows[("team-a", "Deployment", "web")]
    assert (row.replicas_desired, row.replicas_running, row.replicas_pending, row.type) == (3, 1, 1, "inference")
    assert row.priority_class == "inference" and row.preemptible is False
    store.apply("deployments.apps", "DELETED", owner("Deployment", "web"))
    store.refresh()
    assert store.workloads.rows[("team-a", "Deployment", "web")].replicas_desired is None
    assert store.current() == store.full_recompute()


def test_podgroup_sets_preemptibility_queue_and_reason() -> None:
    store = ClusterStore()
    store.apply("queues.scheduling.run.ai", "ADDED", queue("qa"))
    store.apply("pods", "ADDED", pod("p", node=None, gpus=1, ann={"pod-group-name": "pg-p"}))
    store.refresh()
    row = store.workloads.rows[("team-a", "Pod", "p")]
    assert row.preemptible is True and row.pending_reason is None and row.project == "qa"
    store.apply("podgroups.scheduling.run.ai", "ADDED", {
        "metadata": {"name": "pg-p", "namespace": "team-a"},
        "spec": {"queue": "qb", "preemptibility": "non-preemptible"},
        "status": {"schedulingConditions": [{"reasons": [{"reason": "OverLimit", "message": "limit 0"}]}]}})
    store.refresh()
    row = store.workloads.rows[("team-a", "Pod", "p")]
    assert (row.preemptible, row.pending_reason, row.project) == (False, "OverLimit: limit 0", "qb")
    assert store.projects.rows["qb"].queue_missing and store.projects.rows["qb"].requested_gpu == 1.0
    assert store.current() == store.full_recompute()


def test_without_queues_projects_are_gpu_quota_namespaces() -> None:
    store = ClusterStore()
    store.apply("queues.scheduling.run.ai", "ADDED", queue("qa"))
    store.apply("pods", "ADDED", pod("p", gpus=1))
    store.apply("resourcequotas", "ADDED", {"metadata": {"name": "gpu", "namespace": "team-a"},
                                            "spec": {"hard": {"requests.nvidia.com/gpu": "4"}},
                                            "status": {"used": {"requests.nvidia.com/gpu": "1"}}})
    store.refresh()
    assert set(store.projects.rows) == {"qa"}
    store.apply("queues.scheduling.run.ai", "DELETED", queue("qa"))
    store.refresh()
    assert set(store.projects.rows) == {"team-a"}
    p = store.projects.rows["team-a"]
    assert (p.source, p.quota_gpu, p.allocated_gpu, p.allocated_gpu_pods, p.mismatch) == (
        "resourcequota", 4.0, 1.0, 1.0, ())
    assert store.workloads.rows[("team-a", "Pod", "p")].project == "team-a"
    assert store.current() == store.full_recompute()


def test_deleting_everything_empties_every_index() -> None:
    store = ClusterStore()
    objs = [("pods", pod("a", owner=RS, gpus=1)), ("replicasets.apps", owner("ReplicaSet", "web-1", parent=DEP)),
            ("deployments.apps", owner("Deployment", "web")), ("nodes", node("n1")), ("Queue", queue("qa")),
            ("services", {"metadata": {"name": "web", "namespace": "team-a"}, "spec": {"selector": {"app": "w"}}})]
    for kind, o in objs:
        store.apply(kind, "ADDED", o)
    store.drain()
    for kind, o in objs:
        store.apply(kind, "DELETED", o)
    store.drain()
    assert not _index_keys(store) and not store.owner_roots and not store.pending_shapes
    assert not store.services_by_pair and not store.queue_children
    assert not (store.workloads.rows or store.projects.rows or store.gpus.rows or store.nodes_view.rows)


def test_health_is_reported_apart_from_the_views() -> None:
    store = ClusterStore()
    store.drain()
    store.set_health("Queue", "forbidden", "RBAC: list queues denied")
    store.set_health("pods", "synced", hidden_namespaces=["secret-b", "secret-a"])
    d = store.drain()
    assert d.health and not d.workloads and not d.projects
    store.set_health("pods", "synced", hidden_namespaces=["secret-a", "secret-b"])  # same state: no change
    assert not store.drain()
    snap = snapshot.build(store)
    assert snap["health"]["queues.scheduling.run.ai"]["state"] == "forbidden"
    assert snap["health"]["pods"]["hidden_namespaces"] == ["secret-a", "secret-b"]
    assert any("forbidden" in h for h in snap["hidden"]) and any("secret-a, secret-b" in h for h in snap["hidden"])


def test_snapshot_rejects_unknown_view() -> None:
    import pytest
    with pytest.raises(ValueError, match="unknown view 'gpu'"):
        snapshot.build(ClusterStore(), "gpu")


def test_relist_page_by_page_applies_only_on_commit() -> None:
    store = ClusterStore()
    store.replace("pods", [pod("old")])
    relist = store.begin_replace("pods")
    relist.add([pod("a"), pod("b")])
    relist.add(iter([pod("c"), {"metadata": {}}]))
    assert set(store.pods) == {("team-a", "old")}       # nothing visible before the commit
    bad = relist.commit()
    assert set(store.pods) == {("team-a", "a"), ("team-a", "b"), ("team-a", "c")}
    assert len(bad) == 1 and "no metadata.name" in bad[0]
    assert store.begin_replace("widgets").commit() == ["widgets: not a kind the console models; list ignored"]
