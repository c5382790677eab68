"""KAI's fair share on hand-worked queue trees, each with its arithmetic.

The algorithm is KAI's proportion plugin (NVIDIA/KAI-Scheduler
pkg/scheduler/plugins/proportion/resource_division/resource_division.go, docs/fairness/README.md):
per level of the tree, every queue first gets min(quota, requestable) with requestable = min(limit,
request); what is left goes by priority level, in rounds split by over-quota weight, a queue taking
its whole remaining request when it fits in its cut and otherwise the cut rounded down to whole GPUs;
the fractions rounded away then go one GPU at most each to the largest fraction.
"""

from __future__ import annotations

import math

import pytest

from console.model.kai_queues import (
    INF, QueueSpec, QueueTree, allocatable_share, fair_shares, saturation, victim_order,
)

MANY = 1000.0


def Q(name: str, parent: str | None = None, **kw) -> QueueSpec:
    kw.setdefault("limit", -1)
    return QueueSpec(name, parent, **kw)


def test_two_levels_with_priorities_and_weights() -> None:
    t = QueueTree([Q("dept-a", quota=6, weight=1), Q("dept-b", quota=2, weight=3),
                   Q("a1", "dept-a", quota=4, weight=1), Q("a2", "dept-a", quota=2, weight=2),
                   Q("b1", "dept-b", quota=2, weight=1, priority=100), Q("b2", "dept-b", quota=0, priority=50)])
    fs = fair_shares(t, 16, {"a1": 10, "a2": 1, "b1": 6, "b2": 6})
    # top, 16 GPUs: requests dept-a 10+1 = 11, dept-b 6+6 = 12.
    #   deserved: dept-a min(6, 11) = 6, dept-b min(2, 12) = 2; left 16 - 8 = 8
    #   one priority level, weights 1:3 -> cuts 2 and 6; both want more (5, 10): floor(2) = 2, floor(6) = 6
    assert fs["dept-a"] == pytest.approx(8) and fs["dept-b"] == pytest.approx(8)
    # dept-a, 8 GPUs: a1 min(4, 10) = 4, a2 min(2, 1) = 1; left 3; a2 is satisfied, a1 takes the cut of 3
    assert fs["a1"] == pytest.approx(7) and fs["a2"] == pytest.approx(1)
    # dept-b, 8 GPUs: b1 min(2, 6) = 2, b2 min(0, 6) = 0; left 6.
    #   priority 100 first: b1 alone, cut 6, wants 4 -> takes 4; left 2. priority 50: b2 cut 2 -> 2
    assert fs["b1"] == pytest.approx(6) and fs["b2"] == pytest.approx(2)


def test_cuts_are_whole_gpus_and_the_rounded_off_gpu_goes_to_the_oldest() -> None:
    t = QueueTree([Q("a", created="2025-01-02T00:00:00Z"), Q("b", created="2025-01-01T00:00:00Z"),
                   Q("c", created="2025-01-03T00:00:00Z")])
    fs = fair_shares(t, 10, {"a": MANY, "b": MANY, "c": MANY})
    # no quota; 10 / 3 = 3.33 each, rounded down to 3 each (9), leftovers 0.33 each; the 1 GPU left goes
    # to the largest leftover, a tie broken by the oldest queue: b
    assert (fs["a"], fs["b"], fs["c"]) == (pytest.approx(3), pytest.approx(4), pytest.approx(3))


def test_a_fractional_request_and_the_leftover_half() -> None:
    t = QueueTree([Q("a", quota=1), Q("b", quota=1)])
    fs = fair_shares(t, 9, {"a": 4.5, "b": MANY})
    # deserved 1 + 1, left 7; cuts 3.5 each: a wants 3.5 -> takes 3.5; b wants more -> floor 3, leftover 0.5
    # 9 - 2 - 3.5 - 3 = 0.5 left: b's leftover gets min(1, 0.5) = 0.5
    assert fs["a"] == pytest.approx(4.5) and fs["b"] == pytest.approx(4.5)
    assert saturation(6, fs["a"]) == pytest.approx(6 / 4.5)


def test_request_below_quota_gives_only_the_request() -> None:
    t = QueueTree([Q("a", quota=4), Q("b", quota=2)])
    fs = fair_shares(t, 8, {"a": 1, "b": MANY})
    # a: min(4, 1) = 1; b: min(2, MANY) = 2; left 5 all to b (a is satisfied)
    assert fs["a"] == pytest.approx(1) and fs["b"] == pytest.approx(7)


def test_unlimited_quota_deserves_the_whole_amount_within_its_request() -> None:
    t = QueueTree([Q("a", quota=-1, limit=None), Q("b", quota=0)])
    fs = fair_shares(t, 10, {"a": 3, "b": MANY})
    # a: deserved -1 stands for all 10: min(10, 3) = 3; b: 0; left 7 -> b
    assert fs["a"] == pytest.approx(3) and fs["b"] == pytest.approx(7)
    fs = fair_shares(t, 10, {"a": MANY, "b": MANY})
    # a: min(10, MANY) = 10; nothing left for b
    assert fs["a"] == pytest.approx(10) and fs["b"] == pytest.approx(0)


