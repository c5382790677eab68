"""Samples joined to the model's GPU rows: by UUID, by holder pod, free rows last; MIG folded; idleness."""

from __future__ import annotations

from console.model.telemetry_view import (
    TelemetryView, fold_mig, idle_by_workload, match_rows, physical, snapshot_fields,
)
from console.model.views_gpus import FREE, SHARED, WHOLE, GpuRow, Holder
from console.telemetry.idle import IdlePolicy
from console.telemetry.sampler import VIA_CGROUP, GpuSample, NodeGpus, PodRef, Snapshot


def row(node: str, index: int, use: str, holders: tuple[tuple[str, str, str | None], ...] = (),
        uuid: str | None = None, reservation: str | None = None) -> GpuRow:
    hs = tuple(Holder(ns, pod, wl, 1.0) for ns, pod, wl in holders)
    return GpuRow(node, index, uuid, "NVIDIA H100 80GB HBM3", 81559, hs, 0.0 if holders else 1.0, use,
                  uuid is not None, reservation, False, False)


def sample(node: str, index: int, uuid: str, util: float, pods: tuple[PodRef, ...] = (),
           reservation: PodRef | None = None, **kw: object) -> GpuSample:
    return GpuSample(node, index, uuid, util_pct=util, mem_used_mib=1000.0 * index, pods=pods,
                     reservation=reservation, **kw)


def snapshot(t: float, *samples: GpuSample, errors: dict[str, str] | None = None) -> Snapshot:
    nodes: dict[str, NodeGpus] = {}
    for s in samples:
        ng = nodes.get(s.node)
        nodes[s.node] = NodeGpus(s.node, (ng.gpus if ng else ()) + (s,))
    for n, e in (errors or {}).items():
        nodes[n] = NodeGpus(n, (), e)
    return Snapshot("dcgm-exporter", t, nodes)


ROWS = {r.key: r for r in [
    row("n1", 0, SHARED, (("team", "frac-a", "serve"), ("team", "frac-b", "serve")), uuid="GPU-3",
        reservation="gpu-reservation-n1-abc"),
    row("n1", 1, WHOLE, (("team", "train-0", "train"),)),
    row("n1", 2, WHOLE, (("team", "train-0", "train"),)),
    row("n1", 3, WHOLE, (("team", "notebook-0", "notebook"),)),
    row("n1", 4, FREE),
    row("n1", 5, FREE),
]}


def n1_samples(t_util: float = 90.0, nb_util: float = 1.0) -> list[GpuSample]:
    return [
        sample("n1", 0, "GPU-0", 0.0),                                         # free
        sample("n1", 1, "GPU-1", t_util, (PodRef("team", "train-0"),)),
        sample("n1", 2, "GPU-2", nb_util, (PodRef("team", "notebook-0"),)),
        sample("n1", 3, "GPU-3", 40.0, (PodRef("team", "frac-a"), PodRef("team", "frac-b")),
               PodRef("kai-resource-reservation", "gpu-reservation-n1-abc")),
        sample("n1", 4, "GPU-4", t_util, (PodRef("team", "train-0"),)),
        sample("n1", 5, "GPU-5", 0.0),                                         # free
    ]


def test_rows_match_by_uuid_then_holder_then_free() -> None:
    m = match_rows(snapshot(0, *n1_samples()), ROWS)
    assert m[("n1", 0)].uuid == "GPU-3"                      # the reservation's UUID
    assert [m[("n1", i)].uuid for i in (1, 2)] == ["GPU-1", "GPU-4"]   # the two GPUs of train-0, in order
    assert m[("n1", 3)].uuid == "GPU-2"                      # the notebook's GPU
    assert [m[("n1", i)].uuid for i in (4, 5)] == ["GPU-0", "GPU-5"]


