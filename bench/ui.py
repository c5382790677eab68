"""The console on the `large` scenario: key press to frame, cluster change to visible cell, first frame.

The simulator runs as a child process (as `gpuconsole --demo` runs it); the console runs headless in this
process through its normal connection path. A frame is counted when Textual hands a composed screen
update to the driver (`App._display`), which happens in headless mode too; only the terminal write is
skipped. Last line: `key_p99_ms=<x> change_p99_ms=<y> first_frame_s=<z>` (targets 50, 500, 1).
"""

from __future__ import annotations

import asyncio
import random
import statistics
import sys
import time
from typing import Any

import httpx

from .common import SimProcess


def pct(xs: list[float], p: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def _console_class() -> Any:
    from console.app import ClusterConsole

    class TimedConsole(ClusterConsole):
        """Records when each composed frame reaches the driver."""

        frames: list[float] = []

        def _display(self, screen: Any, renderable: Any) -> None:
            if renderable is not None and not self._batch_count:
                self.frames.append(time.perf_counter())
            super()._display(screen, renderable)

    return TimedConsole


async def _next_frame(app: Any, pilot: Any, after: float, timeout: float = 5.0) -> float:
    """The first frame drawn after `after` (polled with plain sleeps: Pilot's idle waits would add their own
    latency to what is measured)."""
    end = time.perf_counter() + timeout
    while True:
        if app.frames and app.frames[-1] > after:
            return next(x for x in app.frames if x > after)
        if time.perf_counter() > end:
            return float("nan")
        await asyncio.sleep(0.001)


def _send_key(app: Any, key: str) -> None:
    """A key as the terminal driver delivers it."""
    from textual import events

    app._driver.send_message(events.Key(key, key if len(key) == 1 else None))


async def measure(kubeconfig: str, url: str, token: str, *, keys_per_view: int = 30, changes: int = 20,
                  size: tuple[int, int] = (160, 48)) -> dict[str, Any]:
    from console.config import Config
    from console.ui.session import LiveSession

    cls = _console_class()
    cls.frames = []
    t0 = time.perf_counter()
    app = cls(lambda ctx: LiveSession(kubeconfig, ctx), config=Config(refresh_hz=4))
    out: dict[str, Any] = {}
    async with app.run_test(size=size) as pilot:
        first = await _next_frame(app, pilot, t0, timeout=30)
        out["first_frame_s"] = first - t0
        while app.session is None or not app.session.live:
            await pilot.pause(0.01)
        # Keys pressed while the informers' thread is still syncing (the UI must not freeze meanwhile).
        sync_task = asyncio.ensure_future(app.session.wait_synced(600))
        during: list[float] = []
        while not sync_task.done():
            t = time.perf_counter()
            _send_key(app, "j")
            f = await _next_frame(app, pilot, t, timeout=30)
            during.append((f - t) * 1000)
            await asyncio.sleep(0.2)
        await sync_task
        out["during_sync_ms"] = during
        app.flush()
        await pilot.pause()
        out["synced_s"] = time.perf_counter() - t0
        out["rows"] = {}
        key_ms: list[float] = []
        per_view: dict[str, list[float]] = {}
        for view_key, view in (("1", "projects"), ("2", "gpus"), ("3", "workloads"), ("4", "nodes"), ("5", "events")):
            t = time.perf_counter()
            _send_key(app, view_key)
            f = await _next_frame(app, pilot, t)
            await pilot.pause()
            per_view.setdefault(view, []).append((f - t) * 1000)
            out["rows"][view] = len(app.pane().table)
            # A key that changes nothing draws no frame (an empty pane): only moving cursors are timed.
            for i in range(keys_per_view if len(app.pane().table) > 2 else 0):
                k = ("j", "j", "pagedown", "j", "k", "end", "home")[i % 7]
                t = time.perf_counter()
                _send_key(app, k)
                f = await _next_frame(app, pilot, t)
                await asyncio.sleep(0.01)
                per_view[view].append((f - t) * 1000)
        for v in per_view.values():
            key_ms.extend(x for x in v if x == x)
        out["key_ms"] = key_ms
        out["key_by_view_p99"] = {v: round(pct(xs, 99), 1) for v, xs in per_view.items()}

        # cluster change → visible cell: cordon / uncordon the node under the cursor on the Nodes pane
        await pilot.press("4", "home")
        table = app.pane().table
        node = table.cursor_key
        change_ms: list[float] = []
        rng = random.Random(7)
        async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {token}"}) as http:
            for i in range(changes):
                await asyncio.sleep(rng.uniform(0, 0.3))  # land anywhere in the flush period
                want = i % 2 == 0
                t = time.perf_counter()
                r = await http.patch(f"/api/v1/nodes/{node}", json={"spec": {"unschedulable": want}},
                                     headers={"Content-Type": "application/merge-patch+json"})
                r.raise_for_status()
                end = t + 10
                while (table.visible_cells(node)[-1].strip() == "cordoned") != want:
                    if time.perf_counter() > end:
                        break
                    await asyncio.sleep(0.002)
                seen = time.perf_counter()
                f = await _next_frame(app, pilot, seen)
                change_ms.append((f - t) * 1000)
        out["change_ms"] = change_ms
    return out


def _token(kubeconfig: str) -> str:
    import yaml

    with open(kubeconfig) as fh:
        kc = yaml.safe_load(fh)
    cur = kc["current-context"]
    user = next(c["context"]["user"] for c in kc["contexts"] if c["name"] == cur)
    return next(u["user"]["token"] for u in kc["users"] if u["name"] == user)


def main(scenario: str = "large", **kw: Any) -> str:
    print(f"ui: starting the simulator ({scenario})…", file=sys.stderr, flush=True)
    with SimProcess("--scenario", scenario) as sim:
        print(f"ui: simulator ready in {sim.ready_s:.1f} s", flush=True)
        res = asyncio.run(measure(sim.kubeconfig, sim.url, _token(sim.kubeconfig), **kw))
    k, c = res["key_ms"], res["change_ms"]
    print(f"ui: rows per view {res['rows']}; synced in {res['synced_s']:.1f} s", flush=True)
    print(f"ui: key→frame p50 {statistics.median(k):.1f} ms p99 {pct(k, 99):.1f} ms over {len(k)} presses; "
          f"p99 by view {res['key_by_view_p99']}", flush=True)
    d = res["during_sync_ms"]
    if d:
        print(f"ui: key→frame while the first sync runs: p50 {statistics.median(d):.0f} ms, "
              f"max {max(d):.0f} ms over {len(d)} presses", flush=True)
    print(f"ui: change→visible p50 {statistics.median(c):.0f} ms p99 {pct(c, 99):.0f} ms over {len(c)} changes "
          f"(flush at 4 Hz)", flush=True)
    line = f"key_p99_ms={pct(k, 99):.1f} change_p99_ms={pct(c, 99):.0f} first_frame_s={res['first_frame_s']:.2f}"
    print(line, flush=True)
    return line


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "large")
