"""Scraping inference pods over loopback through the simulator's pod proxy, with every kind of bad page:
each gives `—` and a reason for that pod only; the others keep their figures, nothing crashes and nothing
wrong is shown."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import yaml

from console.kube import config
from console.model.cluster_store import ClusterStore
from console.model.serving_view import ServingView, scrape_targets, snapshot_fields
from console.sim import scenario_build as b
from console.sim.build import make_cluster
from console.sim.resources import DEPLOYMENTS, PODS
from console.sim.serving_metrics import FAULT_ANNOTATION
from console.telemetry.serving_scrape import PageFetcher, ServingScraper
from console.telemetry.serving_tracker import ServingTracker
from tests.conftest import serve_sim

NS = "runai-serve"
FAULTS = ("404", "refused", "hang", "junk", "no-inf", "falling", "shuffled", "nan", "backwards", "huge")


def scenario() -> dict[str, Any]:
    return {"name": "scrape", "departments": [{"name": "d", "quota": 16, "limit": -1}],
            "projects": [{"name": "serve", "department": "d", "quota": 16, "limit": -1}],
            "nodePools": [{"name": "gpu", "product": "NVIDIA-A100-SXM4-40GB", "count": 2, "gpus": 8}],
            "workloads": [{"name": "ok", "project": "serve", "kind": "inference", "gpu": 1, "replicas": 1}]}


class Env:
    def __init__(self, cluster: Any, kubeconfig: str) -> None:
        self.cluster, self.kubeconfig = cluster, kubeconfig

    def add(self, name: str, fault: str | None = None, image: str | None = None, replicas: int = 1) -> None:
        dep = b.inference_deployment(name, NS, "serve", replicas, 1, image=image)
        if fault:
            dep["spec"]["template"]["metadata"].setdefault("annotations", {})[FAULT_ANNOTATION] = fault
        self.cluster.store.create(DEPLOYMENTS, dep)

    def run(self, seconds: int) -> None:
        for _ in range(seconds):
            self.cluster.clock.advance(1)
            self.cluster.settle()

    def model(self) -> ClusterStore:
        """The console's model of the simulated cluster, filled from its objects."""
        from console.sim.resources import BY_KEY
        store = ClusterStore()
        for key in ("nodes", "namespaces", "pods", "deployments.apps", "replicasets.apps",
                    "queues.scheduling.run.ai", "podgroups.scheduling.run.ai"):
            store.replace(key, list(self.cluster.store.items(BY_KEY[key])))
        store.refresh()
        return store

    async def rounds(self, n: int = 2, every: int = 10, timeout_s: float = 1.0) -> tuple[ServingTracker, ClusterStore]:
        creds = config.load(self.kubeconfig, None)
        scraper = ServingScraper(PageFetcher(creds, timeout_s=timeout_s), mode="proxy")
        tracker = ServingTracker()
        try:
            for i in range(n):
                if i:
                    self.run(every)
                store = self.model()
                tracker.ingest(self.cluster.clock.now(), await scraper.scrape(scrape_targets(store)))
        finally:
            await scraper.close()
        return tracker, store


@pytest_asyncio.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(scenario()))
    cluster = make_cluster(str(path), manual_clock=True)
    cluster.settle()
    sim, srv = await serve_sim(cluster, tmp_path)
    try:
        yield Env(cluster, str(sim.kubeconfig))
    finally:
        await srv.stop()  # type: ignore[attr-defined]


def fields(tracker: ServingTracker, store: ClusterStore, name: str) -> dict[str, Any]:
    snap = ServingView().build(store, tracker, tracker.taken_at or 0.0)
    key = next(k for k in snap.workloads if k[2] == name)
    out = snapshot_fields(snap.workloads[key])
    assert out is not None
    return out


async def test_every_bad_page_is_its_pods_reason_and_the_others_keep_their_figures(env: Env) -> None:
    for f in FAULTS:
        env.add(f"bad-{f}", f)
    env.run(5)
    tracker, store = await env.rounds()
    good = fields(tracker, store, "ok")
    assert good["rps"] and good["rps"] > 0 and good["p50_ms"] <= good["p95_ms"] <= good["p99_ms"]
    assert good["error"] is None
    expect = {"404": "HTTP 404", "refused": "connection refused", "hang": "no answer within 1 s",
              "junk": "unparsable: 2 bad lines", "huge": "cap",
              "no-inf": "no +Inf bucket", "falling": "fall", "nan": "not a count"}
    for fault, why in expect.items():
        f = fields(tracker, store, f"bad-{fault}")
        assert why in (f["error"] or ""), (fault, f["error"])
        if fault != "nan":
            assert f["p95_ms"] is None, fault    # never a percentile from a page that cannot give one
    nan = fields(tracker, store, "bad-nan")       # NaN counters: no rate; its buckets are still good numbers
    assert nan["rps"] is None and nan["error_ratio"] is None
    shuffled = fields(tracker, store, "bad-shuffled")   # bucket lines out of order are valid
    assert shuffled["p95_ms"] is not None and shuffled["error"] is None
    for f in ("404", "refused", "hang", "junk", "huge"):
        assert fields(tracker, store, f"bad-{f}")["rps"] is None


async def test_counters_going_backwards_never_give_a_negative_rate(env: Env) -> None:
    env.add("bad-backwards", "backwards")
    env.run(5)
    tracker, store = await env.rounds(n=5, every=10)
    f = fields(tracker, store, "bad-backwards")
    assert f["rps"] is not None and f["rps"] >= 0
    assert f["error_ratio"] is None or 0 <= f["error_ratio"] <= 1
    assert f["tokens_per_s"] is None or f["tokens_per_s"] >= 0


