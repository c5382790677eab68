"""KAI allocation rules: queue checks, bin packing, fraction packing, gangs, reclaim and preempt."""

from __future__ import annotations

import itertools

import pytest

from console.model.kai_alloc import (
    NON_PREEMPTIBLE_OVER_QUOTA, OVER_LIMIT, PREEMPT, QUEUE_DOES_NOT_EXIST, RECLAIM, UNSCHEDULABLE, PendingJob,
    Plan, fmt, plan,
)
from console.model.kai_queues import QueueSpec, QueueTree
from console.model.kai_state import ClusterState, NodeFilter, NodeInfo, PodRec
from console.model.podspec import GpuRequest


def whole(n: int = 1) -> GpuRequest:
    return GpuRequest("whole", n, total=float(n))


def frac(p: float, devices: int = 1) -> GpuRequest:
    return GpuRequest("fraction", devices, p, total=p * devices)


def make_state(queues: list[QueueSpec], nodes: int = 1, gpus: int = 4, **kw) -> ClusterState:
    st = ClusterState(QueueTree(queues))
    for i in range(nodes):
        st.set_node(NodeInfo(f"n{i}", gpus=gpus, gpu_memory_mib=40000, **kw))
    return st


_created = itertools.count()


def job(key: str, queue: str, n: int = 1, req: GpuRequest | None = None, prio: int = 50,
        preemptible: bool | None = None, min_member: int = 1) -> PendingJob:
    pre = prio < 100 if preemptible is None else preemptible
    c = f"{next(_created):06d}"
    pods = [PodRec(f"{key}-{i}", key, queue, prio, pre, req or whole(), created=c) for i in range(n)]
    return PendingJob(key, queue, prio, pre, pods, min_member, c)


class Gids:
    def __init__(self) -> None:
        self.n = 0

    def __call__(self) -> str:
        self.n += 1
        return f"g{self.n}"


def run(st: ClusterState, *jobs: PendingJob) -> Plan:
    return plan(st, list(jobs), Gids() if not hasattr(st, "_gids") else st._gids)


def placed_nodes(p: Plan) -> dict[str, str]:
    return {pl.pod: pl.node for pl in p.placements}


def open_queue(name: str, quota: float = 0, limit: float = -1, **kw) -> QueueSpec:
    return QueueSpec(name, quota=quota, limit=limit, **kw)


def stateful(st: ClusterState) -> ClusterState:
    st._gids = Gids()  # type: ignore[attr-defined]
    return st


# ---------------------------------------------------------------- queue rules
def test_quota_and_limit_allow_within() -> None:
    st = stateful(make_state([open_queue("a", quota=2, limit=3)], gpus=8))
    p = run(st, job("j", "a", n=3))
    assert len(p.placements) == 3 and not p.pending
    assert st.alloc["a"] == 3


def test_over_limit_reason_and_message() -> None:
    st = stateful(make_state([open_queue("a", quota=1, limit=2)], gpus=8))
    run(st, job("j1", "a", n=2))
    p = run(st, job("j2", "a"))
    assert p.pending["j2"].reason == OVER_LIMIT
    assert p.pending["j2"].message == "a: workload requests 1 GPU over limit 2 (allocated 2)"


def test_limit_zero_means_no_over_quota() -> None:
    st = stateful(make_state([QueueSpec("a", quota=1, limit=0)], gpus=8))
    p = run(st, job("j1", "a", n=2))
    assert len(p.placements) == 1
    assert p.pending["j1"].reason == OVER_LIMIT and "no over-quota" in p.pending["j1"].message


def test_parent_limit_applies_to_children() -> None:
    st = stateful(make_state([QueueSpec("d", quota=2, limit=2), open_queue("a", parent="d"),
                              open_queue("b", parent="d")], gpus=8))
    p = run(st, job("ja", "a", n=2), job("jb", "b"))
    assert len(p.placements) == 2
    assert p.pending["jb"].reason == OVER_LIMIT and p.pending["jb"].message.startswith("d: ")


def test_non_preemptible_over_quota_message() -> None:
    st = stateful(make_state([open_queue("team-a", quota=4)], gpus=8))
    run(st, job("np", "team-a", n=3, prio=125))
    p = run(st, job("np2", "team-a", req=whole(2), prio=125))
    assert p.pending["np2"].reason == NON_PREEMPTIBLE_OVER_QUOTA
    assert p.pending["np2"].message == "team-a: non-preemptible workload requests 2 GPU over quota 4 (allocated 3)"
    # preemptible work of the same queue may still go over quota
    p2 = run(st, job("tr", "team-a", req=whole(2), prio=50))
    assert len(p2.placements) == 1 and not p2.pending


