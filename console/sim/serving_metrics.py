"""Simulated inference servers' `/metrics` pages: vLLM, Triton and TGI by the pod's image, and Knative's
queue-proxy beside every Knative pod, served through the pod proxy like the dcgm-exporter's.

Each page is rendered from a per-pod meter that integrates the load model (`serving_load`) second by
second on the simulator's clock: requests arrive at the pod's share of its service's rate; a replica
serves up to its capacity (less when busy neighbours share its GPU: `contention`), and past it a queue
builds, adding its wait to every request; past the queue's bound requests are refused (TGI's
`overloaded`, Triton's `REJECTED`, a 503 from vLLM and from the queue-proxy). Latencies are log-normal
around the load model's latency, filled into each server's real bucket layout as expected counts, so
percentiles move smoothly with load. The meter is keyed by pod UID: a new pod (a restart) counts from
zero, as a real process does.

Names, labels and bucket layouts are the servers' own (see console/telemetry/serving_servers.py for the
sources): vLLM's v1 families from 0.9 on (`vllm:kv_cache_usage_perc`, http_requests_total) and the older
ones before (`vllm:gpu_cache_usage_perc`, no HTTP counts); Triton's counters, pending count and, when its
args say `--metrics-config=histogram_latencies=true` / `summary_latencies=true`, its first-response
histogram (default buckets 100, 500, 2000, 5000 ms) and request summary; TGI's router metrics; the
queue-proxy's OpenCensus families (the simulated Knative is 1.16).

Test hook: pod annotation `sim.gpuconsole.io/metrics-fault` makes a pod's page go wrong on purpose:
`404`, `refused`, `hang`, `junk`, `no-inf` (histograms without `+Inf`), `falling` (bucket counts that fall),
`shuffled` (bucket lines out of order, which is valid), `nan`, `backwards` (counters that go down),
`huge` (a 50 MB page), `layout` (vLLM with custom histogram buckets).
"""

from __future__ import annotations

import asyncio
import math
import random
import re
from dataclasses import dataclass, field
from typing import Any

from . import serving_load
from .cluster import SimCluster
from .errors import ApiError
from .kubelet import gpu_groups_of
from .resources import DEPLOYMENTS, PODS
from .store import Obj

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
FAULT_ANNOTATION = "sim.gpuconsole.io/metrics-fault"
VLLM, TRITON, TGI = "vllm", "triton", "tgi"
PORTS = {VLLM: 8000, TRITON: 8002, TGI: 80}
QUEUE_PROXY_PORT = 9091
TRITON_HTTP_PORT = 8000

# vllm-project/vllm vllm/v1/metrics/loggers.py
V1_E2E = (0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0,
          960.0, 1920.0, 7680.0)
V1_TTFT = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0,
           80.0, 160.0, 640.0, 2560.0)
# vllm/engine/metrics.py (v0)
V0_E2E = (1.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0)
V0_TTFT = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
# `--custom-histogram-buckets '{"request_latency": [...]}'` (the `layout` fault)
CUSTOM_E2E = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 30.0)
# triton-inference-server/core src/metric_model_reporter.h: first-response histogram default buckets (ms)
TRITON_FIRST_MS = (100.0, 500.0, 2000.0, 5000.0)
TRITON_QUANTILES = (0.5, 0.9, 0.95, 0.99, 0.999)
# huggingface/text-generation-inference router/src/server.rs
TGI_DURATION = tuple(0.0001 * 1.5 ** k for k in range(1, 36))
# knative/serving pkg/queue/request_metric.go (release-1.18): milliseconds
QP_MS = (5, 10, 20, 40, 60, 80, 100, 150, 200, 250, 300, 350, 400, 450, 500, 600, 700, 800, 900, 1000, 2000, 5000,
         10000, 20000, 50000, 100000)
OUT_TOKENS = 180.0       # output tokens per request (an LLM chat answer)
MAX_NUM_SEQS = 256       # vLLM's default batch bound: past it requests wait
CONTENTION_WEIGHT = 0.5
QUEUE_SECONDS = 8.0      # a replica queues this many seconds of its capacity before it refuses requests


