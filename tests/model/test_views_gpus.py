"""GPU rows: shared GPUs through reservation pods, whole GPUs placed stably, memory shares, fragmentation."""

from __future__ import annotations

from console.model.cluster_store import ClusterStore
from console.model.views_gpus import summary

RES_NS = "kai-resource-reservation"


def node(name: str = "n1", count: int | None = 4, memory: int | None = 40960, mig: int = 0) -> dict:
    labels = {"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-40GB"}
    if count is not None:
        labels["nvidia.com/gpu.count"] = str(count)
    if memory is not None:
        labels["nvidia.com/gpu.memory"] = str(memory)
    alloc = {"nvidia.com/mig-3g.20gb": str(mig)} if mig else {}
    return {"metadata": {"name": name, "labels": labels}, "status": {"allocatable": alloc}}


def pod(name: str, node: str | None = "n1", gpus: int = 0, fraction: str | None = None, memory: str | None = None,
        group: str | None = None, ns: str = "team-a") -> dict:
    ann, labels = {}, {}
    if fraction:
        ann["gpu-fraction"] = fraction
    if memory:
        ann["gpu-memory"] = memory
    if group:
        labels["runai-gpu-group"] = group
    spec: dict = {"containers": [{"name": "c", "resources": {"limits": {"nvidia.com/gpu": str(gpus)} if gpus else {}}}]}
    if node:
        spec["nodeName"] = node
    return {"metadata": {"name": name, "namespace": ns, "labels": labels, "annotations": ann},
            "spec": spec, "status": {"phase": "Running" if node else "Pending"}}


def reservation(name: str, group: str, node: str = "n1", uuid: str | None = None) -> dict:
    ann = {"run.ai/reserve_for_gpu_index": uuid} if uuid else {}
    return {"metadata": {"name": name, "namespace": RES_NS, "labels": {"runai-gpu-group": group},
                         "annotations": ann},
            "spec": {"nodeName": node, "containers": [{"name": "r", "resources": {"limits": {"nvidia.com/gpu": "1"}}}]},
            "status": {"phase": "Running"}}


def rows(store: ClusterStore, name: str = "n1") -> list:
    store.refresh()
    return [store.gpus.rows[k] for k in sorted(store.gpus.rows) if k[0] == name]


def load(*objs: tuple[str, dict]) -> ClusterStore:
    store = ClusterStore()
    for kind, o in objs:
        assert store.apply(kind, "ADDED", o)
    return store


def test_shared_gpu_rows_come_first_with_their_uuid_and_holders() -> None:
    store = load(("nodes", node()), ("pods", reservation("r1", "g1", uuid="GPU-b")),
                 ("pods", reservation("r2", "g2", uuid="GPU-a")),
                 ("pods", pod("f1", fraction="0.5", group="g1")), ("pods", pod("f2", fraction="0.25", group="g1")),
                 ("pods", pod("m1", memory="10225", group="g2")), ("pods", pod("w", gpus=1)))
    r = rows(store)
    assert [(x.uuid, x.use, x.device_reported) for x in r] == [
        ("GPU-a", "shared", True), ("GPU-b", "shared", True), (None, "whole", False), (None, "free", False)]
    assert [(h.pod, h.share) for h in r[1].holders] == [("f1", 0.5), ("f2", 0.25)] and r[1].free_share == 0.25
    # KAI floors GPU memory to 100 MiB steps: 10225 MiB of 40960 (read as 40900) is a quarter
    assert [(h.pod, h.share) for h in r[0].holders] == [("m1", 0.25)]
    assert r[2].holders[0].share == 1.0 and r[2].free_share == 0.0 and r[3].free_share == 1.0


def test_whole_gpu_placement_is_stable_and_uses_node_count() -> None:
    a = load(("nodes", node(count=4)), ("pods", pod("b", gpus=2)), ("pods", pod("a", gpus=1)))
    b = load(("pods", pod("a", gpus=1)), ("pods", pod("b", gpus=2)), ("nodes", node(count=4)))
    assert rows(a) == rows(b)
    assert [h.pod for x in rows(a) for h in x.holders] == ["a", "b", "b"]
    assert len(rows(a)) == 4 and all(x.uuid is None for x in rows(a))


def test_count_falls_back_to_allocatable_and_overflow_is_shown() -> None:
    raw = node(count=None)
    raw["status"]["allocatable"] = {"nvidia.com/gpu": "2"}
    store = load(("nodes", raw), ("pods", pod("a", gpus=3)))
    assert len(rows(store)) == 3  # more held than the node says it has: shown, not hidden


def test_fraction_without_reservation_is_a_device_not_reported_row() -> None:
    store = load(("nodes", node(count=1)), ("pods", pod("f", fraction="0.5", group="g9")))
    (r,) = rows(store)
    assert (r.uuid, r.use, r.device_reported, r.reservation_pod) == (None, "shared", False, None)
    assert r.holders[0].pod == "f" and r.free_share == 0.5
    store.apply("pods", "ADDED", reservation("r9", "g9", uuid="GPU-9"))
    (r,) = rows(store)
    assert (r.uuid, r.reservation_pod, r.device_reported) == ("GPU-9", "r9", True)


