"""Nodes: GPU product, capacity, allocation, sharing, MIG, readiness and cordons per node."""

from __future__ import annotations

from typing import Any

from rich.text import Text

from widgets.bars import share_bar
from widgets.vtable import Column

from .base import UNKNOWN, Drill, Key, ObjRef, PaneModel, num, sorted_by


class NodesPane(PaneModel):
    name = "nodes"
    title = "Nodes"
    default_sort = "name"
    fields = ("node", "model", "ready", "cordoned")
    resources = ("nodes",)
    # A node's own facts; allocation, pods and sharing count pods.
    own_columns = frozenset({"name", "model", "capacity", "ready", "cordoned"})
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

    def rows_known(self) -> bool:
        return self.ctx.sync.known({"nodes"})

    def _value(self, n: str) -> Any:
        r = self.ctx.store.nodes_view.rows[n]
        return {"name": n, "model": (r.gpu_product or "", n), "capacity": (num(r.gpu_capacity), n),
                "allocated": (r.gpu_allocated, n), "free": (num(r.gpu_free), n), "shared": (r.gpu_shared, n),
                "mig": (r.mig_capacity, n), "pods": (r.pods, n), "ready": (str(r.ready), n),
                "cordoned": (r.cordoned, n)}.get(self.sort, n)

    def _matches(self, key: Key) -> bool:
        r = self.ctx.store.nodes_view.rows.get(key)  # type: ignore[arg-type]
        if r is None:
            return False
        return self.filter.matches(f"{r.name} {r.gpu_product or ''}", None,
                                   {"node": r.name, "model": r.gpu_product or "",
                                    "ready": "yes" if r.ready else "no", "cordoned": "yes" if r.cordoned else "no"})

    def key_order(self) -> Any:
        return _by_name if self.sort == "name" and not self.reverse and not self.filter else None

    def flat_rows(self) -> Any:
        return self.ctx.store.nodes_view.rows

    def _order(self) -> list[Key]:
        keys = list(self.ctx.store.nodes_view.rows)
        if self.filter:
            keys = [k for k in keys if self._matches(k)]
        return sorted_by(keys, self._value, self.reverse)

    def cells(self, key: Key) -> list[Text | str]:
        p = self.ctx.palette
        r = self.ctx.store.nodes_view.rows.get(key)  # type: ignore[arg-type]
        if r is None:   # gone since this pane was last ordered (the next flush re-orders it)
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
        if not self.rows_known():
            return f"{UNKNOWN} nodes · {UNKNOWN}/{UNKNOWN} GPUs in use · {UNKNOWN} not ready · {UNKNOWN} cordoned"
        rows = self.ctx.store.nodes_view.rows.values()
        n = notready = cordoned = cap = alloc = 0
        for r in rows:
            n += 1
            notready += r.ready is not True
            cordoned += r.cordoned
            cap += r.gpu_capacity or 0
            alloc += r.gpu_allocated
        used = str(alloc) if self.figures_known() else UNKNOWN
        return f"{n} nodes · {used}/{cap} GPUs in use · {notready} not ready · {cordoned} cordoned"


def _by_name(n: Any) -> Any:
    return n
