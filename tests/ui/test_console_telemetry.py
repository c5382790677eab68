"""GPU telemetry in the console against the in-process demo cluster: the exporters are scraped through
the API server's pod proxy, ticks are driven by the test and time moves on the simulator's manual clock
(the exporters' values and the sampler's cadence both follow it), so nothing waits for wall time."""

from __future__ import annotations

from console.model.telemetry_view import StoreGroupIndex
from console.sim.clock import SimClock
from console.sim.resources import PODS
from console.telemetry.dcgm import DcgmExporterSampler
from console.telemetry.idle import IdlePolicy
from console.ui.gpu_detail import GpuDetailScreen
from console.ui.panes.base import IDLE_MARK

from .conftest import DemoEnv, synced

SIZE = (160, 48)
STEP = 5.0    # the demo's exporters collect every 5 s


def make_app(env: DemoEnv, hold_s: float = 10.0):  # type: ignore[no-untyped-def]
    clock: SimClock = env.cluster.clock

    def factory(session):  # type: ignore[no-untyped-def]
        return DcgmExporterSampler(session.informer_client, mode="proxy", groups=StoreGroupIndex(session.store),
                                   clock=clock.now)

    return env.app(sampler_factory=factory, idle_policy=IdlePolicy(5.0, hold_s), telemetry_auto=False)


async def ticks(app, pilot, env: DemoEnv, n: int) -> None:  # type: ignore[no-untyped-def]
    """n fresh samples, the simulator's clock one exporter interval on between them."""
    for _ in range(n):
        if app.feed.ticks:
            env.cluster.clock.advance(STEP)
        res = await app.telemetry_tick()
        assert res is not None and res.fresh, "each tick after an interval is a new scrape"
    await pilot.pause()


def gpu_cells(app, key) -> dict[str, str]:  # type: ignore[no-untyped-def]
    pane = app.pane("gpus")
    cells = pane.table.visible_cells(key)
    return {c.key: v for c, v in zip(pane.model.columns, cells)}


def gpu_keys(app) -> list[tuple]:  # type: ignore[no-untyped-def]
    return [k for k in app.pane("gpus").model.order() if k[0] == "gpu"]


async def test_rows_fill_and_sparklines_grow_at_the_exporters_cadence(demo_env) -> None:
    app = make_app(demo_env)
    async with app.run_test(size=SIZE) as pilot:
        await synced(app, pilot)
        await pilot.press("2")
        await ticks(app, pilot, demo_env, 1)
        assert app.feed.sampler.interval_s == STEP
        header = app.query_one("#header").data
        # the demo has two sick GPUs (gpuFaults in the scenario): the header counts them and turns to a warning
        assert header.telemetry == "dcgm 14/14 nodes · 5s · 2 GPUs unhealthy" and header.telemetry_bad
        keys = gpu_keys(app)
        assert len(keys) == 96
        busy = None
        for k in keys:
            c = gpu_cells(app, k)
            assert c["util"].endswith("%"), (k, c)
            used, total = c["mem"].split("/")
            assert float(used) >= 0 and float(total) > 0
            assert c["temp"].endswith("°C") and c["power"].endswith("W")
            if busy is None and int(c["util"].rstrip("%")) > 50:
                busy = k
        assert busy is not None, "the demo trains on some GPUs"
        assert len(gpu_cells(app, busy)["spark"].strip()) == 1

        # Sooner than the exporters' interval: the cached snapshot, nothing redrawn.
        again = await app.telemetry_tick()
        assert again is not None and not again.fresh
        assert len(gpu_cells(app, busy)["spark"].strip()) == 1

        await ticks(app, pilot, demo_env, 3)
        spark = gpu_cells(app, busy)["spark"]
        assert len(spark.strip()) == 4 and set(spark.strip()) <= set("▁▂▃▄▅▆▇█")
        node = ("node", busy[1])
        assert gpu_cells(app, node)["util"].endswith("%")


