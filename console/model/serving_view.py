"""Serving health per inference workload, joined to the cluster model: its replicas' figures, the GPUs they
sit on and who else holds those GPUs, the workload's SLO and whether it is breached, and a short history.

`ServingView.build()` runs where the scrapes land (the informers' loop, under the session lock) and
returns an immutable `ServingSnapshot`; the UI swaps its reference to it and reads nothing else, so a
half-built snapshot is never seen.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from console.telemetry.serving_endpoints import Target
from console.telemetry.serving_tracker import ServingTracker
from console.telemetry.serving_window import Figures, aggregate

from . import slo as slo_mod
from .slo import BREACHED, SloRule, SloTarget
from .workload_row import INFERENCE, WorkloadRow

if TYPE_CHECKING:
    from .cluster_store import ClusterStore

WKey = tuple[str, str, str]
PodKey = tuple[str, str]
HISTORY_POINTS = 120


@dataclass(frozen=True, slots=True)
class GpuSeat:
    """One GPU a replica holds (part of): its share, who else holds it, how busy it is (`gpu(key)` gives a
    row's telemetry, anything with `util_pct` and `index`)."""

    node: str
    slot: int                                        # the GPU row's key on its node
    index: int | None                                # device index, where the exporter or the API names it
    share: float | None
    others: tuple[tuple[str, float | None], ...]     # (workload or pod, share) of the other holders
    util_pct: float | None


@dataclass(frozen=True, slots=True)
class ReplicaServing:
    namespace: str
    pod: str
    node: str
    ready: bool
    figures: Figures | None
    error: str | None
    source: str
    gpus: tuple[GpuSeat, ...] = ()

    @property
    def gpu_util_pct(self) -> float | None:
        vals = [g.util_pct for g in self.gpus if g.util_pct is not None]
        return sum(vals) / len(vals) if vals else None

    @property
    def crowded(self) -> bool:
        """It shares a GPU with another workload."""
        return any(g.others for g in self.gpus)


@dataclass(frozen=True, slots=True)
class HistoryPoint:
    t: float
    rps: float | None
    p50_s: float | None
    p95_s: float | None
    p99_s: float | None
    error_ratio: float | None


@dataclass(frozen=True, slots=True)
class WorkloadServing:
    key: WKey
    project: str | None
    figures: Figures | None
    error: str | None                         # why there are no figures at all
    replicas: tuple[ReplicaServing, ...]
    reporting: int                            # replicas whose figures are in `figures`
    slo: SloTarget | None
    slo_state: str | None                     # met | breached | unknown; None without an SLO
    slo_why: str
    gpu_util_pct: float | None
    history: tuple[HistoryPoint, ...] = ()

    @property
    def breached(self) -> bool:
        return self.slo_state == BREACHED


@dataclass(frozen=True, slots=True)
class ServingSnapshot:
    taken_at: float | None = None
    window_s: float = 60.0
    workloads: Mapping[WKey, WorkloadServing] = field(default_factory=dict)
    breaches: int = 0
    breaches_by_project: Mapping[str, int] = field(default_factory=dict)
    state: str = ""                           # the header's line: `serving 12/14 pods · 10s`, or why not
    state_bad: bool = False
    rounds: int = 0


EMPTY = ServingSnapshot()


def inference_rows(store: ClusterStore) -> list[WorkloadRow]:
    return [r for r in store.workloads.rows.values() if r.type == INFERENCE and r.kind != "HorizontalPodAutoscaler"]


def scrape_targets(store: ClusterStore, keep: Callable[[WorkloadRow, Any], bool] | None = None) -> list[Target]:
    """Every running replica of every inference workload (that `keep` keeps), with where its metrics are, in
    name order."""
    out: list[Target] = []
    for r in sorted(inference_rows(store), key=lambda r: r.key):
        for pk in sorted(store.pods_by_workload.get(r.key, ())):
            p = store.pods.get(pk)
            if p is None or p.phase != "Running" or not p.node or p.terminating:
                continue
            if keep is not None and not keep(r, p):
                continue
            out.append(Target(p.namespace, p.name, p.scrape))
    return out


def _seats(store: ClusterStore, gpu: Callable[[tuple[str, int]], Any]) -> dict[PodKey, list[GpuSeat]]:
    out: dict[PodKey, list[GpuSeat]] = {}
    for row in store.gpus.rows.values():
        if not row.holders:
            continue
        tel = gpu(row.key)
        u = getattr(tel, "util_pct", None)
        index = getattr(tel, "index", None)
        index = index if index is not None else row.index
        for h in row.holders:
            others = tuple((o.workload or o.pod, o.share) for o in row.holders
                           if (o.namespace, o.pod) != (h.namespace, h.pod) and o.workload != h.workload)
            out.setdefault((h.namespace, h.pod), []).append(GpuSeat(row.node, row.slot, index, h.share, others, u))
    return out


class ServingView:
    """Holds the history between builds; everything else is rebuilt from the model and the tracker."""

    def __init__(self, history_points: int = HISTORY_POINTS) -> None:
        self.history_points = history_points
        self.history: dict[WKey, deque[HistoryPoint]] = {}

    def build(self, store: ClusterStore, tracker: ServingTracker, now: float,
              gpu: Callable[[tuple[str, int]], Any] = lambda k: None,
              rules: Sequence[SloRule] = (), state: str = "", state_bad: bool = False,
              record: bool = True) -> ServingSnapshot:
        seats = _seats(store, gpu)
        workloads: dict[WKey, WorkloadServing] = {}
        by_project: dict[str, int] = {}
        breaches = 0
        alive: set[WKey] = set()
        for r in inference_rows(store):
            alive.add(r.key)
            replicas: list[ReplicaServing] = []
            for pk in sorted(tuple(store.pods_by_workload.get(r.key, ()))):
                p = store.pods.get(pk)
                if p is None or p.phase != "Running" or not p.node or p.terminating:
                    continue
                st = tracker.replica(pk, now)
                replicas.append(ReplicaServing(p.namespace, p.name, p.node, p.ready, st.figures, st.error, st.source,
                                               tuple(seats.get(pk, ()))))
            parts = [x.figures for x in replicas if x.figures is not None]
            figures = aggregate(parts) if parts else None
            error = None
            if figures is None:
                errs = [x.error for x in replicas if x.error]
                error = errs[0] if errs else ("no running replica" if not replicas else "not scraped yet")
                if len(errs) > 1 and len(set(errs)) > 1:
                    error += f" (and {len(errs) - 1} other replica(s) failing)"
            owner = store.owner_of_workload(r.key)
            target = None
            if owner is not None:
                labels = {**owner.template_labels, **owner.labels}
                target = slo_mod.target_for(r.namespace, r.name, dict(owner.slo), labels, rules)
            p95 = figures.p95 if figures is not None else None
            state_, why = slo_mod.evaluate(target, p95.value if p95 else None, bool(p95 and p95.capped),
                                           figures.error_ratio if figures is not None else None)
            if state_ == BREACHED:
                breaches += 1
                if r.project:
                    by_project[r.project] = by_project.get(r.project, 0) + 1
            utils: dict[tuple[str, int], float] = {}
            for x in replicas:
                for g in x.gpus:
                    if g.util_pct is not None:
                        utils[(g.node, g.slot)] = g.util_pct
            hist = self.history.get(r.key)
            if record:
                if hist is None:
                    hist = self.history[r.key] = deque(maxlen=self.history_points)
                hist.append(_point(now, figures))
            workloads[r.key] = WorkloadServing(
                r.key, r.project, figures, error, tuple(replicas), len(parts) if figures else 0, target, state_, why,
                sum(utils.values()) / len(utils) if utils else None, tuple(hist) if hist else ())
        for k in [k for k in self.history if k not in alive]:
            del self.history[k]
        return ServingSnapshot(now, tracker.window_s, workloads, breaches, by_project, state, state_bad,
                               tracker.rounds)


def _point(t: float, f: Figures | None) -> HistoryPoint:
    if f is None:
        return HistoryPoint(t, None, None, None, None, None)
    return HistoryPoint(t, f.rps, f.p50.value if f.p50 else None, f.p95.value if f.p95 else None,
                        f.p99.value if f.p99 else None, f.error_ratio)


def snapshot_fields(w: WorkloadServing | None) -> dict[str, object] | None:
    """`gpuconsole snapshot`'s `serving` object of a workload (null fields where unknown, `error` why)."""
    if w is None:
        return None
    f = w.figures

    def ms(q: object) -> float | None:
        v = getattr(q, "value", None)
        return None if v is None or not math.isfinite(v) else round(v * 1000.0, 3)

    def rnd(x: float | None, n: int = 4) -> float | None:
        return None if x is None else round(x, n)

    why = [w.error] if w.error else []
    if f is not None:
        why.extend(f.why)
    return {
        "rps": rnd(f.rps if f else None), "error_ratio": rnd(f.error_ratio if f else None, 6),
        "p50_ms": ms(f.p50 if f else None), "p95_ms": ms(f.p95 if f else None), "p99_ms": ms(f.p99 if f else None),
        "latency_kind": f.latency_kind if f else None,
        "avg_ms": None if f is None or f.avg_s is None else round(f.avg_s * 1000.0, 3),
        "ttft_p95_ms": ms(f.ttft_p95 if f else None), "tokens_per_s": rnd(f.tokens_per_s if f else None, 2),
        "running": f.running if f else None, "waiting": f.waiting if f else None,
        "kv_cache_ratio": rnd(f.kv_cache if f else None),
        "slo_p95_ms": w.slo.p95_ms if w.slo else None, "slo_error_ratio": w.slo.error_ratio if w.slo else None,
        "slo_breached": None if w.slo_state is None or w.slo_state == slo_mod.UNKNOWN else w.breached,
        "replicas": len(w.replicas), "replicas_reporting": w.reporting,
        # percentiles whose rank fell in the +Inf bucket: the value is the highest bound, the truth above it
        "capped": [n for n, q in (("p50_ms", f.p50 if f else None), ("p95_ms", f.p95 if f else None),
                                   ("p99_ms", f.p99 if f else None), ("ttft_p95_ms", f.ttft_p95 if f else None))
                   if q is not None and q.capped],
        "source": f.server if f else None,
        "error": "; ".join(dict.fromkeys(why)) or None,
    }
