"""The console's GPU telemetry: one sampler per session, joined into the GPU rows on every tick.

`tick()` is meant to run on the informers' loop (`LiveSession.off_ui`): scraping and parsing an
exporter per node, and joining thousands of GPU rows, must not hold up the UI's frames. It copies the
GPU view's rows inside the session lock (the UI's drain writes them), joins them in a worker thread (so
the informers' loop goes on applying watch events) into a TelemetryView only the tick touches, and
publishes what the UI reads as one immutable `TelemetryState` (`feed.view`), swapped by
reference: rows, idle counts, the exporter snapshot and a copy of the history buffers, all of one tick.
The App applies what `tick()` returns: GPU rows whose values changed and the workloads and projects
whose idle-GPU counts changed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

from console.model.telemetry_view import (GpuTelemetry, RowKey, StoreGroupIndex, TelemetryView, idle_by_project,
                                          idle_by_workload, idle_rows, uid_index)
from console.telemetry.history import History
from console.telemetry.idle import IdlePolicy
from console.telemetry.sampler import Sampler, Snapshot

SamplerFactory = Callable[[Any], Sampler | None]


def dcgm_sampler(session: Any) -> Sampler | None:
    """The cluster's dcgm-exporter pods, found and scraped with the informers' client."""
    from console.telemetry.dcgm import DcgmExporterSampler

    client = getattr(session, "informer_client", None)
    if client is None:
        return None
    return DcgmExporterSampler(client, groups=StoreGroupIndex(session.store))


def fmt_interval(s: float) -> str:
    return f"{s:g}s" if s < 120 else f"{s / 60:g}m"


def state_text(snap: Snapshot | None, interval_s: float | None) -> tuple[str, bool]:
    """The header's telemetry state and whether it is a problem: `dcgm 14/14 nodes · 5s`, or why not."""
    if snap is None:
        return "GPU telemetry: starting", False
    if snap.error:
        return f"GPU telemetry: {snap.error}", True
    short = "dcgm" if snap.source == "dcgm-exporter" else snap.source
    n = len(snap.nodes)
    failing = snap.failing_nodes
    text = f"{short} {n - len(failing)}/{n} nodes"
    if interval_s:
        text += f" · {fmt_interval(interval_s)}"
    if failing:
        first = snap.nodes[failing[0]].error or "no data"
        text += f" · failing: {failing[0]} ({first})"
        if len(failing) > 1:
            text += f" +{len(failing) - 1} more"
    lost = sum(1 for g in snap.gpus() if g.lost)
    if lost:
        text += f" · {lost} GPUs lost"
    return text, bool(failing or lost)


@dataclass
class TickResult:
    """What one tick changed, in the model's keys."""

    fresh: bool                                             # a new snapshot (not the cached one)
    gpus: set[tuple[str, int]] = field(default_factory=set)
    workloads: set[Hashable] = field(default_factory=set)   # (namespace, workload name)
    projects: set[str] = field(default_factory=set)

    def merge(self, later: "TickResult") -> "TickResult":
        """Two ticks' changes, for a flush that applies both at once."""
        return TickResult(self.fresh or later.fresh, self.gpus | later.gpus, self.workloads | later.workloads,
                          self.projects | later.projects)


@dataclass(frozen=True)
class TelemetryState:
    """One tick as the UI reads it; built on the informers' thread and never changed once published."""

    rows: Mapping[RowKey, GpuTelemetry] = field(default_factory=dict)
    history: History = field(default_factory=History)
    snapshot: Snapshot | None = None
    idle_workloads: Mapping[tuple[str, str], int] = field(default_factory=dict)
    idle_projects: Mapping[str, int] = field(default_factory=dict)

    def idle_rows(self) -> list[GpuTelemetry]:
        """Idle-allocated GPUs, longest idle first (the UI's jump list)."""
        return idle_rows(self.rows)