def test_limit_zero_or_unset_stops_at_quota_and_a_limit_caps() -> None:
    t = QueueTree([Q("a", quota=3, limit=0), Q("n", quota=1, limit=None), Q("c", quota=1, limit=2, weight=5),
                   Q("b", quota=1)])
    fs = fair_shares(t, 12, {"a": MANY, "n": MANY, "c": MANY, "b": MANY})
    # requestable: a min(limit 0 = quota 3, MANY) = 3; n 1; c min(2, MANY) = 2; b MANY
    # deserved: 3 + 1 + 1 + 1 = 6, left 6; a and n are satisfied (limit reached); weights c 5, b 1 of 6:
    #   cuts 5 and 1: c wants 1 -> takes 1 (and the round repeats), b floor(1) = 1; left 4 -> b alone -> 4
    assert (fs["a"], fs["n"], fs["c"], fs["b"]) == (pytest.approx(3), pytest.approx(1), pytest.approx(2),
                                                    pytest.approx(6))


def test_zero_weight_gets_no_over_quota_share() -> None:
    t = QueueTree([Q("a", quota=1, weight=0), Q("b", quota=1, weight=1)])
    fs = fair_shares(t, 10, {"a": MANY, "b": MANY})
    # deserved 1 + 1; the 8 left are split by weight 0:1
    assert fs["a"] == pytest.approx(1) and fs["b"] == pytest.approx(9)


def test_higher_priority_is_satisfied_first() -> None:
    t = QueueTree([Q("hi", weight=1, priority=200), Q("lo", weight=10, priority=100)])
    fs = fair_shares(t, 8, {"hi": 6, "lo": MANY})
    # no quota; priority 200 first: hi alone, cut 8, wants 6 -> 6; then lo takes the 2 left despite weight 10
    assert fs["hi"] == pytest.approx(6) and fs["lo"] == pytest.approx(2)


def test_orphans_and_cycles_get_nothing() -> None:
    t = QueueTree([Q("a"), Q("o", "missing"), Q("x", "y"), Q("y", "x")])
    fs = fair_shares(t, 8, {"a": MANY, "o": MANY, "x": MANY})
    # only top queues (no parent named) share the cluster: a takes all 8
    assert fs == {"a": pytest.approx(8), "o": 0.0, "x": 0.0, "y": 0.0}


def test_saturation_follows_kai_edge_cases() -> None:
    assert saturation(0, 0) == 0.0 and saturation(1, 0) == INF and saturation(3, 2) == 1.5


def test_allocatable_share_is_the_larger_of_quota_and_fair_share_within_the_limit() -> None:
    assert allocatable_share(Q("a", quota=4, limit=6), 5) == 5
    assert allocatable_share(Q("a", quota=4, limit=6), 3) == 4
    assert allocatable_share(Q("a", quota=4, limit=6), 9) == 6
    assert allocatable_share(Q("a", quota=-1), 3) == INF


def test_victim_order_walks_down_the_tree() -> None:
    t = QueueTree([Q("d1", quota=4), Q("d2", quota=4, priority=200),
                   Q("p1", "d1", quota=2), Q("p2", "d1", quota=2), Q("p3", "d2", quota=0)])
    fair = {"d1": 6, "d2": 2, "p1": 3, "p2": 3, "p3": 2}
    alloc = {"d1": 7, "d2": 3, "p1": 5, "p2": 2, "p3": 3}
    # both departments are over their fair share and quota; d1 has the lower priority: its turn first.
    # In d1, p1 is over its fair share (5 > 3) and p2 within it (2 <= 3): p1 first. Then d2's p3.
    assert victim_order(t, fair, alloc, ["p1", "p2", "p3"]) == ["p1", "p2", "p3"]
    # over fair share beats priority: with d1 back within its fair share, d2 goes first
    assert victim_order(t, {**fair, "d1": 8}, alloc, ["p1", "p3"]) == ["p3", "p1"]
    # among equals, the higher share of the allocatable GPUs in use goes first
    t2 = QueueTree([Q("a", quota=2), Q("b", quota=4)])
    assert victim_order(t2, {"a": 2, "b": 4}, {"a": 3, "b": 5}, ["a", "b"]) == ["a", "b"]  # 3/2 > 5/4


def test_division_never_gives_away_more_than_it_had_beyond_quotas() -> None:
    specs = [Q(f"q{i}", quota=i % 3, weight=1 + i % 4, priority=100 + 10 * (i % 2)) for i in range(12)]
    t = QueueTree(specs)
    demand = {f"q{i}": float(i * 1.5) for i in range(12)}
    fs = fair_shares(t, 40, demand)
    deserved = sum(min(q.quota, demand[q.name]) for q in specs)
    assert math.fsum(fs.values()) <= max(40.0, deserved) + 1e-9
    assert all(fs[q.name] <= max(demand[q.name], 0) + 1 + 1e-9 for q in specs)
