"""Helpers shared by the benchmarks: a simulator child process, a child process serving fixed pages, RSS,
medians."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def rss_mb(pid: int) -> float:
    """Current resident set of a process, from /proc (Linux)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


class SimProcess:
    """`gpuconsole sim` as a child process, as an operator would run it; stopped on exit."""

    def __init__(self, *args: str) -> None:
        self.args = list(args)
        self.dir = tempfile.mkdtemp(prefix="gpuconsole-bench-")
        self.kubeconfig = os.path.join(self.dir, "kubeconfig.yaml")
        self.proc: subprocess.Popen | None = None
        self.url = ""
        self.ready_s = 0.0

    def __enter__(self) -> "SimProcess":
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "console.cli", "sim", "--port", "0", "--kubeconfig-out", self.kubeconfig,
             "--static", *self.args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("ready "):
            err = self.proc.stderr.read() if self.proc.stderr else ""
            raise RuntimeError(f"simulator did not start: {line!r} {err[-2000:]}")
        self.ready_s = time.perf_counter() - t0
        self.url = line.split()[1]
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)

    @property
    def rss_mb(self) -> float:
        return rss_mb(self.proc.pid) if self.proc else float("nan")


def kubectl() -> str | None:
    return shutil.which("kubectl")


def _serve_pages(build: Callable[..., dict[str, bytes]], args: tuple[Any, ...], port_out: Any) -> None:
    """Child process: the pages `build(*args)` returns (path → body), on 127.0.0.1, until terminated."""
    import asyncio

    from aiohttp import web

    pages = build(*args)

    async def page(request: web.Request) -> web.Response:
        body = pages.get(request.path)
        if body is None:
            return web.Response(status=404)
        return web.Response(body=body, content_type="text/plain", charset="utf-8")

    async def run() -> None:
        app = web.Application()
        app.router.add_get("/{tail:.*}", page)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=4096)
        await site.start()
        port_out.send(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
        await asyncio.Event().wait()

    asyncio.run(run())


class PageServer:
    """Fixed metrics pages behind one aiohttp server in a child process (its own CPU, not the scraper's).

    `build` must be a module-level function (the child is spawned and imports it)."""

    def __init__(self, build: Callable[..., dict[str, bytes]], *args: Any, start_s: float = 300) -> None:
        import multiprocessing as mp
        ctx = mp.get_context("spawn")
        recv, send = ctx.Pipe(duplex=False)
        self.proc = ctx.Process(target=_serve_pages, args=(build, args, send), daemon=True)
        self.proc.start()
        if not recv.poll(start_s):
            raise RuntimeError("the page server did not start")
        self.port = recv.recv()

    def close(self) -> None:
        self.proc.terminate()
        self.proc.join(10)


async def plain_gets(session: Any, urls: list[str], concurrency: int = 64) -> int:
    """The floor a scrape is measured against: plain concurrent aiohttp GETs of `urls`; the bytes read."""
    import asyncio

    sem = asyncio.Semaphore(concurrency)

    async def get(u: str) -> int:
        async with sem, session.get(u) as resp:
            return len(await resp.read())

    return sum(await asyncio.gather(*(get(u) for u in urls)))
