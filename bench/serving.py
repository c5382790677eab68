"""Serving-metrics costs: scraping 2,000 inference pods and computing their figures, beside plain GETs.

A local aiohttp server in a child process (its own CPU) serves each pod's metrics page as the simulated
servers write it: a third vLLM (v1 families, http_requests_total, two histograms), a third Triton (counters,
pending count, first-response histogram), a third TGI (router families, 36-bucket duration histogram),
each in two versions ten seconds of traffic apart. Ours: `ServingScraper` with its aiohttp `PageFetcher`
fetches every page (64 at a time, per-page timeout and size cap), parses it leniently, reads it into a
`Reading`; the tracker then turns the two rounds into every replica's rates and percentiles and 500
workloads' merged figures. The peer: plain concurrent aiohttp GETs of the same pages, the floor of any
scraper. Target: ours at most 2× the GETs. Medians of `runs`.

Run: `python -m bench.serving [--quick]`; the last line is `serving_scrape_s=<x> serving_get_s=<y>`.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

from console.sim import serving_metrics as sm
from console.telemetry.serving_endpoints import Endpoint, ScrapeHint, Target
from console.telemetry.serving_scrape import PageFetcher, ServingScraper
from console.telemetry.serving_tracker import ServingTracker
from console.telemetry.serving_window import aggregate

from .common import PageServer, median, plain_gets

PODS, REPLICAS = 2000, 4
KINDS = (sm.VLLM, sm.TRITON, sm.TGI)


def page(i: int, version: int) -> bytes:
    """Pod i's page after `version` × 10 s of traffic (a fixed, seeded history: the same bytes every run)."""
    kind = KINDS[i % 3]
    layouts = {sm.VLLM: (sm.V1_E2E,), sm.TRITON: (tuple(b / 1000 for b in sm.TRITON_FIRST_MS),),
               sm.TGI: (sm.TGI_DURATION,)}[kind]
    ttfts = (sm.V1_TTFT,) if kind == sm.VLLM else ()
    m = sm.Meter(0.0, 0.0)
    for step in range(10 * (version + 1)):
        n = 3 + (i * 7 + step) % 5
        m.served += n
        m.observe(n, 0.2 + 0.05 * (i % 9), 0.45, layouts, ttfts)
        m.tokens += n * sm.OUT_TOKENS
    m.t = 10.0 * (version + 1)
    m.running, m.util, m.queue = 6.0, 0.5, float(i % 3)
    pod = {"metadata": {"name": f"pod-{i:05d}", "namespace": f"team-{i % 50}"},
           "spec": {"containers": [{"args": ["--model", f"model-{i % 17}"]}]}}
    w = sm._Writer("", version)
    if kind == sm.VLLM:
        sm._vllm(w, pod, m, sm.V1_E2E, sm.V1_TTFT, 1, False)
    elif kind == sm.TRITON:
        sm._triton(w, pod, m, layouts[0], "--metrics-config=histogram_latencies=true", False)
    else:
        sm._tgi(w, m, sm.TGI_DURATION, False)
    return w.text().encode()


def serving_pages(pods: int) -> dict[str, bytes]:
    """Both versions of every pod's page, at `/v<v>/p/<i>/metrics` (built in the page server's process)."""
    return {f"/v{v}/p/{i}/metrics": page(i, v) for v in (0, 1) for i in range(pods)}


def targets(pods: int, port: int, version: int) -> list[Target]:
    return [Target(f"team-{i % 50}", f"pod-{i:05d}",
                   ScrapeHint("127.0.0.1", KINDS[i % 3], Endpoint(port, f"/v{version}/p/{i}/metrics")))
            for i in range(pods)]


