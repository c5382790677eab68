"""The fair-share table the console shows: KAI's numbers or computed ones, saturation, and who is reclaimed next."""

from __future__ import annotations

import pytest

from console.model.cluster_store import ClusterStore
from console.model.fair_share import SOURCE_COMPUTED, SOURCE_KAI, compute, over_quota_preemptible
from console.model.kai_queues import INF
from console.model.records import queue_record
from console.telemetry.kai_metrics import KaiFairShare


def queue(name: str, quota: float, parent: str | None = None, limit: float = -1, weight: float = 1,
          priority: int | None = None, display: str | None = None, alloc: float | None = None,
          nonpre: float = 0.0, requested: float | None = None) -> dict:
    spec: dict = {"resources": {"gpu": {"quota": quota, "limit": limit, "overQuotaWeight": weight}}}
    if parent:
        spec["parentQueue"] = parent
    if priority is not None:
        spec["priority"] = priority
    if display:
        spec["displayName"] = display
    obj: dict = {"apiVersion": "scheduling.run.ai/v2", "kind": "Queue", "metadata": {"name": name}, "spec": spec}
    if alloc is not None:
        obj["status"] = {"allocated": {"nvidia.com/gpu": str(alloc)},
                         "allocatedNonPreemptible": {"nvidia.com/gpu": str(nonpre)},
                         "requested": {"nvidia.com/gpu": str(alloc if requested is None else requested)}}
    return obj


