"""Fixtures for the console's UI tests: the seeded demo cluster served in-process, and helpers that await
states (a synced model, a visible row) instead of sleeping."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest_asyncio

from console.app import ClusterConsole
from console.config import Config
from console.sim.auth import Users, write_kubeconfig
from console.sim.cluster import SimCluster
from console.ui.session import LiveSession

FROZEN = "2026-01-01T00:00:00Z"
FROZEN_NOW = dt.datetime(2026, 1, 1, 0, 10, tzinfo=dt.timezone.utc).timestamp()  # ten minutes later


def frozen_demo(scenario: str = "demo", seed: int = 42) -> SimCluster:
    """The demo cluster with every timestamp fixed, settled: the same objects on every run."""
    from console.sim import controllers, faults, pdb, scenarios, scheduler, validation

    c = SimCluster(seed=seed, manual_clock=True)
    c.store.clock = lambda: FROZEN  # type: ignore[method-assign]
    validation.install(c)
    faults.install(c)
    pdb.install(c)
    scheduler.install(c)
    controllers.install(c)
    scenarios.build(c, scenario, dynamic=False)
    c.settle()
    return c


@dataclass
class DemoEnv:
    cluster: SimCluster
    kubeconfig: str
    url: str

    def app(self, context: str | None = None, **kw: object) -> ClusterConsole:
        kc = self.kubeconfig
        from console.kube.config import list_contexts
        kw.setdefault("now", lambda: FROZEN_NOW)
        kw.setdefault("config", Config(refresh_hz=4))
        return ClusterConsole(lambda ctx: LiveSession(kc, ctx), context=context,
                              contexts=lambda: list_contexts(kc)[0], **kw)  # type: ignore[arg-type]


@pytest_asyncio.fixture
async def demo_env(tmp_path: Path) -> AsyncIterator[DemoEnv]:
    from console.sim.server import start_server

    cluster = frozen_demo()
    srv = await start_server(cluster, bookmark_interval=0.2, log_poll_interval=0.01)
    kubeconfig = tmp_path / "kubeconfig"
    write_kubeconfig(kubeconfig, srv.url, Users(cluster), tls=srv.tls)
    try:
        yield DemoEnv(cluster, str(kubeconfig), srv.url)
    finally:
        await srv.stop()


async def synced(app: ClusterConsole, pilot: object, timeout: float = 30.0) -> None:
    """Await the connection and a full sync, then one flush onto the panes."""
    async def ready() -> None:
        while app.session is None or not app.session.live:
            await pilot.pause(0.01)  # type: ignore[attr-defined]
        assert await app.session.wait_synced(timeout), "the console did not sync"
    await asyncio.wait_for(ready(), timeout)
    app.flush()
    await pilot.pause()  # type: ignore[attr-defined]


async def until(pilot: object, cond: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    """Await a state that arrives over the network (a watch event), flushing as the timer would."""
    app = pilot.app  # type: ignore[attr-defined]
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        if loop.time() > end:
            raise AssertionError(f"timed out waiting for {what}")
        app.flush()
        await pilot.pause(0.02)  # type: ignore[attr-defined]


def rows(app: ClusterConsole, view: str | None = None) -> list[list[str]]:
    t = app.pane(view).table
    return [t.visible_cells(k) for k in t.order]


def first_col(app: ClusterConsole, view: str | None = None) -> list[str]:
    return [r[0].strip(" ▾▸•└⇣") .strip() for r in rows(app, view)]