async def bench(runs: int, pods: int) -> dict[str, float]:
    server = await asyncio.to_thread(PageServer, serving_pages, pods)
    ours, gets = [], []
    answered = figured = workloads = 0
    size = 0
    try:
        import aiohttp
        first, second = targets(pods, server.port, 0), targets(pods, server.port, 1)
        urls = [f"http://127.0.0.1:{server.port}/v1/p/{i}/metrics" for i in range(pods)]
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as session:
            for _ in range(runs):
                t0 = time.perf_counter()
                size = await plain_gets(session, urls)
                gets.append(time.perf_counter() - t0)
        for _ in range(runs):
            scraper = ServingScraper(PageFetcher(None, timeout_s=30, concurrency=64), mode="direct")
            tracker = ServingTracker(window_s=60)
            try:
                tracker.ingest(0.0, await scraper.scrape(first))
                t0 = time.perf_counter()
                tracker.ingest(10.0, await scraper.scrape(second))
                states = {t.key: tracker.replica(t.key, 10.0) for t in second}
                groups: dict[int, list[Any]] = {}
                for i, t in enumerate(second):
                    f = states[t.key].figures
                    if f is not None:
                        groups.setdefault(i // REPLICAS, []).append(f)
                agg = [aggregate(g) for g in groups.values()]
                ours.append(time.perf_counter() - t0)
            finally:
                await scraper.close()
            answered = sum(1 for r in tracker.last.values() if r.reading is not None)
            figured = sum(1 for s in states.values() if s.figures is not None and s.figures.p95 is not None)
            workloads = sum(1 for a in agg if a.rps is not None)
    finally:
        server.close()
    # where the difference goes: the CPU of parsing and reading the pages alone (a tenth of them, scaled)
    from console.telemetry.serving_servers import parse_page, read
    sub = [page(i, 1).decode() for i in range(0, pods, 10)]
    cpu = []
    for _ in range(runs):
        t0 = time.perf_counter()
        for text in sub:
            read(parse_page(text))
        cpu.append((time.perf_counter() - t0) * pods / len(sub))
    return {"serving_scrape_s": median(ours), "serving_get_s": median(gets), "answered": answered,
            "with_p95": figured, "workloads": workloads, "mb": size / 1e6, "parse_read_s": median(cpu)}


def memory_per_replica_kb(pods: int) -> tuple[float, float]:
    """What two rounds of readings keep per replica (tracemalloc): the tracker's windows, then the figures
    computed from them."""
    import gc
    import tracemalloc

    from console.telemetry.serving_servers import PodScrape, parse_page, read

    rounds = [[page(i, v).decode() for i in range(pods)] for v in (0, 1)]
    gc.collect()
    tracemalloc.start()
    try:
        tracker = ServingTracker()
        for v, texts in enumerate(rounds):
            tracker.ingest(10.0 * v, {("ns", f"p{i}"): PodScrape(read(parse_page(t))) for i, t in enumerate(texts)})
        gc.collect()
        kept, _ = tracemalloc.get_traced_memory()
        figures = [tracker.replica(("ns", f"p{i}"), 10.0) for i in range(pods)]
        gc.collect()
        with_figures, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del figures
    return kept / pods / 1024, (with_figures - kept) / pods / 1024


def main(runs: int = 3, pods: int = PODS) -> str:
    r = asyncio.run(bench(runs, pods))
    ratio = r["serving_scrape_s"] / r["serving_get_s"] if r["serving_get_s"] else float("nan")
    print(f"serving metrics, {pods} inference pods ({r['mb']:.1f} MB a round), medians of {runs}:", flush=True)
    print(f"  scrape + parse + read + window figures: {r['serving_scrape_s']:.2f} s "
          f"({r['answered']} pods answered, {r['with_p95']} with a p95, {r['workloads']} workloads merged)")
    print(f"  plain concurrent aiohttp GETs of the same pages: {r['serving_get_s']:.2f} s (ratio {ratio:.2f}, "
          "target ≤ 2)")
    print(f"  of which parsing and reading the pages (pure Python, on the event loop): {r['parse_read_s']:.2f} s")
    kept, figs = memory_per_replica_kb(pods)
    print(f"  memory per replica after two rounds (tracemalloc): {kept:.1f} KB in the tracker, {figs:.1f} KB more "
          "for its figures")
    line = f"serving_scrape_s={r['serving_scrape_s']:.2f} serving_get_s={r['serving_get_s']:.2f}"
    print(line, flush=True)
    return line


if __name__ == "__main__":
    quick = "--quick" in sys.argv
    main(runs=1 if quick else 3, pods=200 if quick else PODS)
