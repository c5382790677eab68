"""Projects: the department → project tree of KAI Queues with quota bars and what each holds and waits for."""

from __future__ import annotations

from typing import Any

from rich.style import Style
from rich.text import Text

from console.model.fair_share import SOURCE_KAI, fmt_saturation
from widgets.bars import fmt_gpu, quota_bar
from widgets.glyphs import UNICODE, current as G
from widgets.vtable import Column

from .base import UNKNOWN, Drill, Key, ObjRef, PaneModel, idle_text, num, sorted_by


RECLAIM_MARK = UNICODE.reclaim  # for readers; drawing reads the table chosen at start (G())


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
        Column("fair", "FAIR", 6, "right", priority=0),
        Column("saturation", "SAT", 5, "right", priority=1),
        Column("quota", "QUOTA", 6, "right", priority=0),
        Column("over", "OVER", 5, "right", priority=3),
        Column("limit", "LIMIT", 6, "right", priority=2),
        Column("weight", "WEIGHT", 6, "right", priority=4),
        Column("requested", "REQ", 6, "right", priority=2),
        Column("nonpre", "NON-PRE", 7, "right", priority=5),
        Column("pending", "PENDING", 7, "right", priority=1),
        Column("workloads", "WORKLOADS", 9, "right", priority=5),
    ]

    def own(self, key: Key) -> frozenset[str]:
        """A fair share read from KAI's own metrics is KAI's figure, true whether or not the pods are listed."""
        share = self.ctx.store.fair_share.table.shares.get(key)  # type: ignore[arg-type]
        return self.own_columns | {"fair"} if share is not None and share.source == SOURCE_KAI else self.own_columns

    def _value(self, name: str) -> Any:
        r = self.ctx.store.projects.rows[name]
        share = self.ctx.store.fair_share.table.shares.get(name)
        return {"name": name, "allocated": r.allocated_gpu, "quota": num(r.quota_gpu),
                "fair": num(share.fair_share_gpu if share else None),
                "saturation": num(share.saturation if share else None),
                "over": max(0.0, r.allocated_gpu - max(0.0, r.quota_gpu or 0.0)),
                "limit": num(r.limit_gpu), "weight": num(r.over_quota_weight), "requested": r.requested_gpu,
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
            for c in sorted_by(kids, self._value, self.reverse):
                walk(c, depth + 1)

        roots = [n for n, r in rows.items() if r.parent is None or r.parent not in rows]
        for n in sorted_by(roots, self._value, self.reverse):
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
        icon = f"{G().expanded} " if r.children else f"{G().leaf} "
        name = Text("  " * depth + icon, style=p.muted)
        name.append(r.name, p.bold if r.children else Style())
        known = self.figures_known()
        if r.queue_missing and known:
            name.append(" (no queue)", p.warn)
        fs = self.ctx.store.fair_share.table
        if fs.reclaim_next is not None and fs.reclaim_next.queue == r.name and known:
            name.append(f" {G().reclaim}", p.bad)
        tel = self.ctx.telemetry
        if tel is not None and known:
            name.append(idle_text(tel.idle_projects.get(r.name, 0), p.warn))
        breached = self.ctx.serving.breaches_by_project.get(r.name, 0)
        if breached and known:
            name.append(f" ⚠{breached} SLO", p.bad)
        quota = r.quota_gpu if r.quota_gpu is not None and r.quota_gpu >= 0 else None
        over = r.allocated_gpu - (quota or 0.0)
        bar = quota_bar(r.allocated_gpu, r.quota_gpu, r.limit_gpu, 20, ok=p.ok, over=p.over, unused=p.free,
                        limit_style=p.bad)
        alloc_style = p.warn if quota is not None and over > 1e-6 else Style()
        pending = Text(str(r.pending_workloads), p.warn if r.pending_workloads else p.muted)
        mismatch = G().mismatch if r.mismatch else ""
        share = fs.shares.get(r.name)
        if share is None:
            fair, sat = Text("-", p.muted), Text("-", p.muted)
        else:
            computed = fs.source == SOURCE_KAI and share.source != SOURCE_KAI  # not in KAI's metrics
            fair = Text(fmt_gpu(share.fair_share_gpu) + ("*" if computed else ""))
            above = share.saturation > 1 + 1e-6
            sat = Text(fmt_saturation(share.saturation), p.warn if above else (p.muted if share.saturation == 0
                                                                              else Style()))
        return [name, bar, Text(fmt_gpu(r.allocated_gpu) + mismatch, alloc_style), fair, sat, fmt_gpu(r.quota_gpu),
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
        fs = self.ctx.store.fair_share.table
        share = fs.shares.get(r.name)
        if share is not None:
            t.append(f" · fair share {fmt_gpu(share.fair_share_gpu)}"
                     f" ({'KAI' if share.source == SOURCE_KAI else 'computed'})"
                     f" · saturation {fmt_saturation(share.saturation)}")
        nxt = fs.reclaim_next
        if nxt is not None and nxt.queue == r.name:
            t.append(" · " + nxt.reason, p.bad)
        elif nxt is not None and share is not None:
            t.append(f" · reclaimed next: {nxt.queue}", p.muted)
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
        if not self.figures_known():
            return f"{UNKNOWN} projects · {UNKNOWN} over quota · {UNKNOWN} workloads pending"
        rows = self.ctx.store.projects.rows
        leaves = [r for r in rows.values() if not r.children]
        over = sum(1 for r in leaves if r.quota_gpu is not None and r.quota_gpu >= 0
                   and r.allocated_gpu > r.quota_gpu + 1e-6)
        pend = sum(r.pending_workloads for r in leaves)
        out = f"{len(leaves)} projects · {over} over quota · {pend} workloads pending"
        fs = self.ctx.store.fair_share.table
        if fs.shares:
            out += f" · {fs.label}"
        if fs.reclaim_next is not None:
            out += f" · {G().reclaim} reclaimed next: {fs.reclaim_next.queue}"
        return out
