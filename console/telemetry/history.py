"""Bounded history per GPU for sparklines and the detail view's plots.

Each GPU gets a fixed-size ring (`array` slots, no per-point objects): times as doubles, values as
float32 with NaN for a missing value. Capacity is window / step, so a 2,000-node cluster scraped every
30 s keeps 21 points per GPU for 10 minutes, and a local NVML sampler at 1 s keeps 601. Points closer
than half a step replace the previous one instead of adding, and GPUs not seen for a whole window are
dropped, so memory stays bounded however long the console runs and however GPUs come and go.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Hashable, Iterator

from .sampler import GpuSample, Snapshot

FIELDS = ("util_pct", "mem_used_mib", "temp_c", "power_w")
_NAN = float("nan")


class Ring:
    """A fixed-capacity time series with len(FIELDS) value columns."""

    __slots__ = ("cap", "t", "cols", "head", "size")

    def __init__(self, cap: int) -> None:
        self.cap = max(1, cap)
        self.t = array("d", bytes(8 * self.cap))
        self.cols = [array("f", bytes(4 * self.cap)) for _ in FIELDS]
        self.head = 0   # next write position
        self.size = 0

    @property
    def last_t(self) -> float | None:
        return self.t[(self.head - 1) % self.cap] if self.size else None

    def append(self, t: float, values: tuple[float | None, ...], replace: bool = False) -> None:
        if replace and self.size:
            i = (self.head - 1) % self.cap
        else:
            i = self.head
            self.head = (self.head + 1) % self.cap
            self.size = min(self.cap, self.size + 1)
        self.t[i] = t
        for col, v in zip(self.cols, values):
            col[i] = _NAN if v is None else v

    def _indices(self) -> Iterator[int]:
        start = (self.head - self.size) % self.cap
        for k in range(self.size):
            yield (start + k) % self.cap

    def times(self, since: float | None = None) -> list[float]:
        return [self.t[i] for i in self._indices() if since is None or self.t[i] >= since]

    def values(self, field: str, since: float | None = None) -> list[float | None]:
        col = self.cols[FIELDS.index(field)]
        out: list[float | None] = []
        for i in self._indices():
            if since is not None and self.t[i] < since:
                continue
            v = col[i]
            out.append(None if math.isnan(v) else v)
        return out

    def nbytes(self) -> int:
        return self.t.buffer_info()[1] * self.t.itemsize + sum(c.buffer_info()[1] * c.itemsize for c in self.cols)

    def copy(self) -> "Ring":
        r = Ring.__new__(Ring)
        r.cap, r.head, r.size = self.cap, self.head, self.size
        r.t = array("d", self.t)
        r.cols = [array("f", c) for c in self.cols]
        return r


def sample_key(g: GpuSample) -> tuple[str, str, int | None]:
    """History key: node, UUID (or the index when the source gives none), MIG instance."""
    return (g.node, g.uuid or f"#{g.index}", g.gi_id)


class History:
    """Ring buffers per GPU over `window_s`, at most one point per `step_s`.

    All GPUs' rings live in a handful of flat arrays (one slot of `capacity` points per GPU), not in a
    ring object per GPU: on a 16,000-GPU cluster that is 7 objects instead of 96,000 for the cyclic GC
    to rescan, and `copy()` (once per tick, for the UI thread) is 7 memcpys.
    """

    def __init__(self, window_s: float = 600.0, step_s: float = 30.0) -> None:
        if window_s <= 0 or step_s <= 0:
            raise ValueError("window_s and step_s must be positive")
        self.window_s = window_s
        self.step_s = step_s
        self.capacity = int(math.ceil(window_s / step_s)) + 1
        self._slot: dict[Hashable, int] = {}
        self._t = array("d")
        self._cols = [array("f") for _ in FIELDS]
        self._head = array("l")    # next write position, per slot
        self._size = array("l")
        self._pruned_at = -math.inf

    def __len__(self) -> int:
        return len(self._slot)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._slot

    def add(self, snap: Snapshot) -> None:
        """Record every GPU of a snapshot (a snapshot seen twice adds nothing)."""
        t = snap.taken_at
        for g in snap.gpus():
            self.record(sample_key(g), t, (g.util_pct, g.mem_used_mib, g.temp_c, g.power_w))
        if t - self._pruned_at >= self.window_s / 4:
            self.prune(t)

    def _new_slot(self) -> int:
        cap = self.capacity
        self._t.frombytes(bytes(8 * cap))
        for c in self._cols:
            c.frombytes(bytes(4 * cap))
        self._head.append(0)
        self._size.append(0)
        return len(self._head) - 1

    def _last_t(self, i: int) -> float | None:
        size = self._size[i]
        return self._t[i * self.capacity + (self._head[i] - 1) % self.capacity] if size else None

    def record(self, key: Hashable, t: float, values: tuple[float | None, ...]) -> None:
        i = self._slot.get(key)
        if i is None:
            i = self._slot[key] = self._new_slot()
        cap = self.capacity
        head, size = self._head[i], self._size[i]
        last = self._last_t(i)
        if last is not None and t <= last:
            if t == last:
                return
            head = size = 0                    # the clock went back (a new source): start over
            last = None
        if last is not None and t - last < self.step_s / 2:
            j = (head - 1) % cap               # closer than half a step: replaces the last point
        else:
            j = head
            head = (head + 1) % cap
            size = min(cap, size + 1)
        at = i * cap + j
        self._t[at] = t
        for col, v in zip(self._cols, values):
            col[at] = _NAN if v is None else v
        self._head[i], self._size[i] = head, size

    def prune(self, now: float) -> None:
        """Forget GPUs not seen for a whole window (their slots are given back: the arrays shrink)."""
        cutoff = now - self.window_s
        keep = {k: i for k, i in self._slot.items() if (last := self._last_t(i)) is not None and last >= cutoff}
        if len(keep) != len(self._slot):
            cap = self.capacity
            t, cols = array("d"), [array("f") for _ in FIELDS]
            head, size = array("l"), array("l")
            slot: dict[Hashable, int] = {}
            for n, (k, i) in enumerate(keep.items()):
                t.extend(self._t[i * cap:(i + 1) * cap])
                for new, old in zip(cols, self._cols):
                    new.extend(old[i * cap:(i + 1) * cap])
                head.append(self._head[i])
                size.append(self._size[i])
                slot[k] = n
            self._slot, self._t, self._cols, self._head, self._size = slot, t, cols, head, size
        self._pruned_at = now

    def _positions(self, i: int, since: float | None) -> list[int]:
        cap, size = self.capacity, self._size[i]
        base, start = i * cap, (self._head[i] - size) % cap
        out = [base + (start + k) % cap for k in range(size)]
        if since is not None:
            t = self._t
            out = [p for p in out if t[p] >= since]
        return out

    def _since(self, i: int, now: float | None) -> float | None:
        end = now if now is not None else self._last_t(i)
        return None if end is None else end - self.window_s

    def series(self, key: Hashable, field: str = "util_pct", now: float | None = None) -> list[float | None]:
        """Values of one field within the window ending at `now` (default: the last point), oldest first."""
        i = self._slot.get(key)
        if i is None:
            return []
        col = self._cols[FIELDS.index(field)]
        out: list[float | None] = []
        for p in self._positions(i, self._since(i, now)):
            v = col[p]
            out.append(None if math.isnan(v) else v)
        return out

    def times(self, key: Hashable, now: float | None = None) -> list[float]:
        i = self._slot.get(key)
        if i is None:
            return []
        t = self._t
        return [t[p] for p in self._positions(i, self._since(i, now))]

    def copy(self) -> "History":
        """A copy to hand to another thread: the writer goes on with its own buffers, the reader keeps a
        consistent history (every GPU at the same tick) for as long as it holds the copy."""
        h = History(self.window_s, self.step_s)
        h._slot = dict(self._slot)
        h._t = array("d", self._t)
        h._cols = [array("f", c) for c in self._cols]
        h._head, h._size = array("l", self._head), array("l", self._size)
        h._pruned_at = self._pruned_at
        return h

    def nbytes(self) -> int:
        """Bytes held by the buffers themselves (the bound the tests check)."""
        return sum(a.buffer_info()[1] * a.itemsize for a in (self._t, *self._cols))