def test_preemptibility_override_lets_high_priority_go_over_quota() -> None:
    st = stateful(make_state([open_queue("a", quota=0)], gpus=2))
    p = run(st, job("inf", "a", prio=125, preemptible=True))
    assert len(p.placements) == 1


def test_queue_does_not_exist() -> None:
    st = stateful(make_state([QueueSpec("d"), open_queue("a", parent="d"), open_queue("o", parent="gone")]))
    p = run(st, job("j1", "nope"), job("j2", "d"), job("j3", "o"))
    assert {k: v.reason for k, v in p.pending.items()} == {"j1": QUEUE_DOES_NOT_EXIST, "j2": QUEUE_DOES_NOT_EXIST,
                                                            "j3": QUEUE_DOES_NOT_EXIST}
    assert p.pending["j1"].message == 'queue "nope" does not exist'
    assert "parent queue" in p.pending["j2"].message and "gone" in p.pending["j3"].message
    assert not p.placements


# ---------------------------------------------------------------- placement
def test_whole_gpus_bin_pack_onto_fullest_node() -> None:
    st = stateful(make_state([open_queue("a")], nodes=3, gpus=4))
    run(st, job("first", "a", req=whole(3)))
    node_first = next(n.name for n in st.nodes.values() if n.whole_used == 3)
    p = run(st, job("second", "a"))
    assert placed_nodes(p)["second-0"] == node_first
    assert st.nodes[node_first].free_whole == 0


def test_cordoned_and_not_ready_nodes_take_nothing() -> None:
    st = stateful(make_state([open_queue("a")], nodes=2, gpus=4, schedulable=False))
    p = run(st, job("j", "a"))
    assert not p.placements
    assert p.pending["j"].reason == UNSCHEDULABLE
    assert p.pending["j"].message == "0/2 nodes are available: 2 node(s) were unschedulable or not ready."


def test_cpu_and_selector_fit() -> None:
    st = stateful(make_state([open_queue("a")], nodes=1, gpus=0, cpu=2.0, memory=8e9))
    st.set_node(NodeInfo("gpu", gpus=2, cpu=8.0, memory=1e10, labels={"pool": "gpu"}))
    big = job("big", "a", req=GpuRequest())
    big.pods[0].cpu = 4.0
    sel = job("sel", "a", req=GpuRequest())
    sel.pods[0].filter = NodeFilter({"pool": "nope"})
    p = run(st, big, sel)
    assert placed_nodes(p) == {"big-0": "gpu"}
    assert "didn't match" in p.pending["sel"].message


def test_two_halves_share_one_gpu() -> None:
    st = stateful(make_state([open_queue("a")], gpus=2))
    p = run(st, job("x", "a", req=frac(0.5)), job("y", "a", req=frac(0.5)))
    groups = {pl.pod: pl.groups for pl in p.placements}
    assert groups["x-0"] == groups["y-0"] and len(st.groups) == 1
    assert [pl.new_groups for pl in p.placements] == [("g1",), ()]
    assert st.nodes["n0"].free_whole == 1


def test_three_thirds_on_one_gpu_and_point_six_opens_another() -> None:
    st = stateful(make_state([open_queue("a")], gpus=2))
    p = run(st, *[job(f"t{i}", "a", req=frac(0.3)) for i in range(3)])
    assert len({pl.groups for pl in p.placements}) == 1
    (g,) = st.groups.values()
    assert g.used == pytest.approx(0.9)
    p2 = run(st, job("big", "a", req=frac(0.6)))
    assert p2.placements[0].new_groups and p2.placements[0].groups[0] != g.gid
    assert len(st.groups) == 2 and st.nodes["n0"].free_whole == 0


def test_fraction_prefers_fullest_group_that_fits() -> None:
    st = stateful(make_state([open_queue("a")], gpus=3))
    run(st, job("a7", "a", req=frac(0.7)))
    run(st, job("a3", "a", req=frac(0.3)))  # fits in the 0.7 group -> it becomes full
    run(st, job("b5", "a", req=frac(0.5)))  # opens group 2
    run(st, job("c2", "a", req=frac(0.2)))  # 0.2 fits only group 2 (0.5 used)
    used = sorted(round(g.used, 2) for g in st.groups.values())
    assert used == [0.7, 1.0]
    run(st, job("d1", "a", req=frac(0.1)))  # fullest that fits is the 0.7 one, not an empty GPU
    assert sorted(round(g.used, 2) for g in st.groups.values()) == [0.8, 1.0]