def node(name: str, gpus: int, ready: bool = True, cordoned: bool = False) -> dict:
    return {"metadata": {"name": name, "labels": {"nvidia.com/gpu.count": str(gpus)}},
            "spec": {"unschedulable": cordoned},
            "status": {"allocatable": {"nvidia.com/gpu": str(gpus)},
                       "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def store_of(queues: list[dict], nodes: list[dict]) -> ClusterStore:
    s = ClusterStore()
    s.replace("queues.scheduling.run.ai", queues)
    s.replace("nodes", nodes)
    s.refresh()
    return s


def brief_cluster() -> ClusterStore:
    """9 GPUs; team-a quota 4 holds 6 (all preemptible), team-b quota 1 asks for 4.5 and holds 2."""
    return store_of([queue("team-a", 4, alloc=6, requested=6), queue("team-b", 1, alloc=2, requested=4.5)],
                    [node("n1", 8), node("n2", 1), node("down", 8, ready=False), node("cordoned", 8, cordoned=True)])


def test_fair_share_and_the_queue_reclaimed_next_with_why() -> None:
    s = brief_cluster()
    t = s.fair_share.table
    # capacity: n1 8 + n2 1 (not-ready and cordoned nodes do not count) = 9
    # deserved: a min(4, 6) = 4, b min(1, 4.5) = 1; left 4, cuts 2 each: a wants 2 -> 2;
    # b wants 3.5 > 2 -> floor(2) = 2; 9 - 4 - 1 - 2 - 2 = 0 left
    assert t.capacity_gpu == 9 and t.source == SOURCE_COMPUTED
    assert t.shares["team-a"].fair_share_gpu == pytest.approx(6)
    assert t.shares["team-b"].fair_share_gpu == pytest.approx(3)
    assert t.reclaim_next is not None and t.reclaim_next.queue == "team-a"
    assert "within fair share 6" in t.reclaim_next.reason


def test_the_reason_names_the_numbers_kai_compares() -> None:
    s = brief_cluster()
    s.set_kai_fair_share(KaiFairShare({"team-a": 4.5, "team-b": 4.5}, "kai-scheduler/kai-scheduler-default-x"))
    s.refresh()
    t = s.fair_share.table
    assert t.source == SOURCE_KAI and t.detail == "kai-scheduler/kai-scheduler-default-x"
    a = t.shares["team-a"]
    assert (a.fair_share_gpu, a.saturation, a.over_quota_preemptible_gpu) == (4.5, pytest.approx(6 / 4.5), 2)
    assert t.reclaim_next.reason == ("reclaimed next: allocated 6 over fair share 4.5 (saturation 1.33); "
                                     "2 preemptible GPUs over quota 4")
    assert t.label == "fair share: KAI metrics (kai-scheduler/kai-scheduler-default-x)"


def test_store_redraws_the_rows_whose_share_or_mark_moved() -> None:
    s = brief_cluster()
    s.drain()
    s.set_kai_fair_share(KaiFairShare({"team-a": 6, "team-b": 3}, "kai-scheduler/p"))
    d = s.drain()
    assert set(d.projects.upserts) == {"team-a", "team-b"}   # same numbers, but now KAI's: the source moved
    s.set_kai_fair_share(KaiFairShare({"team-a": 6, "team-b": 3}, "kai-scheduler/p"))
    assert not s.drain().projects                             # nothing moved
    s.replace("nodes", [node("n1", 8)])                      # capacity 8: the computed shares move
    s.set_kai_fair_share(None)
    assert {"team-a", "team-b"} <= set(s.drain().projects.upserts)


def test_kai_labels_queues_by_display_name_and_missing_ones_are_computed() -> None:
    s = store_of([queue("dept", 8, display="Research"), queue("a", 4, parent="dept", alloc=3),
                  queue("b", 4, parent="dept", alloc=1)], [node("n", 8)])
    s.set_kai_fair_share(KaiFairShare({"Research": 8, "a": 5}, "kai-scheduler/p"))
    s.refresh()
    t = s.fair_share.table
    assert t.shares["dept"].fair_share_gpu == 8 and t.shares["dept"].source == SOURCE_KAI
    assert t.shares["a"].fair_share_gpu == 5 and t.shares["b"].source == SOURCE_COMPUTED
    assert t.detail == "kai-scheduler/p; 1 queues not in its metrics, computed"


def test_unreadable_metrics_fall_back_to_computed_with_the_reason() -> None:
    s = brief_cluster()
    s.set_kai_fair_share(KaiFairShare(error="kai-scheduler/p: HTTP 404", taken_at=1.0))
    s.refresh()
    t = s.fair_share.table
    assert t.source == SOURCE_COMPUTED and t.shares["team-a"].fair_share_gpu == pytest.approx(6)
    assert t.label == ("fair share: computed with KAI's rules (KAI scheduler metrics unavailable: "
                       "kai-scheduler/p: HTTP 404)")
    s.set_kai_fair_share(KaiFairShare({"other": 3.0}, "kai-scheduler/p"))
    s.refresh()
    assert s.fair_share.table.source == SOURCE_COMPUTED
    assert "reports 1 queues, none of the 2 here" in s.fair_share.table.detail


def test_no_kai_no_table_and_saturation_edge_cases() -> None:
    s = ClusterStore()
    s.replace("resourcequotas", [{"metadata": {"name": "q", "namespace": "ns"},
                                  "spec": {"hard": {"requests.nvidia.com/gpu": "4"}}}])
    s.refresh()
    assert not s.fair_share.table.shares and s.fair_share.table.reclaim_next is None
    q = {n: queue_record(queue(n, 0, alloc=a)) for n, a in (("idle", 0), ("greedy", 2))}
    rows = brief_cluster().projects.rows
    t = compute(q, rows, 0.0)
    assert t.shares["idle"].saturation == 0 and t.shares["greedy"].saturation == 0  # no rows: nothing held
    assert over_quota_preemptible(6, 1, 4) == 2 and over_quota_preemptible(6, 5, 4) == 1
    assert over_quota_preemptible(6, 0, -1) == 0
    s2 = store_of([queue("zero", 0, alloc=2), queue("big", -1, alloc=1)], [])
    assert s2.fair_share.table.shares["zero"].saturation == INF
    assert s2.fair_share.table.reclaim_next.queue == "zero"


def test_recomputed_at_most_once_a_cycle_but_new_metrics_apply_at_once() -> None:
    now = [100.0]
    s = ClusterStore()
    s.fair_share.clock = lambda: now[0]
    s.replace("queues.scheduling.run.ai", [queue("team-a", 4, alloc=6), queue("team-b", 1, alloc=2, requested=4.5)])
    s.replace("nodes", [node("n1", 8)])
    s.drain()
    assert s.fair_share.table.capacity_gpu == 8
    s.replace("nodes", [node("n1", 8), node("n2", 4)])   # within a second of the last division: held back
    assert not s.drain().projects and s.fair_share.table.capacity_gpu == 8 and s.fair_share.dirty
    now[0] += 1.0
    # 12 GPUs: a 4 + b 1 deserved, 7 left, cuts 3.5: a takes the 2 it wants (6, unchanged), b its 3.5 (4.5)
    assert set(s.drain().projects.upserts) == {"team-b"} and s.fair_share.table.capacity_gpu == 12
    assert s.fair_share.table.shares["team-b"].fair_share_gpu == 4.5
    s.set_kai_fair_share(KaiFairShare({"team-a": 7}, "kai-scheduler/p"))   # new metrics: at once
    s.drain()
    assert s.fair_share.table.shares["team-a"].fair_share_gpu == 7
