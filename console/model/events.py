"""A small bounded buffer of the cluster Events an operator looks for: scheduling, eviction, preemption.

The Events pane must not grow without limit on a busy cluster (k9s's log view reached 30 GB), so only
the newest `capacity` relevant events are kept; the rest are dropped as they age out. It is an informer
sink like the cluster store, so the same informers feed it, and it hands out keyed changes on `drain()`.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

Obj = dict[str, Any]
EventKey = tuple[str, str]  # (namespace, name)

SCHEDULING, EVICTION, PREEMPTION, WARNING = "scheduling", "eviction", "preemption", "warning"

SCHEDULING_REASONS = frozenset({
    "Scheduled", "FailedScheduling", "Unschedulable", "NotTriggerScaleUp", "TriggeredScaleUp", "Pipelined",
    "Bound", "FailedBinding", "PodGrouperWarning", "GangScheduling", "PodGroupPending", "Allocated",
})
EVICTION_REASONS = frozenset({
    "Evict", "Evicted", "Eviction", "EvictionByEvictionAPI", "TaintManagerEviction", "Reclaim", "Reclaimed",
    "Killing", "NodeNotReady", "DeletingNode",
})
PREEMPTION_REASONS = frozenset({"Preempt", "Preempted", "Preempting", "PreemptionByScheduler"})


def category(reason: str, type_: str, message: str) -> str | None:
    """Which kind of event this is for the pane, or None when the pane does not show it."""
    if reason in PREEMPTION_REASONS or "preempt" in reason.lower():
        return PREEMPTION
    if reason in EVICTION_REASONS or "evict" in reason.lower():
        return PREEMPTION if "preempt" in message.lower() else EVICTION
    if reason in SCHEDULING_REASONS or "schedul" in reason.lower():
        return SCHEDULING
    if type_ == "Warning":
        return WARNING
    return None


def parse_time(ts: str | None) -> float | None:
    """RFC 3339 (as the API writes timestamps) to epoch seconds; None when absent or unreadable."""
    if not ts or not isinstance(ts, str):
        return None
    try:
        return _dt.datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class EventRow:
    namespace: str
    name: str
    type: str
    reason: str
    message: str
    category: str
    object_kind: str
    object_namespace: str
    object_name: str
    component: str
    count: int
    last: float | None        # epoch seconds of the last occurrence

    @property
    def key(self) -> EventKey:
        return (self.namespace, self.name)


def event_row(raw: Obj) -> EventRow | None:
    """Project a core/v1 (or events.k8s.io) Event; None when it is unusable or not one the pane shows."""
    if not isinstance(raw, dict):
        return None
    md = raw.get("metadata") or {}
    name = md.get("name")
    if not isinstance(name, str) or not name:
        return None
    reason = str(raw.get("reason") or "")
    type_ = str(raw.get("type") or "Normal")
    message = str(raw.get("message") or raw.get("note") or "")
    cat = category(reason, type_, message)
    if cat is None:
        return None
    obj = raw.get("involvedObject") or raw.get("regarding") or {}
    if not isinstance(obj, dict):
        obj = {}
    src = raw.get("source") or {}
    component = str(raw.get("reportingComponent") or (src.get("component") if isinstance(src, dict) else "")
                    or raw.get("reportingController") or "")
    last = None
    for f in ("lastTimestamp", "eventTime", "firstTimestamp"):
        last = parse_time(raw.get(f))
        if last is not None:
            break
    if last is None:
        last = parse_time(md.get("creationTimestamp"))
    series = raw.get("series") or {}
    count = raw.get("count") or (series.get("count") if isinstance(series, dict) else None) or 1
    return EventRow(
        namespace=str(md.get("namespace") or ""), name=name, type=type_, reason=reason,
        message=" ".join(message.split()), category=cat, object_kind=str(obj.get("kind") or ""),
        object_namespace=str(obj.get("namespace") or ""), object_name=str(obj.get("name") or ""),
        component=component, count=int(count) if isinstance(count, (int, float)) else 1, last=last,
    )


class EventBuffer:
    """The newest `capacity` relevant events, keyed by (namespace, name); an informer sink."""

    def __init__(self, capacity: int = 2000) -> None:
        self.capacity = capacity
        self.rows: dict[EventKey, EventRow] = {}
        self._upserts: dict[EventKey, EventRow] = {}
        self._removed: set[EventKey] = set()

    def __len__(self) -> int:
        return len(self.rows)

    # ------------------------------------------------------------------ sink
    def apply(self, kind: str, event_type: str, obj: Obj) -> None:
        md = (obj.get("metadata") or {}) if isinstance(obj, dict) else {}
        key = (str(md.get("namespace") or ""), str(md.get("name") or ""))
        if event_type == "DELETED":
            self._remove(key)
            return
        row = event_row(obj)
        if row is None:
            self._remove(key)
            return
        self._put(row)
        self._trim()

    def replace(self, kind: str, objs: Iterable[Obj], namespace: str | None = None) -> None:
        fresh = {r.key: r for r in (event_row(o) for o in objs) if r is not None}
        for key in [k for k in self.rows if (namespace is None or k[0] == namespace) and k not in fresh]:
            self._remove(key)
        for row in fresh.values():
            if self.rows.get(row.key) != row:
                self._put(row)
        self._trim()

    # ------------------------------------------------------------------ output
    def newest_first(self) -> list[EventRow]:
        return sorted(self.rows.values(), key=_order)

    def for_object(self, kind: str, namespace: str, name: str) -> list[EventRow]:
        return [r for r in self.newest_first()
                if r.object_name == name and r.object_namespace == namespace and (not kind or r.object_kind == kind)]

    def drain(self) -> tuple[dict[EventKey, EventRow], set[EventKey]]:
        """Rows added or changed and keys removed since the last drain."""
        out = (self._upserts, self._removed)
        self._upserts, self._removed = {}, set()
        return out

    # ------------------------------------------------------------------ internals
    def _put(self, row: EventRow) -> None:
        self.rows[row.key] = row
        self._upserts[row.key] = row
        self._removed.discard(row.key)

    def _remove(self, key: EventKey) -> None:
        if self.rows.pop(key, None) is not None:
            self._upserts.pop(key, None)
            self._removed.add(key)

    def _trim(self) -> None:
        # Trim in batches (10 % slack) so a steady stream does not sort on every event.
        if len(self.rows) <= self.capacity + max(1, self.capacity // 10):
            return
        for row in sorted(self.rows.values(), key=_order)[self.capacity:]:
            self._remove(row.key)


def _order(r: EventRow) -> tuple[float, str, str]:
    return (-(r.last or 0.0), r.namespace, r.name)
