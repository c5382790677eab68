"""Serving figures over a sliding window: per replica from its successive readings, per workload from its
replicas. Pure arithmetic on `Reading`s; no I/O, no clock of its own.

Rates are increases over the window divided by the time they took, the increase summed scrape by scrape
so that a restarted replica (counters back at zero) adds what it counted since, never a negative rate.
Percentiles come from the histogram's bucket increases over the window (`histogram.quantile`), never from
averages. A workload's percentile sums the bucket increases of its replicas when they share one bucket
layout; replicas with different layouts are not merged (the figure is absent, and says why). A server
that only gives a summary (Triton's opt-in `…_summary_us`) has per-replica quantiles over its own window,
which cannot be combined; one that only gives sums and counts has an average, marked as such.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .histogram import Hist, Quantile, add, counter_delta, delta, quantile
from .serving_servers import LATENCY_AVG, LATENCY_HIST, LATENCY_SUMMARY, Reading

QUANTILES = (0.5, 0.95, 0.99)


@dataclass(frozen=True, slots=True)
class Step:
    """What one replica did between two consecutive readings."""

    t: float
    dt: float
    requests: float | None
    errors: float | None
    latency: Hist | None
    lat_sum: tuple[float, float] | None     # (seconds, requests)
    ttft: Hist | None
    tokens: float | None


@dataclass(frozen=True, slots=True)
class Figures:
    """Serving figures over one window; None where unknown, with the reasons in `why`."""

    rps: float | None = None
    error_ratio: float | None = None
    p50: Quantile | None = None              # seconds
    p95: Quantile | None = None
    p99: Quantile | None = None
    latency_kind: str | None = None          # histogram | summary | average
    avg_s: float | None = None
    ttft_p95: Quantile | None = None
    tokens_per_s: float | None = None
    running: float | None = None
    waiting: float | None = None
    in_proxy: float | None = None
    kv_cache: float | None = None
    span_s: float = 0.0
    requests: float | None = None            # in the window
    errors: float | None = None
    hist: Hist | None = None                 # latency bucket increases in the window (for merging)
    ttft_hist: Hist | None = None
    lat_sum: tuple[float, float] | None = None
    summary: dict[float, float] | None = None
    llm: bool = False
    server: str = ""
    latency_from: str = ""
    replicas: int = 1                        # replicas these figures are made of
    why: tuple[str, ...] = ()


def step(t0: float, r0: Reading, t1: float, r1: Reading) -> Step:
    lat = delta(r1.latency, r0.latency) if r1.latency is not None else None
    ttft = delta(r1.ttft, r0.ttft) if r1.ttft is not None else None
    lsum = None
    if r1.latency_sum is not None:
        s1, n1 = r1.latency_sum
        s0, n0 = r0.latency_sum if r0.latency_sum is not None else (None, None)
        ds, dn = counter_delta(s1, s0), counter_delta(n1, n0)
        if ds is not None and dn is not None:
            if n0 is not None and n1 < n0:     # a restart: both count again from zero
                ds = s1
            lsum = (ds, dn)
    return Step(t1, t1 - t0, counter_delta(r1.requests, r0.requests), counter_delta(r1.errors, r0.errors), lat,
                lsum, ttft, counter_delta(r1.tokens, r0.tokens))


def _sum_hists(hs: Iterable[Hist | None]) -> Hist | None:
    """Increases of one series over consecutive steps; a layout change restarts the sum."""
    out: Hist | None = None
    for h in hs:
        if h is None:
            continue
        out = h if out is None or out.bounds != h.bounds else add([out, h])
    return out


def _quantiles(h: Hist | None) -> tuple[Quantile | None, Quantile | None, Quantile | None]:
    if h is None:
        return None, None, None
    return quantile(0.5, h), quantile(0.95, h), quantile(0.99, h)


def _summary_q(summary: dict[float, float] | None, q: float) -> Quantile | None:
    if not summary or q not in summary:
        return None
    return Quantile(summary[q])


class ReplicaWindow:
    """The readings of one replica: the last one, and the steps since, kept for `keep_s`."""

    def __init__(self, keep_s: float = 600.0) -> None:
        self.keep_s = keep_s
        self.last: Reading | None = None
        self.last_t: float | None = None
        self.steps: deque[Step] = deque()

    def add(self, t: float, reading: Reading) -> None:
        if self.last is not None and self.last_t is not None and t > self.last_t:
            self.steps.append(step(self.last_t, self.last, t, reading))
        self.last, self.last_t = reading, t
        while self.steps and self.steps[0].t < t - self.keep_s:
            self.steps.popleft()

    def figures(self, now: float, window_s: float) -> Figures:
        r = self.last
        if r is None:
            return Figures(why=("no answer yet",))
        steps = [s for s in self.steps if s.t > now - window_s]
        why: list[str] = list(r.problems) + list(r.notes)
        span = math.fsum(s.dt for s in steps)
        if not steps or span <= 0:
            why.insert(0, "one scrape so far: rates need a second one")
        req = [s.requests for s in steps]
        rps = requests = None
        if steps and all(x is not None for x in req):
            requests = math.fsum(req)  # type: ignore[arg-type]
            rps = requests / span if span > 0 else None
        errs = [s.errors for s in steps]
        errors = error_ratio = None
        if steps and all(x is not None for x in errs):
            errors = math.fsum(errs)  # type: ignore[arg-type]
            if requests is not None:
                error_ratio = min(1.0, errors / requests) if requests > 0 else 0.0
        hist = _sum_hists(s.latency for s in steps)
        ttft_hist = _sum_hists(s.ttft for s in steps)
        sums = [s.lat_sum for s in steps if s.lat_sum is not None]
        lat_sum = (math.fsum(a for a, _ in sums), math.fsum(b for _, b in sums)) if sums else None
        avg = lat_sum[0] / lat_sum[1] if lat_sum and lat_sum[1] > 0 else None
        kind = None
        p50 = p95 = p99 = None
        if hist is not None:
            kind = LATENCY_HIST
            p50, p95, p99 = _quantiles(hist)
        elif r.summary:
            kind = LATENCY_SUMMARY
            p50, p95, p99 = (_summary_q(r.summary, q) for q in QUANTILES)
        elif avg is not None:
            kind = LATENCY_AVG
        tok = [s.tokens for s in steps]
        tps = math.fsum(tok) / span if steps and span > 0 and all(x is not None for x in tok) else None  # type: ignore
        return Figures(rps, error_ratio, p50, p95, p99, kind, avg, quantile(0.95, ttft_hist) if ttft_hist else None,
                       tps, r.running, r.waiting, r.in_proxy, r.kv_cache, span, requests, errors, hist, ttft_hist,
                       lat_sum, r.summary, r.llm, r.server, r.latency_from, 1, tuple(dict.fromkeys(why)))


def _merge_hists(hs: Sequence[Hist]) -> tuple[Hist | None, str | None]:
    layouts = {h.bounds for h in hs}
    if len(layouts) > 1:
        return None, f"replicas report {len(layouts)} different bucket layouts: not merged into one percentile"
    return add(list(hs)), None


def aggregate(parts: Sequence[Figures]) -> Figures:
    """A workload's figures from its replicas' (those that answered)."""
    if not parts:
        return Figures(replicas=0, why=("no replica answered",))
    if len(parts) == 1:
        return parts[0]
    why: list[str] = []
    rated = [p for p in parts if p.rps is not None]
    if rated and len(rated) < len(parts):
        # a replica scraped once so far (just started) has no rates yet: the others' are the figures
        why.append(f"rates from {len(rated)} of {len(parts)} replicas (the others have one scrape so far)")
        parts = rated

    def total(attr: str) -> float | None:
        vals = [getattr(p, attr) for p in parts]
        return None if any(v is None for v in vals) else math.fsum(vals)

    rps = total("rps")
    requests, errors = total("requests"), total("errors")
    error_ratio = (min(1.0, errors / requests) if requests > 0 else 0.0) \
        if requests is not None and errors is not None else None
    kinds = {p.latency_kind for p in parts}
    p50 = p95 = p99 = None
    kind = None
    hist = None
    if kinds == {LATENCY_HIST}:
        hist, problem = _merge_hists([p.hist for p in parts if p.hist is not None])
        if problem:
            why.append(problem)
        else:
            kind = LATENCY_HIST
            p50, p95, p99 = _quantiles(hist)
    elif LATENCY_SUMMARY in kinds:
        why.append("the server's summaries are per replica and cannot be merged: see each replica")
    elif len(kinds) > 1 and None not in kinds:
        why.append("replicas measure latency differently: not merged")
    sums = [p.lat_sum for p in parts]
    lat_sum = None
    avg = None
    if all(s is not None for s in sums):
        lat_sum = (math.fsum(s[0] for s in sums), math.fsum(s[1] for s in sums))  # type: ignore[index]
        avg = lat_sum[0] / lat_sum[1] if lat_sum[1] > 0 else None
        if kind is None and avg is not None:
            kind = LATENCY_AVG
    ttft_parts = [p.ttft_hist for p in parts if p.ttft_hist is not None]
    ttft_hist = None
    ttft = None
    if ttft_parts and len(ttft_parts) == len(parts):
        ttft_hist, problem = _merge_hists(ttft_parts)
        if problem:
            why.append("time to first token: " + problem)
        elif ttft_hist is not None:
            ttft = quantile(0.95, ttft_hist)
    kvs = [p.kv_cache for p in parts if p.kv_cache is not None]
    for p in parts:
        for w in p.why:
            if w not in why:
                why.append(w)
    return Figures(rps, error_ratio, p50, p95, p99, kind, avg, ttft, total("tokens_per_s"), total("running"),
                   total("waiting"), total("in_proxy"), math.fsum(kvs) / len(kvs) if kvs else None,
                   max(p.span_s for p in parts), requests, errors, hist, ttft_hist, lat_sum, None,
                   any(p.llm for p in parts), "/".join(sorted({p.server for p in parts if p.server})),
                   parts[0].latency_from, len(parts), tuple(why))