def test_fraction_goes_to_the_fullest_of_several_groups_that_fit() -> None:
    st = stateful(make_state([open_queue("a")], gpus=3))
    run(st, job("a6", "a", req=frac(0.6)))
    run(st, job("b5", "a", req=frac(0.5)))  # does not fit beside 0.6: a second group
    run(st, job("c2", "a", req=frac(0.2)))  # both fit; the fuller one takes it
    assert sorted(round(g.used, 2) for g in st.groups.values()) == [0.5, 0.8]


def test_multi_device_fraction_picks_the_fullest_groups_on_the_node() -> None:
    st = stateful(make_state([open_queue("a")], gpus=4))
    for gid, used in (("g-a", 0.6), ("g-b", 0.2), ("g-c", 0.4)):
        st.add_pod(PodRec(f"{gid}-pod", f"{gid}-job", "a", 50, True, frac(used)), "n0", (gid,), used)
    p = run(st, job("m", "a", req=frac(0.3, devices=2)))
    assert sorted(p.placements[0].groups) == ["g-a", "g-c"]


def test_whole_and_shared_do_not_mix_on_a_gpu() -> None:
    st = stateful(make_state([open_queue("a")], gpus=2))
    run(st, job("w", "a"), job("f", "a", req=frac(0.25)))
    p = run(st, job("w2", "a"))
    assert p.pending["w2"].reason == UNSCHEDULABLE  # the shared GPU has room, but not for a whole pod
    p2 = run(st, job("f2", "a", req=frac(0.5)))
    assert p2.placements[0].groups == (next(iter(st.groups)),) and not p2.placements[0].new_groups


def test_multi_device_fraction_uses_distinct_gpus() -> None:
    st = stateful(make_state([open_queue("a")], gpus=4))
    p = run(st, job("m", "a", req=frac(0.5, devices=3)))
    assert len(set(p.placements[0].groups)) == 3
    assert st.alloc["a"] == pytest.approx(1.5)


def test_gpu_memory_request_becomes_a_portion_of_the_node_gpu() -> None:
    st = stateful(make_state([open_queue("a")], gpus=1))
    req = GpuRequest("memory", 1, 0.0, 10000)
    p = run(st, job("m1", "a", req=req), job("m2", "a", req=req))
    assert p.placements[0].portion == pytest.approx(0.25)
    assert len(st.groups) == 1 and st.alloc["a"] == pytest.approx(0.5)


def test_gang_is_all_or_nothing() -> None:
    st = stateful(make_state([open_queue("a")], nodes=2, gpus=1))
    p = run(st, job("g", "a", n=3, min_member=3))
    assert not p.placements and p.pending["g"].reason == UNSCHEDULABLE
    assert not st.pods and st.alloc.get("a", 0) == 0
    st.set_node(NodeInfo("n9", gpus=1))
    p2 = run(st, job("g", "a", n=3, min_member=3))
    assert len(p2.placements) == 3 and len({pl.node for pl in p2.placements}) == 3


# ---------------------------------------------------------------- reclaim
def test_reclaim_takes_back_deserved_quota_minimally() -> None:
    st = stateful(make_state([open_queue("a", quota=2), open_queue("b", quota=2)], gpus=4))
    run(st, job("a1", "a", n=4))
    assert st.alloc["a"] == 4
    p = run(st, job("b1", "b"))
    assert [(e.pod, e.action, e.by_queue) for e in p.evictions] == [("a1-3", RECLAIM, "b")]  # one, the newest
    assert placed_nodes(p) == {"b1-0": "n0"}
    assert st.alloc == {"a": 3, "b": 1}