def server_of(pod: Obj) -> tuple[str | None, Obj | None]:
    """The inference server a pod runs (by its container's image or command) and that container."""
    for c in (pod.get("spec") or {}).get("containers") or []:
        if c.get("name") == "queue-proxy":
            continue
        image = str(c.get("image") or "").lower()
        words = " ".join(str(a) for a in (c.get("command") or []) + (c.get("args") or [])).lower()
        if "vllm" in image or "vllm serve" in words:
            return VLLM, c
        if "tritonserver" in image or "tritonserver" in words:
            return TRITON, c
        if "text-generation-inference" in image or "text-generation-launcher" in words:
            return TGI, c
    return None, None


def vllm_generation(image: str) -> int:
    """1 for vLLM 0.9 and later (the v1 engine's families), 0 for older tags; 1 when the tag says nothing."""
    m = re.search(r":v?(\d+)\.(\d+)", image)
    if not m:
        return 1
    return 1 if (int(m.group(1)), int(m.group(2))) >= (0, 9) else 0


def _phi(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def _cdf(bound: float, median: float, sigma: float) -> float:
    if bound <= 0 or median <= 0:
        return 0.0
    return _phi((math.log(bound) - math.log(median)) / sigma)


@dataclass
class Layout:
    """Whole observations per bucket of one layout; fractions carried over so rare tails come at their rate."""

    bounds: tuple[float, ...]
    counts: list[int] = field(default_factory=list)     # per bucket, the last one above every bound
    carry: list[float] = field(default_factory=list)

    def add(self, n: int, median: float, sigma: float) -> None:
        if not self.counts:
            self.counts = [0] * (len(self.bounds) + 1)
            self.carry = [0.0] * (len(self.bounds) + 1)
        cdf = [_cdf(b, median, sigma) for b in self.bounds] + [1.0]
        prev = 0.0
        given = 0
        for i, c in enumerate(cdf):
            want = n * (c - prev) + self.carry[i]
            prev = c
            k = max(0, int(math.floor(want)))
            self.carry[i] = want - k
            self.counts[i] += k
            given += k
        while given < n:   # the fractions owed: to the buckets owed most
            i = max(range(len(self.carry)), key=lambda j: self.carry[j])
            self.counts[i] += 1
            self.carry[i] -= 1.0
            given += 1

    def cumulative(self) -> list[int]:
        out, run = [], 0
        for c in self.counts[:-1] if self.counts else [0] * len(self.bounds):
            run += c
            out.append(run)
        return out

    @property
    def total(self) -> int:
        return sum(self.counts)


@dataclass
class Meter:
    """One pod's counts since it started: whole requests, and latencies in each layout a page shows."""

    started: float
    t: float
    served: int = 0
    refused: int = 0
    arrived: float = 0.0          # requests so far, fractional; whole ones are served or refused
    queue: float = 0.0
    e2e: dict[tuple[float, ...], Layout] = field(default_factory=dict)
    e2e_sum: float = 0.0
    ttft: dict[tuple[float, ...], Layout] = field(default_factory=dict)
    ttft_sum: float = 0.0
    queue_s_sum: float = 0.0
    tokens: float = 0.0
    median: float = 0.25
    sigma: float = 0.4
    running: float = 0.0
    util: float = 0.0
    scrapes: int = 0

    def observe(self, n: int, median: float, sigma: float, layouts: tuple[tuple[float, ...], ...],
                ttft_layouts: tuple[tuple[float, ...], ...]) -> None:
        for bounds in layouts:
            self.e2e.setdefault(bounds, Layout(bounds))
        for bounds in ttft_layouts:
            self.ttft.setdefault(bounds, Layout(bounds))
        if n <= 0:
            return
        for lay in self.e2e.values():
            lay.add(n, median, sigma)
        self.e2e_sum += n * median * math.exp(sigma * sigma / 2)
        tm = median * 0.12
        for lay in self.ttft.values():
            lay.add(n, tm, sigma)
        self.ttft_sum += n * tm * math.exp(sigma * sigma / 2)

    def hist(self, bounds: tuple[float, ...], ttft: bool = False) -> tuple[list[int], int]:
        lay = (self.ttft if ttft else self.e2e).get(bounds)
        if lay is None:
            return [0] * len(bounds), 0
        return lay.cumulative(), lay.total


class ServingMetrics:
    def __init__(self, cluster: SimCluster) -> None:
        self.cluster = cluster
        self.load = serving_load.of(cluster)
        self.meters: dict[str, Meter] = {}
        self.renders = 0

    # ---------------------------------------------------------------- contention
    def contention(self, pk: tuple[str, str], t: float) -> float:
        """How much slower the pod runs for its GPU neighbours: 1 + 0.5 × the summed busy fraction of every
        other workload's pod on its shared GPU (time-slicing hands each a share of the engine), at most 2.5."""
        pod = self.cluster.store.try_get(PODS, *pk)
        kubelet = self.cluster.extras.get("kubelet")
        exporter = self.cluster.extras.get("dcgm-exporter")
        if pod is None or kubelet is None or exporter is None:
            return 1.0
        groups = gpu_groups_of(pod)
        if not groups:
            return 1.0
        me = _workload_of(pod)
        busy = 0.0
        for g in groups:
            for other in kubelet.group_members(g):
                if other == pk:
                    continue
                o = self.cluster.store.try_get(PODS, *other)
                if o is None or (o.get("status") or {}).get("phase") != "Running" or _workload_of(o) == me:
                    continue
                busy += exporter.pod_util(o, t) / 100.0
        return min(2.5, 1.0 + CONTENTION_WEIGHT * busy)

    # ---------------------------------------------------------------- load of one pod
    def _pod_load(self, pod: Obj, t: float) -> tuple[serving_load.PodLoad, serving_load.ServiceLoad]:
        md = pod["metadata"]
        pk = (md["namespace"], md["name"])
        svc_key = serving_load.service_key(pod)
        pl = self.load.pod(pk)
        if pl is None or t - pl.at > 2.0:
            # a fixed-replica Deployment (no autoscaler spreads its load): share its curve out here
            from .exporter import deployment_key
            dk = deployment_key(pod) or pk
            dep = self.cluster.store.try_get(DEPLOYMENTS, *dk)
            svc_key = serving_load.service_key(dep) if dep is not None else dk
            svc = self.load.declare(*svc_key, (dep or {}).get("metadata", {}).get("annotations"))
            if not svc.peak_rps:
                replicas = int(((dep or {}).get("spec") or {}).get("replicas") or 1)
                svc.peak_rps = 0.4 * svc.capacity_rps * max(1, replicas)
            peers = self._ready_peers(pod, dep)
            pl = self.load.spread(svc_key, peers or [pk], t).get(pk) or serving_load.PodLoad(0, 0, 0, svc.latency_s)
        return pl, self.load.services.get(svc_key) or serving_load.ServiceLoad(*svc_key)

    def _ready_peers(self, pod: Obj, dep: Obj | None) -> list[tuple[str, str]]:
        md = pod["metadata"]
        if dep is None:
            return [(md["namespace"], md["name"])]
        from .exporter import deployment_key
        key = deployment_key(pod)
        out = []
        for p in self.cluster.store.items(PODS, md["namespace"]):
            if deployment_key(p) == key and (p.get("status") or {}).get("phase") == "Running" \
                    and not p["metadata"].get("deletionTimestamp"):
                out.append((md["namespace"], p["metadata"]["name"]))
        return out

    # ---------------------------------------------------------------- the meter
    def meter(self, pod: Obj, layouts: tuple, ttft_layouts: tuple) -> Meter:
        md = pod["metadata"]
        uid = md.get("uid", "")
        t = self.cluster.clock.now()
        m = self.meters.get(uid)
        if m is None:
            kubelet = self.cluster.extras.get("kubelet")
            started = (kubelet.started_at(pod) if kubelet is not None else None) or t
            m = self.meters[uid] = Meter(started, min(started, t))
        if t - m.t > 900.0:
            m.t = t - 900.0          # a long pause: only the last quarter hour is counted again
        if m.t < t:
            pl, svc = self._pod_load(pod, t)
            while m.t < t:
                dt = min(1.0, t - m.t)
                m.t += dt
                self._advance(m, pl, svc, dt, layouts, ttft_layouts)
        return m

    def _advance(self, m: Meter, pl: serving_load.PodLoad, svc: serving_load.ServiceLoad, dt: float,
                 layouts: tuple, ttft_layouts: tuple) -> None:
        cap = pl.capacity_rps if pl.capacity_rps > 0 else svc.capacity_rps
        before = int(math.floor(m.arrived))
        m.arrived += pl.rps * dt
        arrivals = int(math.floor(m.arrived)) - before
        if pl.rps > cap:
            m.queue += (pl.rps - cap) * dt
        else:
            m.queue = max(0.0, m.queue - (cap - pl.rps) * dt)
        bound = cap * QUEUE_SECONDS
        refused = 0
        if m.queue > bound:
            refused = min(arrivals, int(math.ceil(m.queue - bound)))
            m.queue = bound
        served = arrivals - refused
        wait = m.queue / cap if cap > 0 else 0.0
        median = pl.latency_s + wait
        sigma = 0.35 + 0.25 * min(1.0, pl.utilization)
        m.served += served
        m.refused += refused
        m.queue_s_sum += served * wait
        m.observe(served, median, sigma, layouts, ttft_layouts)
        m.tokens += served * OUT_TOKENS
        m.median, m.sigma, m.util = median, sigma, pl.utilization
        m.running = min(MAX_NUM_SEQS, pl.rps * pl.latency_s) if pl.rps > 0 else 0.0

    def forget(self, uid: str) -> None:
        self.meters.pop(uid, None)

    # ---------------------------------------------------------------- pages
    def page(self, pod: Obj, port: int, path: str) -> Any:
        md = pod.get("metadata") or {}
        ip = (pod.get("status") or {}).get("podIP") or "10.0.0.1"
        refused = ApiError(503, f"error trying to reach service: dial tcp {ip}:{port}: connect: connection refused",
                           "ServiceUnavailable")
        if (pod.get("status") or {}).get("phase") != "Running":
            raise refused
        fault = str((md.get("annotations") or {}).get(FAULT_ANNOTATION, ""))
        kind, container = server_of(pod)
        has_qp = any(c.get("name") == "queue-proxy" for c in (pod.get("spec") or {}).get("containers") or [])
        if port == QUEUE_PROXY_PORT and has_qp:
            page = "qp"
        elif kind is not None and port == PORTS[kind]:
            page = kind
        elif kind == TRITON and port == TRITON_HTTP_PORT:
            raise ApiError(404, "404 page not found", "NotFound")    # Triton serves metrics on 8002
        else:
            raise refused
        if path.strip("/") != "metrics" or fault == "404":
            raise ApiError(404, "404 page not found", "NotFound")
        if fault == "refused":
            raise refused
        if fault == "hang":
            return self._hang()
        self.renders += 1
        if fault == "junk":
            return CONTENT_TYPE, b"<html><body><h1>502 Bad Gateway</h1></body></html>\n\x00\xff garbage {{{\n"
        if fault == "huge":
            line = b'# padding to make the page enormous ' + b"x" * 200 + b"\n"
            return CONTENT_TYPE, line * (50 * 1024 * 1024 // len(line) + 1)
        text = self.render(pod, page, container or {}, fault)
        return CONTENT_TYPE, text.encode()

    async def _hang(self) -> tuple[str, bytes]:
        await asyncio.sleep(3600)
        return CONTENT_TYPE, b""

    def render(self, pod: Obj, page: str, container: Obj, fault: str = "") -> str:
        kind, _ = server_of(pod)
        args = " ".join(str(a) for a in (container.get("command") or []) + (container.get("args") or []))
        gen = vllm_generation(str(container.get("image") or "")) if kind == VLLM else 1
        if kind == VLLM:
            layouts = ((CUSTOM_E2E if fault == "layout" else (V1_E2E if gen else V0_E2E)),)
            ttfts = ((V1_TTFT if gen else V0_TTFT),)
        elif kind == TRITON:
            layouts, ttfts = (tuple(b / 1000.0 for b in TRITON_FIRST_MS),), ()
        elif kind == TGI:
            layouts, ttfts = (TGI_DURATION,), ()
        else:
            layouts, ttfts = (), ()
        qp_layout = tuple(b / 1000.0 for b in QP_MS)
        has_qp = any(c.get("name") == "queue-proxy" for c in (pod.get("spec") or {}).get("containers") or [])
        m = self.meter(pod, layouts + ((qp_layout,) if has_qp else ()), ttfts)
        m.scrapes += 1
        w = _Writer(fault, m.scrapes)
        if page == "qp":
            _queue_proxy(w, pod, m, qp_layout)
        elif page == VLLM:
            _vllm(w, pod, m, layouts[0], ttfts[0], gen, has_qp)
        elif page == TRITON:
            _triton(w, pod, m, layouts[0], args, has_qp)
        elif page == TGI:
            _tgi(w, m, layouts[0], has_qp)
        return w.text()


def _workload_of(pod: Obj) -> str:
    labels = (pod.get("metadata") or {}).get("labels") or {}
    for k in (serving_load.KSERVE_LABEL, serving_load.RUNAI_WORKLOAD_LABEL, serving_load.KNATIVE_SERVICE_LABEL, "app"):
        if labels.get(k):
            return str(labels[k])
    return (pod.get("metadata") or {}).get("name", "")


class _Writer:
    """Prometheus text as prometheus_client writes it, with the page's fault applied."""

    def __init__(self, fault: str, scrape: int) -> None:
        self.fault = fault
        self.scrape = scrape
        self.lines: list[str] = []

    def head(self, name: str, typ: str, help_: str) -> None:
        self.lines.append(f"# HELP {name} {help_}")
        self.lines.append(f"# TYPE {name} {typ}")

    def sample(self, name: str, labels: str, value: float, counter: bool = False) -> None:
        if counter and self.fault == "nan":
            self.lines.append(f"{name}{{{labels}}} NaN" if labels else f"{name} NaN")
            return
        if counter and self.fault == "backwards":
            value = max(0.0, value * (0.5 if self.scrape % 2 == 0 else 1.0))
        v = _fmt(value)
        self.lines.append(f"{name}{{{labels}}} {v}" if labels else f"{name} {v}")

    def histogram(self, name: str, labels: str, bounds: tuple[float, ...], cumulative: list[int], total: int,
                  sum_: float, le_fmt: Any = None) -> None:
        sep = "," if labels else ""
        rows: list[str] = []
        for i, (b, n) in enumerate(zip(bounds, cumulative)):
            if self.fault == "falling" and i == len(bounds) // 2:
                n = 0
            le = le_fmt(b) if le_fmt else _fmt(b)
            rows.append(f'{name}_bucket{{{labels}{sep}le="{le}"}} {_fmt(n)}')
        if self.fault != "no-inf":
            rows.append(f'{name}_bucket{{{labels}{sep}le="+Inf"}} {_fmt(total)}')
        if self.fault == "shuffled":
            random.Random(self.scrape).shuffle(rows)
        self.lines.extend(rows)
        self.sample(f"{name}_sum", labels, sum_, counter=True)
        self.sample(f"{name}_count", labels, total, counter=True)

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def _fmt(v: float) -> str:
    if v == int(v) and abs(v) < 1e15:
        return f"{int(v)}.0"
    return repr(float(v))


def _floor(x: float) -> float:
    return float(math.floor(x))


def _vllm(w: _Writer, pod: Obj, m: Meter, e2e: tuple[float, ...], ttft: tuple[float, ...], gen: int,
          behind_proxy: bool) -> None:
    model = _model_of(pod)
    lb = f'engine="0",model_name="{model}"' if gen else f'model_name="{model}"'
    served = float(m.served)
    w.head("vllm:num_requests_running", "gauge", "Number of requests in model execution batches.")
    w.sample("vllm:num_requests_running", lb, round(m.running))
    w.head("vllm:num_requests_waiting", "gauge", "Number of requests waiting to be processed.")
    w.sample("vllm:num_requests_waiting", lb, round(m.queue))
    kv = min(1.0, 0.05 + 0.9 * min(1.0, m.util) + (0.05 if m.queue > 0 else 0.0))
    w.head("vllm:gpu_cache_usage_perc", "gauge", "GPU KV-cache usage. 1 means 100 percent usage.")
    w.sample("vllm:gpu_cache_usage_perc", lb, round(kv, 4))
    if gen:
        w.head("vllm:kv_cache_usage_perc", "gauge", "KV-cache usage. 1 means 100 percent usage.")
        w.sample("vllm:kv_cache_usage_perc", lb, round(kv, 4))
    w.head("vllm:generation_tokens_total", "counter", "Number of generation tokens processed.")
    w.sample("vllm:generation_tokens_total", lb, _floor(m.tokens), counter=True)
    w.head("vllm:request_success_total", "counter", "Count of successfully processed requests.")
    for reason, share in (("stop", 0.82), ("length", 0.18), ("abort", 0.0)):
        w.sample("vllm:request_success_total", f'{lb},finished_reason="{reason}"', _floor(served * share),
                 counter=True)
    w.head("vllm:time_to_first_token_seconds", "histogram", "Histogram of time to first token in seconds.")
    w.histogram("vllm:time_to_first_token_seconds", lb, ttft, *m.hist(ttft, ttft=True), m.ttft_sum)
    w.head("vllm:e2e_request_latency_seconds", "histogram", "Histogram of e2e request latency in seconds.")
    w.histogram("vllm:e2e_request_latency_seconds", lb, e2e, *m.hist(e2e), m.e2e_sum)
    if gen:
        w.head("http_requests_total", "counter", "Total number of requests by method, status and handler.")
        refused = 0.0 if behind_proxy else float(m.refused)
        w.sample("http_requests_total", 'handler="/v1/chat/completions",method="POST",status="2xx"', served,
                 counter=True)
        w.sample("http_requests_total", 'handler="/v1/chat/completions",method="POST",status="5xx"', refused,
                 counter=True)
        w.sample("http_requests_total", 'handler="/health",method="GET",status="2xx"',
                 _floor((m.t - m.started) / 10.0), counter=True)


def _triton(w: _Writer, pod: Obj, m: Meter, first: tuple[float, ...], args: str, behind_proxy: bool) -> None:
    model = _model_of(pod).rsplit("/", 1)[-1]
    lb = f'model="{model}",version="1"'
    served = float(m.served)
    refused = 0.0 if behind_proxy else float(m.refused)
    w.head("nv_inference_request_success", "counter", "Number of successful inference requests, all batch sizes")
    w.sample("nv_inference_request_success", lb, served, counter=True)
    w.head("nv_inference_request_failure", "counter", "Number of failed inference requests, all batch sizes")
    for reason in ("REJECTED", "CANCELED", "BACKEND", "OTHER"):
        w.sample("nv_inference_request_failure", f'{lb},reason="{reason}"', refused if reason == "REJECTED" else 0.0,
                 counter=True)
    w.head("nv_inference_count", "counter", "Number of inferences performed (does not include cached requests)")
    w.sample("nv_inference_count", lb, served, counter=True)
    w.head("nv_inference_exec_count", "counter", "Number of model executions performed (does not include cached "
                                                 "requests)")
    w.sample("nv_inference_exec_count", lb, _floor(m.served / 4), counter=True)
    w.head("nv_inference_request_duration_us", "counter", "Cumulative inference request duration in microseconds "
                                                          "(includes cached requests)")
    w.sample("nv_inference_request_duration_us", lb, _floor(m.e2e_sum * 1e6), counter=True)
    w.head("nv_inference_queue_duration_us", "counter", "Cumulative inference queuing duration in microseconds "
                                                        "(includes cached requests)")
    w.sample("nv_inference_queue_duration_us", lb, _floor(m.queue_s_sum * 1e6), counter=True)
    w.head("nv_inference_pending_request_count", "gauge", "Instantaneous number of pending requests awaiting "
                                                          "execution per-model.")
    w.sample("nv_inference_pending_request_count", lb, round(m.queue))
    if "histogram_latencies=true" in args:
        w.head("nv_inference_first_response_histogram_ms", "histogram",
               "Duration from request to first response in milliseconds")
        w.histogram("nv_inference_first_response_histogram_ms", lb, first, *m.hist(first), m.e2e_sum * 1000.0,
                    le_fmt=lambda b: f"{b * 1000:g}")
    if "summary_latencies=true" in args:
        w.head("nv_inference_request_summary_us", "summary", "Summary of inference request duration in "
                                                             "microseconds (includes cached requests)")
        for q in TRITON_QUANTILES:
            v = m.median * math.exp(m.sigma * _probit(q)) if served else math.nan
            w.lines.append(f'nv_inference_request_summary_us{{{lb},quantile="{q:g}"}} '
                           f'{"NaN" if math.isnan(v) else int(v * 1e6)}')
        w.sample("nv_inference_request_summary_us_sum", lb, _floor(m.e2e_sum * 1e6), counter=True)
        w.sample("nv_inference_request_summary_us_count", lb, served, counter=True)


def _tgi(w: _Writer, m: Meter, bounds: tuple[float, ...], behind_proxy: bool) -> None:
    served = float(m.served)
    refused = 0.0 if behind_proxy else float(m.refused)
    w.head("tgi_request_count", "counter", "Total number of requests")
    w.sample("tgi_request_count", "", served + refused, counter=True)
    w.head("tgi_request_success", "counter", "Number of successful requests")
    w.sample("tgi_request_success", "", served, counter=True)
    if refused:
        w.head("tgi_request_failure", "counter", "Number of failed requests")
        w.sample("tgi_request_failure", 'err="overloaded"', refused, counter=True)
    w.head("tgi_queue_size", "gauge", "Current queue size")
    w.sample("tgi_queue_size", "", round(m.queue))
    w.head("tgi_batch_current_size", "gauge", "Current batch size")
    w.sample("tgi_batch_current_size", "", round(m.running))
    w.head("tgi_request_duration", "histogram", "Total time spent processing the request (e2e latency)")
    w.histogram("tgi_request_duration", "", bounds, *m.hist(bounds), m.e2e_sum)
    w.head("tgi_request_generated_tokens", "histogram", "Generated tokens per request")
    tb = tuple((2048 / 100.0) * (x + 1) for x in range(100))
    w.histogram("tgi_request_generated_tokens", "", tb,
                [int(m.served * min(1.0, b / (2 * OUT_TOKENS))) for b in tb], m.served, _floor(m.tokens))


def _queue_proxy(w: _Writer, pod: Obj, m: Meter, layout: tuple[float, ...]) -> None:
    md = pod.get("metadata") or {}
    labels = md.get("labels") or {}
    base = (f'configuration_name="{labels.get("serving.knative.dev/configuration", "")}",'
            f'container_name="queue-proxy",namespace_name="{md.get("namespace", "")}",pod_name="{md.get("name", "")}"')
    rev = f'revision_name="{labels.get("serving.knative.dev/revision", "")}"'
    svc = f'service_name="{labels.get("serving.knative.dev/service", "")}"'
    ok = f'{base},response_code="200",response_code_class="2xx",{rev},route_tag="",{svc}'
    bad = f'{base},response_code="503",response_code_class="5xx",{rev},route_tag="",{svc}'
    served, refused = float(m.served), float(m.refused)
    w.head("revision_request_count", "counter", "The number of requests that are routed to queue-proxy")
    w.sample("revision_request_count", ok, served, counter=True)
    if refused:
        w.sample("revision_request_count", bad, refused, counter=True)
    w.head("revision_request_latencies", "histogram", "The response time in millisecond")
    w.histogram("revision_request_latencies", ok, layout, *m.hist(layout), m.e2e_sum * 1000.0,
                le_fmt=lambda b: f"{b * 1000:g}")
    if m.refused:   # refused at once: a 503 within the first bucket
        w.histogram("revision_request_latencies", bad, layout, [m.refused] * len(layout), m.refused,
                    m.refused * 1.0, le_fmt=lambda b: f"{b * 1000:g}")
    w.head("revision_queue_depth", "gauge", "The current number of items in the serving and waiting queue, or not "
                                            "reported if unlimited concurrency.")
    w.sample("revision_queue_depth", f"{base},{rev},{svc}", round(m.queue + m.running))


def _probit(q: float) -> float:
    """The standard normal quantile, by bisection on the CDF (plenty for a simulator)."""
    if q <= 0.0:
        return -math.inf
    if q >= 1.0:
        return math.inf
    lo, hi = -10.0, 10.0
    for _ in range(80):
        mid = (lo + hi) / 2
        if _phi(mid) < q:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def _model_of(pod: Obj) -> str:
    for c in (pod.get("spec") or {}).get("containers") or []:
        args = [str(a) for a in c.get("args") or []]
        for i, a in enumerate(args):
            if a in ("--model", "--model-id") and i + 1 < len(args):
                return args[i + 1]
            if a.startswith(("--model=", "--model-id=", "--model_name=")):
                return a.split("=", 1)[1]
    return (pod.get("metadata") or {}).get("name", "model")


def install(cluster: SimCluster) -> ServingMetrics:
    sm = ServingMetrics(cluster)
    for port in (*PORTS.values(), QUEUE_PROXY_PORT):
        cluster.proxies[port] = _on_port(sm, port)
    sm.load.contention_of = sm.contention
    cluster.extras["serving-metrics"] = sm
    return sm


def _on_port(sm: ServingMetrics, port: int) -> Any:
    def handler(pod: Obj, path: str, query: dict[str, str]) -> Any:
        return sm.page(pod, port, path)
    return handler
