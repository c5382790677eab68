"""The UI's reads against the informers' writes, under load: the hand-over rules of `console.ui.session`.

The informers run on their own thread; the UI reads what they write on every flush and every frame. A
read without a rule is a race that shows up on a busy cluster as `deque mutated during iteration` or
`dictionary changed size during iteration`. Here the simulator churns pods (status, labels, annotations,
creates, deletes) while the watches are dropped again and again (every reconnect is a request the
client's stats record) and GPU telemetry is scraped through the pod proxy over and over (history
written on the informers' thread); meanwhile the test's flush loop reads everything the UI reads:
the drain, the header (API rate, watches, health), every pane's order, rows and summary, the GPU
history plots. The interpreter switches threads every microsecond so a racy read is caught in the act.
Afterwards the model must equal a fresh list of the cluster: no event lost under the load.
"""

from __future__ import annotations

import asyncio
import itertools
import sys
import threading
from pathlib import Path

from console.kube import config
from console.kube.client import KubeClient
from console.kube.connection import Connection
from console.model.cluster_store import ClusterStore
from console.model.telemetry_view import StoreGroupIndex
from console.sim.auth import Users, write_kubeconfig
from console.sim.churn import Churn
from console.sim.server import start_server
from console.telemetry.dcgm import DcgmExporterSampler
from console.ui.gpu_detail import history_text
from console.ui.session import _models

from .conftest import DemoEnv, frozen_demo, synced, until

ROUNDS = 150          # flush-loop rounds under load: 15-40 s on two busy cores
HEADER_READS = 10     # header reads while the informers reconnect (the UI redraws it on every key too)
SCRAPE_EVERY = 4      # rounds between telemetry ticks (each scrapes 14 exporters through the pod proxy)
SWITCH_S = 1e-6       # thread switch interval while the load runs (the default is 5 ms)
# How an informer reports an exception its sink raised (`Informer.run`): a model bug, never an API error.
SINK_BUGS = ("RuntimeError", "KeyError", "TypeError", "AttributeError", "ValueError", "IndexError")


def fast_sampler(session):  # type: ignore[no-untyped-def]
    """dcgm through the pod proxy, its clock one exporter interval on at every call: every tick scrapes."""
    clock = itertools.count(0.0, 5.0)
    return DcgmExporterSampler(session.informer_client, mode="proxy", groups=StoreGroupIndex(session.store),
                               clock=lambda: float(next(clock)))


def read_everything(app) -> int:  # type: ignore[no-untyped-def]
    """What the UI reads from the informers' side on a flush and a frame; returns the rows rendered."""
    from console.app import VIEW_ORDER

    app.flush()
    app.update_header()
    n = 0
    for view in VIEW_ORDER:
        app.header_data()     # the header is redrawn on every flush, key and view switch
        pane = app.pane(view)
        pane.catch_up(force=True)
        pane._summary = None
        pane.refresh_chrome()
        table = pane.table
        for key in table.order[:30]:
            table.render_cells(key)
            n += 1
    feed = app.feed
    if feed is not None:
        for key in list(feed.view.rows)[:8]:
            history_text(feed, key, None)
    return n


async def fresh_store(kubeconfig: str) -> ClusterStore:
    """The cluster as a new connection lists it now."""
    creds = await asyncio.to_thread(config.load, kubeconfig, None)
    store = ClusterStore()
    async with KubeClient(creds) as client:
        conn = Connection(client, store, accept=_models)
        await conn.open()
        assert await conn.wait_synced(30)
        await conn.close()
    store.drain()
    return store


