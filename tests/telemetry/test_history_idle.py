"""History stays bounded however long it runs; idle-allocated detection follows the policy."""

from __future__ import annotations

import math
import random
import tracemalloc

import pytest

from console.telemetry.history import History, Ring
from console.telemetry.idle import IdlePolicy, IdleTracker
from console.telemetry.sampler import GpuSample, NodeGpus, Snapshot


def snap(t: float, gpus: list[GpuSample]) -> Snapshot:
    nodes: dict[str, list[GpuSample]] = {}
    for g in gpus:
        nodes.setdefault(g.node, []).append(g)
    return Snapshot("test", t, {n: NodeGpus(n, tuple(gs)) for n, gs in nodes.items()})


def test_ring_keeps_the_newest_points_in_order() -> None:
    r = Ring(4)
    for t in range(10):
        r.append(float(t), (float(t * 10), None, 30.0, 100.0))
    assert r.times() == [6.0, 7.0, 8.0, 9.0]
    assert r.values("util_pct") == [60.0, 70.0, 80.0, 90.0]
    assert r.values("mem_used_mib") == [None] * 4
    assert r.values("util_pct", since=8.0) == [80.0, 90.0]


def test_window_step_and_duplicates() -> None:
    h = History(window_s=60, step_s=10)
    assert h.capacity == 7
    g = GpuSample("n", 0, "GPU-a", util_pct=10.0)
    for t in range(0, 200, 10):
        h.add(snap(float(t), [g]))
    key = ("n", "GPU-a", None)
    assert h.times(key) == [130.0, 140.0, 150.0, 160.0, 170.0, 180.0, 190.0]
    h.add(snap(190.0, [GpuSample("n", 0, "GPU-a", util_pct=99.0)]))      # the same snapshot again
    assert h.series(key)[-1] == 10.0
    h.add(snap(192.0, [GpuSample("n", 0, "GPU-a", util_pct=50.0)]))      # closer than half a step: replaces
    assert h.times(key)[-1] == 192.0 and h.times(key)[0] == 140.0 and h.series(key)[-1] == 50.0
    assert h.series(("n", "GPU-zzz", None)) == []
    with pytest.raises(ValueError):
        History(window_s=0)


def test_memory_stays_bounded_over_a_long_run_with_churn() -> None:
    """Days of 30 s scrapes of a cluster whose GPUs come and go: bounded points, keys and bytes."""
    rng = random.Random(7)
    h = History(window_s=600, step_s=30)
    live = [f"GPU-{i}" for i in range(20)]
    next_id = 20
    tracemalloc.start()
    try:
        mid_bytes = None
        steps = 2000
        for k in range(steps):
            if rng.random() < 0.8:                    # a node is replaced: its GPU UUIDs are new
                live[rng.randrange(len(live))] = f"GPU-{next_id}"
                next_id += 1
            t = k * 30.0
            h.add(snap(t, [GpuSample(f"n{i % 7}", i % 8, u, util_pct=rng.random() * 100, temp_c=40.0)
                           for i, u in enumerate(live)]))
            assert len(h.times(("n0", live[0], None))) <= h.capacity
            if k == steps // 4:
                mid_bytes = tracemalloc.get_traced_memory()[0]
        end_bytes = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert next_id > 1500                                        # plenty of GPUs came and went
    # Only GPUs seen within the last window (plus one pruning period) are kept.
    assert len(h) <= 20 + 0.8 * (600 / 30) * 1.25 + 5
    assert h.nbytes() <= len(h) * h.capacity * (8 + 4 * 4)
    assert end_bytes - mid_bytes < 64 * 1024, (mid_bytes, end_bytes)


def test_idle_clock_starts_under_threshold_and_resets() -> None:
    idle = IdleTracker(IdlePolicy(threshold_pct=5, hold_s=600))
    owner = (("team", "notebook-0"),)
    assert idle.update("g", 0.0, 1.0, owner) == 0.0
    assert idle.update("g", 300.0, 4.9, owner) == 300.0
    assert not idle.is_idle(300.0)
    assert idle.update("g", 400.0, None, owner) == 400.0           # a missing value keeps the clock
    assert idle.update("g", 600.0, 2.0, owner) == 600.0 and idle.is_idle(600.0)
    assert idle.update("g", 630.0, 5.0, owner) is None             # busy again: reset
    assert idle.update("g", 660.0, 0.0, owner) == 0.0
    assert idle.update("g", 690.0, 0.0, (("team", "other"),)) == 0.0   # new holder: its own grace period
    assert idle.update("g", 720.0, 0.0, ()) is None                # freed: not "idle-allocated"
    assert idle.update("free", 0.0, None, ()) is None and len(idle) == 0
    idle.update("a", 0.0, 0.0, owner)
    idle.update("b", 0.0, 0.0, owner)
    idle.forget_except({"a"})
    assert len(idle) == 1
    for bad in ({"threshold_pct": 101}, {"hold_s": -1}):
        with pytest.raises(ValueError):
            IdlePolicy(**bad)
    assert math.isclose(IdlePolicy().threshold_pct, 5.0)


def test_a_copy_keeps_its_points_while_the_writer_goes_on() -> None:
    """What the UI thread holds (the published copy) never changes under it."""
    h = History(window_s=60, step_s=10)
    g = GpuSample("n", 0, "GPU-a", util_pct=10.0)
    for t in range(0, 40, 10):
        h.add(snap(float(t), [g]))
    key = ("n", "GPU-a", None)
    copy = h.copy()
    before = (copy.times(key), copy.series(key))
    for t in range(40, 200, 10):
        h.add(snap(float(t), [GpuSample("n", 0, "GPU-a", util_pct=float(t))]))
    assert (copy.times(key), copy.series(key)) == before
    assert h.series(key)[-1] == 190.0 and len(h.times(key)) == h.capacity
    assert copy.step_s == h.step_s and copy.window_s == h.window_s
