"""Serving metrics: the lenient parser against prometheus_client on the servers' own pages, histogram
quantiles against hand-worked ones, counter resets, and per-replica and per-workload windows."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from console.telemetry import histogram as H
from console.telemetry import prom_text
from console.telemetry.serving_servers import (FAMILIES, QUEUE_PROXY, TGI, TRITON, VLLM, combine, kind_of, read,
                                               read_vllm)
from console.telemetry.serving_window import ReplicaWindow, aggregate

PAGES = Path(__file__).resolve().parent.parent / "fixtures" / "serving" / "metrics"


def accepted(text: str) -> str:
    """The lines prometheus_client accepts on their own (doc pages carry `...` lines)."""
    out = []
    for ln in text.splitlines():
        try:
            list(text_string_to_metric_families(ln + "\n"))
            out.append(ln)
        except ValueError:
            continue
    return "\n".join(out) + "\n"


def plain(name: str) -> str:
    """prometheus_client adds `_total` to the samples of a counter typed without it (TGI's, Knative's)."""
    return name[:-6] if name.endswith("_total") else name


def oracle(text: str) -> set[tuple[str, tuple, float]]:
    got = set()
    for fam in text_string_to_metric_families(accepted(text)):
        for s in fam.samples:
            if s.name in FAMILIES:
                got.add((plain(s.name), tuple(sorted(s.labels.items())), s.value))
    return got


def ours(text: str) -> set[tuple[str, tuple, float]]:
    exp = prom_text.parse(text, FAMILIES)
    return {(plain(name), tuple(sorted(lb.items())), v) for name in exp.names() for lb, v in exp.get(name)}


@pytest.mark.parametrize("page", sorted(p.name for p in PAGES.glob("*.prom")))
def test_every_page_parses_as_prometheus_client_reads_it(page: str) -> None:
    text = (PAGES / page).read_text()
    mine = ours(text)
    theirs = oracle(text)
    assert theirs <= mine, sorted(theirs - mine)[:5]
    assert len(mine) >= len(theirs) and mine


def test_junk_lines_are_counted_and_the_rest_kept() -> None:
    text = ("vllm:num_requests_running{model_name=\"m\"} 3\n...\nERROR - FAILED\n"
            "vllm:num_requests_waiting{model_name=\"m\"} notanumber\nvllm:num_requests_waiting 2 # {trace=\"x\"} 1\n")
    exp = prom_text.parse(text, FAMILIES)
    assert exp.get("vllm:num_requests_running") == [({"model_name": "m"}, 3.0)]
    assert exp.get("vllm:num_requests_waiting") == [({}, 2.0)]
    assert exp.bad_lines == 3


def test_nan_and_infinities_are_values() -> None:
    exp = prom_text.parse("a NaN\nb +Inf\nc -Inf\n", {"a", "b", "c"})
    assert math.isnan(exp.get("a")[0][1]) and exp.get("b")[0][1] == math.inf and exp.get("c")[0][1] == -math.inf


# ------------------------------------------------------------------ histograms, worked by hand
def hist(pairs: list[tuple[str, float]], total: float | None = None) -> H.Hist:
    return H.build(pairs, total)


def test_quantiles_interpolate_within_the_bucket_as_histogram_quantile() -> None:
    h = hist([("0.1", 10), ("0.5", 30), ("1", 40), ("+Inf", 40)])
    # p50: rank 20 lands in (0.1, 0.5] holding 20 with 10 below: 0.1 + 0.4 × 10/20
    assert H.quantile(0.5, h).value == pytest.approx(0.3)  # type: ignore[union-attr]
    # p95: rank 38 lands in (0.5, 1] holding 10 with 30 below: 0.5 + 0.5 × 8/10
    assert H.quantile(0.95, h).value == pytest.approx(0.9)  # type: ignore[union-attr]
    assert H.quantile(0.99, h).value == pytest.approx(0.98)  # type: ignore[union-attr]
    # the first bucket starts at 0: p10 rank 4 of 10 in (0, 0.1]
    assert H.quantile(0.1, h).value == pytest.approx(0.04)  # type: ignore[union-attr]


def test_a_rank_in_the_inf_bucket_is_the_highest_bound_marked_capped() -> None:
    h = hist([("0.5", 10), ("1", 30), ("+Inf", 40)])
    q = H.quantile(0.95, h)
    assert q is not None and q.value == 1.0 and q.capped


def test_bucket_lines_in_any_order_are_sorted() -> None:
    a = hist([("1", 40), ("+Inf", 40), ("0.1", 10), ("0.5", 30)])
    assert a.bounds == (0.1, 0.5, 1.0, math.inf) and a.counts == (10, 30, 40, 40)


@pytest.mark.parametrize("pairs,why", [
    ([("0.1", 1), ("1", 2)], r"no \+Inf bucket"),
    ([("0.1", 5), ("1", 3), ("+Inf", 5)], "fall"),
    ([("0.1", math.nan), ("+Inf", 5)], "count"),
    ([("0.1", -1), ("+Inf", 5)], "count"),
    ([("abc", 1), ("+Inf", 5)], "not a number"),
    ([("0.1", 1), ("0.1", 1), ("+Inf", 5)], "twice"),
])
def test_broken_histograms_are_refused_with_the_reason(pairs: list, why: str) -> None:
    with pytest.raises(H.HistogramError, match=why):
        hist(pairs)


def test_nothing_observed_has_no_quantile() -> None:
    assert H.quantile(0.95, hist([("1", 0), ("+Inf", 0)])) is None


def test_delta_across_a_reset_counts_from_zero() -> None:
    old = hist([("1", 100), ("+Inf", 120)], 80.0)
    new = hist([("1", 3), ("+Inf", 4)], 2.0)          # the replica restarted
    d = H.delta(new, old)
    assert d.counts == (3, 4) and d.sum == 2.0
    grown = hist([("1", 110), ("+Inf", 130)], 90.0)
    d2 = H.delta(grown, old)
    assert d2.counts == (10, 10) and d2.sum == pytest.approx(10.0)
    assert H.counter_delta(5, 100) == 5 and H.counter_delta(105, 100) == 5
    assert H.counter_delta(math.nan, 100) is None and H.counter_delta(-1, 3) is None


# ------------------------------------------------------------------ the servers' pages
def page(name: str) -> prom_text.Exposition:
    return prom_text.parse((PAGES / name).read_text(), FAMILIES)


def test_vllm_doc_page_gives_what_it_has_and_refuses_the_cut_histogram() -> None:
    exp = page("vllm-v1-design-doc.prom")
    assert kind_of(exp) == VLLM
    r = read(exp)
    assert r is not None and r.running == 8 and r.tokens == 27453
    assert r.ttft is None and any("no +Inf bucket" in p for p in r.problems)
    assert r.llm and r.latency is None


def test_vllm_old_and_new_kv_cache_names() -> None:
    new = read_vllm(prom_text.parse('vllm:kv_cache_usage_perc{model_name="m",engine="0"} 0.4\n'
                                    'vllm:gpu_cache_usage_perc{model_name="m",engine="0"} 0.4\n', FAMILIES))
    old = read_vllm(prom_text.parse('vllm:gpu_cache_usage_perc{model_name="m"} 0.7\n', FAMILIES))
    assert new.kv_cache == pytest.approx(0.4) and old.kv_cache == pytest.approx(0.7)


def test_vllm_http_status_counts_give_errors_without_the_probes() -> None:
    text = ('http_requests_total{handler="/v1/completions",method="POST",status="2xx"} 95\n'
            'http_requests_total{handler="/v1/completions",method="POST",status="5xx"} 5\n'
            'http_requests_total{handler="/health",method="GET",status="2xx"} 1000\n'
            'vllm:num_requests_running{model_name="m"} 1\n')
    r = read(prom_text.parse(text, FAMILIES))
    assert r is not None and r.requests == 100 and r.errors == 5


def test_triton_doc_pages() -> None:
    exp = page("triton-docs.prom")
    r = read(exp)
    assert r is not None and r.server == TRITON and r.requests == 161 and r.errors is None
    assert r.latency is None and r.summary is None   # the page's summary is of the queue, not the request
    assert any("histogram_latencies" in n for n in r.notes)
    h = read(page("triton-docs-histogram.prom"))
    assert h is not None and h.latency is None     # bucket lines without `_bucket`: no histogram made up


def test_triton_summary_is_read_as_quantiles_in_seconds() -> None:
    text = ('nv_inference_request_success{model="m",version="1"} 10\n'
            'nv_inference_request_failure{model="m",version="1",reason="REJECTED"} 1\n'
            'nv_inference_request_failure{model="m",version="1",reason="BACKEND"} 1\n'
            'nv_inference_request_duration_us{model="m",version="1"} 2000000\n'
            'nv_inference_request_summary_us{model="m",version="1",quantile="0.5"} 150000\n'
            'nv_inference_request_summary_us{model="m",version="1",quantile="0.95"} 400000\n'
            'nv_inference_pending_request_count{model="m",version="1"} 4\n')
    r = read(prom_text.parse(text, FAMILIES))
    assert r is not None and r.requests == 12 and r.errors == 2 and r.waiting == 4
    assert r.summary == {0.5: 0.15, 0.95: 0.4} and r.latency_sum == (2.0, 10)


def test_tgi_page_from_the_router() -> None:
    r = read(page("tgi-router-source.prom"))
    assert r is not None and r.server == TGI and r.requests == 415 and r.errors == 3
    assert r.latency is not None and r.latency.count == 412 and len(r.latency.bounds) == 36
    assert r.ttft is None and "TGI has no time-to-first-token metric" in r.notes
    assert r.waiting == 2 and r.running == 6 and r.tokens is not None and r.tokens > 0


@pytest.mark.parametrize("name,unit_bound", [("knative-queue-proxy-1.18.prom", 0.005),
                                             ("knative-queue-proxy-1.19.prom", 0.005)])
def test_queue_proxy_both_generations_read_alike(name: str, unit_bound: float) -> None:
    r = read(page(name))
    assert r is not None and r.server == QUEUE_PROXY and r.requests == 230 and r.errors == 4
    assert r.latency is not None and r.latency.bounds[0] == pytest.approx(unit_bound) and r.latency.count == 230
    assert r.in_proxy == 3


def test_a_knative_pod_takes_requests_from_the_proxy_and_llm_figures_from_the_server() -> None:
    server = read(prom_text.parse('vllm:num_requests_waiting{model_name="m"} 2\n'
                                  'vllm:generation_tokens_total{model_name="m"} 900\n', FAMILIES))
    proxy = read(page("knative-queue-proxy-1.18.prom"))
    r = combine(server, proxy)
    assert r is not None and r.server == "vllm+queue-proxy" and r.requests == 230 and r.waiting == 2
    assert r.tokens == 900 and r.llm


def test_junk_pages_read_as_nothing() -> None:
    for text in ("", "hello world\n", "<html><body>404</body></html>", "\x00\x01\x02" * 100):
        assert read(prom_text.parse(text, FAMILIES)) is None


# ------------------------------------------------------------------ windows
def vllm_page(ok: float, fail: float, buckets: list[tuple[str, float]], tokens: float) -> str:
    lines = [f'http_requests_total{{handler="/v1/chat/completions",method="POST",status="2xx"}} {ok}',
             f'http_requests_total{{handler="/v1/chat/completions",method="POST",status="5xx"}} {fail}',
             f'vllm:generation_tokens_total{{model_name="m"}} {tokens}']
    for le, n in buckets:
        lines.append(f'vllm:e2e_request_latency_seconds_bucket{{le="{le}",model_name="m"}} {n}')
    lines.append(f'vllm:e2e_request_latency_seconds_sum{{model_name="m"}} {sum(n for _, n in buckets[-1:]) * 0.3}')
    lines.append(f'vllm:e2e_request_latency_seconds_count{{model_name="m"}} {buckets[-1][1]}')
    return "\n".join(lines) + "\n"


def reading(text: str):  # type: ignore[no-untyped-def]
    r = read(prom_text.parse(text, FAMILIES))
    assert r is not None
    return r


def test_a_replica_restart_inside_the_window_never_gives_a_negative_rate() -> None:
    w = ReplicaWindow()
    w.add(0, reading(vllm_page(1000, 10, [("0.5", 500), ("1", 900), ("+Inf", 1000)], 50000)))
    w.add(10, reading(vllm_page(1100, 10, [("0.5", 550), ("1", 990), ("+Inf", 1100)], 55000)))
    w.add(20, reading(vllm_page(40, 0, [("0.5", 20), ("1", 38), ("+Inf", 40)], 2000)))    # restarted
    w.add(30, reading(vllm_page(140, 5, [("0.5", 70), ("1", 128), ("+Inf", 140)], 7000)))
    f = w.figures(30, 60)
    # increases: 100, then 40 since the restart, then 100; errors 0, 0, 5: over 30 s
    assert f.rps == pytest.approx((100 + 40 + 100 + 5) / 30)
    assert f.error_ratio == pytest.approx(5 / 245)
    assert f.tokens_per_s == pytest.approx((5000 + 2000 + 5000) / 30)
    # buckets: (+50, +90, +100), then the restart's (20, 38, 40), then (50, 90, 100)
    assert f.hist is not None and f.hist.counts == (120, 218, 240)
    assert f.p50 is not None and 0 < f.p50.value <= f.p95.value <= f.p99.value  # type: ignore[union-attr]


def test_the_window_slides() -> None:
    w = ReplicaWindow()
    w.add(0, reading(vllm_page(0, 0, [("1", 0), ("+Inf", 0)], 0)))
    w.add(10, reading(vllm_page(100, 0, [("1", 100), ("+Inf", 100)], 0)))
    w.add(70, reading(vllm_page(110, 0, [("1", 110), ("+Inf", 110)], 0)))
    assert w.figures(70, 60).rps == pytest.approx(10 / 60)


def test_one_scrape_says_rates_need_another() -> None:
    w = ReplicaWindow()
    w.add(0, reading(vllm_page(5, 0, [("1", 5), ("+Inf", 5)], 0)))
    f = w.figures(0, 60)
    assert f.rps is None and "second" in f.why[0]


def figures(buckets: list[tuple[str, float]], later: list[tuple[str, float]]):  # type: ignore[no-untyped-def]
    w = ReplicaWindow()
    w.add(0, reading(vllm_page(0, 0, [(le, 0) for le, _ in buckets], 0)))
    w.add(10, reading(vllm_page(later[-1][1], 0, later, 0)))
    return w.figures(10, 60)


def test_replicas_of_one_layout_merge_bucket_by_bucket() -> None:
    a = figures([("0.5", 0), ("1", 0), ("+Inf", 0)], [("0.5", 10), ("1", 10), ("+Inf", 10)])
    b = figures([("0.5", 0), ("1", 0), ("+Inf", 0)], [("0.5", 0), ("1", 10), ("+Inf", 10)])
    agg = aggregate([a, b])
    assert agg.rps == pytest.approx(2.0) and agg.hist is not None and agg.hist.counts == (10, 20, 20)
    # p95 of the merged buckets, not an average of the replicas' p95
    assert agg.p95 is not None and agg.p95.value == pytest.approx(0.5 + 0.5 * 9 / 10)


def test_replicas_with_different_layouts_are_not_merged_and_say_so() -> None:
    a = figures([("0.5", 0), ("+Inf", 0)], [("0.5", 10), ("+Inf", 10)])
    b = figures([("0.3", 0), ("+Inf", 0)], [("0.3", 10), ("+Inf", 10)])
    agg = aggregate([a, b])
    assert agg.rps == pytest.approx(2.0) and agg.p95 is None
    assert any("different bucket layouts" in w for w in agg.why)
