"""What each pane shows: its columns, row order (trees and groups), cells, filter fields and drill targets.

A pane model reads the cluster model's view rows directly (they are already keyed and current after a
drain) and turns them into cells; the table widget only asks for the rows it draws. Orders are rebuilt
only when the set of rows or their sort values may have changed, so a flush that only changes values
re-renders the changed visible rows and nothing else.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any

from rich.style import Style
from rich.text import Text

from console.model.cluster_store import ClusterStore
from console.model.events import EventBuffer, EventRow, parse_time
from console.model.records import OWNER_BY_GROUP_KIND, RESERVATION_NAMESPACES, PodRec
from console.model.views_gpus import GpuRow, summary
from console.model.views_workloads import PENDING, RUNNING, WorkloadRow, request_text
from console.ui.filter import Filter
from widgets.bars import fmt_gpu, quota_bar, share_bar
from widgets.palette import Palette
from widgets.sparkline import sparkline
from widgets.vtable import Column

Key = Hashable


@dataclass(frozen=True)
class ObjRef:
    """An API object a row stands for (describe, YAML, events)."""

    group: str
    plural: str
    kind: str
    namespace: str | None
    name: str

    @property
    def label(self) -> str:
        return f"{self.kind} {self.namespace + '/' if self.namespace else ''}{self.name}"


@dataclass(frozen=True)
class Drill:
    """Where `enter` goes: a view with a field filter, and the breadcrumb for it."""

    view: str
    field: str
    values: tuple[str, ...]
    crumb: str


@dataclass
class PaneContext:
    store: ClusterStore
    events: EventBuffer
    palette: Palette = field(default_factory=Palette)
    now: Callable[[], float] = time.time
    lock: Any = field(default_factory=threading.RLock)   # the session's: the UI only tries it (see session.py)
    telemetry: Any = None                                # the session's TelemetryFeed, once it samples


IDLE_MARK = "◌"
SPARK_WIDTH = 12


def idle_text(n: int, style: Style) -> Text:
    """The marker a workload or project gets for its idle-allocated GPUs."""
    return Text(f" {IDLE_MARK}{n} idle", style) if n else Text("")


def fmt_mem(used: float | None, total: float | None) -> str:
    """Memory in GiB as used/total; '-' parts when unknown."""
    u = "-" if used is None else f"{used / 1024:.1f}"
    t = "-" if total is None else f"{total / 1024:.0f}"
    return f"{u}/{t}"


def fmt_duration(s: float | None) -> str:
    if s is None:
        return "-"
    s = int(s)
    return f"{s}s" if s < 120 else (f"{s // 60}m" if s < 7200 else f"{s // 3600}h")


def age(ts: float | None, now: float) -> str:
    """k9s-style ages: 42s, 5m, 3h, 2d; '-' when unknown (kubectl prints <unknown>)."""
    if ts is None:
        return "-"
    s = max(0, int(now - ts))
    if s < 120:
        return f"{s}s"
    if s < 7200:
        return f"{s // 60}m"
    if s < 172800:
        return f"{s // 3600}h"
    return f"{s // 86400}d"


@functools.lru_cache(maxsize=65536)
def _created(ts: str) -> float | None:
    return parse_time(ts)


POD_REF = ("", "pods", "Pod")


class PaneModel:
    name = ""
    ages = False                              # rows show ages, so rendered rows go stale with time
    title = ""
    columns: list[Column] = []
    fields: tuple[str, ...] = ()
    default_sort = "name"
    resources: tuple[str, ...] = ()          # model resources this pane is built from (for health)

    def __init__(self, ctx: PaneContext) -> None:
        self.ctx = ctx
        self.filter = Filter()
        self.sort = self.default_sort
        self.reverse = False
        self._present: set[Key] = set()

    # --- order
    def order(self) -> list[Key]:
        keys = self._order()
        self._present = set(keys)
        return keys

    def _order(self) -> list[Key]:
        raise NotImplementedError

    def absorb(self, upserts: Iterable[Key], removed: Iterable[Key]) -> tuple[set[Key], bool]:
        """Keys whose rendering changed and whether the row order must be rebuilt."""
        ups = set(upserts)
        rem = set(removed)
        reorder = bool(rem & self._present) or any(k not in self._present for k in ups)
        if not reorder and ups and self.sort != self.default_sort:
            reorder = True
        if not reorder and self.filter:
            reorder = any(self._matches(k) != (k in self._present) for k in ups)
        return ups | rem, reorder

    def _matches(self, key: Key) -> bool:
        return True

    # --- rows
    def cells(self, key: Key) -> list[Text | str]:
        raise NotImplementedError

    def detail(self, key: Key | None) -> Text:
        return Text("")

    def drill(self, key: Key) -> Drill | None:
        return None

    def target(self, key: Key) -> ObjRef | None:
        return None

    def log_pod(self, key: Key) -> tuple[str, str] | None:
        return None

    def summary(self) -> str:
        return ""

    def sortable(self) -> list[str]:
        return [c.key for c in self.columns if c.sortable]

    def cycle_sort(self) -> str:
        keys = self.sortable()
        i = keys.index(self.sort) if self.sort in keys else -1
        self.sort = keys[(i + 1) % len(keys)]
        self.reverse = False
        return self.sort


def _sorted(items: list[Any], key: Callable[[Any], Any], reverse: bool) -> list[Any]:
    try:
        return sorted(items, key=key, reverse=reverse)
    except TypeError:  # mixed None and numbers: sort the Nones last
        return sorted(items, key=lambda x: (key(x) is None, key(x) or 0), reverse=reverse)


def _num(x: float | int | None) -> float:
    return float("-inf") if x is None else float(x)


# ---------------------------------------------------------------------------------------------- projects
class ProjectsPane(PaneModel):
    name = "projects"
    title = "Projects"
    default_sort = "name"
    fields = ("project", "department")
    resources = ("queues.scheduling.run.ai", "pods")
    columns = [
        Column("name", "PROJECT", 24, priority=0),
        Column("bar", "ALLOCATED vs QUOTA", 22, priority=1, sortable=False),
        Column("allocated", "ALLOC", 6, "right", priority=0),
        Column("quota", "QUOTA", 6, "right", priority=0),
        Column("over", "OVER", 5, "right", priority=3),
        Column("limit", "LIMIT", 6, "right", priority=2),
        Column("weight", "WEIGHT", 6, "right", priority=4),
        Column("requested", "REQ", 6, "right", priority=2),
        Column("nonpre", "NON-PRE", 7, "right", priority=5),
        Column("pending", "PENDING", 7, "right", priority=1),
        Column("workloads", "WORKLOADS", 9, "right", priority=5),
    ]

    def _value(self, name: str) -> Any:
        r = self.ctx.store.projects.rows[name]
        return {"name": name, "allocated": r.allocated_gpu, "quota": _num(r.quota_gpu),
                "over": max(0.0, r.allocated_gpu - max(0.0, r.quota_gpu or 0.0)),
                "limit": _num(r.limit_gpu), "weight": _num(r.over_quota_weight), "requested": r.requested_gpu,
                "nonpre": r.allocated_nonpreemptible_gpu, "pending": r.pending_workloads,
                "workloads": r.workloads}.get(self.sort, name)

    def _matches(self, name: Key) -> bool:
        r = self.ctx.store.projects.rows.get(name)  # type: ignore[arg-type]
        if r is None:
            return False
        return self.filter.matches(f"{r.name} {r.display_name or ''} {r.parent or ''}", None,
                                   {"project": r.name, "department": r.parent or r.name})

    def _order(self) -> list[Key]:
        rows = self.ctx.store.projects.rows
        keep: set[str] | None = None
        if self.filter:
            keep = set()
            for n in rows:
                if self._matches(n):
                    cur: str | None = n
                    seen: set[str] = set()
                    while cur and cur in rows and cur not in seen:  # keep the ancestors for context
                        seen.add(cur)
                        keep.add(cur)
                        cur = rows[cur].parent
        out: list[Key] = []
        seen: set[str] = set()

        def walk(name: str, depth: int) -> None:
            if name in seen or name not in rows:
                return
            seen.add(name)
            if keep is None or name in keep:
                out.append(name)
            kids = [c for c in rows[name].children if c in rows]
            for c in _sorted(kids, self._value, self.reverse):
                walk(c, depth + 1)

        roots = [n for n, r in rows.items() if r.parent is None or r.parent not in rows]
        for n in _sorted(roots, self._value, self.reverse):
            walk(n, 0)
        for n in sorted(rows):  # members of parent cycles
            walk(n, 0)
        return out

    def _depth(self, name: str) -> int:
        rows = self.ctx.store.projects.rows
        d, cur, seen = 0, rows[name].parent, {name}
        while cur and cur in rows and cur not in seen:
            seen.add(cur)
            d += 1
            cur = rows[cur].parent
        return d

    def cells(self, key: Key) -> list[Text | str]:
        p = self.ctx.palette
        r = self.ctx.store.projects.rows.get(key)  # type: ignore[arg-type]
        if r is None:   # gone since this pane was last ordered (the next flush re-orders it)
            return [""] * len(self.columns)
        depth = self._depth(r.name)
        icon = "▾ " if r.children else "• "
        name = Text("  " * depth + icon, style=p.muted)
        name.append(r.name, p.bold if r.children else Style())
        if r.queue_missing:
            name.append(" (no queue)", p.warn)
        tel = self.ctx.telemetry
        if tel is not None:
            name.append(idle_text(tel.idle_projects.get(r.name, 0), p.warn))
        quota = r.quota_gpu if r.quota_gpu is not None and r.quota_gpu >= 0 else None
        over = r.allocated_gpu - (quota or 0.0)
        bar = quota_bar(r.allocated_gpu, r.quota_gpu, r.limit_gpu, 20, ok=p.ok, over=p.over, unused=p.free,
                        limit_style=p.bad)
        alloc_style = p.warn if quota is not None and over > 1e-6 else Style()
        pending = Text(str(r.pending_workloads), p.warn if r.pending_workloads else p.muted)
        mismatch = "≠" if r.mismatch else ""
        return [name, bar, Text(fmt_gpu(r.allocated_gpu) + mismatch, alloc_style), fmt_gpu(r.quota_gpu),
                Text(fmt_gpu(max(0.0, over)) if quota is not None and over > 1e-6 else "-",
                     p.over if over > 1e-6 else p.muted),
                fmt_gpu(r.limit_gpu), fmt_gpu(r.over_quota_weight), fmt_gpu(r.requested_gpu),
                fmt_gpu(r.allocated_nonpreemptible_gpu), pending, str(r.workloads)]

    def detail(self, key: Key | None) -> Text:
        r = self.ctx.store.projects.rows.get(key) if key is not None else None  # type: ignore[arg-type]
        if r is None:
            return Text("")
        p = self.ctx.palette
        t = Text()
        t.append(("department " if r.children else "project ") + r.name, p.bold)
        if r.display_name:
            t.append(f" ({r.display_name})")
        t.append(f" · quota {fmt_gpu(r.quota_gpu)} · allocated {fmt_gpu(r.allocated_gpu)}"
                 f" (non-preemptible {fmt_gpu(r.allocated_nonpreemptible_gpu)})"
                 f" · requested {fmt_gpu(r.requested_gpu)} · limit {fmt_gpu(r.limit_gpu)}"
                 f" · weight {fmt_gpu(r.over_quota_weight)} · priority {r.priority if r.priority is not None else '-'}")
        if r.mismatch:
            t.append(f" · status and pods disagree on {', '.join(r.mismatch)}", p.warn)
        if r.conditions:
            t.append(" · " + ", ".join(r.conditions), p.warn)
        return t

    def _subtree(self, name: str) -> list[str]:
        rows = self.ctx.store.projects.rows
        out, todo, seen = [], [name], set()
        while todo:
            n = todo.pop()
            if n in seen or n not in rows:
                continue
            seen.add(n)
            out.append(n)
            todo.extend(rows[n].children)
        return out

    def drill(self, key: Key) -> Drill | None:
        if key not in self.ctx.store.projects.rows:
            return None
        return Drill("workloads", "project", tuple(sorted(self._subtree(str(key)))), str(key))

    def target(self, key: Key) -> ObjRef | None:
        r = self.ctx.store.projects.rows.get(key)  # type: ignore[arg-type]
        if r is None:
            return None
        if r.source == "queue":
            return ObjRef("scheduling.run.ai", "queues", "Queue", None, r.name)
        return ObjRef("", "namespaces", "Namespace", None, r.name)

    def summary(self) -> str:
        rows = self.ctx.store.projects.rows
        leaves = [r for r in rows.values() if not r.children]
        over = sum(1 for r in leaves if r.quota_gpu is not None and r.quota_gpu >= 0
                   and r.allocated_gpu > r.quota_gpu + 1e-6)
        pend = sum(r.pending_workloads for r in leaves)
        return f"{len(leaves)} projects · {over} over quota · {pend} workloads pending"


# ---------------------------------------------------------------------------------------------- GPUs
class GpusPane(PaneModel):
    name = "gpus"
    title = "GPUs"
    default_sort = "name"
    fields = ("node", "model", "project", "workload", "namespace")
    resources = ("nodes", "pods")
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
        Column("holders", "HOLDERS", 20, priority=1, flex=True, sortable=False),
    ]

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
        for n in _sorted(self._node_names(), self._node_value, self.reverse):
            c = count.get(n, 0)
            if self.filter:
                gpus = [("gpu", n, i) for i in range(c) if (n, i) in rows and self._gpu_matches(rows[(n, i)])]
                if gpus:
                    out.append(("node", n))
                    out.extend(gpus)
            else:
                out.append(("node", n))
                out.extend(("gpu", n, i) for i in range(c))
        return out

    def absorb_views_keys(self, gpu_ups: Iterable[Any], gpu_rem: Iterable[Any], node_ups: Iterable[str],
                          node_rem: Iterable[str]) -> tuple[set[Key], set[Key]]:
        """The pane's keys for a drain's GPU and node changes (a node's header shows both)."""
        ups: set[Key] = {("gpu", n, i) for n, i in gpu_ups}
        rem: set[Key] = {("gpu", n, i) for n, i in gpu_rem}
        nodes = {n for n, _ in gpu_ups} | {n for n, _ in gpu_rem} | set(node_ups)
        ups |= {("node", n) for n in nodes}
        rem |= {("node", n) for n in node_rem}
        return ups, rem

    def _holder_text(self, g: GpuRow, limit: int = 4) -> Text:
        """Holders grouped by workload ("reranker 3×0.25"), each with its bar colour."""
        p = self.ctx.palette
        groups: dict[tuple[str, str], list[float | None]] = {}
        for h in g.holders:
            groups.setdefault((h.namespace, h.workload or h.pod), []).append(h.share)
        t = Text()
        for i, ((ns, who), shares) in enumerate(list(groups.items())[:limit]):
            if i:
                t.append("  ")
            t.append("■ ", p.holder(f"{ns}/{who}"))
            one = fmt_gpu(shares[0]) if shares[0] is not None else "?"
            same = all(x == shares[0] for x in shares)
            amount = (f"{len(shares)}×{one}" if len(shares) > 1 else one) if same else \
                "+".join(fmt_gpu(x) if x is not None else "?" for x in shares)
            t.append(f"{who} {amount}")
        if len(groups) > limit:
            t.append(f"  +{len(groups) - limit}", p.muted)
        return t

    def cells(self, key: Key) -> list[Text | str]:
        p = self.ctx.palette
        k = key  # type: ignore[assignment]
        if k[0] == "node":  # type: ignore[index]
            n = k[1]  # type: ignore[index]
            nr = self.ctx.store.nodes_view.rows.get(n)
            name = Text("▾ ", p.muted)
            name.append(n, p.bold)
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
        tel = self._tel(g.key)
        label = Text(f"{IDLE_MARK} " if tel is not None and tel.idle else "  ", p.warn)
        label.append(f"#{g.index} ", p.muted)
        label.append((g.uuid[:12] + "…") if g.uuid else ("whole" if g.use == "whole" else
                                                          ("shared" if g.use == "shared" else "free")),
                     p.muted if not g.uuid else Style())
        shares = [(h.share, p.holder(f"{h.namespace}/{h.workload or h.pod}")) for h in g.holders]
        if g.use == "whole" and len(g.holders) == 1:
            shares = [(1.0, shares[0][1])]
        bar = share_bar(shares, 20, p.free, p.warn)
        free = Text(fmt_gpu(g.free_share) if g.free_share is not None else "?",
                    p.warn if g.fragmented else (p.ok if g.free_share == 1.0 else Style()))
        if g.fragmented:
            free.append("⚠", p.warn)
        model = Text("MIG" if g.mig else "", p.muted)
        return [label, model, bar, free, *self._gpu_telemetry(g, tel), self._holder_text(g)]

    # --- telemetry columns: UTIL, UTIL HISTORY, MEM, TEMP, POWER
    def _tel(self, key: tuple[str, int]) -> Any:
        feed = self.ctx.telemetry
        return feed.view.rows.get(key) if feed is not None else None

    def _gpu_telemetry(self, g: GpuRow, tel: Any) -> list[Text | str]:
        p = self.ctx.palette
        if tel is None:
            return ["", "", Text(fmt_mem(None, g.memory_mib), p.muted) if g.memory_mib else "", "", ""]
        if tel.lost:
            return [Text("lost", p.bad), "", "", "", ""]
        if tel.util_pct is None:
            util = Text("?", p.bad if tel.error else p.muted)
        else:
            util = Text(f"{tel.util_pct:.0f}%", p.warn + Style(bold=True) if tel.idle else Style())
        series = self.ctx.telemetry.view.history.series(tel.sample_key) if tel.sample_key else []
        spark = Text(sparkline(series, SPARK_WIDTH), p.warn if tel.idle else p.info)
        total = tel.mem_total_mib if tel.mem_total_mib is not None else g.memory_mib
        mem = Text(fmt_mem(tel.mem_used_mib, total), Style() if tel.mem_used_mib is not None else p.muted)
        temp = "" if tel.temp_c is None else f"{tel.temp_c:.0f}°C"
        power = "" if tel.power_w is None else f"{tel.power_w:.0f}W"
        return [util, spark, mem, temp, power]

    def _node_telemetry(self, n: str) -> list[Text | str]:
        """A node's line: mean utilisation and memory summed over its GPUs, or why it has none."""
        p = self.ctx.palette
        feed = self.ctx.telemetry
        if feed is None or feed.snapshot is None:
            return ["", "", "", "", ""]
        ng = feed.snapshot.nodes.get(n)
        if ng is not None and ng.error:
            return [Text("ERR", p.bad), Text("no data", p.bad), "", "", ""]
        rows = [t for i in range(self.ctx.store.gpus.count.get(n, 0)) if (t := feed.view.rows.get((n, i)))]
        utils = [t.util_pct for t in rows if t.util_pct is not None]
        used = [t.mem_used_mib for t in rows if t.mem_used_mib is not None]
        total = [t.mem_total_mib for t in rows if t.mem_total_mib is not None]
        power = [t.power_w for t in rows if t.power_w is not None]
        idle = sum(1 for t in rows if t.idle)
        return [Text(f"{sum(utils) / len(utils):.0f}%" if utils else "-", p.muted),
                Text(f"{IDLE_MARK}{idle} idle" if idle else "", p.warn),
                Text(fmt_mem(sum(used) if used else None, sum(total) if total else None), p.muted),
                "", Text(f"{sum(power):.0f}W" if power else "", p.muted)]

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
        t.append(f"{g.node} #{g.index} ", p.bold)
        t.append(g.uuid or "device not reported by the API", Style() if g.uuid else p.muted)
        if g.memory_mib:
            t.append(f" · {g.memory_mib} MiB")
        for h in g.holders:
            t.append(" · ")
            t.append("■ ", p.holder(f"{h.namespace}/{h.workload or h.pod}"))
            pr = self.ctx.store.pods.get((h.namespace, h.pod))
            proj = f" [{pr.queue}]" if pr is not None and pr.queue else ""
            t.append(f"{h.namespace}/{h.pod}{proj} {fmt_gpu(h.share) if h.share is not None else '?'}")
        t.append(f" · free {fmt_gpu(g.free_share) if g.free_share is not None else '?'}")
        if g.fragmented:
            t.append(" · fragmented: no waiting request fits this sliver", p.warn)
        tel = self._tel(g.key)
        if tel is not None:
            if tel.idle:
                feed = self.ctx.telemetry
                t.append(f" · {IDLE_MARK} idle-allocated for {fmt_duration(tel.idle_for_s)} (under "
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
        return Drill("workloads", "workload", tuple(sorted({h.workload or h.pod for h in g.holders})),
                     f"{g.node}#{g.index}")

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
        s = summary(self.ctx.store.gpus.rows.values())
        text = f"{s['gpus']} GPUs · {fmt_gpu(s['free_share'])} free"
        if s["fragmented_share"]:
            text += f" · {fmt_gpu(s['fragmented_share'])} stranded in slivers no waiting request fits"
        return text


# ---------------------------------------------------------------------------------------------- workloads
STATUS_ORDER = {PENDING: 0, "Partially running": 1, "Failed": 2, RUNNING: 3}


class WorkloadsPane(PaneModel):
    name = "workloads"
    title = "Workloads"
    ages = True
    default_sort = "name"
    fields = ("project", "namespace", "type", "status", "kind", "workload", "node")
    resources = ("pods", "deployments.apps", "jobs.batch")
    columns = [
        Column("name", "WORKLOAD", 30, priority=0),
        Column("project", "PROJECT", 14, priority=1),
        Column("type", "TYPE", 11, priority=3),
        Column("ready", "READY", 7, "right", priority=0),
        Column("gpu_per_replica", "GPU/R", 8, "right", priority=2),
        Column("gpu", "GPU", 6, "right", priority=1),
        Column("status", "STATUS", 17, priority=0),
        Column("service", "SERVICE", 18, priority=4),
        Column("age", "AGE", 5, "right", priority=4),
        Column("reason", "PENDING REASON", 30, priority=2, flex=True, sortable=False),
    ]

    def __init__(self, ctx: PaneContext) -> None:
        super().__init__(ctx)
        self.expanded: set[tuple[str, str, str]] = set()

    def _value(self, k: tuple[str, str, str]) -> Any:
        r = self.ctx.store.workloads.rows[k]
        s = self.sort
        if s == "project":
            return (r.project or "", k)
        if s == "type":
            return (r.type, k)
        if s == "ready":
            return (r.replicas_ready, k)
        if s == "gpu_per_replica":
            return (_num(r.gpu_per_replica), k)
        if s == "gpu":
            return (r.gpu_total, k)
        if s == "status":
            return (STATUS_ORDER.get(r.status, 4), r.status, k)
        if s == "service":
            return (r.service or "", k)
        if s == "age":
            return (r.created or "", k)
        return (k[2], k[0], k[1])

    def _labels(self, k: tuple[str, str, str]) -> dict[str, str]:
        store = self.ctx.store
        labels: dict[str, str] = {}
        owner = store.owner_of_workload(k)
        if owner is not None:
            labels.update(owner.template_labels)
            labels.update(owner.labels)
        for pk in list(store.pods_by_workload.get(k, ()))[:1]:
            pr = store.pods.get(pk)
            if pr is not None:
                labels.update(pr.labels)
        return labels

    def _row_matches(self, k: tuple[str, str, str], r: WorkloadRow) -> bool:
        f = self.filter
        text = f"{r.namespace}/{r.name} {r.kind} {r.project or ''} {r.status} {r.service or ''} {r.pending_reason or ''}"
        nodes: list[str] = []
        if any(name == "node" for name, _ in f.fields):
            nodes = [p.node for p in self.ctx.store.pods_of(self.ctx.store.pods_by_workload.get(k, ())) if p.node]
        return f.matches(text, self._labels(k) if f.needs_labels else None,
                         {"project": r.project or "", "namespace": r.namespace, "type": r.type,
                          "status": r.status, "kind": r.kind, "workload": r.name, "node": nodes})

    def _matches(self, key: Key) -> bool:
        if isinstance(key, tuple) and len(key) == 4:
            return True
        r = self.ctx.store.workloads.rows.get(key)  # type: ignore[arg-type]
        return r is not None and self._row_matches(key, r)  # type: ignore[arg-type]

    def pods(self, k: tuple[str, str, str]) -> list[PodRec]:
        """The workload's pods by name; walks the pod index, so only with the model's lock held."""
        keys = tuple(self.ctx.store.pods_by_workload.get(k, ()))
        return sorted(self.ctx.store.pods_of(keys), key=lambda p: p.name)

    def _order(self) -> list[Key]:
        rows = self.ctx.store.workloads.rows
        keys = list(rows)
        if self.filter:
            keys = [k for k in keys if self._row_matches(k, rows[k])]
        keys = _sorted(keys, self._value, self.reverse)
        if not self.expanded:
            return keys  # type: ignore[return-value]
        out: list[Key] = []
        for k in keys:
            out.append(k)
            if k in self.expanded:
                out.extend(("pod", p.namespace, p.name, "") for p in self.pods(k))
        return out

    def absorb(self, upserts: Iterable[Key], removed: Iterable[Key]) -> tuple[set[Key], bool]:
        ups = set(upserts)
        changed, reorder = super().absorb(ups, removed)
        if ups & self.expanded:
            reorder = True  # an expanded group's pods may have come or gone
            for k in ups & self.expanded:
                changed |= {("pod", p.namespace, p.name, "") for p in self.pods(k)}  # type: ignore[arg-type]
        return changed, reorder

    def toggle(self, key: Key) -> bool:
        if isinstance(key, tuple) and len(key) == 3 and key in self.ctx.store.workloads.rows:
            if key in self.expanded:
                self.expanded.discard(key)  # type: ignore[arg-type]
            else:
                self.expanded.add(key)  # type: ignore[arg-type]
            return True
        return False

    def _pod_cells(self, key: tuple) -> list[Text | str]:
        p = self.ctx.palette
        pr = self.ctx.store.pods.get((key[1], key[2]))
        if pr is None:
            return [Text(f"   └ {key[2]} (gone)", p.muted)]
        phase_style = p.ok if pr.phase == "Running" and pr.ready else (p.warn if pr.phase == "Pending" else Style())
        status = pr.phase + (" (terminating)" if pr.deleting else "") + ("" if pr.ready or pr.phase != "Running"
                                                                         else " not ready")
        name = Text("   └ ", p.muted)
        name.append(pr.name)
        return [name, Text(pr.node or "(unscheduled)", p.muted if not pr.node else Style()), "pod",
                "1/1" if pr.ready else "0/1", request_text(pr.gpu), "", Text(status, phase_style), "", "",
                Text(pr.sched_message or "", p.warn)]

    def cells(self, key: Key) -> list[Text | str]:
        if isinstance(key, tuple) and len(key) == 4:
            return self._pod_cells(key)
        p = self.ctx.palette
        r = self.ctx.store.workloads.rows.get(key)  # type: ignore[arg-type]
        if r is None:
            return [""] * len(self.columns)
        mark = "▾ " if key in self.expanded else "▸ "
        name = Text(mark, p.muted)
        name.append(f"{r.name}")
        if r.preemptible:
            name.append(" ⇣", p.muted)
        tel = self.ctx.telemetry
        if tel is not None:
            name.append(idle_text(tel.idle_workloads.get((r.namespace, r.name), 0), p.warn))
        status_style = {RUNNING: p.ok, PENDING: p.warn, "Partially running": p.warn, "Failed": p.bad}.get(
            r.status, p.muted)
        desired = "?" if r.replicas_desired is None else str(r.replicas_desired)
        ready_style = p.ok if r.replicas_desired and r.replicas_ready >= r.replicas_desired else (
            p.warn if r.replicas_desired else Style())
        gpu = Text(fmt_gpu(r.gpu_allocated) + ("" if abs(r.gpu_allocated - r.gpu_total) < 1e-6
                                                else f"/{fmt_gpu(r.gpu_total)}"))
        per = r.gpu_request if r.gpu_per_replica is None else fmt_gpu(r.gpu_per_replica)
        if r.gpu_request and r.gpu_request != per and r.gpu_per_replica is not None and "MiB" in r.gpu_request:
            per = r.gpu_request
        created = _created(r.created) if r.created else None
        return [name, r.project or "-", Text(r.type, p.muted), Text(f"{r.replicas_ready}/{desired}", ready_style),
                per or "-", gpu, Text(r.status, status_style), Text(r.service or "", p.info),
                age(created, self.ctx.now()), Text(r.pending_reason or "", p.warn)]

    def detail(self, key: Key | None) -> Text:
        if key is None:
            return Text("")
        p = self.ctx.palette
        if isinstance(key, tuple) and len(key) == 4:
            pr = self.ctx.store.pods.get((key[1], key[2]))
            if pr is None:
                return Text("")
            t = Text(f"pod {pr.namespace}/{pr.name}", p.bold)
            t.append(f" · {pr.phase} on {pr.node or '(unscheduled)'} · GPU {request_text(pr.gpu) or 'none'}"
                     f" · queue {pr.queue or '-'} · priority {pr.pclass or '-'}"
                     f" · {'preemptible' if pr.preemptible else 'non-preemptible'}")
            if pr.gpu_error:
                t.append(f" · bad GPU request: {pr.gpu_error}", p.bad)
            return t
        r = self.ctx.store.workloads.rows.get(key)  # type: ignore[arg-type]
        if r is None:
            return Text("")
        t = Text(f"{r.kind} {r.namespace}/{r.name}", p.bold)
        t.append(f" · {r.type} · priority {r.priority_class or '-'} · "
                 f"{'preemptible' if r.preemptible else 'non-preemptible'} · {r.pods} pods "
                 f"({r.replicas_running} running, {r.replicas_pending} pending) · GPU request {r.gpu_request or 'none'}")
        if r.service:
            t.append(f" · Service {r.service}", p.info)
        if r.pending_reason:
            t.append(f" · {r.pending_reason}", p.warn)
        return t

    def target(self, key: Key) -> ObjRef | None:
        if isinstance(key, tuple) and len(key) == 4:
            return ObjRef("", "pods", "Pod", key[1], key[2])
        r = self.ctx.store.workloads.rows.get(key)  # type: ignore[arg-type]
        if r is None:
            return None
        if r.kind == "Pod":
            return ObjRef("", "pods", "Pod", r.namespace, r.name)
        ok = OWNER_BY_GROUP_KIND.get((r.api_group, r.kind))
        if ok is None:
            return None
        return ObjRef(ok.group, ok.key.split(".", 1)[0], ok.kind, r.namespace, r.name)

    def log_pod(self, key: Key) -> tuple[str, str] | None:
        if isinstance(key, tuple) and len(key) == 4:
            return (key[1], key[2])
        if key not in self.ctx.store.workloads.rows:
            return None
        pods = self.pods(key)  # type: ignore[arg-type]
        live = [p for p in pods if p.node] or pods
        return (live[0].namespace, live[0].name) if live else None

    def summary(self) -> str:
        rows = self.ctx.store.workloads.rows.values()
        n = pend = inf = 0
        for r in rows:
            n += 1
            pend += r.status == PENDING
            inf += r.type == "inference"
        return f"{n} workloads · {inf} inference · {pend} pending · ⇣ preemptible"


# ---------------------------------------------------------------------------------------------- nodes
class NodesPane(PaneModel):
    name = "nodes"
    title = "Nodes"
    default_sort = "name"
    fields = ("node", "model", "ready", "cordoned")
    resources = ("nodes",)
    columns = [
        Column("name", "NODE", 22, priority=0),
        Column("model", "GPU PRODUCT", 24, priority=1),
        Column("capacity", "GPUS", 5, "right", priority=0),
        Column("allocated", "ALLOC", 5, "right", priority=0),
        Column("free", "FREE", 5, "right", priority=0),
        Column("bar", "USE", 18, priority=2, sortable=False),
        Column("shared", "SHARED", 6, "right", priority=3),
        Column("mig", "MIG", 5, "right", priority=4),
        Column("pods", "PODS", 5, "right", priority=3),
        Column("ready", "READY", 8, priority=0),
        Column("cordoned", "SCHED", 14, priority=1, flex=True),
    ]

    def _value(self, n: str) -> Any:
        r = self.ctx.store.nodes_view.rows[n]
        return {"name": n, "model": (r.gpu_product or "", n), "capacity": (_num(r.gpu_capacity), n),
                "allocated": (r.gpu_allocated, n), "free": (_num(r.gpu_free), n), "shared": (r.gpu_shared, n),
                "mig": (r.mig_capacity, n), "pods": (r.pods, n), "ready": (str(r.ready), n),
                "cordoned": (r.cordoned, n)}.get(self.sort, n)

    def _matches(self, key: Key) -> bool:
        r = self.ctx.store.nodes_view.rows.get(key)  # type: ignore[arg-type]
        if r is None:
            return False
        return self.filter.matches(f"{r.name} {r.gpu_product or ''}", None,
                                   {"node": r.name, "model": r.gpu_product or "",
                                    "ready": "yes" if r.ready else "no", "cordoned": "yes" if r.cordoned else "no"})

    def _order(self) -> list[Key]:
        keys = list(self.ctx.store.nodes_view.rows)
        if self.filter:
            keys = [k for k in keys if self._matches(k)]
        return _sorted(keys, self._value, self.reverse)

    def cells(self, key: Key) -> list[Text | str]:
        p = self.ctx.palette
        r = self.ctx.store.nodes_view.rows.get(key)  # type: ignore[arg-type]
        if r is None:
            return [""] * len(self.columns)
        cap = r.gpu_capacity
        bar = share_bar([(r.gpu_allocated / cap, p.info)], 16, p.free) if cap else Text("")
        ready = Text("Ready" if r.ready else ("NotReady" if r.ready is False else "Unknown"),
                     p.ok if r.ready else p.bad)
        sched = Text("cordoned" if r.cordoned else "schedulable", p.warn if r.cordoned else p.muted)
        free = Text("-" if r.gpu_free is None else str(r.gpu_free), p.ok if r.gpu_free else p.muted)
        return [Text(r.name, p.bold), r.gpu_product or "-", "-" if cap is None else str(cap), str(r.gpu_allocated),
                free, bar, str(r.gpu_shared or "-"), f"{r.mig_allocated}/{r.mig_capacity}" if r.mig_capacity else "-",
                str(r.pods), ready, sched]

    def detail(self, key: Key | None) -> Text:
        r = self.ctx.store.nodes_view.rows.get(key) if key is not None else None  # type: ignore[arg-type]
        if r is None:
            return Text("")
        return Text(f"node {r.name} · {r.gpu_product or 'no GPU product label'}"
                    f"{f' ({r.gpu_memory_mib} MiB)' if r.gpu_memory_mib else ''} · {r.gpu_allocated}/"
                    f"{r.gpu_capacity if r.gpu_capacity is not None else '?'} GPUs allocated · {r.gpu_shared} shared"
                    f" · enter: its GPUs")

    def drill(self, key: Key) -> Drill | None:
        if key not in self.ctx.store.nodes_view.rows:
            return None
        return Drill("gpus", "node", (str(key),), str(key))

    def target(self, key: Key) -> ObjRef | None:
        return ObjRef("", "nodes", "Node", None, str(key)) if key in self.ctx.store.nodes_view.rows else None

    def summary(self) -> str:
        rows = self.ctx.store.nodes_view.rows.values()
        n = notready = cordoned = cap = alloc = 0
        for r in rows:
            n += 1
            notready += r.ready is not True
            cordoned += r.cordoned
            cap += r.gpu_capacity or 0
            alloc += r.gpu_allocated
        return f"{n} nodes · {alloc}/{cap} GPUs allocated · {notready} not ready · {cordoned} cordoned"


# ---------------------------------------------------------------------------------------------- events
class EventsPane(PaneModel):
    name = "events"
    title = "Events"
    ages = True
    default_sort = "age"
    fields = ("reason", "type", "namespace", "kind", "category", "object")
    resources = ("events",)
    columns = [
        Column("age", "AGE", 5, "right", priority=0),
        Column("category", "WHAT", 10, priority=3),
        Column("reason", "REASON", 17, priority=0),
        Column("object", "OBJECT", 30, priority=1),
        Column("count", "#", 4, "right", priority=4),
        Column("message", "MESSAGE", 20, priority=0, flex=True, sortable=False),
    ]

    def _value(self, k: Any) -> Any:
        r = self.ctx.events.rows[k]
        if self.sort == "category":
            return (r.category, -(r.last or 0))
        if self.sort == "reason":
            return (r.reason, -(r.last or 0))
        if self.sort == "object":
            return (r.object_namespace, r.object_name, -(r.last or 0))
        if self.sort == "count":
            return (-r.count, -(r.last or 0))
        return (-(r.last or 0.0), r.namespace, r.name)

    def absorb(self, upserts: Iterable[Key], removed: Iterable[Key]) -> tuple[set[Key], bool]:
        changed, reorder = super().absorb(upserts, removed)
        return changed, reorder or bool(changed)  # newest first: any new or repeated event moves rows

    def _matches(self, key: Key) -> bool:
        r = self.ctx.events.rows.get(key)  # type: ignore[arg-type]
        if r is None:
            return False
        return self.filter.matches(f"{r.reason} {r.object_kind} {r.object_namespace}/{r.object_name} {r.message}",
                                   None, {"reason": r.reason, "type": r.type, "namespace": r.object_namespace,
                                          "kind": r.object_kind, "category": r.category, "object": r.object_name})

    def _order(self) -> list[Key]:
        keys = list(self.ctx.events.rows)
        if self.filter:
            keys = [k for k in keys if self._matches(k)]
        return _sorted(keys, self._value, self.reverse)

    def cells(self, key: Key) -> list[Text | str]:
        p = self.ctx.palette
        r: EventRow | None = self.ctx.events.rows.get(key)  # type: ignore[arg-type]
        if r is None:
            return [""] * len(self.columns)
        cat_style = {"preemption": p.bad, "eviction": p.warn, "warning": p.warn}.get(r.category, p.info)
        obj = f"{r.object_kind.lower()}/{r.object_namespace + '/' if r.object_namespace else ''}{r.object_name}"
        return [age(r.last, self.ctx.now()), Text(r.category, cat_style),
                Text(r.reason, p.warn if r.type == "Warning" else Style()), obj, str(r.count), r.message]

    def detail(self, key: Key | None) -> Text:
        r = self.ctx.events.rows.get(key) if key is not None else None  # type: ignore[arg-type]
        if r is None:
            return Text("")
        return Text(f"{r.type} {r.reason} from {r.component or '?'} ×{r.count}: {r.message}")

    def target(self, key: Key) -> ObjRef | None:
        r = self.ctx.events.rows.get(key)  # type: ignore[arg-type]
        if r is None:
            return None
        if r.object_kind == "Pod":
            return ObjRef("", "pods", "Pod", r.object_namespace, r.object_name)
        return ObjRef("", "events", "Event", r.namespace, r.name)

    def log_pod(self, key: Key) -> tuple[str, str] | None:
        r = self.ctx.events.rows.get(key)  # type: ignore[arg-type]
        return (r.object_namespace, r.object_name) if r and r.object_kind == "Pod" else None

    def summary(self) -> str:
        rows = self.ctx.events.rows.values()
        by: dict[str, int] = {}
        for r in rows:
            by[r.category] = by.get(r.category, 0) + 1
        parts = [f"{n} {c}" for c, n in sorted(by.items())]
        return f"{len(self.ctx.events)} events (newest first)" + (" · " + " · ".join(parts) if parts else "")


PANES: dict[str, type[PaneModel]] = {p.name: p for p in (ProjectsPane, GpusPane, WorkloadsPane, NodesPane, EventsPane)}