async def test_ui_reads_survive_informer_churn(tmp_path: Path) -> None:
    cluster = frozen_demo()
    srv = await start_server(cluster, bookmark_interval=0.05, log_poll_interval=0.01)
    kubeconfig = tmp_path / "kubeconfig"
    write_kubeconfig(kubeconfig, srv.url, Users(cluster), tls=srv.tls)
    env = DemoEnv(cluster, str(kubeconfig), srv.url)
    app = env.app(sampler_factory=fast_sampler, telemetry_auto=False)
    faults = cluster.extras["faults"]
    churn = Churn(cluster, rate=300, seed=3, max_pods=100)
    try:
        async with app.run_test(size=(160, 48)) as pilot:
            await synced(app, pilot)
            await app.telemetry_tick()
            churn.start()
            scrape: asyncio.Future = asyncio.ensure_future(app.telemetry_tick())
            ticks = 1
            old = sys.getswitchinterval()
            sys.setswitchinterval(SWITCH_S)
            rendered = 0
            try:
                for i in range(ROUNDS):
                    rendered += read_everything(app)
                    if scrape.done():               # a scrape on the informers' loop, most of the time
                        scrape.result()
                        if i % SCRAPE_EVERY == 0:
                            scrape, ticks = asyncio.ensure_future(app.telemetry_tick()), ticks + 1
                    faults.drop_watches()           # every reconnect is a request the stats record
                    if i % 30 == 29:
                        faults.expire_window()      # and a re-list: page requests, a replace under the lock
                    for _ in range(HEADER_READS):   # the simulator, churn and scraper run on this loop
                        await asyncio.sleep(0)
                        app.header_data()
            finally:
                sys.setswitchinterval(old)
                await churn.stop()
                await scrape
            assert rendered > ROUNDS * 5
            assert churn.events > 1000, churn.state()
            assert app.feed is not None and app.feed.ticks >= ticks > 3
            bugs = [h.last_error for h in app.session.health if h.last_error.startswith(SINK_BUGS)]
            assert not bugs, f"an informer's sink failed: {bugs}"

            # No event lost: once the watches have caught up, the model equals a fresh list.
            fresh = await fresh_store(str(kubeconfig))
            store = app.session.store

            def caught_up() -> bool:
                with app.session.lock:
                    return store.pods == fresh.pods and store.owners == fresh.owners
            await until(pilot, caught_up, timeout=30, what="the model to equal a fresh list")
            with app.session.lock:
                app.flush()
                assert store.workloads.rows == fresh.workloads.rows
                assert store.gpus.rows == fresh.gpus.rows
            await app.action_quit()
    finally:
        await srv.stop()


async def test_a_view_switch_never_waits_for_the_informers_lock(demo_env: DemoEnv) -> None:
    """While the informers' thread holds the model (a re-list's commit), keys and frames go on; the pane
    is ordered by the first flush after the lock is free."""
    app = demo_env.app()
    app.idle_order_s = float("inf")   # no ordering of hidden panes at rest: the switch finds Nodes unordered
    async with app.run_test(size=(160, 48)) as pilot:
        await synced(app, pilot)
        held, release = threading.Event(), threading.Event()

        def informers_commit() -> None:
            with app.session.lock:
                held.set()
                release.wait(10)

        t = threading.Thread(target=informers_commit)
        t.start()
        try:
            assert await asyncio.to_thread(held.wait, 5)
            await asyncio.wait_for(pilot.press("4"), 5)   # a blocking acquire would hang here
            pane = app.pane("nodes")
            assert app.view == "nodes" and pane.behind and len(pane.table) == 0
            app.flush()                                   # skipped: the lock is still held
            assert pane.behind
        finally:
            release.set()
            await asyncio.to_thread(t.join, 5)
        app.flush()
        assert not pane.behind and len(pane.table) == 14


async def test_hidden_panes_are_ordered_while_the_keyboard_rests_not_while_keys_come(demo_env: DemoEnv) -> None:
    """A switch to a pane whose rows came while it was hidden finds its order ready when the keyboard rested."""
    app = demo_env.app()
    app.idle_order_s = float("inf")                  # keys keep coming: hidden panes wait for their switch
    async with app.run_test(size=(160, 48)) as pilot:
        await synced(app, pilot)
        hidden = [app.pane(n) for n in ("gpus", "workloads", "nodes")]
        app.flush()
        assert app.view == "projects" and all(p.behind for p in hidden)
        app.idle_order_s = 0.0                       # the keyboard rests: one hidden pane a flush, in turn
        for _ in range(8):
            app.flush()
        assert not any(p.behind for p in hidden)
        assert len(app.pane("nodes").table) == 14    # ordered without ever being shown
        await pilot.press("4")
        assert app.view == "nodes" and len(app.pane().table) == 14
