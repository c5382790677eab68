"""Pane models on the seeded demo cluster: tree order, bars that add up, markers, groups and drill targets."""

from __future__ import annotations

import pytest

from console.ui.filter import parse_filter
from console.ui.panes import PaneContext
from console.ui.panes.events import EventsPane
from console.ui.panes.gpus import GpusPane
from console.ui.panes.nodes import NodesPane
from console.ui.panes.projects import ProjectsPane
from console.ui.panes.workloads import WorkloadsPane
from console.ui.session import StaticSession

from .conftest import FROZEN_NOW
from .test_console_snapshots import demo_objects


@pytest.fixture(scope="module")
def ctx() -> PaneContext:
    s = StaticSession(demo_objects())
    s.store.refresh()
    return PaneContext(store=s.store, events=s.events, now=lambda: FROZEN_NOW, sync=s.sync)


def _plain(cells) -> list[str]:  # type: ignore[no-untyped-def]
    return [c.plain if hasattr(c, "plain") else str(c) for c in cells]


def test_projects_tree_puts_each_department_before_its_projects(ctx: PaneContext) -> None:
    pane = ProjectsPane(ctx)
    order = pane.order()
    rows = ctx.store.projects.rows
    for i, name in enumerate(order):
        parent = rows[name].parent
        if parent in rows:
            assert order.index(parent) < i
    over = _plain(pane.cells("llm-pretrain"))
    r = rows["llm-pretrain"]
    assert r.allocated_gpu > r.quota_gpu
    col = [c.key for c in pane.columns].index("over")
    assert over[col] == f"{r.allocated_gpu - r.quota_gpu:g}"        # the OVER column
    pane.filter = parse_filter("vision", pane.fields)
    assert pane.order() == ["research", "vision"], "a match keeps its department for context"
    assert pane.drill("research").values == ("llm-pretrain", "research", "rl-lab", "speech", "vision")


def test_gpu_bars_add_up_to_the_shares_and_mark_stranded_slivers(ctx: PaneContext) -> None:
    pane = GpusPane(ctx)
    order = pane.order()
    gpus = [k for k in order if k[0] == "gpu"]
    assert len(gpus) == len(ctx.store.gpus.rows)
    frag = 0
    for k in gpus:
        g = ctx.store.gpus.rows[(k[1], k[2])]
        cells = _plain(pane.cells(k))
        bar = cells[2]
        assert len(bar) == 20
        used = bar.count("█") + bar.count("?")
        if g.use == "whole":
            assert used == 20
        elif g.free_share is not None:
            assert abs(used - round((1 - g.free_share) * 20)) <= len(g.holders)  # one cell of rounding per holder
        assert ("⚠" in cells[3]) == g.fragmented
        frag += g.fragmented
        for h in g.holders:
            assert (h.workload or h.pod) in cells[-1] or "+" in cells[-1]  # HOLDERS is the last column
    assert frag, "the demo leaves a stranded sliver"
    assert "stranded" in pane.summary()
    head = next(k for k in order if k[0] == "node")
    assert pane.drill(head).view == "gpus" and pane.target(head).kind == "Node"


def test_workload_groups_expand_to_pods_and_say_why_they_wait(ctx: PaneContext) -> None:
    pane = WorkloadsPane(ctx)
    key = next(k for k in pane.order() if k[2] == "fraud-scorer")
    cells = _plain(pane.cells(key))
    assert cells[3] == "2/4" and cells[4] == "" and cells[7] == "Partially running"
    assert "NonPreemptibleOverQuota" in cells[12]
    assert cells[10] == "fraud-scorer"                      # the Service in front
    assert pane.target(key).kind == "Deployment"
    assert pane.toggle(key)
    pods = [k for k in pane.order() if len(k) == 4]
    assert len(pods) == 4 and pane.log_pod(pods[0]) == (pods[0][1], pods[0][2])
    pre = next(k for k in pane.order() if len(k) == 3 and ctx.store.workloads.rows[k].preemptible)
    assert "⇣" in _plain(pane.cells(pre))[0]


def test_nodes_and_events(ctx: PaneContext) -> None:
    nodes = NodesPane(ctx)
    assert nodes.order() == sorted(ctx.store.nodes_view.rows)
    n = nodes.order()[0]
    cells = _plain(nodes.cells(n))
    r = ctx.store.nodes_view.rows[n]
    assert cells[2:5] == [str(r.gpu_capacity), str(r.gpu_allocated), str(r.gpu_free)]
    events = EventsPane(ctx)
    order = events.order()
    lasts = [ctx.events.rows[k].last for k in order]
    assert lasts == sorted(lasts, reverse=True)
    assert _plain(events.cells(order[0]))[0] == "10m"       # frozen cluster clock, console clock ten minutes on
