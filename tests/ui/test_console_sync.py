"""While a list is under way the console shows no figure that depends on it; the progress line says how far
it has come; the figures appear whole when the list completes, and after a 410 re-list the last complete ones
stay, marked stale.

The demo cluster is served with the latency fault and a small page size, so its lists take many pages; the
test waits (by awaiting the sync snapshot, never a fixed sleep) until pods are part-way, then stalls the
server so nothing moves while the screen is read.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace

from rich.text import Text

from console.app import ClusterConsole
from console.config import Config
from console.kube.progress import KindProgress, SyncSnapshot
from console.model.views_gpus import summary as gpu_summary
from console.sim.resources import BY_KEY, PODS
from console.ui.session import LiveSession, StaticSession
from widgets.header import SyncProgress

from .conftest import FROZEN_NOW, DemoEnv, until
from .test_console_snapshots import MODEL_KEYS

SIZE = (160, 48)
VIEWS = {"1": "projects", "2": "gpus", "3": "workloads", "4": "nodes", "5": "events"}


def _app(env: DemoEnv) -> ClusterConsole:
    kc = env.kubeconfig
    return ClusterConsole(lambda ctx: LiveSession(kc, ctx, page_size=5), now=lambda: FROZEN_NOW,
                          config=Config(refresh_hz=4), telemetry_auto=False)


def _text(w: object) -> str:
    r = w.render()  # type: ignore[attr-defined]
    return r.plain if isinstance(r, Text) else str(r)


def screen(app: ClusterConsole) -> dict[str, str]:
    """What the header, the progress line and the active pane show (title, state, every row, detail)."""
    p = app.pane()
    t = p.table
    rows = ["  ".join(t.visible_cells(k)) for k in t.order]
    return {"header": _text(app.query_one("#header")), "progress": _text(app.query_one(SyncProgress))
            if app.query_one(SyncProgress).display else "",
            "title": _text(p.query_one(".pane-title")), "state": p.state_message, "rows": "\n".join(rows),
            "detail": _text(p.query_one(".pane-detail"))}


def pods(app: ClusterConsole) -> KindProgress | None:
    s = app.session
    return s.sync.kind("pods") if s is not None and s.live else None


async def until_pods(pilot: object, cond: Callable[[KindProgress], bool], what: str) -> None:
    await until(pilot, lambda: (k := pods(pilot.app)) is not None and cond(k),  # type: ignore[attr-defined]
                timeout=30, what=what)


# Counts that depend on pods, as each place writes them: none may show while pods are listing.
POD_FIGURES = [r"GPU \d", r"\d+ in use", r"[\d.]+ free", r"\d+ workloads pending", r"\d+ over quota",
               r"\d+ projects", r"\d+ workloads", r"\d+ inference", r"\d+ pending", r"(?<!/)\b\d+ GPUs ·",
               r"\d+/\d+ GPUs in use", r"◌\d"]


async def visit_every_pane(pilot: object, app: ClusterConsole, check: Callable[[str, dict[str, str]], None]) -> None:
    for key, view in VIEWS.items():
        await pilot.press(key)  # type: ignore[attr-defined]
        await pilot.pause()  # type: ignore[attr-defined]
        check(view, screen(app))


def unknown_cells(app: ClusterConsole) -> list[str]:
    """Every cell of the active pane's rows that is not a fact of the row's own object but shows a value."""
    p = app.pane()
    bad = []
    for key in p.table.order:
        own = p.model.own(key)
        for col, cell in zip(p.model.columns, p.table.visible_cells(key)):
            if col.key not in own and cell != "…":
                bad.append(f"{key} {col.key}={cell!r}")
    return bad


def no_pod_figures(view: str, shown: dict[str, str]) -> None:
    """The rendered text of one pane while pods are listing."""
    assert re.search(r"GPU …", shown["header"]) and "… in use" in shown["header"], shown["header"]
    for where in ("header", "title", "detail"):
        for pat in POD_FIGURES:
            assert not re.search(pat, shown[where]), f"{view} {where} shows {pat!r}: {shown[where]!r}"
    if view != "nodes":
        assert "[…]" in shown["title"], shown["title"]          # no partial count of rows
    app_rows = shown["rows"].splitlines()
    if view == "projects":
        for r in app_rows:  # allocated, quota bar, pending ...: every figure of a project counts pods
            assert re.fullmatch(r"\S.*?(\s+…){8,}\s*", r.rstrip()) or "…" in r, r
            assert not re.search(r"\s\d+(\.\d+)?\s", r.split("…", 1)[1] if "…" in r else ""), r
    if view == "workloads":
        assert all(" Running" not in r and " Pending" not in r for r in app_rows), app_rows[:5]
    if view == "nodes":
        for r in app_rows:  # the node's own facts show; what pods hold does not
            assert "…" in r and "Ready" in r, r
    if view == "gpus":
        assert all("█" not in r and "■" not in r for r in app_rows), app_rows[:5]


def true_figures(env: DemoEnv) -> dict[str, float | int]:
    s = StaticSession({k: list(env.cluster.store.items(BY_KEY[k])) for k in MODEL_KEYS})
    s.store.refresh()
    return gpu_summary(s.store.gpus.rows.values())


def fmt(x: float) -> str:
    return f"{x:g}" if abs(x - round(x)) < 1e-6 else f"{x:.2f}".rstrip("0").rstrip(".")


async def test_no_figure_shows_before_its_lists_complete_and_the_progress_says_how_far(demo_env: DemoEnv) -> None:
    faults = demo_env.cluster.extras["faults"]
    faults.add_latency(0.02)
    app = _app(demo_env)
    async with app.run_test(size=SIZE) as pilot:
        # Pods take 17 pages, nodes 3 and Deployments 4: wait for those to be complete and pods part-way.
        await until_pods(pilot, lambda k: 0 < k.listed and not k.settled and k.total is not None
                         and app.session.sync.known({"nodes", "deployments.apps"}),  # type: ignore[union-attr]
                         "pods part-way through their list, nodes and Deployments listed")
        faults.stall(120)                                 # hold every list where it is
        before = pods(app)
        assert before is not None and before.total == len(list(demo_env.cluster.store.items(PODS))), \
            "the total is the server's exact count"
        app.flush()
        await pilot.pause()
        await visit_every_pane(pilot, app, no_pod_figures)
        for key, view in VIEWS.items():
            await pilot.press(key)
            if view != "events":
                assert app.pane().table.order, f"{view}: rows of listed objects show"
                assert unknown_cells(app) == [], view
        shown = screen(app)
        k = pods(app)
        assert k is not None and not k.settled
        assert re.search(rf"pods \S+ {k.listed:,}/{k.total:,} ~", shown["progress"]), shown["progress"]
        assert shown["progress"].startswith("syncing ") and "% · " in shown["progress"]
        state = app.pane("projects").state_message
        assert state.startswith("listing ") and "pods" in state and "until every list is complete" in state

        faults.resume()
        await until_pods(pilot, lambda k: k.listed > before.listed or k.settled, "the progress moves on")
        assert await app.session.wait_synced(30)          # type: ignore[union-attr]
        app.flush()
        await pilot.pause()
        true = true_figures(demo_env)
        figure = (f"GPU {fmt(true['allocated_share'])}/{true['gpus']} · {true['in_use']} in use · "
                  f"{fmt(true['sliver_share'])} free in slivers")

        def every_figure(view: str, shown: dict[str, str]) -> None:
            assert figure in shown["header"], shown["header"]
            assert "(stale)" not in shown["header"] and "…" not in shown["header"]
            assert shown["progress"] == "", "the progress line goes away when everything is synced"
            assert "…" not in shown["title"], (view, shown["title"])
            assert not re.search(r"(^|\s)…(\s|$)", shown["rows"], re.M), (view, shown["rows"][:300])
            assert re.search(r"\[\d+\]", shown["title"]), shown["title"]

        await visit_every_pane(pilot, app, every_figure)


async def test_a_410_relist_keeps_the_last_complete_figures_marked_stale(demo_env: DemoEnv) -> None:
    faults = demo_env.cluster.extras["faults"]
    app = _app(demo_env)
    async with app.run_test(size=SIZE) as pilot:
        assert await _synced(app, pilot)
        before = screen(app)
        figure = re.search(r"GPU [\d.]+/\d+ · \d+ in use · [\d.]+ free in slivers", before["header"])
        assert figure, before["header"]
        faults.add_latency(0.02)
        faults.expire_window()                            # history is gone: every resume gets 410 Gone
        faults.drop_watches()
        await until_pods(pilot, lambda k: k.relist and k.listed > 0, "pods re-listing after 410")
        faults.stall(120)
        app.flush()
        await pilot.pause()

        def stale(view: str, shown: dict[str, str]) -> None:
            assert figure.group(0) + " (stale)" in shown["header"], shown["header"]
            if view != "events" or "events" in shown["state"]:
                assert "stale" in shown["title"], (view, shown["title"])
            assert "…" not in shown["title"].split("· stale")[0], shown["title"]   # the last figures stay
            assert shown["progress"].startswith("re-listing "), shown["progress"]
            assert "from the last complete list" in shown["progress"]

        await visit_every_pane(pilot, app, stale)
        k = pods(app)
        assert k is not None and re.search(rf"pods \S+ {k.listed:,}/{k.total:,}", screen(app)["progress"])

        faults.resume()
        faults.add_latency(0)
        await until(pilot, lambda: not app.session.sync.syncing, timeout=30,  # type: ignore[union-attr]
                    what="the re-list completes")
        app.flush()
        await pilot.pause()
        after = screen(app)
        assert figure.group(0) in after["header"] and "(stale)" not in after["header"]
        assert after["progress"] == "" and "stale" not in after["title"]


async def _synced(app: ClusterConsole, pilot: object) -> bool:
    await until(pilot, lambda: app.session is not None and app.session.live, timeout=30, what="connected")
    ok = await app.session.wait_synced(30)  # type: ignore[union-attr]
    app.flush()
    await pilot.pause()  # type: ignore[attr-defined]
    return ok


def test_progress_line_from_a_snapshot() -> None:
    """The line's text for a known state: overall bar, items, time left, then each list slowest first."""
    from console.kube import progress as pg

    snap = SyncSnapshot.of([
        pg.ListProgress("pods", phase=pg.LISTING, listed=12000, total=60000, total_exact=True, started=100.0),
        pg.ListProgress("replicasets.apps", phase=pg.LISTING, listed=3000, total=12001, total_exact=True,
                        started=100.0),
        pg.ListProgress("nodes", phase=pg.WATCHING, listed=2000, total=2000, total_exact=True, started=100.0,
                        complete_once=True),
        pg.ListProgress("podgroups.scheduling.run.ai", phase=pg.APPLYING, listed=11713, total=11713,
                        total_exact=True, started=100.0),
        pg.ListProgress("services"),
    ], opened=True)
    text = pg.progress_text(snap, now=106.0)
    assert text == ("syncing ███████░░░░░░░░░░░░░  33% · 28,713/85,714+? items · ~24s+ left"
                    " · pods █░░░░░ 12,000/60,000 ~24s · rs █░░░░░ 3,000/12,001 ~18s"
                    " · podgroups ██████ 11,713/11,713 applying… · svc ░░░░░░ 0/? waiting")
    assert not snap.known({"pods", "nodes"}) and snap.known({"nodes"}) and not snap.stale({"pods"})
    assert pg.progress_text(SyncSnapshot.of([snap.parts[2]], opened=True), now=106.0) == ""
    # a list that completed in this wave stays in the overall count: the bar never goes back
    later = SyncSnapshot.of([replace(p, phase=pg.WATCHING, complete_once=True, listed=p.total, total_exact=True)
                             if p.kind == "replicasets.apps" else p for p in snap.parts], opened=True)
    assert "37,714/85,714+? items" in pg.progress_text(later, now=106.0)
    # a re-list long after the first sync counts only itself
    relist = SyncSnapshot.of([replace(snap.parts[0], started=900.0, complete_once=True), snap.parts[2]], opened=True)
    assert pg.progress_text(relist, now=906.0).startswith("re-listing ████░░░░░░░░░░░░░░░░  20% · 12,000/60,000 items")
