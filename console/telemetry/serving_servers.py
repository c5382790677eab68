"""What each inference server publishes on its Prometheus page, read into one shape (`Reading`).

Names, labels, units and kinds come from the servers' own source (checked at the commits named):

- vLLM (vllm-project/vllm vllm/v1/metrics/loggers.py `PrometheusStatLogger`; v0: vllm/engine/metrics.py
  `Metrics`): histograms `vllm:e2e_request_latency_seconds` and `vllm:time_to_first_token_seconds`
  (seconds), gauges `vllm:num_requests_running` / `vllm:num_requests_waiting`, KV-cache use as
  `vllm:kv_cache_usage_perc` (0–1; named so since 0.9) or its older name `vllm:gpu_cache_usage_perc`,
  counters `vllm:request_success_total{finished_reason}` and `vllm:generation_tokens_total`; labels
  `model_name` (and `engine` in v1). HTTP status counts come from prometheus_fastapi_instrumentator's
  `http_requests_total{handler,method,status="2xx|4xx|5xx"}` where the server has it (the v1 metrics design
  doc, docs/source/design/v1/metrics.md); without it vLLM says nothing about failed requests.
- Triton (triton-inference-server/core src/metrics.cc, metric_model_reporter.cc; server
  docs/user_guide/metrics.md): counters `nv_inference_request_success`, `nv_inference_request_failure`
  (with `reason` since 24.08), and the *cumulative* counters `nv_inference_request_duration_us` /
  `nv_inference_queue_duration_us`, which give averages only; percentiles from the opt-in summary
  `nv_inference_request_summary_us{quantile}` (`--metrics-config summary_latencies=true`, a sliding
  window per process that cannot be merged across replicas) or the opt-in histogram
  `nv_inference_first_response_histogram_ms` (`histogram_latencies=true`; for a non-streaming model the
  first response is the response); queue depth `nv_inference_pending_request_count`. Labels `model`,
  `version`.
- Hugging Face TGI (huggingface/text-generation-inference router/src/server.rs, docs/source/reference/
  metrics.md): counters `tgi_request_count`, `tgi_request_success`, `tgi_request_failure{err}`, histograms
  `tgi_request_duration` (seconds, buckets 0.0001 × 1.5^k) and `tgi_request_generated_tokens`, gauges
  `tgi_queue_size` and `tgi_batch_current_size`. TGI has no time-to-first-token metric and no KV-cache gauge.
- Knative's queue-proxy in front of every Knative pod (knative/serving pkg/queue/request_metric.go), on
  its `http-usermetric` port 9091: up to 1.18 (OpenCensus, component `revision`) counter
  `revision_request_count{response_code,response_code_class}`, histogram `revision_request_latencies`
  (milliseconds) and gauge `revision_queue_depth`; from 1.19 (OpenTelemetry, exported with
  `UnderscoreEscapingWithSuffixes`) histogram `kn_serving_invocation_duration_seconds`
  `{http_response_status_code}` (seconds) and gauge `kn_serving_queue_depth`.

A page is recognised by the families it carries, not by the image: what the server really says decides.
Whatever a server does not give stays None, with the reason in `notes`; nothing is derived that the
server did not measure (an average is marked as one, never shown as a percentile).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from .histogram import Hist, HistogramError, add, from_samples
from . import prom_text
from .prom_text import Exposition

VLLM, TRITON, TGI, QUEUE_PROXY = "vllm", "triton", "tgi", "queue-proxy"
SERVERS = (VLLM, TRITON, TGI)
LATENCY_HIST, LATENCY_SUMMARY, LATENCY_AVG = "histogram", "summary", "average"

# vLLM
V_E2E = "vllm:e2e_request_latency_seconds"
V_TTFT = "vllm:time_to_first_token_seconds"
V_RUNNING, V_WAITING = "vllm:num_requests_running", "vllm:num_requests_waiting"
V_KV, V_KV_OLD = "vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"
V_GEN_TOKENS = "vllm:generation_tokens"
HTTP_REQUESTS = "http_requests"
PROBE_HANDLERS = frozenset({"/metrics", "/health", "/ping", "/load", "/version", "/server_info", "/ready",
                            "/is_sleeping"})
# Triton
T_SUCCESS, T_FAILURE = "nv_inference_request_success", "nv_inference_request_failure"
T_DURATION, T_QUEUE_US = "nv_inference_request_duration_us", "nv_inference_queue_duration_us"
T_SUMMARY, T_FIRST = "nv_inference_request_summary_us", "nv_inference_first_response_histogram_ms"
T_PENDING = "nv_inference_pending_request_count"
# TGI
G_COUNT, G_SUCCESS, G_FAILURE = "tgi_request_count", "tgi_request_success", "tgi_request_failure"
G_DURATION, G_TOKENS = "tgi_request_duration", "tgi_request_generated_tokens"
G_QUEUE, G_BATCH = "tgi_queue_size", "tgi_batch_current_size"
# Knative queue-proxy
K_COUNT, K_LATENCY, K_DEPTH = "revision_request_count", "revision_request_latencies", "revision_queue_depth"
K2_DURATION, K2_DEPTH = "kn_serving_invocation_duration_seconds", "kn_serving_queue_depth"



def _h(name: str) -> tuple[str, str, str]:
    return name + "_bucket", name + "_sum", name + "_count"


def _c(name: str) -> tuple[str, str]:
    """A counter as Python and Go clients write it (`_total`), and as TGI's and OpenCensus' do (without)."""
    return name, name + "_total"


# The samples read from each server's page, by their full names (everything else is passed over unparsed).
NAMES: dict[str, frozenset[str]] = {
    VLLM: frozenset({*_h(V_E2E), *_h(V_TTFT), V_RUNNING, V_WAITING, V_KV, V_KV_OLD, *_c(V_GEN_TOKENS),
                     *_c(HTTP_REQUESTS)}),
    TRITON: frozenset({*_c(T_SUCCESS), *_c(T_FAILURE), *_c(T_DURATION), *_c(T_QUEUE_US), T_SUMMARY,
                       T_SUMMARY + "_sum", T_SUMMARY + "_count", *_h(T_FIRST), T_PENDING}),
    TGI: frozenset({*_c(G_COUNT), *_c(G_SUCCESS), *_c(G_FAILURE), *_h(G_DURATION), G_TOKENS + "_sum", G_QUEUE,
                    G_BATCH}),
    QUEUE_PROXY: frozenset({*_c(K_COUNT), *_h(K_LATENCY), K_DEPTH, *_h(K2_DURATION), K2_DEPTH}),
}
FAMILIES: frozenset[str] = frozenset().union(*NAMES.values())
MARKS = ((VLLM, "vllm:"), (TRITON, "nv_inference_"), (TGI, "tgi_"), (QUEUE_PROXY, "revision_request"),
         (QUEUE_PROXY, "revision_queue"), (QUEUE_PROXY, "kn_serving_"))


def parse_page(text: str) -> Exposition:
    """A server's page, reading only the samples of the servers whose names it mentions."""
    names: set[str] = set()
    for kind, mark in MARKS:
        if mark in text:
            names |= NAMES[kind]
    return prom_text.parse(text, frozenset(names))


