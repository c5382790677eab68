"""Reclaim and preempt in the simulator: DisruptionTarget, graceful deletion, Evict and Pipelined events,
the preemptor waits for the victims to be gone, owners' pods wait."""

from __future__ import annotations

from console.sim.resources import EVENTS, PODS
from console.sim.store import Change

from .test_scheduler import add_node, add_pod, add_queue, events, get_pod, make_cluster, node_of, podgroup_of


def watch_pods(c) -> list[Change]:
    seen: list[Change] = []
    c.store.subscribe(lambda ch: seen.append(ch) if ch.rkey == "pods" else None)
    return seen


def after_grace(c, seconds: float = 30) -> None:
    """The victims' grace period (30 s by default) passes; they go and what waited for them runs."""
    c.clock.advance(seconds)
    c.settle()


def terminating(c, name: str) -> bool:
    pod = get_pod(c, name)
    return pod is not None and bool(pod["metadata"].get("deletionTimestamp"))


def test_reclaim_evicts_from_the_queue_over_its_share() -> None:
    c, _ = make_cluster()
    add_node(c, "n1", gpus=4)
    add_queue(c, "a", quota=2)
    add_queue(c, "b", quota=2)
    for i in range(4):
        add_pod(c, f"a{i}", queue="a", gpus=1)
        c.clock.advance(1)
    c.settle()
    assert all(node_of(c, f"a{i}") == "n1" for i in range(4))
    seen = watch_pods(c)
    add_pod(c, "b0", queue="b", gpus=1)
    c.settle()
    # one victim, the newest of the queue over its share: marked, then terminating on its GPU, while the
    # reclaimer is pipelined to the node and waits; nothing else is evicted in the meantime
    assert terminating(c, "a3") and node_of(c, "a3") == "n1"
    assert node_of(c, "b0") is None
    (piped,) = events(c, "Pipelined")
    assert piped["message"] == "Pod default/b0 was pipelined to node n1"
    assert not [ch for ch in seen if ch.type == "DELETED"]
    after_grace(c, 29)
    assert terminating(c, "a3") and node_of(c, "b0") is None and len(events(c, "Evict")) == 1
    after_grace(c, 1)
    assert node_of(c, "b0") == "n1"
    gone = [ch.old["metadata"]["name"] for ch in seen if ch.type == "DELETED"]
    assert gone == ["a3"]
    marked = [ch.obj for ch in seen if ch.type == "MODIFIED" and ch.obj["metadata"]["name"] == "a3"]
    dt = next(x for x in marked[0]["status"]["conditions"] if x["type"] == "DisruptionTarget")
    assert (dt["status"], dt["reason"]) == ("True", "PreemptionByScheduler")
    assert not marked[0]["metadata"].get("deletionTimestamp")  # the condition first, then the delete
    assert marked[1]["metadata"]["deletionGracePeriodSeconds"] == 30
    (ev,) = events(c, "Evict")
    assert ev["involvedObject"]["kind"] == "PodGroup"
    assert ev["involvedObject"]["name"].startswith("pg-a3-")
    ann = ev["metadata"]["annotations"]
    b_pg = podgroup_of(c, "b0")["metadata"]["name"]
    assert ann == {"evictor-pod-group-name": b_pg, "evictor-pod-group-namespace": "default",
                   "evictor-action-type": "Reclaim", "num-evicted-pods": "1"}
    assert ev["source"]["component"] == "kai-scheduler"


def test_recreated_pod_waits_pending() -> None:
    c, _ = make_cluster()
    add_node(c, "n1", gpus=2)
    add_queue(c, "a", quota=1)
    add_queue(c, "b", quota=1)
    add_pod(c, "a0", queue="a", gpus=1)
    add_pod(c, "a1", queue="a", gpus=1)
    c.settle()
    add_pod(c, "b0", queue="b", gpus=1)
    c.settle()
    evicted = "a1" if terminating(c, "a1") else "a0"
    assert terminating(c, evicted)
    add_pod(c, evicted + "-again", queue="a", gpus=1)  # what its owner would do, at once
    c.settle()
    assert node_of(c, evicted + "-again") is None and node_of(c, "b0") is None
    after_grace(c)
    assert get_pod(c, evicted) is None and node_of(c, "b0") == "n1"
    c.settle()
    assert node_of(c, evicted + "-again") is None
    assert c.settle() == 0  # no ping-pong: a is at its fair share, b within its quota


def test_preempt_within_queue_by_priority() -> None:
    c, _ = make_cluster()
    add_node(c, "n1", gpus=2)
    add_queue(c, "a", quota=2)
    add_pod(c, "low", queue="a", gpus=1, priority_class="train")
    add_pod(c, "mid", queue="a", gpus=1, priority_class="build-preemptible")
    c.settle()
    seen = watch_pods(c)
    add_pod(c, "urgent", queue="a", gpus=1, priority_class="inference")
    c.settle()
    assert terminating(c, "low") and node_of(c, "urgent") is None
    assert not terminating(c, "mid")  # the terminating victim's GPU is enough: nothing more is preempted
    after_grace(c)
    assert node_of(c, "urgent") == "n1"
    assert [ch.old["metadata"]["name"] for ch in seen if ch.type == "DELETED"] == ["low"]
    (ev,) = events(c, "Evict")
    assert ev["metadata"]["annotations"]["evictor-action-type"] == "Preempt"


def test_non_preemptible_work_is_never_evicted() -> None:
    c, _ = make_cluster()
    add_node(c, "n1", gpus=1)
    add_queue(c, "a", quota=1)
    add_pod(c, "build", queue="a", gpus=1, priority_class="build")
    c.settle()
    add_pod(c, "inf", queue="a", gpus=1, priority_class="inference")
    c.settle()
    assert node_of(c, "build") == "n1" and node_of(c, "inf") is None
    assert events(c, "Evict") == []


def test_fraction_victims_release_their_gpu_group() -> None:
    c, _ = make_cluster()
    add_node(c, "n1", gpus=1)
    add_queue(c, "a", quota=0)
    add_queue(c, "b", quota=1)
    add_pod(c, "fa", queue="a", fraction="0.5")
    c.settle()
    from .test_scheduler import grant_gpus, reservation_pods
    grant_gpus(c)
    c.settle()
    assert node_of(c, "fa") == "n1" and len(reservation_pods(c)) == 1
    add_pod(c, "wb", queue="b", gpus=1)
    c.settle()
    # the terminating fraction still holds its share: its reservation pod stays, the GPU is not free
    assert terminating(c, "fa") and len(reservation_pods(c)) == 1 and node_of(c, "wb") is None
    after_grace(c)
    assert get_pod(c, "fa") is None and reservation_pods(c) == []
    assert node_of(c, "wb") == "n1"
    assert len([e for e in c.store.items(EVENTS) if e["reason"] == "Evict"]) == 1
    assert c.store.try_get(PODS, "default", "wb")["metadata"]["annotations"]["pod-group-name"]
