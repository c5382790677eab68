"""`gpuconsole sim`: serve the simulated cluster until interrupted."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import signal
import sys
import time


def _knobs(args: argparse.Namespace) -> dict[str, int | None]:
    return {
        "nodes": getattr(args, "nodes", None),
        "gpus_per_node": getattr(args, "gpus_per_node", None),
        "pods": getattr(args, "pods", None),
        "queues": getattr(args, "queues", None),
    }


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def serve(args: argparse.Namespace, kubeconfig_out: str | None, announce: bool = True) -> int:
    from .auth import Users, write_kubeconfig
    from .build import make_cluster
    from .scenarios import ScenarioError
    from .server import start_server

    parent = os.getppid()  # before anything slow: the parent may be gone by the time we serve
    t0 = time.perf_counter()
    try:
        cluster = make_cluster(args.scenario, seed=args.seed, dynamic=not args.static, **_knobs(args))
    except ScenarioError as e:
        print(f"gpuconsole sim: bad scenario: {e}", file=sys.stderr)
        return 1
    except FileNotFoundError as e:
        print(f"gpuconsole sim: {e}", file=sys.stderr)
        return 1
    built = time.perf_counter() - t0
    cluster.start()
    try:
        server = await start_server(cluster, host=args.host, port=args.port,
                                    tls=not getattr(args, "plain_http", False))
    except OSError as e:
        print(f"gpuconsole sim: cannot listen on {args.host}:{args.port}: {e.strerror or e}", file=sys.stderr)
        await cluster.stop()
        return 1
    from .resources import PODS

    print(f"scenario {args.scenario}: {cluster.store.count(PODS)} pods, built in {built:.1f} s, "
          f"peak RSS {_rss_mb():.0f} MB", file=sys.stderr)
    if kubeconfig_out:
        names = write_kubeconfig(kubeconfig_out, server.url, Users(cluster), tls=server.tls)
        extra = ", sim-cert (client certificate)" if "sim-cert" in names else ""
        print(f"kubeconfig written to {kubeconfig_out} (contexts: sim-admin, sim-viewer, sim-<project>, "
              f"sim-researcher-<project>{extra})", file=sys.stderr)
        if announce:
            print(f"try: kubectl --kubeconfig {kubeconfig_out} get nodes", file=sys.stderr)
    if server.tls is None:
        print("serving plain HTTP (--plain-http): nothing is encrypted, and tokens ride in URL paths",
              file=sys.stderr)
    print(f"ready {server.url}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    watcher = None
    if getattr(args, "exit_with_parent", False):
        watcher = loop.create_task(_exit_with_parent(parent, stop))
    await stop.wait()
    if watcher is not None:
        watcher.cancel()
    await server.stop()
    await cluster.stop()
    return 0


async def _exit_with_parent(parent: int, stop: asyncio.Event, every: float = 0.5) -> None:
    """Stop when the process that started us is gone, however it went (even SIGKILL): it is re-parented."""
    while os.getppid() == parent:
        await asyncio.sleep(every)
    print("gpuconsole sim: parent process exited; stopping", file=sys.stderr)
    stop.set()


def run_sim(args: argparse.Namespace) -> int:
    return asyncio.run(serve(args, args.kubeconfig_out))