@dataclass(frozen=True, slots=True)
class Reading:
    """One replica's page(s) at one scrape: cumulative counters and histograms, gauges, notes.

    Latencies are in seconds whatever the server's unit. `problems` are faults in what the server sent
    (a broken histogram); `notes` say what it does not measure at all."""

    server: str                                   # vllm | triton | tgi | queue-proxy | "vllm+queue-proxy"
    requests: float | None = None                 # requests answered (any status), cumulative
    errors: float | None = None                   # of which failed (5xx, or the server's failure count)
    latency: Hist | None = None                   # end-to-end latency histogram
    latency_from: str = ""                        # the family it came from
    latency_sum: tuple[float, float] | None = None   # (seconds, requests), cumulative: averages only
    summary: dict[float, float] | None = None     # quantile → seconds over the server's own window
    ttft: Hist | None = None
    tokens: float | None = None                   # output tokens generated, cumulative
    running: float | None = None
    waiting: float | None = None                  # requests queued in the server
    in_proxy: float | None = None                 # queue-proxy's depth: in flight plus queued
    kv_cache: float | None = None                 # 0–1
    llm: bool = False
    notes: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()


def kind_of(exp: Exposition) -> str | None:
    """Which server wrote the page, by its families; None when none of them is there."""
    s = exp.names()
    if any(n.startswith("vllm:") for n in s):
        return VLLM
    if any(n.startswith("nv_inference_") for n in s):
        return TRITON
    if any(n.startswith("tgi_") for n in s):
        return TGI
    if any(n.startswith(("revision_request", "revision_queue", "kn_serving_")) for n in s):
        return QUEUE_PROXY
    return None


