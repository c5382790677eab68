"""Serving health end to end on the simulator: load pushed with `/sim/load` until p95 crosses the SLO, the
breach, the autoscaler's new replicas and the recovery, in the model and on the screen; and the demo's
`gpuconsole snapshot -o json` giving serving figures for the running inference workloads."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest_asyncio
import yaml

from console.config import Config
from console.kube import config
from console.kube.client import KubeClient
from console.model.cluster_store import ClusterStore
from console.model.serving_view import ServingView, WorkloadServing
from console.model.slo import BREACHED, MET
from console.sim.build import make_cluster
from console.sim.resources import BY_KEY
from console.snapshot_cmd import take
from console.telemetry.serving_tracker import ServingTracker
from tests.conftest import serve_sim, serving_rounds

NS = "runai-serve"
KEYS = ("nodes", "namespaces", "pods", "deployments.apps", "replicasets.apps", "queues.scheduling.run.ai",
        "podgroups.scheduling.run.ai", "services.serving.knative.dev", "configurations.serving.knative.dev",
        "revisions.serving.knative.dev")


def scenario() -> dict[str, Any]:
    """A Knative chat service on whole GPUs: 8 requests/s on one replica, a p95 SLO of 3 s."""
    return {"name": "slo", "departments": [{"name": "d", "quota": 8, "limit": -1}],
            "projects": [{"name": "serve", "department": "d", "quota": 8, "limit": -1}],
            "nodePools": [{"name": "gpu", "product": "NVIDIA-A100-SXM4-40GB", "count": 1, "gpus": 8}],
            "workloads": [{"name": "chat", "project": "serve", "kind": "inference", "serving": "knative", "gpu": 1,
                           "peakRps": 16, "latencyMs": 400, "replicaRps": 20, "slo": {"p95Ms": 3000},
                           "autoscale": {"min": 1, "max": 6, "metric": "concurrency", "target": 4}}]}


def model_of(cluster: Any) -> ClusterStore:
    store = ClusterStore()
    for key in KEYS:
        store.replace(key, list(cluster.store.items(BY_KEY[key])))
    store.refresh()
    return store


def chat(snap: Any) -> WorkloadServing:
    return next(w for k, w in snap.workloads.items() if k[2] == "chat")


@pytest_asyncio.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[Any, str]]:
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(scenario()))
    cluster = make_cluster(str(path), manual_clock=True)
    cluster.settle()
    cluster.extras["kubelet"].start_delay = 20.0   # a new replica loads its model for 20 s before it serves
    sim, srv = await serve_sim(cluster, tmp_path)
    try:
        yield cluster, str(sim.kubeconfig)
    finally:
        await srv.stop()  # type: ignore[attr-defined]


async def set_load(kubeconfig: str, rps: float) -> None:
    """`POST /sim/load` through the console's own client, as an operator's kubectl create --raw would."""
    async with KubeClient(config.load(kubeconfig, None), max_retries=1) as client:
        r = await client.request("POST", "/sim/load", body={"namespace": NS, "name": "chat", "rps": rps})
        assert r["rps"] == rps


async def test_load_breaches_the_slo_the_autoscaler_adds_replicas_and_it_recovers(served: tuple) -> None:
    cluster, kubeconfig = served
    tracker, view = ServingTracker(window_s=30.0), ServingView()

    async def step(seconds: float = 5.0) -> WorkloadServing:
        store = model_of(cluster)
        await serving_rounds(cluster, store, (seconds,), tracker)
        store = model_of(cluster)
        return chat(view.build(store, tracker, cluster.clock.now()))

    for _ in range(7):
        w = await step()
    assert w.slo is not None and w.slo.p95_ms == 3000 and w.slo_state == MET, w.slo_why
    assert len(w.replicas) == 1 and w.figures is not None and 7 <= w.figures.rps <= 9   # type: ignore[operator]
    calm_p95 = w.figures.p95.value   # type: ignore[union-attr]

    await set_load(kubeconfig, 40)
    states, replicas, errors = [], [], []
    for _ in range(8):
        w = await step()
        states.append(w.slo_state)
        replicas.append(len(w.replicas))
        errors.append(w.figures.error_ratio if w.figures else None)
    assert BREACHED in states, states
    assert max(replicas) >= 4, replicas                  # the KPA's panic window saw the jump; they loaded
    assert any(e for e in errors), errors                # past the queue's bound, requests were refused
    breached = next(s for s in range(len(states)) if states[s] == BREACHED)
    assert "p95" in w.slo_why or states[breached] == BREACHED
    for _ in range(12):                                  # the window slides past the overload
        w = await step()
    assert w.slo_state == MET, w.slo_why
    assert w.figures is not None and w.figures.error_ratio == 0 and 35 <= w.figures.rps <= 45
    assert w.figures.p95.value < 3.0 and w.figures.p95.value > calm_p95   # type: ignore[union-attr]
    p95s = [h.p95_s for h in w.history if h.p95_s is not None]
    assert max(p95s) > 3.0 and p95s[-1] < 3.0            # the history holds the breach and the recovery


async def test_the_inference_view_shows_the_breach_and_the_recovery(served: tuple) -> None:
    from console.app import ClusterConsole
    from console.ui.session import LiveSession
    from tests.ui.conftest import synced, until

    cluster, kubeconfig = served
    app = ClusterConsole(lambda ctx: LiveSession(kubeconfig, ctx), config=Config(serving_window_s=30,
                                                                                  serving_scrape_s=5),
                         telemetry_auto=False, serving_clock=cluster.clock.now)

    def row() -> list[str]:
        t = app.pane("inference").table
        key = next(k for k in t.order if len(k) == 3 and k[2] == "chat")
        return [c.strip() for c in t.visible_cells(key)]

    async def tick(seconds: int = 5) -> None:
        for _ in range(seconds):
            cluster.clock.advance(1)
            cluster.settle()
        await app.serving_tick()
        app.flush()
        await pilot.pause()

    async with app.run_test(size=(200, 40)) as pilot:
        await synced(app, pilot)
        await app.serving_tick()
        await pilot.press("7")
        for _ in range(6):
            await tick()
        assert row()[0] == "chat" and row()[12].startswith("✓ p95<3000ms"), row()
        await set_load(kubeconfig, 40)
        header_counts = []
        for _ in range(8):
            await tick()
            if row()[12].startswith("⚠"):
                header_counts.append(app.header_data().slo_breaches)
        assert header_counts and set(header_counts) == {1}     # the row and the header's count agree
        await until(pilot, lambda: int(row()[2].split("/")[0]) >= 4, what="the new replicas ready")
        for _ in range(14):
            await tick()
        assert row()[12].startswith("✓"), row()
        await pilot.press("t")              # its history: the breach and the recovery, the SLO on the scale
        await pilot.pause()
        from console.ui.serving_detail import ServingDetailScreen
        screen = app.screen
        assert isinstance(screen, ServingDetailScreen)
        text = screen.render_text().plain
        assert "SLO p95 < 3000 ms" in text and "the SLO is 3000 ms" in text and "requests/s" in text
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("enter")          # its replicas, each with its own figures
        await pilot.pause()
        t = app.pane("inference").table
        assert len(t.order) >= 4 and all(k[0] == "replica" for k in t.order)
        assert all(t.visible_cells(k)[3].strip() not in ("", "—") for k in t.order)
        await pilot.press("3")
        await pilot.pause()
        wl = app.pane("workloads").table
        key = next(k for k in wl.order if len(k) == 3 and k[2] == "chat")
        cells = [c.strip() for c in wl.visible_cells(key)]
        assert float(cells[8]) > 30 and cells[9] not in ("", "—")    # RPS and P95 on the Workloads pane


@asynccontextmanager
async def demo_served(tmp_path: Path, warm_s: int = 0) -> AsyncIterator[tuple[str, Callable[[float], Awaitable[None]]]]:
    """The demo on a manual clock, `warm_s` simulated seconds in, served over loopback: its kubeconfig, and a
    `wait` that moves its clock (what a snapshot's pause between two serving scrapes does here)."""
    cluster = make_cluster("demo", manual_clock=True)
    cluster.settle()

    async def wait(s: float) -> None:
        for _ in range(int(s)):
            cluster.clock.advance(1)
            cluster.settle()
    await wait(warm_s)
    sim, srv = await serve_sim(cluster, tmp_path)
    try:
        yield str(sim.kubeconfig), wait
    finally:
        await srv.stop()  # type: ignore[attr-defined]


async def test_demo_snapshot_json_has_serving_figures(tmp_path: Path) -> None:
    """The demo after 20 s: serving.rps and p50 ≤ p95 ≤ p99 for most running inference workloads, TTFT for
    the vLLM ones and tokens/s for every LLM server (TGI has no TTFT metric, and says so)."""
    async with demo_served(tmp_path, warm_s=20) as (kubeconfig, wait):
        snap = await take(kubeconfig, None, "workloads", serving_interval=10, wait=wait)
    running = [w for w in snap["workloads"] if w["type"] == "inference" and w["replicas_ready"]]
    good = [w for w in running if w["serving"]["rps"] is not None and w["serving"]["p50_ms"] is not None
            and w["serving"]["p50_ms"] <= w["serving"]["p95_ms"] <= w["serving"]["p99_ms"]]
    assert len(good) >= 0.8 * len(running), [(w["name"], w["serving"]["error"]) for w in running if w not in good]
    llm = [w for w in running if (w["serving"]["source"] or "").split("+")[0] in ("vllm", "tgi")]
    assert len(llm) >= 5
    for w in llm:
        sv = w["serving"]
        assert sv["tokens_per_s"] and sv["tokens_per_s"] > 0, w["name"]
        if sv["source"].startswith("vllm"):
            assert sv["ttft_p95_ms"] is not None and sv["kv_cache_ratio"] is not None, w["name"]
        else:
            assert sv["ttft_p95_ms"] is None and "no time-to-first-token" in sv["error"]
    slo = {w["name"]: w["serving"] for w in running if w["serving"]["slo_p95_ms"] is not None}
    assert set(slo) == {"llama-8b-chat", "reranker"}
    assert all(isinstance(s["slo_breached"], bool) for s in slo.values())


async def test_a_one_shot_leaves_out_a_fleet_its_pod_proxy_budget_would_hold_for_minutes(tmp_path: Path) -> None:
    """`gpuconsole snapshot` never holds the command for a fleet's paced rounds: it says what it left out."""
    from console.snapshot_cmd import PAGE_SIZE, LiveSnapshot

    async with demo_served(tmp_path) as (kubeconfig, _), \
            LiveSnapshot(kubeconfig, None, "workloads", 60.0, None, PAGE_SIZE, 10) as live:
        live.serving_max_round_s = -1.0    # as if the demo's fleet were thousands of pods
        snap = await live.take()
    why = next(h for h in snap["hidden"] if h.startswith("serving figures:"))
    assert "inference pods take 0 s a scrape through the API server's pod proxy at 100 pages/s" in why
    assert "left out of a snapshot" in why and "-n, -l or --project narrow the fleet" in why
    assert all(w.get("serving") is None for w in snap["workloads"])


async def test_a_narrowed_snapshot_scrapes_only_the_inference_pods_it_shows(tmp_path: Path) -> None:
    from console.model.scope import Scope

    ns = "runai-chat-serving"
    async with demo_served(tmp_path) as (kubeconfig, wait):
        snap = await take(kubeconfig, None, "workloads", scope=Scope(namespace=ns), serving_interval=10, wait=wait)
    running = [w for w in snap["workloads"] if w["type"] == "inference" and w["replicas_running"]]
    assert running and all(w["namespace"] == ns for w in snap["workloads"])
    pods = sum(len(w["pod_names"]) for w in running)
    assert snap["serving"].startswith(f"serving {pods}/{pods} pods answered"), (snap["serving"], pods)