async def test_idle_gpu_is_marked_and_i_lands_on_its_workload(demo_env) -> None:
    app = make_app(demo_env, hold_s=10.0)
    async with app.run_test(size=SIZE) as pilot:
        await synced(app, pilot)
        await pilot.press("2")
        await ticks(app, pilot, demo_env, 2)          # idle for 5 s: not yet held long enough
        assert not app.feed.view.idle_rows()
        assert not any(gpu_cells(app, k)["name"].startswith(IDLE_MARK) for k in gpu_keys(app))
        await ticks(app, pilot, demo_env, 2)          # now 15 s under 5 %
        idle = app.feed.view.idle_rows()
        assert idle, "the demo's notebooks hold GPUs and do nothing"
        marked = [k for k in gpu_keys(app) if gpu_cells(app, k)["name"].startswith(IDLE_MARK)]
        assert sorted(marked) == sorted(("gpu", *t.key) for t in idle)
        for k in gpu_keys(app):
            if k not in marked:
                continue
            assert float(gpu_cells(app, k)["util"].rstrip("%")) < 5

        # i on a row that is not idle goes to an idle one; i there goes to its workload.
        table = app.pane("gpus").table
        table.move_to(0)
        await pilot.press("i")
        key = table.cursor_key
        assert key in marked
        assert "idle-allocated for" in str(app.pane("gpus").query_one(".pane-detail").render())
        row = app.ctx.store.gpus.rows[(key[1], key[2])]
        holder = row.holders[0]
        await pilot.press("i")
        assert app.view == "workloads"
        wkey = app.pane("workloads").table.cursor_key
        assert wkey is not None and (wkey[0], wkey[2]) == (holder.namespace, holder.workload or holder.pod)
        name_cell = app.pane("workloads").table.visible_cells(wkey)[0]
        assert f"{IDLE_MARK}" in name_cell and "idle" in name_cell
        # The project of that workload counts it too.
        project = app.ctx.store.workloads.rows[wkey].project
        await pilot.press("escape", "1")
        assert f"{IDLE_MARK}" in app.pane("projects").table.visible_cells(project)[0]


async def test_broken_exporter_on_one_node_leaves_the_rest(demo_env) -> None:
    cluster = demo_env.cluster
    exporters = [p for p in cluster.store.items(PODS)
                 if (p["metadata"].get("labels") or {}).get("app") == "nvidia-dcgm-exporter"]
    broken = exporters[2]
    bad_node = broken["spec"]["nodeName"]
    serve = cluster.proxies[9400]

    def faulty(pod: dict, path: str, query: dict) -> tuple[str, bytes]:
        if pod["metadata"]["name"] == broken["metadata"]["name"]:
            raise RuntimeError("DCGM failed to initialize")
        return serve(pod, path, query)

    cluster.proxies[9400] = faulty
    app = make_app(demo_env)
    async with app.run_test(size=SIZE) as pilot:
        await synced(app, pilot)
        await pilot.press("2")
        await ticks(app, pilot, demo_env, 2)
        header = app.query_one("#header")
        assert header.data.telemetry_bad
        assert f"failing: {bad_node}" in header.data.telemetry and "13/14 nodes" in header.data.telemetry
        assert f"failing: {bad_node}" in str(header.render())
        for k in gpu_keys(app):
            c = gpu_cells(app, k)
            if k[1] == bad_node:
                assert c["util"] == "?" and not c["spark"].strip()
            else:
                assert c["util"].endswith("%") and len(c["spark"].strip()) == 2
        assert gpu_cells(app, ("node", bad_node))["util"] == "ERR"
        bad_gpu = next(k for k in gpu_keys(app) if k[1] == bad_node)
        app.pane("gpus").table.move_to_key(bad_gpu)
        await pilot.pause()
        assert "DCGM failed to initialize" in str(app.pane("gpus").query_one(".pane-detail").render())