def _total(exp: Exposition, *names: str, where: Iterable[tuple[str, str]] = ()) -> float | None:
    """The sum over every series of the first name present (counters may carry `_total` or not)."""
    cond = tuple(where)
    for n in names:
        rows = exp.samples.get(n)
        if rows is None:
            continue
        vals = [v for labels, v in rows if all(labels.get(k) == x for k, x in cond)]
        if not vals:
            return 0.0 if not cond else None
        if any(math.isnan(v) or math.isinf(v) or v < 0 for v in vals):
            return math.nan
        return math.fsum(vals)
    return None


def _gauge(exp: Exposition, name: str, how: str = "sum") -> float | None:
    vals = [v for _, v in exp.samples.get(name, ()) if not math.isnan(v) and not math.isinf(v)]
    if not vals:
        return None
    return math.fsum(vals) if how == "sum" else math.fsum(vals) / len(vals)


def _hist(exp: Exposition, name: str, problems: list[str], scale: float = 1.0) -> Hist | None:
    """The histogram summed over its series (models, engines); None with a problem when it is unusable."""
    series = from_samples(exp, name)
    if not series:
        return None
    bad = [(k, v) for k, v in series.items() if isinstance(v, str)]
    if bad:
        problems.append(f"{name}: {bad[0][1]}")
        return None
    try:
        h = add([v for v in series.values() if isinstance(v, Hist)])
    except HistogramError:
        problems.append(f"{name}: its series have different bucket layouts")
        return None
    return h.scaled(scale) if scale != 1.0 else h


def _counter(value: float | None, name: str, problems: list[str]) -> float | None:
    if value is not None and math.isnan(value):
        problems.append(f"{name}: not a count (NaN, infinite or negative)")
        return None
    return value


def read_vllm(exp: Exposition) -> Reading:
    problems: list[str] = []
    notes: list[str] = []
    e2e = _hist(exp, V_E2E, problems)
    ttft = _hist(exp, V_TTFT, problems)
    requests = errors = None
    if exp.has(HTTP_REQUESTS + "_total", HTTP_REQUESTS):
        rows = exp.get(HTTP_REQUESTS + "_total") or exp.get(HTTP_REQUESTS)
        served = [(lb, v) for lb, v in rows if lb.get("handler") not in PROBE_HANDLERS]
        vals = [v for _, v in served]
        if any(math.isnan(v) or v < 0 for v in vals):
            problems.append("http_requests_total: not a count")
        else:
            requests = math.fsum(vals)
            errors = math.fsum(v for lb, v in served if str(lb.get("status", "")).startswith("5"))
    else:
        notes.append("this vLLM exports no HTTP status counts (http_requests_total): failed requests are not "
                     "counted")
        if e2e is not None:
            requests = e2e.count
    kv = _gauge(exp, V_KV, "mean")
    if kv is None:
        kv = _gauge(exp, V_KV_OLD, "mean")
    tokens = _counter(_total(exp, V_GEN_TOKENS + "_total", V_GEN_TOKENS), V_GEN_TOKENS, problems)
    if e2e is None and not any(p.startswith(V_E2E) for p in problems):
        notes.append(f"no {V_E2E} on the page")
    return Reading(VLLM, requests, errors, e2e, V_E2E if e2e else "",
                   (e2e.sum, e2e.count) if e2e is not None and e2e.sum is not None else None, None, ttft,
                   tokens, _gauge(exp, V_RUNNING), _gauge(exp, V_WAITING), None,
                   None if kv is None else max(0.0, min(1.0, kv)), True, tuple(notes), tuple(problems))


def _summary(exp: Exposition, problems: list[str]) -> dict[float, float] | None:
    rows = [(lb, v) for lb, v in exp.get(T_SUMMARY) if "quantile" in lb]
    if not rows:
        return None
    series = {tuple(sorted((k, x) for k, x in lb.items() if k != "quantile")) for lb, _ in rows}
    if len(series) > 1:
        problems.append(f"{T_SUMMARY}: {len(series)} models on one server; their summaries cannot be merged")
        return None
    out: dict[float, float] = {}
    for lb, v in rows:
        try:
            q = float(lb["quantile"])
        except ValueError:
            continue
        if not math.isnan(v) and v >= 0:
            out[q] = v / 1e6
    return out or None


