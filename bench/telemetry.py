"""GPU telemetry costs: scraping and parsing 2,000 nodes × 8 GPUs of dcgm-exporter text, and NVML per tick.

Scrape: a local aiohttp server on 127.0.0.1 (a child process, so it does not share the scraper's CPU)
serves one exporter text per node (the simulator's format, every default family, ~180 lines per
node); DcgmExporterSampler scrapes all nodes concurrently, parses and builds samples. Side by side:
the same GETs through our transport alone (`console.kube.scrape`), plain concurrent aiohttp GETs of the
same bytes (the floor: target scrape ≤ 2× it) and plain httpx GETs (a peer client), our parser alone,
and prometheus_client's parser (the peer; run on a tenth of the nodes and scaled, since it is ~10x
slower). Last line: `scrape_s=<x> scrape_floor_s=<y>`. NVML: NvmlSampler's tick on the fake (8 GPUs, 2 processes
each) beside the bare fake calls for the same values, and on the real library when this machine has
a driver (target: 5 ms per tick for 8 GPUs with processes); without one it says why the real figure is
missing. The XID event thread is not part of a tick and is left out. Medians of `runs`.

Run: `python -m bench.telemetry [--quick] [--nvml]` (`--nvml`: only the NVML figures).
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

import httpx

from console.sim.exporter import FAMILIES, FLOAT_FAMILIES, pci_bus_id
from console.sim.gpus import gpu_uuid
from console.kube.scrape import Scraper
from console.telemetry.dcgm import DcgmExporterSampler, Target
from console.telemetry.dcgm_parse import parse
from console.telemetry.fake_nvml import FakeGpu, FakeNvml, FakeProc, LocalScenario, cgroup_text
from console.telemetry.nvml import NvmlSampler

from .common import PageServer, median, plain_gets

NODES, GPUS = 2000, 8


def exporter_text(node: str, gpus: int = GPUS) -> str:
    """One node's scrape: every family the simulated exporter serves, labels as real exporters write."""
    heads = [f'gpu="{i}",UUID="{gpu_uuid(node, i)}",pci_bus_id="{pci_bus_id(i)}",device="nvidia{i}",'
             f'modelName="NVIDIA H100 80GB HBM3",Hostname="nvidia-dcgm-exporter-{node[-5:]}",'
             f'DCGM_FI_DRIVER_VERSION="550.127.08",container="main",namespace="team-{i % 5}",pod="job-{node}-{i}"'
             for i in range(gpus)]
    out: list[str] = []
    for fam, typ, help_ in FAMILIES:
        out.append(f"# HELP {fam} {help_}")
        out.append(f"# TYPE {fam} {typ}")
        for i, h in enumerate(heads):
            v = (37 * i + len(node)) % 100
            out.append(f"{fam}{{{h}}} {v:.6f}" if fam in FLOAT_FAMILIES else f"{fam}{{{h}}} {v}")
    return "\n".join(out) + "\n"


def exporter_pages(nodes: int) -> dict[str, bytes]:
    """Every node's exporter text, at `/n/<i>/metrics` (built in the page server's process)."""
    return {f"/n/{i}/metrics": exporter_text(f"node-{i:05d}").encode() for i in range(nodes)}


