"""Snapshots of every pane on the seeded demo cluster with frozen time, in a dark and a light theme.

The model is filled from the simulator's objects without a server (StaticSession), every timestamp in
the cluster is fixed and the console's clock is injected, so the pictures are the same on every run.
Update with `pytest --snapshot-update tests/ui/test_console_snapshots.py` after looking at the report.
"""

from __future__ import annotations

import pytest

from console.config import Config
from console.sim.resources import BY_KEY
from console.ui.session import ClusterInfo, StaticSession

from .conftest import FROZEN_NOW, frozen_demo

MODEL_KEYS = ("nodes", "namespaces", "pods", "services", "resourcequotas", "deployments.apps", "replicasets.apps",
              "statefulsets.apps", "jobs.batch", "queues.scheduling.run.ai", "podgroups.scheduling.run.ai", "events")

_OBJECTS: dict[str, list[dict]] = {}


def demo_objects() -> dict[str, list[dict]]:
    if not _OBJECTS:
        cluster = frozen_demo()
        for key in MODEL_KEYS:
            _OBJECTS[key] = list(cluster.store.items(BY_KEY[key]))
    return _OBJECTS


def make_app(theme: str):  # type: ignore[no-untyped-def]
    from console.app import ClusterConsole
    from console.model.local_source import LocalSource

    info = ClusterInfo(context="sim-admin", cluster="demo", user="admin", server_version="v1.32.0")
    session = StaticSession(demo_objects(), info)
    # This machine's GPUs: the demo's fake NVML on a fixed clock, sampled only when the test says so.
    return ClusterConsole(lambda ctx: session, theme=theme, now=lambda: FROZEN_NOW, config=Config(refresh_hz=4),
                          local_factory=lambda: LocalSource("demo", clock=lambda: 1000.0, xid_events=False),
                          telemetry_auto=False)


@pytest.mark.parametrize("theme", ["gpuconsole-dark", "gpuconsole-light"])
@pytest.mark.parametrize("view", ["projects", "gpus", "workloads", "nodes", "events", "local"])
def test_pane_snapshot(snap_compare, view: str, theme: str) -> None:
    keys = {"projects": "1", "gpus": "2", "workloads": "3", "nodes": "4", "events": "5", "local": "6"}

    async def ready(pilot) -> None:  # type: ignore[no-untyped-def]
        app = pilot.app
        while app.session is None:
            await pilot.pause(0.01)
        app.flush()
        if view == "local":  # one NVML sample, joined to the demo cluster's model
            await app.local_tick()
        await pilot.press(keys[view])
        if view == "workloads":  # show a group expanded to its pods, and its detail line
            table = app.pane().table
            table.move_to_key(next(k for k in table.order if k[2] == "llama-8b-chat"))
            await pilot.press("enter")
        await pilot.pause()

    assert snap_compare(make_app(theme), terminal_size=(160, 48), run_before=ready)