def read_triton(exp: Exposition) -> Reading:
    problems: list[str] = []
    notes: list[str] = []
    ok = _counter(_total(exp, *_c(T_SUCCESS)), T_SUCCESS, problems)
    bad = _counter(_total(exp, *_c(T_FAILURE)), T_FAILURE, problems)
    requests = None if ok is None else ok + (bad or 0.0)
    first = _hist(exp, T_FIRST, problems, scale=0.001)
    summary = _summary(exp, problems)
    dur = _counter(_total(exp, *_c(T_DURATION)), T_DURATION, problems)
    latency_sum = (dur / 1e6, ok) if dur is not None and ok is not None else None
    if first is None and summary is None:
        notes.append("Triton gives percentiles only with --metrics-config histogram_latencies=true or "
                     "summary_latencies=true; nv_inference_request_duration_us gives an average")
    return Reading(TRITON, requests, bad, first, T_FIRST if first else "", latency_sum, summary, None, None,
                   None, _gauge(exp, T_PENDING), None, None, False, tuple(notes), tuple(problems))


def read_tgi(exp: Exposition) -> Reading:
    problems: list[str] = []
    dur = _hist(exp, G_DURATION, problems)
    gen = _counter(_total(exp, G_TOKENS + "_sum"), G_TOKENS, problems)
    count = _counter(_total(exp, G_COUNT + "_total", G_COUNT), G_COUNT, problems)
    fail = _counter(_total(exp, G_FAILURE + "_total", G_FAILURE), G_FAILURE, problems)
    if count is not None and fail is None:
        fail = 0.0   # no failure yet: TGI creates the series on the first failure
    notes = ("TGI has no time-to-first-token metric", "TGI exports no KV-cache use")
    return Reading(TGI, count, fail, dur, G_DURATION if dur else "",
                   (dur.sum, dur.count) if dur is not None and dur.sum is not None else None, None, None,
                   gen, _gauge(exp, G_BATCH), _gauge(exp, G_QUEUE), None, None,
                   True, notes, tuple(problems))


def read_queue_proxy(exp: Exposition) -> Reading:
    problems: list[str] = []
    if exp.has(K2_DURATION + "_bucket", K2_DURATION + "_count"):
        lat = _hist(exp, K2_DURATION, problems)
        rows = exp.get(K2_DURATION + "_count")
        requests = math.fsum(v for _, v in rows) if rows else (lat.count if lat else None)
        errors = math.fsum(v for lb, v in rows if str(lb.get("http_response_status_code", "")).startswith("5")) \
            if rows else None
        depth = _gauge(exp, K2_DEPTH)
        src = K2_DURATION
    else:
        lat = _hist(exp, K_LATENCY, problems, scale=0.001)
        requests = _counter(_total(exp, K_COUNT + "_total", K_COUNT), K_COUNT, problems)
        rows = exp.get(K_COUNT + "_total") or exp.get(K_COUNT)
        errors = math.fsum(v for lb, v in rows if lb.get("response_code_class") == "5xx") if rows else None
        depth = _gauge(exp, K_DEPTH)
        src = K_LATENCY
    if requests is not None and math.isnan(requests):
        problems.append(f"{src}: not a count")
        requests = None
    return Reading(QUEUE_PROXY, requests, errors, lat, src if lat else "",
                   (lat.sum, lat.count) if lat is not None and lat.sum is not None else None, None, None, None,
                   None, None, depth, None, False, (), tuple(problems))


READERS = {VLLM: read_vllm, TRITON: read_triton, TGI: read_tgi, QUEUE_PROXY: read_queue_proxy}


def read(exp: Exposition) -> Reading | None:
    kind = kind_of(exp)
    return READERS[kind](exp) if kind is not None else None


def combine(server: Reading | None, proxy: Reading | None) -> Reading | None:
    """A Knative pod's two pages as one: requests, errors and latency as the queue-proxy saw them (every
    request, including those the server never answered), the server's own LLM figures and queue."""
    if proxy is None:
        return server
    if server is None:
        return proxy
    pick_proxy = proxy.requests is not None and proxy.latency is not None
    base = proxy if pick_proxy else server
    return Reading(
        f"{server.server}+{QUEUE_PROXY}", base.requests, base.errors, base.latency, base.latency_from,
        base.latency_sum, None if pick_proxy else server.summary, server.ttft, server.tokens, server.running,
        server.waiting, proxy.in_proxy, server.kv_cache, server.llm, server.notes,
        server.problems + proxy.problems)


@dataclass(slots=True)
class PageResult:
    """What one page gave: a reading, or why not."""

    reading: Reading | None = None
    error: str | None = None
    bad_lines: int = 0
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class PodScrape:
    """One pod's scrape: its reading, or why there is none. `source` names where the numbers came from."""

    reading: Reading | None
    error: str | None = None
    source: str = ""
    bytes: int = 0
    bad_lines: int = 0
    at: float | None = None   # when its pages were in, on the scraper's clock (None: at the round's end)
