"""GPUs: each node, then its GPUs, each a bar split into its holders' shares, with telemetry columns.

A GPU is labelled with its device index (`#3`, as nvidia-smi, DCGM and the device plugin number it) once a
source names it: dcgm-exporter's `gpu` label, NVML on this host, or the API; `#?` until then. Within a
node, GPUs are listed in device index order. HEALTH says what dcgm-exporter (or NVML, for this host)
reports as wrong: `XID 48`, `thermal`, `power cap`, `ECC`…, or ✓. When the console runs on a node of the
cluster, that node is marked ⌂ and each holder shows the GPU memory NVML counts for its processes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.style import Style
from rich.text import Text

from console.model.records import RESERVATION_NAMESPACES
from console.model.views_gpus import GpuRow
from widgets.bars import fmt_gpu, share_bar
from widgets.glyphs import current as G
from widgets.sparkline import sparkline
from widgets.vtable import Column

from .base import (
    SPARK_WIDTH, UNKNOWN, Drill, Key, ObjRef, PaneModel, fmt_duration, fmt_mem,
    sorted_by, terminating_text,
)


class GpusPane(PaneModel):
    name = "gpus"
    title = "GPUs"
    default_sort = "name"
    fields = ("node", "model", "project", "workload", "namespace")
    resources = ("nodes", "pods")
    own_columns = frozenset({"name", "model"})   # a node's line: its name, state and GPU product
    columns = [
        Column("name", "NODE / GPU", 26, priority=0),
        Column("model", "MODEL", 22, priority=4),
        Column("bar", "SHARES", 20, priority=0, sortable=False),
        Column("free", "FREE", 6, "right", priority=0),
        Column("util", "UTIL", 5, "right", priority=0, sortable=False),
        Column("spark", "UTIL HISTORY", SPARK_WIDTH, priority=1, sortable=False),
        Column("mem", "MEM GiB", 10, "right", priority=1, sortable=False),
        Column("temp", "TEMP", 5, "right", priority=3, sortable=False),
        Column("power", "POWER", 5, "right", priority=3, sortable=False),
        Column("health", "HEALTH", 11, priority=1, sortable=False),
        Column("holders", "HOLDERS", 20, priority=1, flex=True, sortable=False),
    ]

    def __init__(self, ctx: Any) -> None:
        super().__init__(ctx)
        self._placed: dict[Key, int | None] = {}   # device index each GPU row was ordered by

    def own(self, key: Key) -> frozenset[str]:
        return self.own_columns if key[0] == "node" else frozenset({"name"})  # type: ignore[index]

    def _node_names(self) -> list[str]:
        return list(self.ctx.store.gpus.count)

    def _node_value(self, n: str) -> Any:
        nr = self.ctx.store.nodes_view.rows.get(n)
        if self.sort == "model":
            return ((nr.gpu_product if nr else None) or "", n)
        if self.sort == "free":
            return (nr.gpu_free if nr and nr.gpu_free is not None else -1, n)
        return n

    def _gpu_fields(self, g: GpuRow) -> tuple[str, dict[str, Any], dict[str, str]]:
        pods = self.ctx.store.pods
        projects: list[str] = []
        labels: dict[str, str] = {}
        for h in g.holders:
            pr = pods.get((h.namespace, h.pod))
            if pr is not None:
                if pr.queue:
                    projects.append(pr.queue)
                if self.filter.needs_labels:
                    labels.update(pr.labels)
        text = " ".join([g.node, g.model or "", g.uuid or ""] + [f"{h.namespace}/{h.pod} {h.workload or ''}"
                                                                   for h in g.holders])
        return text, {"node": g.node, "model": g.model or "", "project": projects,
                      "workload": [h.workload or h.pod for h in g.holders],
                      "namespace": [h.namespace for h in g.holders]}, labels

    def _gpu_matches(self, g: GpuRow) -> bool:
        text, fields, labels = self._gpu_fields(g)
        return self.filter.matches(text, labels, fields)

    def _matches(self, key: Key) -> bool:
        k = key  # type: ignore[assignment]
        if k[0] == "gpu":  # type: ignore[index]
            g = self.ctx.store.gpus.rows.get((k[1], k[2]))  # type: ignore[index]
            return g is not None and self._gpu_matches(g)
        n = k[1]  # type: ignore[index]
        return any(self._matches(("gpu", n, i)) for i in range(self.ctx.store.gpus.count.get(n, 0)))

    def _order(self) -> list[Key]:
        out: list[Key] = []
        rows = self.ctx.store.gpus.rows
        count = self.ctx.store.gpus.count
        placed: dict[Key, int | None] = {}
        feed = self.ctx.telemetry
        tels = feed.view.rows if feed is not None else {}
        local = self._local()
        by_row = local.by_row if local is not None else {}
        for n in sorted_by(self._node_names(), self._node_value, self.reverse):
            c = count.get(n, 0)
            slots = [i for i in range(c) if (n, i) in rows]
            if self.filter:
                slots = [i for i in slots if self._gpu_matches(rows[(n, i)])]
                if not slots:
                    continue
            for i in slots:
                placed[("gpu", n, i)] = self.device_index(rows[(n, i)], tels.get((n, i)), by_row.get((n, i)))
            slots.sort(key=lambda i: (placed[("gpu", n, i)] is None, placed[("gpu", n, i)] or 0, i))
            out.append(("node", n))
            out.extend(("gpu", n, i) for i in slots)
        self._placed = placed
        return out

    def absorb(self, upserts: Iterable[Key], removed: Iterable[Key]) -> tuple[set[Key], bool]:
        """As the base, and reorder when a source names a GPU's device index for the first time or anew."""
        ups = set(upserts)
        changed, reorder = super().absorb(ups, removed)
        if not reorder:
            rows = self.ctx.store.gpus.rows
            for k in ups:
                if k[0] == "gpu" and k in self._placed:  # type: ignore[index]
                    g = rows.get((k[1], k[2]))  # type: ignore[index]
                    if g is not None and self.device_index(g) != self._placed[k]:
                        reorder = True
                        break
        return changed, reorder

    def device_index(self, g: GpuRow, tel: Any = False, lg: Any = False) -> int | None:
        """The GPU's device index: from its telemetry sample, the API, or NVML on this host; None if unknown.
        `tel`/`lg`: the row's telemetry and local GPU when the caller has them already."""
        if tel is False:
            tel = self._tel(g.key)
        if tel is not None and tel.index is not None:
            return tel.index
        if g.index is not None:
            return g.index
        if lg is False:
            lg = self._local_gpu(g)
        return lg.index if lg is not None else None

    # --- this host (NVML), when the console runs on a node of the cluster
    def _local(self) -> Any:
        feed = self.ctx.local
        view = feed.view if feed is not None else None
        return view if view is not None and view.node else None

    def _local_gpu(self, g: GpuRow) -> Any:
        view = self._local()
        return view.by_row.get(g.key) if view is not None and view.node == g.node else None

    def absorb_views_keys(self, gpu_ups: Iterable[Any], gpu_rem: Iterable[Any], node_ups: Iterable[str],
                          node_rem: Iterable[str]) -> tuple[set[Key], set[Key]]:
        """The pane's keys for a drain's GPU and node changes (a node's header shows both)."""
        ups: set[Key] = {("gpu", n, i) for n, i in gpu_ups}
        rem: set[Key] = {("gpu", n, i) for n, i in gpu_rem}
        nodes = {n for n, _ in gpu_ups} | {n for n, _ in gpu_rem} | set(node_ups)
        ups |= {("node", n) for n in nodes}
        rem |= {("node", n) for n in node_rem}
        return ups, rem

    @property
    def ages(self) -> bool:  # type: ignore[override]
        """While pods being deleted hold GPUs, rows re-render so their terminating time moves on."""
        return bool(self.ctx.store.gpus.terminating)

    def _holder_text(self, g: GpuRow, limit: int = 4, lg: Any = None) -> Text:
        """Holders grouped by workload ("reranker 3×0.25"), each with its bar colour; `⌛` before the
        pods being deleted (their share stays held until they are gone); on this host, with the GPU memory
        NVML counts for the group's processes ("reranker 3×0.25 18.2G")."""
        p = self.ctx.palette
        groups: dict[tuple[str, str, bool], list[float | None]] = {}
        pods: dict[tuple[str, str], set[tuple[str, str]]] = {}
        for h in g.holders:
            groups.setdefault((h.namespace, h.workload or h.pod, h.terminating), []).append(h.share)
            pods.setdefault((h.namespace, h.workload or h.pod), set()).add((h.namespace, h.pod))
        fills = _fill_index(g)
        t = Text()
        for i, ((ns, who, going), shares) in enumerate(list(groups.items())[:limit]):
            if i:
                t.append("  ")
            t.append(G().holder_mark(fills[(ns, who)]) + " ", p.holder(f"{ns}/{who}"))
            if going:
                t.append(G().terminating, p.warn)
            one = fmt_gpu(shares[0]) if shares[0] is not None else "?"
            same = all(x == shares[0] for x in shares)
            amount = (f"{len(shares)}×{one}" if len(shares) > 1 else one) if same else \
                "+".join(fmt_gpu(x) if x is not None else "?" for x in shares)
            t.append(f"{who} {amount}")
            if lg is not None:
                mine = [pr.used_mib for pr in lg.procs if (pr.namespace, pr.pod) in pods[(ns, who)]]
                known = [m for m in mine if m is not None]
                t.append(f" {sum(known) / 1024:.1f}G" if known else (" ?G" if mine else " 0G"), p.info)
        if len(groups) > limit:
            t.append(f"  +{len(groups) - limit}", p.muted)
        return t

    def cells(self, key: Key) -> list[Text | str]:
        p = self.ctx.palette
        k = key  # type: ignore[assignment]
        if k[0] == "node":  # type: ignore[index]
            n = k[1]  # type: ignore[index]
            nr = self.ctx.store.nodes_view.rows.get(n)
            name = Text(f"{G().expanded} ", p.muted)
            name.append(n, p.bold)
            local = self._local()
            if local is not None and local.node == n:
                name.append(f" {G().local}", p.info)
            if nr is not None and nr.cordoned:
                name.append(" cordoned", p.warn)
            if nr is not None and nr.ready is False:
                name.append(" NotReady", p.bad)
            cap = nr.gpu_capacity if nr else None
            alloc = nr.gpu_allocated if nr else 0
            share = [(alloc / cap if cap else 0.0, p.info)]
            bar = share_bar(share, 20, p.free) if cap else Text("")
            free = Text(f"{nr.gpu_free}/{cap}" if nr and cap is not None else "-", p.bold)
            shared = f"{nr.gpu_shared} shared" if nr and nr.gpu_shared else ""
            return [name, Text(nr.gpu_product or "-" if nr else "-", p.muted), bar, free,
                    *self._node_telemetry(n), Text(shared, p.muted)]
        g = self.ctx.store.gpus.rows.get((k[1], k[2]))  # type: ignore[index]
        if g is None:
            return [""] * len(self.columns)
        if not self.figures_known():  # which device a row is and who holds it come from the pods
            return [Text("  #?", p.muted)] + [""] * (len(self.columns) - 1)
        tel = self._tel(g.key)
        lg = self._local_gpu(g)
        label = Text(G().idle if tel is not None and tel.idle else " ", p.warn)
        label.append(G().local if lg is not None else " ", p.info)
        idx = self.device_index(g, tel, lg)
        label.append(f"#{idx} " if idx is not None else "#? ", p.muted)
        label.append((g.uuid[:12] + "…") if g.uuid else ("whole" if g.use == "whole" else
                                                          ("shared" if g.use == "shared" else "free")),
                     p.muted if not g.uuid else Style())
        fills = _fill_index(g)  # where colour cannot tell holders apart, each its own fill (glyphs.py)
        shares = [(h.share, p.holder(f"{h.namespace}/{h.workload or h.pod}"),
                   G().releasing if h.terminating else G().fill(fills[(h.namespace, h.workload or h.pod)]))
                  for h in g.holders]
        if g.use == "whole" and len(g.holders) == 1:
            shares = [(1.0, *shares[0][1:])]
        bar = share_bar(shares, 20, p.free, p.warn)
        free = Text(fmt_gpu(g.free_share) if g.free_share is not None else "?",
                    p.warn if g.fragmented else (p.ok if g.free_share == 1.0 else Style()))
        if g.fragmented:
            free.append(G().warn, p.warn)
        model = Text("MIG" if g.mig else "", p.muted)
        return [label, model, bar, free, *self._gpu_telemetry(g, tel, lg), self._holder_text(g, lg=lg)]

    # --- telemetry columns: UTIL, UTIL HISTORY, MEM, TEMP, POWER, HEALTH
    def _tel(self, key: tuple[str, int]) -> Any:
        feed = self.ctx.telemetry
        return feed.view.rows.get(key) if feed is not None else None

    def _problems(self, g: GpuRow, tel: Any, lg: Any = False) -> list[str] | None:
        """What is wrong with the GPU (dcgm-exporter's word, else NVML's on this host); None: nobody says."""
        if tel is not None and (tel.health is not None or tel.lost):
            return tel.problems
        if lg is False:
            lg = self._local_gpu(g)
        if lg is not None and (lg.health is not None or lg.lost):
            return lg.problems
        return None

    def _health_cell(self, problems: list[str] | None) -> Text:
        p = self.ctx.palette
        if problems is None:
            return Text("")
        if not problems:
            return Text(G().ok, p.ok)
        bad = problems[0] == "lost" or problems[0].startswith(("XID", "row remap", "ECC"))
        text = problems[0] + (f" +{len(problems) - 1}" if len(problems) > 1 else "")
        return Text(text, p.bad if bad else p.warn)

    def _gpu_telemetry(self, g: GpuRow, tel: Any, lg: Any = False) -> list[Text | str]:
        p = self.ctx.palette
        health = self._health_cell(self._problems(g, tel, lg))
        if tel is None:
            return ["", "", Text(fmt_mem(None, g.memory_mib), p.muted) if g.memory_mib else "", "", "", health]
        if tel.lost:
            return [Text("lost", p.bad), "", "", "", "", health]
        if tel.util_pct is None:
            util = Text("?", p.bad if tel.error else p.muted)
        else:
            util = Text(f"{tel.util_pct:.0f}%", p.warn + Style(bold=True) if tel.idle else Style())
        series = self.ctx.telemetry.view.history.series(tel.sample_key) if tel.sample_key else []
        spark = Text(sparkline(series, SPARK_WIDTH), p.warn if tel.idle else p.info)
        total = tel.mem_total_mib if tel.mem_total_mib is not None else g.memory_mib
        mem = Text(fmt_mem(tel.mem_used_mib, total), Style() if tel.mem_used_mib is not None else p.muted)
        temp = "" if tel.temp_c is None else f"{tel.temp_c:.0f}{G().degree}C"
        power = "" if tel.power_w is None else f"{tel.power_w:.0f}W"
        return [util, spark, mem, temp, power, health]

    def _node_health(self, n: str) -> Text:
        """How many of the node's GPUs have something wrong (`⚠2`), ✓ when none, blank when nobody says."""
        p = self.ctx.palette
        rows = self.ctx.store.gpus.rows
        feed = self.ctx.telemetry
        local = self._local()
        if feed is None and (local is None or local.node != n):
            return Text("")
        tels = feed.view.rows if feed is not None else {}
        by_row = local.by_row if local is not None and local.node == n else {}
        said = bad = 0
        for i in range(self.ctx.store.gpus.count.get(n, 0)):
            g = rows.get((n, i))
            problems = self._problems(g, tels.get((n, i)), by_row.get((n, i))) if g is not None else None
            if problems is not None:
                said += 1
                bad += bool(problems)
        if not said:
            return Text("")
        return Text(f"{G().warn}{bad} GPU{'s' if bad > 1 else ''}", p.warn) if bad else Text(G().ok, p.ok)

    def _node_telemetry(self, n: str) -> list[Text | str]:
        """A node's line: mean utilisation and memory summed over its GPUs, or why it has none."""
        p = self.ctx.palette
        feed = self.ctx.telemetry
        if feed is None or feed.snapshot is None:
            return ["", "", "", "", "", self._node_health(n)]
        ng = feed.snapshot.nodes.get(n)
        if ng is not None and ng.error:
            return [Text("ERR", p.bad), Text("no data", p.bad), "", "", "", self._node_health(n)]
        rows = [t for i in range(self.ctx.store.gpus.count.get(n, 0)) if (t := feed.view.rows.get((n, i)))]
        utils = [t.util_pct for t in rows if t.util_pct is not None]
        used = [t.mem_used_mib for t in rows if t.mem_used_mib is not None]
        total = [t.mem_total_mib for t in rows if t.mem_total_mib is not None]
        power = [t.power_w for t in rows if t.power_w is not None]
        idle = sum(1 for t in rows if t.idle)
        return [Text(f"{sum(utils) / len(utils):.0f}%" if utils else "-", p.muted),
                Text(f"{G().idle}{idle} idle" if idle else "", p.warn),
                Text(fmt_mem(sum(used) if used else None, sum(total) if total else None), p.muted),
                "", Text(f"{sum(power):.0f}W" if power else "", p.muted), self._node_health(n)]

    def idle_keys(self) -> list[Key]:
        """The pane's keys of idle-allocated GPUs, longest idle first (the `i` key's jump list)."""
        feed = self.ctx.telemetry
        if feed is None:
            return []
        return [("gpu", t.key[0], t.key[1]) for t in feed.view.idle_rows()]

    def idle_workload(self, key: Key) -> tuple[str, str] | None:
        """(namespace, workload name) holding an idle-allocated GPU row; None when the row is not idle."""
        k = key  # type: ignore[assignment]
        if not isinstance(k, tuple) or k[0] != "gpu":  # type: ignore[index]
            return None
        tel = self._tel((k[1], k[2]))  # type: ignore[index]
        g = self.ctx.store.gpus.rows.get((k[1], k[2]))  # type: ignore[index]
        if tel is None or not tel.idle or g is None or not g.holders:
            return None
        h = g.holders[0]
        return (h.namespace, h.workload or h.pod)

    def detail(self, key: Key | None) -> Text:
        if key is None:
            return Text("")
        p = self.ctx.palette
        k = key  # type: ignore[assignment]
        if k[0] == "node":  # type: ignore[index]
            nr = self.ctx.store.nodes_view.rows.get(k[1])  # type: ignore[index]
            if nr is None:
                return Text(str(k[1]))  # type: ignore[index]
            return Text(f"node {nr.name} · {nr.gpu_product or '?'} · {nr.gpu_allocated}/{nr.gpu_capacity} GPUs "
                        f"allocated, {nr.gpu_shared} shared by fractions · {nr.pods} pods · enter: only this node")
        g = self.ctx.store.gpus.rows.get((k[1], k[2]))  # type: ignore[index]
        if g is None:
            return Text("")
        t = Text()
        idx = self.device_index(g)
        t.append(f"{g.node} #{idx if idx is not None else '?'} ", p.bold)
        t.append(g.uuid or "device not reported by the API", Style() if g.uuid else p.muted)
        if g.memory_mib:
            t.append(f" · {g.memory_mib} MiB")
        fills = _fill_index(g)
        for h in g.holders:
            t.append(" · ")
            t.append(G().holder_mark(fills[(h.namespace, h.workload or h.pod)]) + " ",
                     p.holder(f"{h.namespace}/{h.workload or h.pod}"))
            pr = self.ctx.store.pods.get((h.namespace, h.pod))
            proj = f" [{pr.queue}]" if pr is not None and pr.queue else ""
            t.append(f"{h.namespace}/{h.pod}{proj} {fmt_gpu(h.share) if h.share is not None else '?'}")
            if h.terminating:
                t.append(f" {terminating_text(h.terminating_since, self.ctx.now())}, held until it is gone", p.warn)
        t.append(f" · free {fmt_gpu(g.free_share) if g.free_share is not None else '?'}")
        if g.fragmented:
            t.append(" · fragmented: no waiting request fits this sliver", p.warn)
        tel = self._tel(g.key)
        problems = self._problems(g, tel)
        if problems:
            t.append(" · " + ", ".join(problems), p.bad)
        if tel is not None and tel.sm_clock_mhz is not None:
            t.append(f" · SM {tel.sm_clock_mhz:.0f} MHz", p.muted)
        if self._local_gpu(g) is not None:
            t.append(" · this host · 6: its processes on the Local pane", p.info)
        if tel is not None:
            if tel.idle:
                feed = self.ctx.telemetry
                t.append(f" · {G().idle} idle-allocated for {fmt_duration(tel.idle_for_s)} (under "
                         f"{feed.policy.threshold_pct:g}% utilisation) · i: its workload", p.warn)
            if tel.error:
                t.append(f" · telemetry: {tel.error}", p.bad)
            elif tel.power_limit_w:
                t.append(f" · power limit {tel.power_limit_w:.0f}W", p.muted)
        t.append(" · t: history", p.muted)
        return t

    def drill(self, key: Key) -> Drill | None:
        k = key  # type: ignore[assignment]
        if k[0] == "node":  # type: ignore[index]
            return Drill("gpus", "node", (k[1],), k[1])  # type: ignore[index]
        g = self.ctx.store.gpus.rows.get((k[1], k[2]))  # type: ignore[index]
        if g is None or not g.holders:
            return None
        idx = self.device_index(g)
        return Drill("workloads", "workload", tuple(sorted({h.workload or h.pod for h in g.holders})),
                     f"{g.node}#{idx if idx is not None else '?'}")

    def target(self, key: Key) -> ObjRef | None:
        k = key  # type: ignore[assignment]
        if k[0] == "node":  # type: ignore[index]
            return ObjRef("", "nodes", "Node", None, k[1])  # type: ignore[index]
        g = self.ctx.store.gpus.rows.get((k[1], k[2]))  # type: ignore[index]
        if g is None:
            return None
        if g.reservation_pod:
            for ns in sorted(RESERVATION_NAMESPACES):  # single records by key: no walk of the pod index
                if self.ctx.store.pods.get((ns, g.reservation_pod)) is not None:
                    return ObjRef("", "pods", "Pod", ns, g.reservation_pod)
        if g.holders:
            return ObjRef("", "pods", "Pod", g.holders[0].namespace, g.holders[0].pod)
        return ObjRef("", "nodes", "Node", None, g.node)

    def log_pod(self, key: Key) -> tuple[str, str] | None:
        k = key  # type: ignore[assignment]
        if k[0] != "gpu":  # type: ignore[index]
            return None
        g = self.ctx.store.gpus.rows.get((k[1], k[2]))  # type: ignore[index]
        return (g.holders[0].namespace, g.holders[0].pod) if g and g.holders else None

    def summary(self) -> str:
        if not self.figures_known():
            return f"{UNKNOWN} GPUs · {UNKNOWN} allocated · {UNKNOWN} in use · {UNKNOWN} free"
        s = self.ctx.store.gpus.summary()
        text = (f"{s['gpus']} GPUs · {fmt_gpu(s['allocated_share'])} allocated · {s['in_use']} in use · "
                f"{fmt_gpu(s['free_share'])} free ({fmt_gpu(s['sliver_share'])} in slivers)")
        if s["fragmented_share"]:
            text += f" · {fmt_gpu(s['fragmented_share'])} stranded in slivers no waiting request fits"
        if s["terminating_share"]:
            text += f" · {G().terminating} {fmt_gpu(s['terminating_share'])} held by pods being deleted"
        return text


def _fill_index(g: GpuRow) -> dict[tuple[str, str], int]:
    """Each holder (namespace, workload) of a GPU numbered in the order it holds: its fill in the bar and its mark
    before its name are the same glyph, so the two read together even without colour."""
    out: dict[tuple[str, str], int] = {}
    for h in g.holders:
        out.setdefault((h.namespace, h.workload or h.pod), len(out))
    return out
