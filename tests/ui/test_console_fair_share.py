"""KAI's fair share on the Projects pane against the in-process demo cluster: the FAIR and SAT columns, the
reclaim-next marker and its reason, and where the numbers come from (KAI's metrics, or computed and why)."""

from __future__ import annotations

from console.model.fair_share import fmt_saturation
from console.telemetry.kai_metrics import KaiMetricsReader
from console.ui.panes.projects import RECLAIM_MARK
from widgets.bars import fmt_gpu

from .conftest import DemoEnv, synced

SIZE = (200, 48)


def cells(app, key: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    pane = app.pane("projects")
    return {c.key: v for c, v in zip(pane.model.columns, pane.table.visible_cells(key))}


def title(app) -> str:  # type: ignore[no-untyped-def]
    return str(app.pane("projects").query_one(".pane-title").render())


def detail(app) -> str:  # type: ignore[no-untyped-def]
    return str(app.pane("projects").query_one(".pane-detail").render())


async def test_fair_column_shows_kais_numbers_and_marks_who_is_reclaimed_next(demo_env: DemoEnv) -> None:
    app = demo_env.app(telemetry_auto=False)
    async with app.run_test(size=SIZE) as pilot:
        await synced(app, pilot)
        assert "fair share: computed with KAI's rules" in title(app)   # before KAI's metrics are read
        assert await app.fair_share_tick()
        await pilot.pause()
        assert "fair share: KAI metrics (kai-scheduler/kai-scheduler-default-" in title(app)
        fair = demo_env.cluster.extras["kai_scheduler"].fair_share_now()
        table = app.ctx.store.fair_share.table
        for name, v in fair.items():
            row = cells(app, name)
            assert row["fair"] == fmt_gpu(v), name
            assert row["saturation"] == fmt_saturation(table.shares[name].saturation)
        nxt = table.reclaim_next
        assert nxt is not None
        marked = [k for k in app.pane("projects").table.order if cells(app, k)["name"].endswith(RECLAIM_MARK)]
        assert marked == [nxt.queue]
        assert f"{RECLAIM_MARK} reclaimed next: {nxt.queue}" in title(app)
        app.pane("projects").table.move_to_key(nxt.queue)
        await pilot.pause()
        assert nxt.reason in detail(app) and nxt.reason.startswith("reclaimed next: allocated ")
        app.pane("projects").table.move_to_key("chat-serving")
        await pilot.pause()
        assert f"fair share {fmt_gpu(fair['chat-serving'])} (KAI)" in detail(app)
        assert f"reclaimed next: {nxt.queue}" in detail(app)
        assert not await app.fair_share_tick()   # within the reader's interval: the same answer, nothing moves


async def test_without_kai_metrics_the_pane_says_computed_and_why(demo_env: DemoEnv) -> None:
    app = demo_env.app(telemetry_auto=False,
                       kai_reader_factory=lambda s: KaiMetricsReader(s.informer_client, namespace="nowhere"))
    async with app.run_test(size=SIZE) as pilot:
        await synced(app, pilot)
        assert await app.fair_share_tick()
        await pilot.pause()
        assert ("fair share: computed with KAI's rules (KAI scheduler metrics unavailable: no running KAI "
                "scheduler pod in nowhere") in title(app)
        fair = demo_env.cluster.extras["kai_scheduler"].fair_share_now()
        assert cells(app, "vision")["fair"] == fmt_gpu(fair["vision"])
        app.pane("projects").table.move_to_key("vision")
        await pilot.pause()
        assert f"fair share {fmt_gpu(fair['vision'])} (computed)" in detail(app)
