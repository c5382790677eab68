"""This machine's GPUs for the Local pane (and the host marks on the GPUs pane), sampled off the UI.

Threads. NVML calls block, so the sampler runs each tick in a worker thread (with a timeout; a stuck
driver call is reported, never waited on). `tick()` itself runs on the informers' loop when a live
session has one, since the join reads the cluster model under the session lock as the dcgm feed does;
with no cluster (`--local`, or unreachable) it runs on the UI's loop, which then only awaits the worker.
Hand-over rule: `view` is an immutable `LocalView`, replaced whole at the end of a tick; the UI reads
the reference and never changes what it points to. Nothing else of the feed is read by the UI.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Callable
from typing import Any

from console.model.local_source import LocalSource, fake_mode
from console.model.local_view import LocalView, build, unavailable
from console.telemetry.sampler import Snapshot

SourceFactory = Callable[[], LocalSource]
HISTORY_POINTS = 60


def default_source() -> LocalSource:
    """Real NVML, or the fake `GPUCONSOLE_FAKE_NVML` asks for (ValueError for a value it does not know)."""
    return LocalSource(fake_mode())


class LocalFeed:
    """Owns this machine's sampler and the latest LocalView."""

    def __init__(self, factory: SourceFactory = default_source, history: int = HISTORY_POINTS) -> None:
        self.factory = factory
        self.history = history
        self.source: LocalSource | None = None
        self.view: LocalView | None = None
        self.ticks = 0
        self._made = False
        self._failed: str | None = None
        self._last: Snapshot | None = None
        self._rings: dict[str, deque[float | None]] = {}

    @property
    def interval_s(self) -> float:
        return self.source.interval_s if self.source is not None else 2.0

    def _source(self) -> LocalSource | None:
        if not self._made:
            self._made = True
            try:
                self.source = self.factory()
            except (ValueError, ImportError, OSError) as e:
                self._failed = f"NVML unavailable: {e}"
        return self.source

    async def tick(self, session: Any = None, dcgm: Snapshot | None = None) -> bool:
        """Sample once and rebuild the view; True when the view is new. `session`: the cluster to join
        with (None, or not live: processes stay unmapped)."""
        src = self._source()
        if src is None:
            if self.view is None:
                self.view = unavailable("", self._failed or "NVML unavailable")
                return True
            return False
        live = session is not None and getattr(session, "has_model", False)
        store = session.store if live else None
        lock = session.lock if live else contextlib.nullcontext()
        if store is not None:
            with lock:
                src.refresh(store, dcgm)
        snap = await src.sample()
        if snap is self._last:
            return False
        self._last = snap
        self.ticks += 1
        seen: set[str] = set()
        for g in snap.gpus():
            if g.gi_id is None and g.uuid:
                seen.add(g.uuid)
                ring = self._rings.setdefault(g.uuid, deque(maxlen=self.history))
                ring.append(None if g.lost else g.util_pct)
        if not snap.error:
            for gone in set(self._rings) - seen:   # a GPU replaced or no longer there
                del self._rings[gone]
        sparks = {u: tuple(r) for u, r in self._rings.items()}
        note = None
        if not live:
            note = getattr(session, "offline_note", None) or "no cluster connection: processes are not mapped to pods"
        with lock:
            self.view = build(snap, host=src.host, store=store, node=src.node, driver=src.driver,
                              source=src.source, note=note, sparks=sparks, dcgm=dcgm)
        return True

    async def close(self) -> None:
        if self.source is not None:
            await self.source.close()
