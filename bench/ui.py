"""The console on the `large` scenario: key press to frame, cluster change to visible cell, first frame.

The simulator runs as a child process (as `gpuconsole --demo` runs it); the console runs headless in this
process through its normal connection path. A frame is counted when Textual hands a composed screen
update to the driver (`App._display`), which happens in headless mode too; only the terminal write is
skipped. Each frame records what it shows (the view, the cursor, and a probe cell), so a key is timed to
the first frame that shows its effect, and a cluster change to the first frame whose cell shows it; a
frame a flush happened to draw in between does not count for either.

Prints one p99 per pane (`key_p99_ms_<pane>=<x>`), then the last line
`key_p99_ms=<x> change_p99_ms=<y> first_frame_s=<z>` (targets 50, 500, 1).
"""

from __future__ import annotations

import asyncio
import random
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from .common import SimProcess

VIEWS = (("1", "projects"), ("2", "gpus"), ("3", "workloads"), ("4", "nodes"), ("5", "events"))
MOVES = ("j", "j", "pagedown", "j", "k", "end", "home")


def pct(xs: list[float], p: float) -> float:
    xs = sorted(x for x in xs if x == x)
    if not xs:
        return float("nan")
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def console_class() -> Any:
    from console.app import ClusterConsole

    class TimedConsole(ClusterConsole):
        """Records each composed frame that reaches the driver: (time, view, cursor key, probe value)."""

        frames: list[tuple[float, str, Any, Any]] = []
        probe: Callable[[], Any] | None = None

        def _display(self, screen: Any, renderable: Any) -> None:
            if renderable is not None and not self._batch_count:
                try:
                    cursor = self.pane().table.cursor_key
                except Exception:
                    cursor = None
                probe = self.probe() if self.probe is not None else None
                self.frames.append((time.perf_counter(), self.view, cursor, probe))
            super()._display(screen, renderable)

    return TimedConsole


def state(app: Any) -> tuple[str, Any]:
    return app.view, app.pane().table.cursor_key


async def first_frame(app: Any, after: float, ok: Callable[[tuple], bool] = lambda f: True,
                      timeout: float = 10.0) -> float:
    """The time of the first frame drawn after `after` that `ok` accepts (polled with plain 1 ms sleeps:
    Pilot's idle waits would add their own latency to what is measured); NaN on timeout."""
    end = time.perf_counter() + timeout
    seen = 0
    while True:
        frames = app.frames
        for f in frames[seen:]:
            if f[0] > after and ok(f):
                return f[0]
        seen = len(frames)
        if time.perf_counter() > end:
            return float("nan")
        await asyncio.sleep(0.001)


def send_key(app: Any, key: str) -> None:
    """A key as the terminal driver delivers it."""
    from textual import events

    app._driver.send_message(events.Key(key, key if len(key) == 1 else None))


async def press(app: Any, key: str, timeout: float = 10.0) -> float:
    """Key press → the first frame that shows its effect (another view or cursor), in ms; NaN if none."""
    before = state(app)
    t = time.perf_counter()
    send_key(app, key)
    end = t + timeout
    while state(app) == before:                  # the key is handled on the UI loop: wait for its effect
        if time.perf_counter() > end:
            return float("nan")
        await asyncio.sleep(0.001)
    view, cursor = state(app)
    f = await first_frame(app, t, lambda fr: fr[1] == view and fr[2] == cursor, end - time.perf_counter())
    return (f - t) * 1000


async def keys_on_every_pane(app: Any, keys_per_view: int, out: dict[str, list[float]],
                             rows: dict[str, int] | None = None, pause: float = 0.01) -> None:
    """Switch to each pane (timed) and move its cursor `keys_per_view` times (timed)."""
    for view_key, view in VIEWS:
        if app.view == view:
            await press(app, "1" if view != "projects" else "2")
        out.setdefault(view, []).append(await press(app, view_key))
        await asyncio.sleep(pause)
        if rows is not None:
            rows[view] = len(app.pane().table)
        # A key that changes nothing draws no frame (an empty pane): only moving cursors are timed.
        for i in range(keys_per_view if len(app.pane().table) > 2 else 0):
            out[view].append(await press(app, moving_key(app.pane().table, MOVES[i % len(MOVES)])))
            await asyncio.sleep(pause)


def moving_key(table: Any, key: str) -> str:
    """`key`, or one that moves the other way when the cursor is already where `key` would take it."""
    last = len(table) - 1
    if key in ("j", "pagedown", "end") and table.cursor_row >= last:
        return "home"
    if key in ("k", "home") and table.cursor_row <= 0:
        return "end"
    return key


def strip_text(app: Any, view: str, key: Any) -> str | None:
    """The row as last drawn on a pane (from the table's rendered-row cache); None when not drawn."""
    strip = app.pane(view).table._cache.get(key)
    return strip.text if strip is not None else None


async def open_nodes_row(app: Any, pilot: Any) -> str:
    """The Nodes pane on screen with its first schedulable node under the cursor (picked from the model)."""
    if app.view != "nodes":
        await press(app, "4")
    assert app.view == "nodes", f"the Nodes pane did not open (view {app.view})"
    table = app.pane().table
    rows = app.session.store.nodes_view.rows
    node = next(n for n in sorted(rows) if not rows[n].cordoned and n in table._index)
    assert table.move_to_key(node), node
    await pilot.pause()
    return node