def test_unknown_rows_get_no_guess() -> None:
    rows = dict(ROWS)
    ghost = row("n1", 6, WHOLE, (("team", "not-in-exporter", None),))
    rows[ghost.key] = ghost
    samples = n1_samples()
    samples[0] = sample("n1", 0, "GPU-0", 0.0, (PodRef("other", "unknown-pod"),))   # held by a pod we do not see
    m = match_rows(snapshot(0, *samples), rows)
    # The ghost gets nothing; the free rows share the one GPU nobody holds; one free row stays empty.
    assert ghost.key not in m and m[("n1", 4)].uuid == "GPU-5" and ("n1", 5) not in m
    assert sum(1 for k in rows if k in m) == 5


def test_local_processes_match_by_pod_uid() -> None:
    rows = {r.key: r for r in [row("local", 0, WHOLE, (("team", "train-0", "train"),)), row("local", 1, FREE)]}
    nvml = snapshot(0, GpuSample("local", 0, "GPU-x", util_pct=3.0),
                    GpuSample("local", 1, "GPU-y", util_pct=88.0, pods=(PodRef("", "", "", VIA_CGROUP, "uid-1"),)))
    m = match_rows(nvml, rows, {"uid-1": ("team", "train-0")}.get)
    assert m[("local", 0)].uuid == "GPU-y" and m[("local", 1)].uuid == "GPU-x"


def test_mig_instances_fold_into_their_gpu() -> None:
    parent = "GPU-473571f2"
    inst = [GpuSample("n", 0, parent, gi_id=g, parent_uuid=parent, util_pct=u, mem_used_mib=m, mem_total_mib=4864,
                      temp_c=35.0, power_w=p, mig_profile="1g.5gb")
            for g, u, m, p in ((7, 0.0, 6.0, 112.0), (8, 40.0, 4384.0, 106.0))]
    folded = fold_mig(inst)
    assert (folded.uuid, folded.gi_id, folded.util_pct, folded.mem_used_mib, folded.mem_total_mib) == \
        (parent, None, 20.0, 4390.0, 9728)
    assert folded.power_w == 112.0
    nvml_parent = GpuSample("n", 0, parent, temp_c=50.0, power_w=150.0, util_pct=None)
    (one,) = physical([nvml_parent, *inst])
    assert one.temp_c == 50.0 and one.power_w == 150.0 and one.mem_used_mib == 4390.0 and one.util_pct == 20.0


def test_idle_allocated_after_the_hold_time_and_node_errors() -> None:
    view = TelemetryView(IdlePolicy(threshold_pct=5, hold_s=120), window_s=600, step_s=30)
    changed, removed = view.ingest(snapshot(0, *n1_samples()), ROWS)
    assert len(changed) == 6 and not removed
    nb = view.rows[("n1", 3)]
    assert nb.util_pct == 1.0 and nb.idle_for_s == 0.0 and not nb.idle
    assert view.rows[("n1", 4)].idle_for_s is None          # free GPUs are never "idle-allocated"
    assert view.rows[("n1", 1)].idle_for_s is None          # busy
    for t in (30, 60, 90, 120):
        changed, _ = view.ingest(snapshot(t, *n1_samples()), ROWS)
    assert view.rows[("n1", 3)].idle and view.rows[("n1", 3)].idle_for_s == 120
    assert [r.key for r in view.idle_rows()] == [("n1", 3)]
    assert idle_by_workload(ROWS, view.rows) == {("team", "notebook"): 1}
    assert len(view.history.series(view.rows[("n1", 3)].sample_key)) == 5
    # The exporter on n1 goes down: values missing, the error in each row, idle clocks kept.
    view.ingest(snapshot(150, errors={"n1": "exporter gpu-operator/x: HTTP 500"}), ROWS)
    down = view.rows[("n1", 3)]
    assert down.util_pct is None and down.error == "exporter gpu-operator/x: HTTP 500" and down.sample_key is None
    assert snapshot_fields(view.rows[("n1", 1)]) == {"util_pct": None, "mem_used_mib": None, "temp_c": None,
                                                    "power_w": None, "idle_for_s": None, "health": None}
    # Rows that disappear from the model are reported removed.
    smaller = {k: v for k, v in ROWS.items() if k != ("n1", 5)}
    _, removed = view.ingest(snapshot(180, *n1_samples()), smaller)
    assert removed == {("n1", 5)}