def test_reclaim_order_furthest_over_share_then_lowest_priority_then_newest() -> None:
    qs = [open_queue("a", quota=1), open_queue("b", quota=1), open_queue("c", quota=4)]
    st = stateful(make_state(qs, gpus=8))
    run(st, job("a-lo", "a", prio=40), job("a-old", "a", prio=50), job("a-new", "a", prio=50))  # a: 3, over by more
    run(st, job("b1", "b"), job("b2", "b"))
    run(st, job("a4", "a", prio=50), job("a5", "a", prio=60), job("b3", "b", prio=50))
    assert st.capacity() - sum(v for v in st.alloc.values()) == 0
    p = run(st, job("c1", "c", n=3))
    evicted = [e.job for e in p.evictions]
    assert evicted[0] == "a-lo"                 # furthest over share, lowest priority
    assert evicted[1] == "a4"                   # then the newest of the next priority
    assert all(e.action == RECLAIM for e in p.evictions)
    assert len(p.evictions) == 3 and len(p.placements) == 3


def test_reclaim_never_takes_a_queue_below_its_deserved_quota() -> None:
    st = stateful(make_state([open_queue("a", quota=4), open_queue("b", quota=0)], gpus=4))
    run(st, job("a1", "a", n=4))
    p = run(st, job("b1", "b"))
    assert not p.evictions and p.pending["b1"].reason == UNSCHEDULABLE


def test_reclaim_stops_at_the_victim_queue_deserved_quota() -> None:
    st = stateful(make_state([open_queue("a", quota=3), open_queue("b", quota=3, priority=150)], gpus=4))
    run(st, job("a1", "a", n=4))
    p = run(st, job("b1", "b"), job("b2", "b"))
    # fair share: a min(quota 3, request 4) = 3, b min(3, request 2) = 2; 4 - 5 < 0 leaves no over-quota
    assert p.fair_share["b"] == pytest.approx(2) and p.fair_share["a"] == pytest.approx(3)
    assert [e.pod for e in p.evictions] == ["a1-3"]  # a second victim would take a below its quota of 3
    assert len(p.placements) == 1 and "b2" in p.pending
    assert st.alloc["a"] == 3


def test_evictions_are_minimal_victims_that_did_not_help_stay() -> None:
    st = stateful(make_state([open_queue("a", quota=8)], gpus=2))
    run(st, job("f", "a", req=frac(0.5), prio=40))
    run(st, job("keep", "a", req=frac(0.5), prio=125))  # shares f's GPU and is not preemptible
    run(st, job("w", "a", prio=50))
    p = run(st, job("hi", "a", prio=90))
    # f comes first in the order but evicting it frees no whole GPU: only w goes
    assert [e.job for e in p.evictions] == ["w"]
    assert "f-0" in st.pods and placed_nodes(p) == {"hi-0": "n0"}


def test_non_preemptible_is_never_a_reclaim_victim() -> None:
    st = stateful(make_state([open_queue("a", quota=1), open_queue("b", quota=2)], gpus=3))
    run(st, job("np", "a", prio=125), job("t", "a", prio=50))
    p = run(st, job("b1", "b"), job("b2", "b"))
    assert [e.job for e in p.evictions] == ["t"]
    assert sorted(placed_nodes(p)) == ["b1-0", "b2-0"] and "np-0" in st.pods


def test_non_preemptible_is_never_a_preempt_victim() -> None:
    st = stateful(make_state([open_queue("a", quota=4)], gpus=1))
    run(st, job("np", "a", prio=50, preemptible=False))
    p = run(st, job("hi", "a", prio=90))
    assert not p.evictions and p.pending["hi"].reason == UNSCHEDULABLE


def test_queue_above_fair_share_does_not_reclaim() -> None:
    st = stateful(make_state([open_queue("a", quota=2), open_queue("b", quota=2)], gpus=4))
    run(st, job("a1", "a", n=2), job("b1", "b", n=2))
    p = run(st, job("b2", "b"))
    assert not p.evictions and p.pending["b2"].reason == UNSCHEDULABLE


# ---------------------------------------------------------------- preempt
def test_preempt_within_queue_by_priority_lowest_first() -> None:
    st = stateful(make_state([open_queue("a", quota=4)], gpus=3))
    run(st, job("lo", "a", prio=40), job("mid", "a", prio=50), job("mid2", "a", prio=50))
    p = run(st, job("hi", "a", prio=75))
    assert [(e.job, e.action) for e in p.evictions] == [("lo", PREEMPT)]
    assert placed_nodes(p) == {"hi-0": "n0"}


def test_preempt_frees_room_under_the_queue_limit() -> None:
    st = stateful(make_state([open_queue("a", quota=2, limit=2)], gpus=8))
    run(st, job("lo", "a", n=2, prio=40))
    p = run(st, job("hi", "a", prio=90))
    assert [e.pod for e in p.evictions] == ["lo-1"]
    assert st.alloc["a"] == 2


