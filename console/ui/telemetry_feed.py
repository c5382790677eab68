"""The console's GPU telemetry: one sampler per session, joined into the GPU rows on every tick.

`tick()` is meant to run on the informers' loop (`LiveSession.off_ui`): scraping and parsing an
exporter per node, and joining thousands of GPU rows, must not hold up the UI's frames. It joins under
the session lock, as the informers write the same model. The App applies what `tick()` returns:
GPU rows whose values changed and the workloads and projects whose idle-GPU counts changed.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from console.model.telemetry_view import (GpuTelemetry, StoreGroupIndex, TelemetryView, idle_by_project,
                                          idle_by_workload, uid_index)
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


class TelemetryFeed:
    """Owns the sampler and the TelemetryView of one session."""

    def __init__(self, session: Any, factory: SamplerFactory = dcgm_sampler, policy: IdlePolicy | None = None,
                 window_s: float = 600.0) -> None:
        self.session = session
        self.factory = factory
        self.policy = policy or IdlePolicy()
        self.window_s = window_s
        self.view = TelemetryView(self.policy, window_s)
        self.sampler: Sampler | None = None
        self._made = False
        self.snapshot: Snapshot | None = None
        self.idle_workloads: dict[tuple[str, str], int] = {}
        self.idle_projects: dict[str, int] = {}
        self.ticks = 0

    @property
    def available(self) -> bool:
        return self.sampler is not None or not self._made

    @property
    def interval_s(self) -> float:
        return self.sampler.interval_s if self.sampler is not None else 30.0

    def state(self) -> tuple[str, bool]:
        if self._made and self.sampler is None:
            return "GPU telemetry: off (no live cluster connection)", False
        text, bad = state_text(self.snapshot, self.sampler.interval_s if self.sampler and self.snapshot else None)
        sick = self.unhealthy
        if sick:
            text += f" · {sick} GPU{'s' if sick > 1 else ''} unhealthy"
        return text, bad or bool(sick)

    @property
    def unhealthy(self) -> int:
        """GPUs whose exporter reports an XID, throttling, ECC, row remapping or NVLink trouble."""
        return sum(1 for t in self.view.rows.values() if t.health is not None and t.health.problems())

    async def tick(self) -> TickResult:
        """Sample once (the sampler returns its cached snapshot when called sooner than its interval)."""
        if not self._made:
            self._made = True
            self.sampler = self.factory(self.session)
        if self.sampler is None:
            return TickResult(False)
        snap = await self.sampler.sample()
        if snap is self.snapshot:
            return TickResult(False)
        if self.ticks == 0 or self.view.history.step_s > self.sampler.interval_s:
            # One history point per exporter interval: the demo's 5 s exporters fill sparklines quickly.
            self.view = TelemetryView(self.policy, self.window_s, step_s=max(1.0, self.sampler.interval_s))
        self.ticks += 1
        self.snapshot = snap
        store = self.session.store
        with self.session.lock:
            changed, removed = self.view.ingest(snap, store.gpus.rows, uid_index(store))
            workloads = idle_by_workload(store.gpus.rows, self.view.rows)
            projects = idle_by_project(store, store.gpus.rows, self.view.rows)
        res = TickResult(True, set(changed) | removed)
        res.workloads = {k for k in set(workloads) | set(self.idle_workloads)
                         if workloads.get(k) != self.idle_workloads.get(k)}
        res.projects = {k for k in set(projects) | set(self.idle_projects)
                        if projects.get(k) != self.idle_projects.get(k)}
        self.idle_workloads, self.idle_projects = workloads, projects
        return res

    def row(self, key: tuple[str, int]) -> GpuTelemetry | None:
        return self.view.rows.get(key)

    async def close(self) -> None:
        if self.sampler is not None:
            await self.sampler.close()