def test_memory_share_unknown_without_gpu_memory() -> None:
    store = load(("nodes", node(memory=None)), ("pods", reservation("r", "g", uuid="GPU-1")),
                 ("pods", pod("m", memory="2000", group="g")))
    r = rows(store)[0]
    assert r.holders[0].share is None and r.free_share is None
    s = summary(store.gpus.rows.values())  # the unknown share adds nothing it cannot know
    assert (s["allocated_share"], s["in_use"], s["gpus"] - s["free_share"], s["sliver_share"]) == (0.0, 1, 1.0, 0.0)
    store.apply("nodes", "MODIFIED", node(memory=16000))
    r = rows(store)[0]
    assert r.holders[0].share == 0.125 and r.free_share == 0.875


def test_fragmentation_follows_waiting_requests() -> None:
    store = load(("nodes", node(count=2)), ("pods", reservation("r", "g", uuid="GPU-1")),
                 ("pods", pod("f", fraction="0.75", group="g")))
    assert not any(x.fragmented for x in rows(store))            # nothing waits: nothing is stranded
    store.apply("pods", "ADDED", pod("wait", node=None, fraction="0.5"))
    r = rows(store)
    assert r[0].free_share == 0.25 and r[0].fragmented and not r[1].fragmented  # 0.25 left, 0.5 wanted
    assert summary(store.gpus.rows.values()) == {"gpus": 2, "free_share": 1.25, "fragmented_share": 0.25,
                                                 "allocated_share": 0.75, "in_use": 1, "sliver_share": 0.25,
                                                 "terminating_share": 0}
    store.apply("pods", "ADDED", pod("small", node=None, fraction="0.25"))
    assert not rows(store)[0].fragmented                        # now something fits the sliver
    store.apply("pods", "DELETED", pod("small"))
    assert rows(store)[0].fragmented
    assert store.current() == store.full_recompute()


def test_mig_node_rows_do_not_claim_free_shares() -> None:
    store = load(("nodes", node(count=1, mig=2)))
    (r,) = rows(store)
    assert r.mig and r.free_share is None


def test_finished_and_unbound_pods_hold_nothing() -> None:
    done = pod("done", gpus=1)
    done["status"]["phase"] = "Succeeded"
    store = load(("nodes", node(count=1)), ("pods", done), ("pods", pod("wait", node=None, gpus=1)))
    (r,) = rows(store)
    assert r.use == "free" and r.holders == ()


def test_multi_device_fraction_appears_on_each_gpu() -> None:
    multi = pod("md", fraction="0.5")
    multi["metadata"]["annotations"]["gpu-fraction-num-devices"] = "2"
    multi["metadata"]["labels"] = {"runai-gpu-group/g1": "g1", "runai-gpu-group/g2": "g2"}
    store = load(("nodes", node(count=2)), ("pods", reservation("r1", "g1", uuid="GPU-1")),
                 ("pods", reservation("r2", "g2", uuid="GPU-2")), ("pods", multi))
    r = rows(store)
    assert [(x.uuid, [h.pod for h in x.holders], x.free_share) for x in r] == [
        ("GPU-1", ["md"], 0.5), ("GPU-2", ["md"], 0.5)]


def test_a_terminating_pod_keeps_its_share_marked_until_it_goes() -> None:
    from console.model import snapshot
    from console.model.events import parse_time
    going = pod("f1", fraction="0.5", group="g1")
    store = load(("nodes", node()), ("pods", reservation("r1", "g1", uuid="GPU-a")), ("pods", going),
                 ("pods", pod("f2", fraction="0.25", group="g1")))
    assert rows(store)[0].holders[0].terminating is False
    going["metadata"].update(deletionTimestamp="2026-01-01T00:00:30Z", deletionGracePeriodSeconds=30)
    store.apply("pods", "MODIFIED", going)
    g = rows(store)[0]
    h = {x.pod: x for x in g.holders}
    # still on its GPU, its share not free, marked terminating since the delete (00:00:00)
    assert g.free_share == 0.25 and h["f1"].share == 0.5
    assert h["f1"].terminating and h["f1"].terminating_since == parse_time("2026-01-01T00:00:00Z")
    assert not h["f2"].terminating
    assert summary(store.gpus.rows.values())["terminating_share"] == 0.5
    snap = snapshot.build(store, "gpus", now=parse_time("2026-01-01T00:00:12Z"))
    held = {x["pod"]: x for x in snap["gpus"][0]["holders"]}
    assert (held["f1"]["terminating"], held["f1"]["terminating_for_s"]) == (True, 12)
    assert (held["f2"]["terminating"], held["f2"]["terminating_for_s"]) == (False, None)
    store.apply("pods", "DELETED", going)
    g = rows(store)[0]
    assert [x.pod for x in g.holders] == ["f2"] and g.free_share == 0.75
