"""Sustained churn: about 1,000 pod events a second for a minute against a console synced to `large`.

The simulator (a child process, as `gpuconsole --demo` runs it) makes the changes itself (`/sim/churn`:
readiness flips, label and annotation changes, creates and deletes; one HTTP client could not write that
many); the console runs headless in this process through its normal connection path. While the churn
runs, the benchmark alternates between pressing keys on every pane (each key timed to the first frame
that shows its effect) and probe changes of its own: a pod of a Deployment on the Workloads pane goes
NotReady and Ready again through the API (in a namespace the churn leaves alone), each timed to the first
frame whose READY cell shows it. Afterwards: the model against a fresh list of the cluster (events lost
must be 0) and the console's RSS before and after (gc collected both times).

Last line: `churn_events_per_s=<n> churn_change_p99_ms=<x> churn_key_p99_ms=<y> rss_growth_mb=<z>`
(targets: 1,000 events/s, 500 ms, 50 ms, 20 MB). GPU telemetry is off unless `--telemetry`: the simulator
serves every exporter page from its one thread, and 2,000 of them every 30 s would hold up its watches.

`--soak` runs 30 minutes at 200 events/s instead, samples the RSS every 30 s and prints its slope
(not part of `make bench`). `--rate N --seconds S` change the run.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import sys
import time
from typing import Any

from .common import SimProcess, rss_mb
from .ui import console_class, first_frame, keys_on_every_pane, pct, press, report_keys

PROBE_EVERY_S = 0.6


def cell_text(app: Any, view: str, key: Any, column: str) -> str | None:
    """One cell of a row as last drawn on a pane (cut from the table's rendered-row cache)."""
    table = app.pane(view).table
    strip = table._cache.get(key)
    if strip is None:
        return None
    text, at = strip.text, 0
    for n, (i, w) in enumerate(table._layout):
        if n:
            at += 1
        if table.columns[i].key == column:
            return text[at:at + w].strip()
        at += w
    return None


def pick_probe(app: Any) -> tuple[tuple[str, str, str], tuple[str, str], int]:
    """A running Deployment with every replica ready (2 or more): (workload key, a pod of it, ready count)."""
    store = app.session.store
    with app.session.lock:
        for key in sorted(store.workloads.rows):
            r = store.workloads.rows[key]
            if r.kind != "Deployment" or r.replicas_ready < 2 or r.replicas_ready != r.replicas_desired:
                continue
            pods = [store.pods[k] for k in sorted(store.pods_by_workload.get(key, ())) if k in store.pods]
            ready = [p for p in pods if p.ready and p.phase == "Running"]
            if len(ready) == r.replicas_ready:
                return key, (ready[0].namespace, ready[0].name), r.replicas_ready
    raise RuntimeError("no Deployment with all replicas ready to probe")


async def set_ready(client: Any, pod: tuple[str, str], ready: bool) -> None:
    """The pod's Ready and ContainersReady conditions, through the API's status subresource."""
    from console.kube.client import PODS

    obj = await client.get(PODS, pod[1], pod[0])
    value = "True" if ready else "False"
    conds = [{**c, "status": value} if c.get("type") in ("Ready", "ContainersReady") else c
             for c in (obj.get("status") or {}).get("conditions") or []]
    await client.patch(PODS, pod[1], {"status": {"conditions": conds}}, pod[0], sub="status")


async def probe_changes(app: Any, pilot: Any, client: Any, probe: tuple, until: float,
                        out: list[float], applied: list[float]) -> None:
    """Readiness flips of the probe pod, each timed to the frame whose READY cell shows it."""
    wkey, pod, ready = probe
    if app.view != "workloads":
        await press(app, "3")
    table = app.pane("workloads").table
    table.move_to_key(wkey)
    await pilot.pause()
    desired = app.session.store.workloads.rows[wkey].replicas_desired
    app.probe = lambda: cell_text(app, "workloads", wkey, "ready")
    try:
        flip = False
        while time.perf_counter() < until:
            want = f"{ready - 1 if not flip else ready}/{desired}"
            t = time.perf_counter()
            await set_ready(client, pod, flip)
            at = float("nan")
            while time.perf_counter() - t < 20:   # in the model: the informers have applied it
                rec = app.session.store.pods.get(pod)
                if rec is not None and rec.ready == flip:
                    at = time.perf_counter()
                    applied.append((at - t) * 1000)
                    break
                await asyncio.sleep(0.001)
            # The first frame showing it (after the model had it: a frame still showing the change before
            # last, when the console lags, would otherwise match the same READY text).
            f = await first_frame(app, t, lambda fr, w=want, a=at: fr[0] >= a and fr[3] == w, timeout=10)
            out.append((f - t) * 1000)
            flip = not flip
            await asyncio.sleep(max(0.0, PROBE_EVERY_S - (time.perf_counter() - t)))
        if flip:   # left NotReady: make it Ready again
            await set_ready(client, pod, True)
    finally:
        app.probe = None


async def caught_up(app: Any, client: Any, timeout: float = 120.0) -> float:
    """Wait until the console's pod watch has seen the simulator's current resourceVersion; seconds taken."""
    from console.kube.client import PODS

    page = await client.list_page(PODS, limit=1)
    rv = int(page["metadata"]["resourceVersion"])
    t0 = time.perf_counter()
    informers = [i for i in app.session.conn.informers if getattr(i, "kind", "") == "pods"]
    while time.perf_counter() - t0 < timeout:
        if informers and all(i.resource_version and int(i.resource_version) >= rv for i in informers):
            return time.perf_counter() - t0
        await asyncio.sleep(0.05)
    raise RuntimeError(f"the console did not catch up with resourceVersion {rv} in {timeout:g} s")


async def fresh_store(creds: Any) -> Any:
    """The cluster as a new connection lists it now."""
    from console.kube.client import KubeClient
    from console.kube.connection import Connection
    from console.model.cluster_store import ClusterStore
    from console.ui.session import _models

    store = ClusterStore()
    async with KubeClient(creds) as client:
        conn = Connection(client, store, accept=_models)
        await conn.open()
        assert await conn.wait_synced(600), "the fresh list did not complete"
        await conn.close()
    store.drain()
    return store


def lost_events(live: Any, fresh: Any) -> int:
    """Pods (and owners) whose record differs from a fresh list: each is at least one event lost."""
    n = 0
    for mine, theirs in ((live.pods, fresh.pods), (live.owners, fresh.owners)):
        n += len(set(mine) ^ set(theirs))
        n += sum(1 for k in set(mine) & set(theirs) if mine[k] != theirs[k])
    return n


def _cpu_s(stat_path: str) -> float:
    with open(stat_path) as fh:
        stat = fh.read()
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def thread_cpu_s(sim_pid: int) -> dict[str, float]:
    """CPU seconds used so far: each thread of this process by its Python name, and the simulator (Linux)."""
    import threading

    names = {t.native_id: t.name for t in threading.enumerate()}
    out: dict[str, float] = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            name = names.get(int(tid), "other threads")
            name = "UI (main thread)" if name == "MainThread" else name
            out[name] = out.get(name, 0.0) + _cpu_s(f"/proc/self/task/{tid}/stat")
        except OSError:
            continue
    try:
        out["simulator process"] = _cpu_s(f"/proc/{sim_pid}/stat")
    except OSError:
        pass
    return out


def settled_rss() -> float:
    gc.collect()
    return rss_mb(os.getpid())


async def measure(sim: SimProcess, *, rate: float, seconds: float, soak: bool = False,
                  size: tuple[int, int] = (160, 48), profile: str | None = None,
                  telemetry: bool = False) -> dict[str, Any]:
    from console.config import Config
    from console.kube import config
    from console.kube.client import KubeClient
    from console.ui.session import LiveSession

    cls = console_class()
    cls.frames = []
    creds = await asyncio.to_thread(config.load, sim.kubeconfig, None)
    # GPU telemetry stays off unless asked for: the simulator serves all 2,000 exporters from its one Python
    # thread (4-5 s of its CPU per scrape round), which would hold up its watch delivery to the console.
    app = cls(lambda ctx: LiveSession(sim.kubeconfig, ctx), config=Config(refresh_hz=4), telemetry_auto=telemetry)
    out: dict[str, Any] = {"per_view": {}, "change_ms": [], "applied_ms": [], "rss_samples": []}
    async with app.run_test(size=size) as pilot, KubeClient(creds) as client:
        t0 = time.perf_counter()
        while app.session is None or not app.session.live:
            await pilot.pause(0.05)
        assert await app.session.wait_synced(600), "the console did not sync"
        while any(w.group == "heap" and w.is_running for w in app.workers):  # gc frozen after the sync
            await pilot.pause(0.05)
        app.flush()
        await pilot.pause()
        out["synced_s"] = time.perf_counter() - t0
        probe = pick_probe(app)
        out["probe"] = f"{probe[0][0]}/{probe[0][2]} (pod {probe[1][1]})"
        await keys_on_every_pane(app, 2, {})          # every pane drawn once before the baseline
        out["rss_before"] = settled_rss()

        await client.request("POST", "/sim/churn", body={"rate": rate, "seconds": seconds, "seed": 1,
                                                         "exclude": [probe[0][0]]})
        start = time.perf_counter()
        end = start + seconds
        cpu0 = thread_cpu_s(sim.proc.pid)
        prof = None
        if profile:   # the UI thread's time while the churn runs (cProfile sees this thread only)
            import cProfile
            prof = cProfile.Profile()
            prof.enable()
        next_rss = start
        while time.perf_counter() < end - 1:
            if soak:
                if time.perf_counter() >= next_rss:
                    out["rss_samples"].append((time.perf_counter() - start, settled_rss()))
                    next_rss += 30
                await keys_on_every_pane(app, 2, out["per_view"], pause=0.05)
                await probe_changes(app, pilot, client, probe, min(end, time.perf_counter() + 3),
                                    out["change_ms"], out["applied_ms"])
                await asyncio.sleep(min(20.0, max(0.0, next_rss - time.perf_counter())))
            else:
                await keys_on_every_pane(app, 6, out["per_view"])
                await probe_changes(app, pilot, client, probe, min(end, time.perf_counter() + 5),
                                    out["change_ms"], out["applied_ms"])
        while time.perf_counter() < end + 0.5:
            await asyncio.sleep(0.1)
        if prof is not None:
            prof.disable()
            prof.dump_stats(profile)
        cpu1 = thread_cpu_s(sim.proc.pid)
        out["cpu"] = {k: cpu1[k] - cpu0.get(k, 0.0) for k in cpu1 if cpu1[k] - cpu0.get(k, 0.0) > 0.1}
        out["churn"] = await client.request("GET", "/sim/churn")
        out["catch_up_s"] = await caught_up(app, client)
        app.flush()
        await pilot.pause()
        out["rss_after"] = settled_rss()
        live = app.session.store
        fresh = await fresh_store(creds)
        with app.session.lock:
            out["lost"] = lost_events(live, fresh)
            out["workloads_equal"] = live.workloads.rows == fresh.workloads.rows
        del fresh
    return out


def slope_mb_per_min(samples: list[tuple[float, float]]) -> float:
    """Least-squares slope of RSS over time (MB a minute), leaving out the first two minutes."""
    pts = [(t / 60, m) for t, m in samples if t >= 120] or [(t / 60, m) for t, m in samples]
    if len(pts) < 2:
        return float("nan")
    mx = statistics.fmean(t for t, _ in pts)
    my = statistics.fmean(m for _, m in pts)
    den = sum((t - mx) ** 2 for t, _ in pts)
    return sum((t - mx) * (m - my) for t, m in pts) / den if den else float("nan")


def main(rate: float = 1000.0, seconds: float = 60.0, soak: bool = False, scenario: str = "large",
         profile: str | None = None, telemetry: bool = False) -> str:
    print(f"churn: starting the simulator ({scenario})…", file=sys.stderr, flush=True)
    with SimProcess("--scenario", scenario) as sim:
        print(f"churn: simulator ready in {sim.ready_s:.1f} s; {rate:g} pod events/s for {seconds:g} s",
              flush=True)
        res = asyncio.run(measure(sim, rate=rate, seconds=seconds, soak=soak, profile=profile,
                                  telemetry=telemetry))
    st = res["churn"]
    per_s = float(st["podEventsPerSecond"])
    print("churn: GPU telemetry " + ("scraped as usual" if telemetry else
          "off (the simulator would serve 2,000 exporter pages from its one thread; --telemetry turns it on)"),
          flush=True)
    print(f"churn: console synced in {res['synced_s']:.1f} s; the simulator made {st['podEvents']} pod events in "
          f"{st['elapsedSeconds']:.1f} s ({per_s:.0f}/s; operations {st['operations']}); "
          f"the console had seen them all {res['catch_up_s']:.2f} s after the churn stopped", flush=True)
    wall = float(st["elapsedSeconds"])
    print("churn: CPU seconds per second of churn, by thread: " +
          ", ".join(f"{k} {v / wall:.2f}" for k, v in sorted(res["cpu"].items(), key=lambda kv: -kv[1])),
          flush=True)
    c = res["change_ms"]
    print(f"churn: change→visible (readiness flips of {res['probe']}) p50 {pct(c, 50):.0f} ms "
          f"p99 {pct(c, 99):.0f} ms over {len(c)} changes ({sum(1 for x in c if x != x)} not seen within 10 s, "
          f"left out); of which API write → in the console's model "
          f"p50 {pct(res['applied_ms'], 50):.0f} ms p99 {pct(res['applied_ms'], 99):.0f} ms (the simulator's "
          f"watch delivery and the informers)", flush=True)
    k = report_keys(res["per_view"], "churn_key_p99_ms")
    print(f"churn: key→frame p50 {pct(k, 50):.1f} ms p99 {pct(k, 99):.1f} ms over {len(k)} presses", flush=True)
    print(f"churn: events lost {res['lost']} (model against a fresh list; workload rows "
          f"{'equal' if res['workloads_equal'] else 'DIFFER'})", flush=True)
    growth = res["rss_after"] - res["rss_before"]
    print(f"churn: console RSS {res['rss_before']:.0f} MB before, {res['rss_after']:.0f} MB after "
          f"({growth:+.1f} MB)", flush=True)
    if soak:
        samples = res["rss_samples"]
        print("churn: soak RSS (min, MB): " + " ".join(f"{t / 60:.0f}:{m:.0f}" for t, m in samples), flush=True)
        print(f"churn: soak RSS slope {slope_mb_per_min(samples):+.3f} MB/min after the first two minutes",
              flush=True)
    line = (f"churn_events_per_s={per_s:.0f} churn_change_p99_ms={pct(c, 99):.0f} "
            f"churn_key_p99_ms={pct(k, 99):.1f} rss_growth_mb={growth:.1f}")
    print(line, flush=True)
    return line


if __name__ == "__main__":
    ap = argparse.ArgumentParser(prog="python -m bench.churn", description=__doc__.split("\n\n")[0])
    ap.add_argument("--rate", type=float, default=None, help="pod events a second (default 1000; soak 200)")
    ap.add_argument("--seconds", type=float, default=None, help="how long (default 60; soak 1800)")
    ap.add_argument("--soak", action="store_true", help="30 minutes at 200 events/s, printing the RSS slope")
    ap.add_argument("--scenario", default="large")
    ap.add_argument("--profile", metavar="FILE", help="write a cProfile of the UI thread during the churn")
    ap.add_argument("--telemetry", action="store_true",
                    help="scrape GPU telemetry too (through the simulator's pod proxy, which slows its watches)")
    a = ap.parse_args()
    main(a.rate or (200.0 if a.soak else 1000.0), a.seconds or (1800.0 if a.soak else 60.0), a.soak, a.scenario,
         a.profile, a.telemetry)
