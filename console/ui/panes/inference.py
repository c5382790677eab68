"""Inference: every inference workload's serving health against its SLO, and drilled in, its replicas.

A row is a workload: replicas and autoscaling, requests per second, error %, p50/p95/p99 with a p95
sparkline, time to first token and output tokens per second for LLM servers, the server's queue, the SLO
state, GPU per replica and how busy the GPUs it holds are. `enter` lists its replicas, each with its node,
its GPU (index, share, who else holds it, how busy it is) and its own rate and p95, so the slow replica on
the crowded GPU stands out. A figure the server does not give, or a pod that did not answer, reads `—`
and the detail line says why. Figures come from the session's serving snapshot (`ctx.serving`), an
immutable value the App swaps after each scrape.
"""

from __future__ import annotations

from typing import Any

from rich.style import Style
from rich.text import Text

from console.model.serving_view import EMPTY, ReplicaServing, WorkloadServing
from console.model.slo import BREACHED, MET, UNKNOWN as SLO_UNKNOWN
from console.model.workload_row import INFERENCE, WorkloadRow
from console.telemetry.histogram import Quantile
from console.telemetry.serving_servers import LATENCY_AVG, LATENCY_SUMMARY
from console.telemetry.serving_window import Figures
from widgets.bars import fmt_gpu
from widgets.sparkline import sparkline
from widgets.vtable import Column

from .base import UNKNOWN, Drill, Key, ObjRef, PaneModel, num, sorted_by

NONE = "—"          # a figure the server does not give, or a replica that did not answer
SPARK = 10
REPLICAS_FIELD = "replicas"


def fmt_ms(q: Quantile | None) -> str:
    if q is None:
        return NONE
    ms = q.value * 1000.0
    text = f"{ms:.0f}" if ms < 10000 else f"{ms / 1000:.0f}s"
    return (">" if q.capped else "") + text


def fmt_rate(x: float | None) -> str:
    if x is None:
        return NONE
    return f"{x:.1f}" if x < 100 else f"{x:.0f}"


def fmt_pct(x: float | None) -> str:
    if x is None:
        return NONE
    v = x * 100.0
    return "0" if v == 0 else (f"{v:.2f}" if v < 1 else f"{v:.1f}")


def fmt_count(x: float | None) -> str:
    return NONE if x is None else f"{x:.0f}"


def queue_text(f: Figures | None) -> str:
    if f is None:
        return NONE
    if f.waiting is not None:
        return fmt_count(f.waiting)
    return fmt_count(f.in_proxy)