class TelemetryFeed:
    """Owns the sampler and the telemetry of one session: `view` is what the UI reads."""

    def __init__(self, session: Any, factory: SamplerFactory = dcgm_sampler, policy: IdlePolicy | None = None,
                 window_s: float = 600.0) -> None:
        self.session = session
        self.factory = factory
        self.policy = policy or IdlePolicy()
        self.window_s = window_s
        self._view = TelemetryView(self.policy, window_s)   # the informers' thread's own (ingest, idle clocks)
        self.view = TelemetryState()                         # published once per tick, swapped whole
        self.sampler: Sampler | None = None
        self._made = False
        self._snap: Snapshot | None = None
        self._ticking: asyncio.Lock | None = None
        self._state: tuple[str, bool] = ("", False)
        self._state_for: Snapshot | None | bool = False      # the snapshot `_state` was worked out for
        self._state_interval: float | None = None
        self.ticks = 0

    @property
    def snapshot(self) -> Snapshot | None:
        return self.view.snapshot

    @property
    def idle_workloads(self) -> Mapping[tuple[str, str], int]:
        return self.view.idle_workloads

    @property
    def idle_projects(self) -> Mapping[str, int]:
        return self.view.idle_projects

    @property
    def available(self) -> bool:
        return self.sampler is not None or not self._made

    @property
    def interval_s(self) -> float:
        return self.sampler.interval_s if self.sampler is not None else 30.0

    def state(self) -> tuple[str, bool]:
        """The header's telemetry state; worked out once per snapshot (it walks every GPU), not per frame."""
        if self._made and self.sampler is None:
            return "GPU telemetry: off (no live cluster connection)", False
        snap = self.view.snapshot
        interval = self.sampler.interval_s if self.sampler and snap else None
        if self._state_for is not snap or self._state_interval != interval:
            text, bad = state_text(snap, interval)
            sick = self.unhealthy
            if sick:
                text += f" · {sick} GPU{'s' if sick > 1 else ''} unhealthy"
            self._state = (text, bad or bool(sick))
            self._state_for, self._state_interval = snap, interval
        return self._state

    @property
    def unhealthy(self) -> int:
        """GPUs whose exporter reports an XID, throttling, ECC, row remapping or NVLink trouble."""
        return sum(1 for t in self.view.rows.values() if t.health is not None and t.health.problems())

    async def tick(self) -> TickResult:
        """Sample once (the sampler returns its cached snapshot when called sooner than its interval)."""
        if self._ticking is None:
            self._ticking = asyncio.Lock()
        async with self._ticking:   # one join at a time: the TelemetryView is not shared
            return await self._tick()

    async def _tick(self) -> TickResult:
        if not self._made:
            self._made = True
            self.sampler = self.factory(self.session)
        if self.sampler is None:
            return TickResult(False)
        snap = await self.sampler.sample()
        if snap is self._snap:
            return TickResult(False)
        self._snap = snap
        if self.ticks == 0 or self._view.history.step_s > self.sampler.interval_s:
            # One history point per exporter interval: the demo's 5 s exporters fill sparklines quickly.
            self._view = TelemetryView(self.policy, self.window_s, step_s=max(1.0, self.sampler.interval_s))
        self.ticks += 1
        store = self.session.store
        with self.session.lock:   # the GPU view's rows are the UI's (its drain writes them): a copy, inside
            rows = dict(store.gpus.rows)
        name_of_uid = uid_index(store)   # the records are this thread's own
        # The join is a few hundred ms of CPU on a large cluster: in a worker thread, so this loop goes on
        # applying watch events meanwhile (it reads only the copies above, the snapshot and single records).
        state, changed, removed = await asyncio.to_thread(self._join, snap, rows, name_of_uid)
        old = self.view
        res = TickResult(True, set(changed) | removed)
        res.workloads = {k for k in set(state.idle_workloads) | set(old.idle_workloads)
                         if state.idle_workloads.get(k) != old.idle_workloads.get(k)}
        res.projects = {k for k in set(state.idle_projects) | set(old.idle_projects)
                        if state.idle_projects.get(k) != old.idle_projects.get(k)}
        self.view = state
        return res

    def _join(self, snap: Snapshot, rows: Mapping[RowKey, Any], name_of_uid: Callable[[str], Any]
              ) -> tuple[TelemetryState, Mapping[RowKey, GpuTelemetry], set[RowKey]]:
        changed, removed = self._view.ingest(snap, rows, name_of_uid)
        workloads = idle_by_workload(rows, self._view.rows)
        projects = idle_by_project(self.session.store, rows, self._view.rows)
        # `ingest` builds a new rows dict each time and never touches it again; the history is copied.
        return TelemetryState(self._view.rows, self._view.history.copy(), snap, workloads, projects), changed, removed

    def row(self, key: tuple[str, int]) -> GpuTelemetry | None:
        return self.view.rows.get(key)

    async def close(self) -> None:
        if self.sampler is not None:
            await self.sampler.close()
