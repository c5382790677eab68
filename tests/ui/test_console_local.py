"""The Local pane (6): this machine's GPUs through NVML with every process's pod, against the demo cluster
(the fake NVML standing in for one of its nodes, as `make demo` runs it), with no cluster, and with no
NVML. Ticks are driven by the test on the simulator's manual clock; nothing waits for wall time."""

from __future__ import annotations

import asyncio

import pynvml

from console.app import ClusterConsole
from console.model.local_source import LocalSource
from console.sim.clock import SimClock
from console.telemetry.fake_nvml import FakeNvml, demo_scenario
from console.ui.session import LiveSession, LocalOnlySession

from .conftest import DemoEnv, synced
from .test_console_telemetry import STEP, gpu_cells, gpu_keys, make_app as dcgm_app, ticks

SIZE = (160, 48)


def demo_source(env: DemoEnv) -> LocalSource:
    clock: SimClock = env.cluster.clock
    return LocalSource("demo", clock=clock.now, xid_wait_ms=20)


def cells(app: ClusterConsole, key: tuple) -> dict[str, str]:
    pane = app.pane("local")
    return {c.key: v for c, v in zip(pane.model.columns, pane.table.visible_cells(key))}


async def local_ticks(app: ClusterConsole, env: DemoEnv, n: int = 1) -> None:
    for _ in range(n):
        if app.local.ticks:
            env.cluster.clock.advance(STEP)
        assert await app.local_tick(), "each tick after the interval is a fresh sample"


async def test_local_pane_maps_processes_to_the_nodes_pods(demo_env) -> None:
    app = dcgm_app(demo_env)
    app.local = type(app.local)(lambda: demo_source(demo_env))
    app.ctx.local = app.local
    async with app.run_test(size=SIZE) as pilot:
        await synced(app, pilot)
        await ticks(app, pilot, demo_env, 1)               # the node's exporter values, for the fake to follow
        await local_ticks(app, demo_env)
        await pilot.press("6")
        assert app.view == "local"
        v = app.local.view
        assert v.available and v.node == "dgx-h100-01" and v.host == "dgx-h100-01"
        store = app.ctx.store
        node_pods = {k for k in store.pods_by_node["dgx-h100-01"]}
        table = app.pane("local").table
        gpu_rows = [k for k in table.order if k[0] == "lgpu"]
        assert [cells(app, k)["index"].split()[0] for k in gpu_rows] == [f"#{i}" for i in range(8)]
        procs = [k for k in table.order if k[0] == "lproc"]
        owners = {cells(app, k)["pod"].lstrip("■ ") for k in procs}
        assert "host process" in owners
        mapped = {tuple(o.split("/")) for o in owners if o != "host process"}
        assert mapped and mapped <= node_pods                # every process's pod runs on this node
        for g in v.gpus:                                    # ... and holds the GPU it runs on
            row = store.gpus.rows[g.row]
            holders = {(h.namespace, h.pod) for h in row.holders}
            assert {(p.namespace, p.pod) for p in g.procs if p.pod} <= holders
            assert g.uuid == app.feed.row(g.row).uuid and g.index == app.feed.row(g.row).index
        health = {g.index: cells(app, ("lgpu", g.uuid))["health"] for g in v.gpus}
        # the XID event may or may not have come in before the first sample: ECC is there either way
        assert health[2] == "thermal +1" and health[6] in ("ECC", "XID 48 +1") and health[0] == "✓"
        header = str(app.pane("local").query_one(".pane-title").render())
        assert "node dgx-h100-01" in header and "fake NVML (demo)" in header and "8 GPUs" in header

        # The XID the node's exporter reports reaches NVML as an event (on its own thread).
        assert await asyncio.to_thread(app.local.source.sampler.xids.wait, 1, 5.0)
        await local_ticks(app, demo_env)
        assert cells(app, ("lgpu", next(g.uuid for g in app.local.view.gpus if g.index == 6)))["health"] == \
            "XID 48 +1"

        # Sort the processes under each GPU by memory, then reverse; GPUs keep their device order.
        await pilot.press("o", "o")
        assert app.pane("local").model.sort == "mem"
        busiest = next(g for g in app.local.view.gpus if len(g.procs) > 1)
        order = [k[2] for k in table.order if k[0] == "lproc" and k[1] == busiest.uuid]
        used = {p.pid: p.used_mib for p in busiest.procs}
        assert [used[p] for p in order] == sorted(used[p] for p in order)
        await pilot.press("O")
        order = [k[2] for k in table.order if k[0] == "lproc" and k[1] == busiest.uuid]
        assert [used[p] for p in order] == sorted((used[p] for p in order), reverse=True)
        assert [k for k in table.order if k[0] == "lgpu"] == gpu_rows

        # enter on a process: its workload on the Workloads pane.
        proc = next(k for k in table.order if k[0] == "lproc" and "/" in cells(app, k)["pod"])
        table.move_to_key(proc)
        await pilot.pause()
        assert "enter: its workload" in str(app.pane("local").query_one(".pane-detail").render())
        workload = cells(app, proc)["workload"]
        await pilot.press("enter")
        assert app.view == "workloads" and app.pane("workloads").drill.values == (workload,)

        # The GPUs pane marks this host's node and rows, with NVML's memory for each holder.
        await pilot.press("escape", "2")
        assert "⌂" in gpu_cells(app, ("node", "dgx-h100-01"))["name"]
        mine = [k for k in gpu_keys(app) if k[1] == "dgx-h100-01"]
        assert all(gpu_cells(app, k)["name"][1] == "⌂" for k in mine)
        assert not any("⌂" in gpu_cells(app, k)["name"] for k in gpu_keys(app) if k[1] != "dgx-h100-01")
        held = next(k for k in mine if store.gpus.rows[(k[1], k[2])].holders)
        assert gpu_cells(app, held)["holders"].rstrip().endswith("G")


