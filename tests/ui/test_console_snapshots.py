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
              "statefulsets.apps", "jobs.batch", "queues.scheduling.run.ai", "podgroups.scheduling.run.ai", "events",
              "horizontalpodautoscalers.autoscaling", "services.serving.knative.dev",
              "configurations.serving.knative.dev", "revisions.serving.knative.dev",
              "inferenceservices.serving.kserve.io", "inferenceworkloads.run.ai")

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


async def serve_figures(app) -> None:  # type: ignore[no-untyped-def]
    """Serving figures for the static demo: its inference pods' pages, rendered by a frozen simulator of the
    same demo, scraped four times ten seconds apart (as the console's own scraper reads them)."""
    from console.model.serving_view import ServingView
    from console.telemetry.serving_tracker import ServingTracker
    from tests.conftest import serving_rounds

    cluster, store = frozen_demo(), app.ctx.store
    tracker, view = ServingTracker(), ServingView()
    for _ in range(4):
        await serving_rounds(cluster, store, (10.0,), tracker)
        snap = view.build(store, tracker, cluster.clock.now(), state=f"serving {len(tracker.last)} pods · 10s")
    app._apply_serving(snap)


@pytest.mark.parametrize("theme", ["gpuconsole-dark", "gpuconsole-light"])
@pytest.mark.parametrize("view", ["projects", "gpus", "workloads", "nodes", "events", "local", "inference"])
def test_pane_snapshot(snap_compare, view: str, theme: str) -> None:
    keys = {"projects": "1", "gpus": "2", "workloads": "3", "nodes": "4", "events": "5", "local": "6",
            "inference": "7"}

    async def ready(pilot) -> None:  # type: ignore[no-untyped-def]
        app = pilot.app
        while app.session is None:
            await pilot.pause(0.01)
        app.flush()
        if view == "local":  # one NVML sample, joined to the demo cluster's model
            await app.local_tick()
        if view in ("inference", "workloads"):
            await serve_figures(app)
        await pilot.press(keys[view])
        if view == "workloads":  # show a group expanded to its pods, and its detail line
            table = app.pane().table
            table.move_to_key(next(k for k in table.order if k[2] == "llama-8b-chat"))
            await pilot.press("enter")
        await pilot.pause()

    assert snap_compare(make_app(theme), terminal_size=(160, 48), run_before=ready)


class SyncingSession(StaticSession):
    """The demo model under a fixed list progress, so the picture of a sync is the same on every run."""

    def __init__(self, sync) -> None:  # type: ignore[no-untyped-def]
        super().__init__(demo_objects(), ClusterInfo(context="sim-admin", cluster="demo", user="admin",
                                                     server_version="v1.32.0"))
        self._sync = sync

    @property
    def sync(self):  # type: ignore[no-untyped-def]
        return self._sync


def _progress(relist: bool):  # type: ignore[no-untyped-def]
    from console.kube import progress as pg

    done = dict(phase=pg.WATCHING, complete_once=True, started=100.0, total_exact=True)
    busy = dict(phase=pg.LISTING, complete_once=relist, started=100.0)
    parts = [pg.ListProgress(k, listed=n, total=n, **done)  # type: ignore[arg-type]
             for k, n in (("nodes", 14), ("queues.scheduling.run.ai", 12), ("deployments.apps", 19),
                          ("services", 16), ("resourcequotas", 0), ("statefulsets.apps", 1), ("events", 161))]
    parts += [pg.ListProgress("pods", listed=40, total=85, total_exact=not relist, **busy),  # type: ignore[arg-type]
              pg.ListProgress("podgroups.scheduling.run.ai", listed=58, total=58, total_exact=True,
                              phase=pg.APPLYING, complete_once=relist, started=100.0),
              pg.ListProgress("replicasets.apps", listed=10, total=None, **busy),  # type: ignore[arg-type]
              pg.ListProgress("jobs.batch", listed=0, total=None, phase=pg.WAITING, complete_once=relist)]
    return pg.SyncSnapshot.of(parts, opened=True)


@pytest.mark.parametrize("relist,view", [(False, "projects"), (True, "gpus")])
def test_sync_progress_snapshot(snap_compare, relist: bool, view: str) -> None:
    """While lists run: the progress line under the header; on the first sync every figure that counts pods
    shows `…`; on a re-list the last complete figures stay, dimmed and marked stale."""
    from console.app import ClusterConsole

    session = SyncingSession(_progress(relist))
    app = ClusterConsole(lambda ctx: session, theme="gpuconsole-dark", now=lambda: FROZEN_NOW,
                         config=Config(refresh_hz=4), monotonic=lambda: 104.0)

    async def ready(pilot) -> None:  # type: ignore[no-untyped-def]
        while pilot.app.session is None:
            await pilot.pause(0.01)
        pilot.app.flush()
        await pilot.press({"projects": "1", "gpus": "2"}[view])
        await pilot.pause()

    assert snap_compare(app, terminal_size=(160, 30), run_before=ready)


TERMINATING_SINCE = "2026-01-01T00:09:48Z"   # twelve seconds before the console's clock


def terminating_objects() -> dict[str, list[dict]]:
    """The demo with one of llama-8b-chat's pods just deleted (30 s grace period, 12 s into it)."""
    import copy
    objs = {k: list(v) for k, v in demo_objects().items()}
    pods = objs["pods"]
    i = min((i for i, p in enumerate(pods) if p["metadata"]["name"].startswith("llama-8b-chat-")),
            key=lambda i: pods[i]["metadata"]["name"])
    pod = copy.deepcopy(pods[i])
    pod["metadata"]["deletionTimestamp"] = "2026-01-01T00:10:18Z"
    pod["metadata"]["deletionGracePeriodSeconds"] = 30
    pods[i] = pod
    return objs


@pytest.mark.parametrize("view", ["gpus", "workloads"])
def test_terminating_pod_snapshot(snap_compare, view: str) -> None:
    """A pod being deleted: its share drawn ▒ and marked ⌛ on its GPU, its workload and pod row Terminating."""
    from console.app import ClusterConsole

    objs = terminating_objects()
    gone = next(p for p in objs["pods"] if p["metadata"].get("deletionTimestamp"))
    info = ClusterInfo(context="sim-admin", cluster="demo", user="admin", server_version="v1.32.0")
    session = StaticSession(objs, info)
    app = ClusterConsole(lambda ctx: session, theme="gpuconsole-dark", now=lambda: FROZEN_NOW,
                         config=Config(refresh_hz=4))

    async def ready(pilot) -> None:  # type: ignore[no-untyped-def]
        app = pilot.app
        while app.session is None:
            await pilot.pause(0.01)
        app.flush()
        await pilot.press({"gpus": "2", "workloads": "3"}[view])
        table = app.pane().table
        if view == "gpus":
            rows = app.ctx.store.gpus.rows
            table.move_to_key(next(k for k in table.order if k[0] == "gpu" and any(
                h.pod == gone["metadata"]["name"] for h in rows[(k[1], k[2])].holders)))
        else:
            table.move_to_key(next(k for k in table.order if k[2] == "llama-8b-chat"))
            await pilot.press("enter")  # expanded, the cursor on the group: its detail line names the terminating
        await pilot.pause()

    assert snap_compare(app, terminal_size=(160, 48), run_before=ready)