async def test_replicas_with_different_bucket_layouts_are_not_merged(env: Env) -> None:
    env.add("mixed", replicas=2)
    env.run(5)
    pods = sorted(p["metadata"]["name"] for p in env.cluster.store.items(PODS, NS)
                  if p["metadata"]["name"].startswith("mixed-"))

    def custom(o: dict) -> None:
        o["metadata"].setdefault("annotations", {})[FAULT_ANNOTATION] = "layout"
    env.cluster.store.mutate(PODS, NS, pods[0], custom)   # one replica runs --custom-histogram-buckets
    tracker, store = await env.rounds()
    f = fields(tracker, store, "mixed")
    assert f["rps"] is not None and f["replicas_reporting"] == 2
    assert f["p95_ms"] is None and "different bucket layouts" in f["error"]
    snap = ServingView().build(store, tracker, tracker.taken_at or 0.0)
    w = next(w for k, w in snap.workloads.items() if k[2] == "mixed")
    assert all(x.figures is not None and x.figures.p95 is not None for x in w.replicas)   # each replica's own


async def test_a_pod_without_an_endpoint_says_so(env: Env) -> None:
    dep = b.inference_deployment("plain", NS, "serve", 1, 1, image="busybox:1.36")
    c = dep["spec"]["template"]["spec"]["containers"][0]
    c["args"], c["ports"] = ["sleep", "infinity"], []
    env.cluster.store.create(DEPLOYMENTS, dep)
    env.run(3)
    tracker, store = await env.rounds(n=1)
    assert "no metrics endpoint found" in (fields(tracker, store, "plain")["error"] or "")


@pytest.mark.parametrize("image,server", [(b.TRITON_IMAGE, "triton"), (b.TGI_IMAGE, "tgi"),
                                          ("vllm/vllm-openai:v0.6.3", "vllm")])
async def test_each_server_kind_is_read_from_its_own_page(env: Env, image: str, server: str) -> None:
    env.add("srv", image=image)
    env.run(5)
    tracker, store = await env.rounds()
    f = fields(tracker, store, "srv")
    assert f["source"] == server and f["rps"] and f["p95_ms"] is not None
    if server == "vllm":   # vLLM before 0.9: the old KV-cache name, no HTTP status counts
        assert f["kv_cache_ratio"] is not None and f["ttft_p95_ms"] is not None
        assert f["error_ratio"] is None and "no HTTP status counts" in f["error"]
    if server == "tgi":
        assert f["ttft_p95_ms"] is None and "no time-to-first-token" in f["error"]


async def test_a_spread_round_starts_its_pods_evenly_in_order_and_dates_each_by_its_own_pages(env: Env) -> None:
    """Many pods are scraped over half the interval, not in one burst; each replica's sample keeps its time."""
    for name in ("a", "b", "c"):
        env.add(name)
    env.run(5)
    store = env.model()
    targets = scrape_targets(store)
    assert len(targets) == 4
    waits: list[float] = []
    ticks = iter(range(100, 200))

    async def sleep(s: float) -> None:   # no wall time: record the turn each pod waits for
        waits.append(s)

    creds = config.load(env.kubeconfig, None)
    scraper = ServingScraper(PageFetcher(creds), mode="proxy", clock=lambda: float(next(ticks)), sleep=sleep)
    try:
        results = await scraper.scrape(targets, spread_s=2.0)
    finally:
        await scraper.close()
    assert waits == pytest.approx([0.5, 1.0, 1.5], abs=0.05)   # the first goes at once, the others a step apart
    assert all(r.reading is not None and r.at is not None for r in results.values())
    tracker = ServingTracker()
    tracker.ingest(1000.0, results, ended=110.0)       # the round ended at 110 on the scraper's clock
    for key, r in results.items():
        assert tracker.last_ok[key] == 1000.0 - (110.0 - r.at)   # dated by its own pages, not the round


async def test_the_pod_proxy_gets_at_most_its_page_budget_a_second(env: Env) -> None:
    """Through the API server's pod proxy a fleet bigger than one wave of pages is paced at `proxy_rps`:
    the round grows longer instead of the API server taking every page at once."""
    env.add("fleet", replicas=7)
    env.run(5)
    targets = scrape_targets(env.model())
    assert len(targets) == 8
    waits: list[float] = []

    async def sleep(s: float) -> None:
        waits.append(s)

    creds = config.load(env.kubeconfig, None)
    scraper = ServingScraper(PageFetcher(creds, concurrency=4), mode="proxy", sleep=sleep)
    try:
        await scraper.scrape(targets, proxy_rps=2.0)          # 8 pages over one wave of 4: 4 s at 2 a second
        assert len(waits) == 7 and waits[-1] == pytest.approx(3.5, abs=0.05)
        waits.clear()
        await scraper.scrape(targets[:4], proxy_rps=2.0)      # one wave: at once
        assert waits == []
    finally:
        await scraper.close()


def test_the_header_says_when_a_round_outgrows_the_interval_and_why() -> None:
    from console.telemetry.serving_servers import PodScrape
    from console.ui.serving_feed import state_text

    results = {("ns", f"p{i}"): PodScrape(None, "HTTP 503") if i == 0 else PodScrape(None) for i in range(3)}
    assert state_text(results, 10.0) == ("serving 0/3 pods · 10s", True)
    assert state_text(results, 10.0, 113.4, 100.0) == ("serving 0/3 pods · every 113s (pod proxy ≤ 100 pages/s)",
                                                        True)
    assert state_text(results, 10.0, 30.0)[0] == "serving 0/3 pods · every 30s"
    assert state_text({}, 10.0) == ("serving: no inference pods", False)
