"""Events: scheduling, eviction, preemption and warning events, newest first."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.style import Style
from rich.text import Text

from console.model.events import EventRow
from widgets.vtable import Column

from .base import UNKNOWN, Key, ObjRef, PaneModel, age, sorted_by


class EventsPane(PaneModel):
    name = "events"
    title = "Events"
    ages = True
    default_sort = "age"
    fields = ("reason", "type", "namespace", "kind", "category", "object")
    resources = ("events",)
    needs = frozenset({"events"})
    own_columns = frozenset({"age", "category", "reason", "object", "count", "message"})  # each row is one Event
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
        return sorted_by(keys, self._value, self.reverse)

    def cells(self, key: Key) -> list[Text | str]:
        p = self.ctx.palette
        r: EventRow | None = self.ctx.events.rows.get(key)  # type: ignore[arg-type]
        if r is None:   # gone since this pane was last ordered (the next flush re-orders it)
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
        if not self.figures_known():
            return f"{UNKNOWN} events (newest first)"
        rows = self.ctx.events.rows.values()
        by: dict[str, int] = {}
        for r in rows:
            by[r.category] = by.get(r.category, 0) + 1
        parts = [f"{n} {c}" for c, n in sorted(by.items())]
        return f"{len(self.ctx.events)} events (newest first)" + (" · " + " · ".join(parts) if parts else "")