async def scrape_bench(runs: int, nodes: int) -> dict[str, float]:
    texts = [exporter_text(f"node-{i:05d}").encode() for i in range(nodes)]
    server = await asyncio.to_thread(PageServer, exporter_pages, nodes)
    urls = [f"http://127.0.0.1:{server.port}/n/{i}/metrics" for i in range(nodes)]
    targets = [Target(f"node-{i:05d}", url=u) for i, u in enumerate(urls)]
    ours, pages, floor, peer = [], [], [], []
    gpus = failing = 0
    try:
        import aiohttp
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        async with aiohttp.ClientSession() as session, httpx.AsyncClient(timeout=30, limits=limits) as http:
            for _ in range(runs):
                sem = asyncio.Semaphore(64)
                t0 = time.perf_counter()
                await plain_gets(session, urls)
                floor.append(time.perf_counter() - t0)

                async def get(u: str) -> int:
                    async with sem:
                        return len((await http.get(u)).content)

                t0 = time.perf_counter()
                await asyncio.gather(*(get(u) for u in urls))
                peer.append(time.perf_counter() - t0)

                async with Scraper(timeout_s=30, concurrency=64) as scraper:
                    t0 = time.perf_counter()
                    await asyncio.gather(*(scraper.get(u) for u in urls))
                    pages.append(time.perf_counter() - t0)

                s = DcgmExporterSampler(targets=targets, timeout_s=30, concurrency=64)
                try:
                    t0 = time.perf_counter()
                    snap = await s.sample()
                    ours.append(time.perf_counter() - t0)
                finally:
                    await s.close()
                gpus = len(snap.gpus())
                failing = len(snap.failing_nodes)
    finally:
        server.close()
    text = [t.decode() for t in texts]
    parse_s = []
    for _ in range(runs):
        t0 = time.perf_counter()
        for t in text:
            parse(t)
        parse_s.append(time.perf_counter() - t0)
    peer_s = float("nan")
    try:
        from prometheus_client.parser import text_string_to_metric_families
        sub = text[: max(1, nodes // 10)]
        t0 = time.perf_counter()
        for t in sub:
            for fam in text_string_to_metric_families(t):
                for _s in fam.samples:
                    pass
        peer_s = (time.perf_counter() - t0) * nodes / len(sub)
    except ImportError:
        pass
    lines = sum(t.count("\n") for t in text)
    return {"scrape_s": median(ours), "pages_s": median(pages), "aiohttp_floor_s": median(floor),
            "httpx_s": median(peer),
            "parse_s": median(parse_s),
            "prometheus_client_s": peer_s, "gpus": gpus, "failing": failing, "lines": lines,
            "mb": sum(map(len, texts)) / 1e6}


def nvml_scenario(gpus: int = 8) -> LocalScenario:
    return LocalScenario([
        FakeGpu("NVIDIA H100 80GB HBM3", gpu_uuid("bench", i), 81559, util_pct=60, reserved_mib=559,
                procs=[FakeProc(1000 + 2 * i, 30000, 50, cgroup_text(f"00000000-0000-4000-8000-{i:012d}")),
                       FakeProc(1001 + 2 * i, 20000, 10, "")])
        for i in range(gpus)])


def bare_calls(nvml: Any, handles: list[Any]) -> None:
    """The peer: the same NVML reads with nothing around them (no error handling, records or pods)."""
    for h in handles:
        nvml.nvmlDeviceGetUtilizationRates(h)
        nvml.nvmlDeviceGetMemoryInfo(h, version=nvml.nvmlMemory_v2)
        nvml.nvmlDeviceGetTemperature(h, nvml.NVML_TEMPERATURE_GPU)
        nvml.nvmlDeviceGetPowerUsage(h)
        nvml.nvmlDeviceGetClockInfo(h, nvml.NVML_CLOCK_SM)
        nvml.nvmlDeviceGetCurrentClocksEventReasons(h)
        nvml.nvmlDeviceGetComputeRunningProcesses(h)
        nvml.nvmlDeviceGetGraphicsRunningProcesses(h)
        try:
            nvml.nvmlDeviceGetProcessUtilization(h, 0)
        except nvml.NVMLError:
            pass


def tick_costs(nvml: Any, ticks: int) -> dict[str, float]:
    clock = [1000.0]
    s = NvmlSampler(nvml, node="bench", interval_s=0, clock=lambda: clock[0], pod_of_pid=lambda pid: None,
                    xid_events=False)
    first = s._tick(clock[0])          # init and open handles: not part of the per-tick cost
    if first.error:
        return {"error": first.error}  # type: ignore[dict-item]
    per_tick = []
    for _ in range(ticks):
        clock[0] += 1.0
        t0 = time.perf_counter()
        s._tick(clock[0])
        per_tick.append(time.perf_counter() - t0)
    handles = [nvml.nvmlDeviceGetHandleByIndex(i) for i in range(nvml.nvmlDeviceGetCount())]
    bare = []
    for _ in range(ticks):
        t0 = time.perf_counter()
        bare_calls(nvml, handles)
        bare.append(time.perf_counter() - t0)

    async def threaded() -> list[float]:
        out = []
        for _ in range(min(ticks, 200)):
            clock[0] += 1.0
            t0 = time.perf_counter()
            await s.sample()
            out.append(time.perf_counter() - t0)
        return out

    via_thread = asyncio.run(threaded())
    return {"tick_ms": median(per_tick) * 1e3, "bare_ms": median(bare) * 1e3,
            "sample_ms": median(via_thread) * 1e3, "gpus": len(handles)}


NVML_TARGET_MS = 5.0


def nvml_figures(ticks: int) -> str:
    """The fake's per-tick cost and, where a driver is present, the real one, side by side."""
    fake = tick_costs(FakeNvml(nvml_scenario()), ticks)
    print(f"NVML per tick, fake, {fake.get('gpus')} GPUs x 2 processes: sampler {fake['tick_ms']:.2f} ms   "
          f"bare calls (peer) {fake['bare_ms']:.2f} ms   sample() via thread {fake['sample_ms']:.2f} ms",
          flush=True)
    try:
        import pynvml
        real = tick_costs(pynvml, ticks)
    except ImportError as e:
        real = {"error": str(e)}  # type: ignore[dict-item]
    if "error" in real:
        print(f"NVML per tick, real: not measured on this machine ({real['error']}); target <= "
              f"{NVML_TARGET_MS:g} ms per tick for 8 GPUs with processes", flush=True)
        real_ms = "nan"
    else:
        print(f"NVML per tick, real, {real['gpus']} GPUs: sampler {real['tick_ms']:.2f} ms   "
              f"bare calls (peer) {real['bare_ms']:.2f} ms   sample() via thread {real['sample_ms']:.2f} ms   "
              f"(target <= {NVML_TARGET_MS:g} ms for 8 GPUs)", flush=True)
        real_ms = f"{real['tick_ms']:.3f}"
    return f"nvml_fake_tick_ms={fake['tick_ms']:.3f} nvml_real_tick_ms={real_ms}"


def main(runs: int = 3, nodes: int = NODES, ticks: int = 500) -> str:
    r = asyncio.run(scrape_bench(runs, nodes))
    print(f"dcgm-exporter {nodes} nodes x {GPUS} GPUs ({r['lines']:.0f} lines, {r['mb']:.1f} MB), medians of {runs}:",
          flush=True)
    print(f"  scrape+parse+join (DcgmExporterSampler)  {r['scrape_s']:.2f} s   {r['gpus']} GPUs, "
          f"{r['failing']} failing nodes", flush=True)
    print(f"  GETs only, our transport (kube.scrape)   {r['pages_s']:.2f} s", flush=True)
    print(f"  GETs only, plain aiohttp (the floor)     {r['aiohttp_floor_s']:.2f} s   "
          f"(ratio scrape / floor {r['scrape_s'] / r['aiohttp_floor_s']:.2f})", flush=True)
    print(f"  GETs only, plain httpx (peer)            {r['httpx_s']:.2f} s", flush=True)
    print(f"  parse only, ours                       {r['parse_s']:.2f} s   "
          f"({r['parse_s'] / r['lines'] * 1e6:.1f} us/line)", flush=True)
    print(f"  parse only, prometheus_client (peer)   {r['prometheus_client_s']:.2f} s   "
          f"(measured on {max(1, nodes // 10)} nodes, scaled)", flush=True)
    nvml = nvml_figures(ticks)
    print(f"dcgm_scrape_s={r['scrape_s']:.3f} dcgm_parse_s={r['parse_s']:.3f} "
          f"promclient_parse_s={r['prometheus_client_s']:.3f} {nvml}", flush=True)
    return f"scrape_s={r['scrape_s']:.2f} scrape_floor_s={r['aiohttp_floor_s']:.2f}"


if __name__ == "__main__":
    quick = "--quick" in sys.argv
    if "--nvml" in sys.argv:
        print(nvml_figures(ticks=100 if quick else 500))
    else:
        print(main(runs=1 if quick else 3, nodes=200 if quick else NODES, ticks=100 if quick else 500))