async def test_history_view_plots_the_retained_window(demo_env) -> None:
    app = make_app(demo_env)
    async with app.run_test(size=SIZE) as pilot:
        await synced(app, pilot)
        await pilot.press("2")
        await ticks(app, pilot, demo_env, 4)
        table = app.pane("gpus").table
        held = next(k for k in gpu_keys(app) if app.ctx.store.gpus.rows[(k[1], k[2])].holders)
        table.move_to_key(held)
        await pilot.press("t")
        screen = app.screen
        assert isinstance(screen, GpuDetailScreen)
        text = screen.render_text().plain
        assert "4 points over 15s" in text
        for title in ("utilisation:", "memory used:", "temperature:", "power:"):
            assert title in text
        # 4 plots × 4 lines (a plot's top line is blank when its series stays in the lower part of its scale)
        plot_lines = [ln for ln in text.splitlines() if ln.startswith("  ")]
        assert len(plot_lines) == 16 and all(len(ln) == 74 for ln in plot_lines)
        assert all(any(ln.strip() for ln in plot_lines[i:i + 4]) for i in range(0, 16, 4))
        # titled by the device index the exporter names, not the row's slot on its node
        tel = app.feed.row((held[1], held[2]))
        assert text.startswith(f"{held[1]} #{tel.index} ")
        await pilot.press("escape")
        assert not isinstance(app.screen, GpuDetailScreen)

        # enter on a GPU nobody holds has nothing to drill into: it opens the history instead.
        free = next(k for k in gpu_keys(app) if not app.ctx.store.gpus.rows[(k[1], k[2])].holders)
        table.move_to_key(free)
        await pilot.press("enter")
        assert isinstance(app.screen, GpuDetailScreen) and app.screen.key == (free[1], free[2])


async def test_health_column_and_device_indexes(demo_env) -> None:
    app = make_app(demo_env)
    async with app.run_test(size=SIZE) as pilot:
        await synced(app, pilot)
        await pilot.press("2")
        # Before any scrape the API names no device index (only shared GPUs' UUIDs): rows say #?.
        assert all("#?" in gpu_cells(app, k)["name"] for k in gpu_keys(app))
        assert all(gpu_cells(app, k)["health"] == "" for k in gpu_keys(app))
        await ticks(app, pilot, demo_env, 1)
        order = app.pane("gpus").table.order
        by_node: dict[str, list[int]] = {}
        for k in gpu_keys(app):
            tel = app.feed.row((k[1], k[2]))
            assert tel is not None and tel.index is not None
            assert f"#{tel.index} " in gpu_cells(app, k)["name"]
        for k in order:
            if k[0] == "gpu":
                by_node.setdefault(k[1], []).append(app.feed.row((k[1], k[2])).index)
        # each node lists its GPUs in device order, and the indexes are the exporter's 0..n-1
        assert all(ix == list(range(len(ix))) for ix in by_node.values()), by_node
        health = {(k[1], app.feed.row((k[1], k[2])).index): gpu_cells(app, k)["health"] for k in gpu_keys(app)}
        assert health.pop(("dgx-h100-01", 2)) == "thermal +1"       # sw_thermal and hw_thermal
        assert health.pop(("dgx-h100-01", 6)) == "XID 48 +1"        # and the ECC error behind it
        assert set(health.values()) == {"✓"}
        assert gpu_cells(app, ("node", "dgx-h100-01"))["health"] == "⚠2 GPUs"
        assert gpu_cells(app, ("node", "dgx-h100-02"))["health"] == "✓"
        sick = next(k for k in gpu_keys(app) if k[1] == "dgx-h100-01" and app.feed.row((k[1], k[2])).index == 2)
        app.pane("gpus").table.move_to_key(sick)
        await pilot.pause()
        detail = str(app.pane("gpus").query_one(".pane-detail").render())
        assert "dgx-h100-01 #2 " in detail and "thermal, HW thermal" in detail and "SM " in detail