async def test_without_a_cluster_the_pane_still_works(demo_env) -> None:
    app = ClusterConsole(lambda ctx: LocalOnlySession(), local_factory=lambda: LocalSource("demo"),
                         telemetry_auto=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert await app.local_tick()
        await pilot.press("6")
        v = app.local.view
        assert v.available and len(v.gpus) == 2 and v.node is None
        assert "no cluster" in app.pane("local").state_message
        owners = [cells(app, k)["pod"] for k in app.pane("local").table.order if k[0] == "lproc"]
        assert "host process" in owners and any("not in the cluster model" in o for o in owners)
        await pilot.press("2")
        assert "started with --local" in app.pane("gpus").state_message


async def test_unreachable_cluster_leaves_the_local_pane_working(tmp_path) -> None:
    missing = str(tmp_path / "no-such-kubeconfig")
    app = ClusterConsole(lambda ctx: LiveSession(missing, ctx), local_factory=lambda: LocalSource("demo"),
                         telemetry_auto=False, retry_base=30.0)
    async with app.run_test(size=SIZE) as pilot:
        while app.conn_state != "unreachable":
            await pilot.pause(0.01)
        assert await app.local_tick()
        await pilot.press("6")
        assert app.local.view.available and len(app.local.view.gpus) == 2
        assert "processes are not mapped to pods" in app.pane("local").state_message


async def test_no_nvml_says_why_in_one_line() -> None:
    def broken() -> LocalSource:
        return LocalSource(nvml=FakeNvml(demo_scenario(), init_error=pynvml.NVML_ERROR_LIBRARY_NOT_FOUND))

    app = ClusterConsole(lambda ctx: LocalOnlySession(), local_factory=broken, telemetry_auto=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await app.local_tick()
        await pilot.press("6")
        msg = app.pane("local").state_message
        assert msg == "NVML unavailable: NVML shared library not found (no NVIDIA driver installed on this machine)"
        assert len(app.pane("local").table) == 0 and msg in str(app.pane("local").query_one(".pane-title").render())


async def test_a_gpu_lost_mid_run_shows_as_lost() -> None:
    fake = FakeNvml(demo_scenario())
    app = ClusterConsole(lambda ctx: LocalOnlySession(), local_factory=lambda: LocalSource(nvml=fake, interval_s=0),
                         telemetry_auto=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await app.local_tick()
        await pilot.press("6")
        fake.lose(1)
        await app.local_tick()
        await pilot.pause()
        lost = app.local.view.gpus[1]
        assert lost.lost and cells(app, ("lgpu", lost.uuid))["util"] == "lost"
        assert cells(app, ("lgpu", lost.uuid))["health"] == "lost"
        assert not app.local.view.gpus[0].lost


async def test_bad_fake_setting_is_a_reason_not_a_crash(monkeypatch) -> None:
    monkeypatch.setenv("GPUCONSOLE_FAKE_NVML", "dmeo")
    app = ClusterConsole(lambda ctx: LocalOnlySession(), telemetry_auto=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await app.local_tick()
        await pilot.press("6")
        assert "GPUCONSOLE_FAKE_NVML='dmeo': unknown" in app.pane("local").state_message