async def measure(kubeconfig: str, *, keys_per_view: int = 30, changes: int = 20,
                  size: tuple[int, int] = (160, 48)) -> dict[str, Any]:
    from console.config import Config
    from console.kube import config
    from console.kube.client import NODES, KubeClient
    from console.ui.session import LiveSession

    cls = console_class()
    cls.frames = []
    t0 = time.perf_counter()
    app = cls(lambda ctx: LiveSession(kubeconfig, ctx), config=Config(refresh_hz=4))
    out: dict[str, Any] = {}
    async with app.run_test(size=size) as pilot:
        first = await first_frame(app, t0, timeout=30)
        out["first_frame_s"] = first - t0
        while app.session is None or not app.session.live:
            await pilot.pause(0.01)
        # Keys pressed while the informers' thread is still syncing (the UI must not freeze meanwhile).
        sync_task = asyncio.ensure_future(app.session.wait_synced(600))
        during: list[float] = []
        while not sync_task.done():
            t = time.perf_counter()
            send_key(app, "j")
            f = await first_frame(app, t, timeout=30)
            during.append((f - t) * 1000)
            await asyncio.sleep(0.2)
        await sync_task
        out["during_sync_ms"] = during
        app.flush()
        await pilot.pause()
        out["synced_s"] = time.perf_counter() - t0
        out["rows"] = {}
        per_view: dict[str, list[float]] = {}
        await keys_on_every_pane(app, keys_per_view, per_view, out["rows"])
        out["per_view"] = per_view

        # cluster change → visible cell: cordon / uncordon a node on the Nodes pane
        node = await open_nodes_row(app, pilot)
        app.probe = lambda: (strip_text(app, "nodes", node) or "").rstrip().endswith("cordoned")
        change_ms: list[float] = []
        patch_ms: list[float] = []   # of which the API server's answer to the patch (the simulator's share)
        rng = random.Random(7)
        creds = await asyncio.to_thread(config.load, kubeconfig, None)
        async with KubeClient(creds) as client:
            for i in range(changes):
                await asyncio.sleep(rng.uniform(0, 0.3))  # land anywhere in the flush period
                want = i % 2 == 0
                t = time.perf_counter()
                await client.patch(NODES, node, {"spec": {"unschedulable": want}})
                patch_ms.append((time.perf_counter() - t) * 1000)
                f = await first_frame(app, t, lambda fr, w=want: fr[3] == w)
                change_ms.append((f - t) * 1000)
        app.probe = None
        out["change_ms"] = change_ms
        out["patch_ms"] = patch_ms
    return out


def report_keys(per_view: dict[str, list[float]], prefix: str = "key_p99_ms") -> list[float]:
    """One line per pane (`<prefix>_<pane>=<p99>`); returns every timed press."""
    every: list[float] = []
    for view, xs in per_view.items():
        got = [x for x in xs if x == x]
        missed = len(xs) - len(got)
        every.extend(got)
        print(f"{prefix}_{view}={pct(got, 99):.1f}   (p50 {statistics.median(got) if got else float('nan'):.1f} ms, "
              f"{len(got)} presses{f', {missed} drew no frame' if missed else ''})", flush=True)
    return every


def main(scenario: str = "large", **kw: Any) -> str:
    print(f"ui: starting the simulator ({scenario})…", file=sys.stderr, flush=True)
    with SimProcess("--scenario", scenario) as sim:
        print(f"ui: simulator ready in {sim.ready_s:.1f} s", flush=True)
        res = asyncio.run(measure(sim.kubeconfig, **kw))
    c = res["change_ms"]
    print(f"ui: rows per view {res['rows']}; synced in {res['synced_s']:.1f} s", flush=True)
    d = res["during_sync_ms"]
    if d:
        print(f"ui: key→frame while the first sync runs: p50 {statistics.median(d):.0f} ms, "
              f"max {max(d):.0f} ms over {len(d)} presses", flush=True)
    print(f"ui: change→visible p50 {statistics.median(c):.0f} ms p99 {pct(c, 99):.0f} ms over {len(c)} changes "
          f"(flush at 4 Hz)", flush=True)
    pm = res["patch_ms"]
    after = [a - b for a, b in zip(c, pm)]
    print(f"ui:   of which the API's answer to the patch p50 {statistics.median(pm):.0f} ms p99 {pct(pm, 99):.0f} ms "
          f"(the simulator, one thread, also serving the console's metrics scrapes); answer → cell "
          f"p50 {statistics.median(after):.0f} ms p99 {pct(after, 99):.0f} ms", flush=True)
    k = report_keys(res["per_view"])
    print(f"ui: key→frame p50 {statistics.median(k):.1f} ms p99 {pct(k, 99):.1f} ms over {len(k)} presses",
          flush=True)
    line = f"key_p99_ms={pct(k, 99):.1f} change_p99_ms={pct(c, 99):.0f} first_frame_s={res['first_frame_s']:.2f}"
    print(line, flush=True)
    return line


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "large")