def test_equal_priority_does_not_preempt() -> None:
    st = stateful(make_state([open_queue("a", quota=4)], gpus=1))
    run(st, job("x", "a", prio=50))
    p = run(st, job("y", "a", prio=50))
    assert not p.evictions and "y" in p.pending


def test_non_preemptible_high_priority_preempts_preemptible_work() -> None:
    st = stateful(make_state([open_queue("a", quota=2)], gpus=2))
    run(st, job("t1", "a", prio=50), job("t2", "a", prio=50))
    p = run(st, job("inf", "a", prio=125))
    assert len(p.evictions) == 1 and p.placements and st.alloc_np["a"] == 1


def test_fmt() -> None:
    assert (fmt(2.0), fmt(0.5), fmt(1.25), fmt(float("inf"))) == ("2", "0.5", "1.25", "unlimited")


def test_planning_on_a_clone_leaves_the_state_alone() -> None:
    st = stateful(make_state([open_queue("a", quota=2), open_queue("b", quota=2)], gpus=4))
    run(st, job("a1", "a", n=4))
    preview = stateful(st.clone())
    p = run(preview, job("b1", "b"))
    assert p.evictions and "b1-0" in preview.pods
    assert "b1-0" not in st.pods and st.alloc["a"] == 4 and len(st.pods) == 4


# ---------------------------------------------------------------- pods being deleted (KAI: Releasing)
def _terminate(st: ClusterState, key: str) -> PodRec:
    """What the simulator does when a placed pod gets a deletionTimestamp: it stays, as releasing."""
    p = st.remove_pod(key)
    assert p is not None
    p.releasing = True
    st.add_pod(p, p.node or "", p.groups, p.portion)
    return p


def test_a_releasing_pod_holds_its_node_but_not_its_queue_allocation() -> None:
    st = stateful(make_state([open_queue("a", quota=4)], gpus=2))
    run(st, job("a1", "a", n=2))
    assert st.alloc["a"] == 2 and st.nodes["n0"].free_whole == 0
    _terminate(st, "a1-1")
    assert st.alloc["a"] == 1 and st.nodes["n0"].free_whole == 0
    assert [p.key for p in st.releasing()] == ["a1-1"] and st.jobs["a1"].pods == {"a1-0": None}
    st.remove_pod("a1-1")  # gone: its GPU is free
    assert st.nodes["n0"].free_whole == 1 and st.alloc["a"] == 1


def test_a_job_that_fits_once_releasing_pods_are_gone_is_pipelined_and_nothing_is_evicted() -> None:
    st = stateful(make_state([open_queue("a", quota=4), open_queue("b", quota=4)], gpus=2))
    run(st, job("a1", "a", n=2, prio=40))
    _terminate(st, "a1-0")
    p = run(st, job("b1", "b"))
    assert not p.evictions
    assert [(pl.pod, pl.node, pl.pipelined) for pl in p.placements] == [("b1-0", "n0", True)]
    # a second waiting job finds the releasing GPU promised already, and a1-1 is within a's fair share
    p = run(st, job("b2", "b"))
    assert not p.placements and not p.evictions and p.pending["b2"].reason == UNSCHEDULABLE


def test_releasing_pods_are_never_victims_and_evictions_pipeline_the_preemptor() -> None:
    st = stateful(make_state([open_queue("a", quota=4)], gpus=2))
    run(st, job("lo", "a", n=2, prio=40))
    _terminate(st, "lo-0")
    p = run(st, job("hi", "a", n=2, prio=90, min_member=2))
    # lo-0 is already going: only lo-1 is evicted, and the gang waits for both GPUs (pipelined)
    assert [e.pod for e in p.evictions] == ["lo-1"]
    assert sorted((pl.pod, pl.pipelined) for pl in p.placements) == [("hi-0", True), ("hi-1", True)]


def test_a_promised_job_goes_first() -> None:
    st = stateful(make_state([open_queue("a", quota=2), open_queue("b", quota=2)], gpus=1))
    first, second = job("a1", "a"), job("b1", "b")
    p = plan(st, [first, second], Gids(), promised={"b1"})
    assert [pl.pod for pl in p.placements] == ["b1-0"] and "a1" in p.pending
