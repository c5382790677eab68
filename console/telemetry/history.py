"""Bounded history per GPU for sparklines and the detail view's plots.

Each GPU gets fixed-size ring buffers (`array`, no per-point objects): times as doubles, values as
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
    """Ring buffers per GPU over `window_s`, at most one point per `step_s`."""

    def __init__(self, window_s: float = 600.0, step_s: float = 30.0) -> None:
        if window_s <= 0 or step_s <= 0:
            raise ValueError("window_s and step_s must be positive")
        self.window_s = window_s
        self.step_s = step_s
        self.capacity = int(math.ceil(window_s / step_s)) + 1
        self._rings: dict[Hashable, Ring] = {}
        self._pruned_at = -math.inf

    def __len__(self) -> int:
        return len(self._rings)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._rings

    def add(self, snap: Snapshot) -> None:
        """Record every GPU of a snapshot (a snapshot seen twice adds nothing)."""
        t = snap.taken_at
        for g in snap.gpus():
            self.record(sample_key(g), t, (g.util_pct, g.mem_used_mib, g.temp_c, g.power_w))
        if t - self._pruned_at >= self.window_s / 4:
            self.prune(t)

    def record(self, key: Hashable, t: float, values: tuple[float | None, ...]) -> None:
        ring = self._rings.get(key)
        if ring is None:
            ring = self._rings[key] = Ring(self.capacity)
        last = ring.last_t
        if last is not None and t <= last:
            if t == last:
                return
            ring.head = ring.size = 0      # the clock went back (a new source): start over
        ring.append(t, values, replace=last is not None and t - last < self.step_s / 2)

    def prune(self, now: float) -> None:
        """Forget GPUs not seen for a whole window."""
        cutoff = now - self.window_s
        for k in [k for k, r in self._rings.items() if r.last_t is None or r.last_t < cutoff]:
            del self._rings[k]
        self._pruned_at = now

    def series(self, key: Hashable, field: str = "util_pct", now: float | None = None) -> list[float | None]:
        """Values of one field within the window ending at `now` (default: the last point), oldest first."""
        ring = self._rings.get(key)
        if ring is None:
            return []
        end = now if now is not None else ring.last_t
        return ring.values(field, since=None if end is None else end - self.window_s)

    def times(self, key: Hashable, now: float | None = None) -> list[float]:
        ring = self._rings.get(key)
        if ring is None:
            return []
        end = now if now is not None else ring.last_t
        return ring.times(since=None if end is None else end - self.window_s)

    def copy(self) -> "History":
        """A copy to hand to another thread: the writer goes on with its own buffers, the reader keeps a
        consistent history (every GPU at the same tick) for as long as it holds the copy."""
        h = History(self.window_s, self.step_s)
        h._rings = {k: r.copy() for k, r in self._rings.items()}
        h._pruned_at = self._pruned_at
        return h

    def nbytes(self) -> int:
        """Bytes held by the buffers themselves (the bound the tests check)."""
        return sum(r.nbytes() for r in self._rings.values())