class InferencePane(PaneModel):
    name = "inference"
    title = "Inference"
    default_sort = "name"
    fields = ("project", "namespace", "slo", "server", "workload", "node")
    resources = ("pods", "deployments.apps")
    own_columns = frozenset({"name"})
    columns = [
        Column("name", "WORKLOAD", 24, priority=0),
        Column("project", "PROJECT", 13, priority=3),
        Column("replicas", "REPLICAS", 9, "right", priority=1),
        Column("rps", "RPS", 7, "right", priority=0),
        Column("err", "ERR%", 6, "right", priority=0),
        Column("p50", "P50", 6, "right", priority=2),
        Column("p95", "P95", 7, "right", priority=0),
        Column("spark", "P95 TREND", SPARK, priority=3, sortable=False),
        Column("p99", "P99", 7, "right", priority=2),
        Column("ttft", "TTFT95", 7, "right", priority=2),
        Column("tps", "TOK/S", 7, "right", priority=3),
        Column("queue", "QUEUE", 6, "right", priority=1),
        Column("slo", "SLO", 13, priority=0),
        Column("gpu", "GPU/R", 6, "right", priority=3),
        Column("util", "GPU%", 5, "right", priority=2),
        Column("server", "SERVER", 16, priority=4, flex=True),
    ]

    # ------------------------------------------------------------------ data
    @property
    def snap(self) -> Any:
        return getattr(self.ctx, "serving", None) or EMPTY

    def _rows(self) -> dict[tuple[str, str, str], WorkloadRow]:
        return {k: r for k, r in self.ctx.store.workloads.rows.items()
                if r.type == INFERENCE and r.kind != "HorizontalPodAutoscaler"}

    def _replicas_of(self) -> tuple[str, str] | None:
        for name, values in self.filter.fields:
            if name == REPLICAS_FIELD and values:
                ns, _, wl = next(iter(values)).partition("/")
                return ns, wl
        return None

    def _ws(self, k: Any) -> WorkloadServing | None:
        return self.snap.workloads.get(k)

    def _value(self, k: tuple[str, str, str]) -> Any:
        w = self._ws(k)
        f = w.figures if w else None
        s = self.sort
        if s == "project":
            r = self.ctx.store.workloads.rows.get(k)
            return ((r.project if r else "") or "", k)
        if s in ("rps", "err", "p50", "p95", "p99", "ttft", "tps", "queue"):
            v: Any = None
            if f is not None:
                v = {"rps": f.rps, "err": f.error_ratio, "p50": f.p50.value if f.p50 else None,
                     "p95": f.p95.value if f.p95 else None, "p99": f.p99.value if f.p99 else None,
                     "ttft": f.ttft_p95.value if f.ttft_p95 else None, "tps": f.tokens_per_s,
                     "queue": f.waiting if f.waiting is not None else f.in_proxy}[s]
            return (num(v), k)
        if s == "slo":
            order = {BREACHED: 0, SLO_UNKNOWN: 1, MET: 2, None: 3}
            return (order.get(w.slo_state if w else None, 3), k)
        if s == "replicas":
            return (len(w.replicas) if w else 0, k)
        if s == "util":
            return (num(w.gpu_util_pct if w else None), k)
        if s == "gpu":
            r = self.ctx.store.workloads.rows.get(k)
            return (num(r.gpu_per_replica if r else None), k)
        if s == "server":
            return ((f.server if f else "") or "", k)
        return (k[2], k[0])

    def _matches(self, key: Key) -> bool:
        if isinstance(key, tuple) and key and key[0] == "replica":
            return True
        r = self.ctx.store.workloads.rows.get(key)  # type: ignore[arg-type]
        return r is not None and self._row_matches(key, r)  # type: ignore[arg-type]

    def _row_matches(self, k: tuple[str, str, str], r: WorkloadRow) -> bool:
        f = self.filter
        w = self._ws(k)
        server = (w.figures.server if w and w.figures else "") or ""
        nodes = [x.node for x in w.replicas] if w else []
        slo = (w.slo_state if w else None) or "none"
        return f.matches(f"{r.namespace}/{r.name} {r.project or ''} {server} {slo}", None,
                         {"project": r.project or "", "namespace": r.namespace, "slo": slo, "server": server,
                          "workload": r.name, "node": nodes, REPLICAS_FIELD: f"{r.namespace}/{r.name}"})

    def _order(self) -> list[Key]:
        target = self._replicas_of()
        if target is not None:
            return self._replica_keys(target)
        rows = self._rows()
        keys = [k for k, r in rows.items() if not self.filter or self._row_matches(k, r)]
        return sorted_by(keys, self._value, self.reverse)  # type: ignore[return-value]

    def _workload_key(self, ns: str, name: str) -> tuple[str, str, str] | None:
        return next((k for k in self._rows() if k[0] == ns and k[2] == name), None)

    def _replica_keys(self, target: tuple[str, str]) -> list[Key]:
        k = self._workload_key(*target)
        w = self._ws(k) if k else None
        if w is None:
            return []
        reps = list(w.replicas)

        def val(x: ReplicaServing) -> Any:
            f = x.figures
            if self.sort == "rps":
                return (num(f.rps if f else None), x.pod)
            if self.sort in ("p95", "slo"):
                return (num(f.p95.value if f and f.p95 else None), x.pod)
            if self.sort == "util":
                return (num(x.gpu_util_pct), x.pod)
            return (x.pod,)
        reps = sorted_by(reps, val, self.reverse)
        return [("replica", x.namespace, x.pod, k) for x in reps]

    def absorb(self, upserts: Any, removed: Any) -> tuple[set[Key], bool]:
        changed, reorder = super().absorb(upserts, removed)
        if self._replicas_of() is not None:
            reorder = True
        return changed, reorder

    def refresh_all(self) -> set[Key]:
        """Every row this pane shows, for a new serving snapshot."""
        return set(self._present)

    # ------------------------------------------------------------------ cells
    def _replica(self, key: tuple) -> ReplicaServing | None:
        w = self._ws(key[3])
        if w is None:
            return None
        return next((x for x in w.replicas if x.pod == key[2]), None)

    def own(self, key: Key) -> frozenset[str]:
        if isinstance(key, tuple) and key and key[0] == "replica":
            return frozenset(c.key for c in self.columns)   # a replica's figures are its own scrape's
        return frozenset(c.key for c in self.columns)       # serving figures do not wait for the lists

    def _slo_cell(self, w: WorkloadServing | None) -> Text:
        p = self.ctx.palette
        if w is None or w.slo is None:
            return Text("", p.muted)
        t = w.slo
        target = " ".join(x for x in (f"p95<{t.p95_ms:g}ms" if t.p95_ms is not None else "",
                                      f"err<{t.error_ratio * 100:g}%" if t.error_ratio is not None else "") if x)
        if w.slo_state == BREACHED:
            return Text(f"⚠ {target}", p.bad)
        if w.slo_state == MET:
            return Text(f"✓ {target}", p.ok)
        return Text(f"? {target}", p.muted)

    def _figure_cells(self, f: Figures | None, style: Style) -> list[Text | str]:
        p = self.ctx.palette
        if f is None:
            return [Text(NONE, p.muted)] * 8
        kind = f.latency_kind
        lat_style = p.muted if kind == LATENCY_SUMMARY else style
        if kind == LATENCY_AVG and f.avg_s is not None:
            lat = [Text(NONE, p.muted), Text(f"~{f.avg_s * 1000:.0f}", p.muted), Text(NONE, p.muted)]
        else:
            lat = [Text(fmt_ms(f.p50), lat_style), Text(fmt_ms(f.p95), lat_style), Text(fmt_ms(f.p99), lat_style)]
        err = Text(fmt_pct(f.error_ratio), p.bad if f.error_ratio else p.muted)
        return [Text(fmt_rate(f.rps)), err, lat[0], lat[1], lat[2],
                Text(fmt_ms(f.ttft_p95) if f.llm else "", p.muted if f.ttft_p95 is None else Style()),
                Text(fmt_rate(f.tokens_per_s) if f.llm else "", Style()),
                Text(queue_text(f), p.warn if (f.waiting or 0) > 0 else Style())]

    def cells(self, key: Key) -> list[Text | str]:
        if isinstance(key, tuple) and key and key[0] == "replica":
            return self._replica_cells(key)
        p = self.ctx.palette
        r = self.ctx.store.workloads.rows.get(key)  # type: ignore[arg-type]
        if r is None:
            return [Text(str(key), p.muted)]
        w = self._ws(key)
        f = w.figures if w else None
        name = Text(r.name, p.bold)
        if w is not None and w.breached:
            name.append(" ⚠", p.bad)
        a = r.autoscaling
        reps = f"{r.replicas_ready}/{'?' if (a.desired if a else r.replicas_desired) is None else (a.desired if a else r.replicas_desired)}"
        replicas = Text(reps)
        if a is not None:
            replicas.append(f" {a.min if a.min is not None else '?'}–{a.max if a.max is not None else '∞'}", p.muted)
        hist = [h.p95_s * 1000 if h.p95_s is not None else None for h in (w.history if w else ())]
        hi = max([x for x in hist if x is not None] + [w.slo.p95_ms if w and w.slo and w.slo.p95_ms else 0.0, 1.0])
        spark = Text(sparkline(hist, SPARK, 0.0, hi), p.bad if w is not None and w.breached else p.info)
        figs = self._figure_cells(f, p.bad if w is not None and w.breached else Style())
        if w is not None and f is not None and w.reporting < len(w.replicas):
            figs[0] = Text(figs[0].plain + "*", p.warn) if isinstance(figs[0], Text) else figs[0]
        util = w.gpu_util_pct if w else None
        return [name, r.project or "-", replicas, figs[0], figs[1], figs[2], figs[3], spark, figs[4], figs[5],
                figs[6], figs[7], self._slo_cell(w), fmt_gpu(r.gpu_per_replica) if r.gpu_per_replica else
                (r.gpu_request or "-"), Text(NONE if util is None else f"{util:.0f}", p.muted if util is None else
                                             Style()), Text((f.server if f else "") or "", p.muted)]

    def _replica_cells(self, key: tuple) -> list[Text | str]:
        p = self.ctx.palette
        x = self._replica(key)
        if x is None:
            return [Text(f"└ {key[2]} (gone)", p.muted)]
        f = x.figures
        name = Text("└ ", p.muted)
        name.append(x.pod)
        if not x.ready:
            name.append(" not ready", p.warn)
        seat = x.gpus[0] if x.gpus else None
        where = Text(x.node)
        if seat is not None:
            where.append(f" #{seat.index if seat.index is not None else '?'}", p.muted)
        share = Text("")
        if seat is not None:
            share = Text(fmt_gpu(seat.share) if seat.share is not None else "?")
            if seat.others:
                share.append(f" +{len(seat.others)}", p.warn)
        figs = self._figure_cells(f, Style())
        util = x.gpu_util_pct
        busy = util is not None and util >= 90 and x.crowded
        return [name, where, share, figs[0], figs[1], figs[2], figs[3], Text(""), figs[4], figs[5], figs[6], figs[7],
                Text(x.error[:40] if x.error else "", p.bad), Text(""),
                Text(NONE if util is None else f"{util:.0f}", p.bad if busy else (p.muted if util is None else Style())),
                Text((f.server if f else "") or "", p.muted)]

    # ------------------------------------------------------------------ detail, drill, target
    def detail(self, key: Key | None) -> Text:
        if key is None:
            return Text("")
        p = self.ctx.palette
        if isinstance(key, tuple) and key and key[0] == "replica":
            return self._replica_detail(key)
        r = self.ctx.store.workloads.rows.get(key)  # type: ignore[arg-type]
        if r is None:
            return Text("")
        w = self._ws(key)
        t = Text(f"{r.kind} {r.namespace}/{r.name}", p.bold)
        if w is None:
            t.append(" · " + (self.snap.state or "serving metrics: not scraped yet"), p.muted)
            return t
        f = w.figures
        if w.slo is not None:
            t.append(f" · SLO ({w.slo.source})")
            if w.slo_state == BREACHED:
                t.append(f": breached, {w.slo_why}", p.bad)
            elif w.slo_state == SLO_UNKNOWN:
                t.append(f": unknown, {w.slo_why}", p.muted)
            else:
                t.append(": met", p.ok)
            for prob in w.slo.problems:
                t.append(f" · {prob}", p.bad)
        if f is None:
            t.append(f" · {NONE} {w.error}", p.warn)
            return t
        t.append(f" · {f.server} · {w.reporting} of {len(w.replicas)} replicas answer")
        if f.latency_kind == LATENCY_SUMMARY:
            t.append(" · latency from the server's per-replica summary", p.muted)
        elif f.latency_kind == LATENCY_AVG:
            t.append(" · latency: an average only (the server gives no percentiles)", p.muted)
        elif f.latency_from:
            t.append(f" · latency from {f.latency_from}", p.muted)
        if f.kv_cache is not None:
            t.append(f" · KV cache {f.kv_cache * 100:.0f}%")
        if f.running is not None:
            t.append(f" · {f.running:.0f} running")
        for why in f.why:
            t.append(f" · {why}", p.muted)
        return t

    def _replica_detail(self, key: tuple) -> Text:
        p = self.ctx.palette
        x = self._replica(key)
        if x is None:
            return Text("")
        t = Text(f"pod {x.namespace}/{x.pod}", p.bold)
        t.append(f" on {x.node}")
        for g in x.gpus:
            t.append(f" · GPU #{g.index if g.index is not None else '?'} "
                     f"({fmt_gpu(g.share) if g.share is not None else '?'} of it)")
            if g.util_pct is not None:
                t.append(f" {g.util_pct:.0f}% busy", p.bad if g.util_pct >= 90 else Style())
            if g.others:
                who = ", ".join(f"{n} {fmt_gpu(s) if s is not None else '?'}" for n, s in g.others)
                t.append(f", shared with {who}", p.warn)
        if x.error:
            t.append(f" · {NONE} {x.error}", p.bad)
        elif x.figures is not None:
            if x.source:
                t.append(f" · from {x.source}", p.muted)
            for why in x.figures.why:
                t.append(f" · {why}", p.muted)
        return t

    def drill(self, key: Key) -> Drill | None:
        if isinstance(key, tuple) and len(key) == 3:
            return Drill("inference", REPLICAS_FIELD, (f"{key[0]}/{key[2]}",), key[2])
        return None

    def target(self, key: Key) -> ObjRef | None:
        if isinstance(key, tuple) and key and key[0] == "replica":
            return ObjRef("", "pods", "Pod", key[1], key[2])
        r = self.ctx.store.workloads.rows.get(key)  # type: ignore[arg-type]
        if r is None:
            return None
        from console.model.records import OWNER_BY_GROUP_KIND
        ok = OWNER_BY_GROUP_KIND.get((r.api_group, r.kind))
        if ok is None:
            return None
        return ObjRef(ok.group, ok.key.split(".", 1)[0], ok.kind, r.namespace, r.name)

    def log_pod(self, key: Key) -> tuple[str, str] | None:
        if isinstance(key, tuple) and key and key[0] == "replica":
            return (key[1], key[2])
        w = self._ws(key)
        return (w.replicas[0].namespace, w.replicas[0].pod) if w and w.replicas else None

    def summary(self) -> str:
        s = self.snap
        if s.taken_at is None:
            return s.state or "serving metrics: waiting for the first scrape"
        n = len(s.workloads)
        slos = sum(1 for w in s.workloads.values() if w.slo is not None)
        return (f"{n} inference workloads · {slos} with an SLO · {s.breaches} breached · window "
                f"{s.window_s:g}s · — not given or no answer (see the line below)")
