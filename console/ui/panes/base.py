"""The pane model every pane builds on, and the formatting its cells share.

A pane model says what a pane shows: its columns, row order (trees and groups), cells, filter fields
and drill targets. It reads the cluster model's view rows directly (they are already keyed and current after a
drain) and turns them into cells; the table widget only asks for the rows it draws. Orders are rebuilt
only when the set of rows or their sort values may have changed, so a flush that only changes values
re-renders the changed visible rows and nothing else.
"""

from __future__ import annotations

import bisect
import functools
import threading
import time
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any

from rich.style import Style
from rich.text import Text

from console.kube.progress import UNKNOWN as NOT_CONNECTED, SyncSnapshot
from console.model.cluster_store import KNOWN_KINDS, ClusterStore
from console.model.events import EventBuffer, parse_time
from console.model.serving_view import EMPTY as SERVING_EMPTY
from console.ui.filter import Filter
from widgets.glyphs import UNICODE, current as G
from widgets.palette import Palette
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
    lock: Any = field(default_factory=threading.RLock)   # the session's: the UI only tries it (session.py)
    telemetry: Any = None                                # the session's TelemetryFeed, once it samples
    serving: Any = SERVING_EMPTY                         # the latest ServingSnapshot (immutable; swapped whole)
    local: Any = None                                    # the LocalFeed: this machine's GPUs through NVML
    # Which lists are complete, as of the model's last drain (the App sets it with each drain; see
    # console/kube/progress.py for why it is read before the drain).
    sync: SyncSnapshot = NOT_CONNECTED


UNKNOWN = "…"   # a figure not known yet: its lists are still under way (never 0, never a partial count)
MODEL = KNOWN_KINDS   # every resource the cluster model is built from


def unknown_if(known: bool, value: object) -> str:
    """`value` as text, or `…` while it is not known."""
    return str(value) if known else UNKNOWN


IDLE_MARK = UNICODE.idle   # the Unicode marks, for readers; drawing reads the table chosen at start (G())
SPARK_WIDTH = 12


def idle_text(n: int, style: Style) -> Text:
    """The marker a workload or project gets for its idle-allocated GPUs."""
    return Text(f" {G().idle}{n} idle", style) if n else Text("")


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


TERMINATING_MARK = UNICODE.terminating


def terminating_text(since: float | None, now: float, count: int = 1) -> str:
    """Pods being deleted that still run and hold what they held: `⌛ terminating 12s`, `⌛2 terminating 5m`."""
    return f"{G().terminating}{count if count > 1 else ' '}terminating {age(since, now)}"


@functools.lru_cache(maxsize=65536)
def created_at(ts: str) -> float | None:
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
    # Figures count pods, which are resolved through their owners, PodGroups and Queues: a figure is true
    # only when every list the model is built from is complete.
    needs: frozenset[str] = MODEL
    # Cells that are facts of the row's own object (a node's name and GPU count): true as soon as the row
    # shows, since a resource's list reaches the model whole. Every other cell shows `…` until `needs` is met.
    own_columns: frozenset[str] = frozenset({"name"})

    def __init__(self, ctx: PaneContext) -> None:
        self.ctx = ctx
        self.filter = Filter()
        self.sort = self.default_sort
        self.reverse = False
        self._present: set[Key] = set()
        # The last order with its sort values, when they came from the keys alone (`key_order`), and the
        # rows that came and went since: patched in place instead of sorting every row again.
        self._last: tuple[list[Key], list[Any]] | None = None
        self._came: set[Key] = set()
        self._went: set[Key] = set()
        self._sync_memo: tuple[SyncSnapshot, bool, bool] | None = None

    # --- what is known (asked for every cell drawn: answered once per sync snapshot)
    def _sync_state(self) -> tuple[bool, bool]:
        sync = self.ctx.sync
        memo = self._sync_memo
        if memo is None or memo[0] is not sync:
            memo = self._sync_memo = (sync, sync.known(self.needs), sync.stale(self.needs))
        return memo[1], memo[2]

    def figures_known(self) -> bool:
        return self._sync_state()[0]

    def figures_stale(self) -> bool:
        """A list the figures come from is being taken again: they are the last complete ones."""
        return self._sync_state()[1]

    def rows_known(self) -> bool:
        """The set of rows is complete, so the title may count them."""
        return self.figures_known()

    def own(self, key: Key) -> frozenset[str]:
        """Columns of this row shown before the figures are known."""
        return self.own_columns

    # --- order
    def key_order(self) -> Callable[[Key], Any] | None:
        """A row's sort value from its key alone, when the order in effect has one (a flat pane in its
        default order, no filter): rows that only come and go are then put in place, not sorted again."""
        return None

    def flat_rows(self) -> Any:
        """The rows a `key_order` pane shows, one per key (a mapping)."""
        return None

    def order(self) -> list[Key]:
        kf = self.key_order()
        keys = self._patched(kf) if kf is not None and self._last is not None else None
        if keys is None:
            keys = self._order()
            self._last = (keys, [kf(k) for k in keys]) if kf is not None else None
        self._present = set(keys)
        self._came, self._went = set(), set()
        return keys

    def _patched(self, kf: Callable[[Key], Any]) -> list[Key] | None:
        """The last order with the rows that went taken out and those that came put in (bisect); None when
        it does not add up (then the caller sorts)."""
        assert self._last is not None
        keys, vals = self._last
        keys, vals = list(keys), list(vals)   # the last order may still be on screen: patch a copy
        rows = self.flat_rows()
        for k in self._went:
            if k in rows:
                continue                       # came back since: its place has not moved
            v = kf(k)
            i = bisect.bisect_left(vals, v)
            if i < len(keys) and keys[i] == k:
                del keys[i], vals[i]
        for k in self._came:
            if k not in rows:
                continue
            v = kf(k)
            i = bisect.bisect_left(vals, v)
            if i < len(keys) and keys[i] == k:
                continue
            keys.insert(i, k)
            vals.insert(i, v)
        if len(keys) != len(rows):
            return None
        self._last = (keys, vals)
        return keys

    def _order(self) -> list[Key]:
        raise NotImplementedError

    def absorb(self, upserts: Iterable[Key], removed: Iterable[Key]) -> tuple[set[Key], bool]:
        """Keys whose rendering changed and whether the row order must be rebuilt."""
        ups = set(upserts)
        rem = set(removed)
        went = rem & self._present
        came = {k for k in ups if k not in self._present}
        self._went |= went
        self._came |= came
        reorder = bool(went or came)
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


def sorted_by(items: list[Any], key: Callable[[Any], Any], reverse: bool) -> list[Any]:
    try:
        return sorted(items, key=key, reverse=reverse)
    except TypeError:  # mixed None and numbers: sort the Nones last
        return sorted(items, key=lambda x: (key(x) is None, key(x) or 0), reverse=reverse)


def num(x: float | int | None) -> float:
    return float("-inf") if x is None else float(x)
