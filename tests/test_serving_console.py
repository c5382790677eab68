"""Inference as the console reads it, over loopback from the simulator: every serving shape grouped under
its top object with its autoscaling, load raised through `/sim/load` making replicas rise and pend with
KAI's reason or reclaim training as the preview predicted, scale to zero and activation, and bad input
shown on the row."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import yaml

from console.actions import facts as facts_mod
from console.actions.preview import pods_from_template, preview_new
from console.kube import config
from console.kube.client import KubeClient
from console.sim import scenario_build as b
from console.sim.build import make_cluster
from console.sim.resources import BY_KEY, DEPLOYMENTS, HPAS, INFERENCEWORKLOADS, ISVCS, JOBS, KREVISIONS, KSVCS, PODS
from console.snapshot_cmd import take
from tests.conftest import SimServer, serve_sim

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "serving"
NS, TRAIN_NS = "runai-serve", "runai-research"
KN = "autoscaling.knative.dev"


def scenario() -> dict[str, Any]:
    """One 8-GPU node: `serve` (quota 3) runs a one-GPU Knative service; `research` (quota 1) trains on 6."""
    return {"name": "serving",
            "departments": [{"name": "dept", "quota": 8, "limit": -1}],
            "projects": [{"name": "serve", "department": "dept", "quota": 3, "limit": -1},
                         {"name": "research", "department": "dept", "quota": 1, "limit": -1}],
            "nodePools": [{"name": "gpu", "product": "NVIDIA-A100-SXM4-40GB", "count": 1, "gpus": 8}],
            "workloads": [
                {"name": "chat", "project": "serve", "kind": "inference", "serving": "knative", "gpu": 1,
                 "latencyMs": 1000, "autoscale": {"min": 0, "max": 4, "metric": "concurrency", "target": 1}},
                {"name": "pretrain", "project": "research", "kind": "training", "gpu": 1, "parallelism": 6,
                 "runSeconds": 86400},
            ]}


class Served:
    def __init__(self, sim: SimServer) -> None:
        self.sim, self.cluster, self.kubeconfig = sim, sim.cluster, str(sim.kubeconfig)

    async def load(self, name: str, rps: float) -> None:
        async with self.sim.client("admin") as c:
            r = await c.post("/sim/load", json={"namespace": NS, "name": name, "rps": rps})
            assert r.status_code == 201, r.text

    def run(self, seconds: int) -> None:
        for _ in range(seconds):
            self.cluster.clock.advance(1)
            self.cluster.settle()

    async def row(self, name: str) -> dict[str, Any]:
        snap = await take(self.kubeconfig, None, "workloads")
        return next(w for w in snap["workloads"] if w["name"] == name)


@pytest_asyncio.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(scenario()))
    cluster = make_cluster(str(path), manual_clock=True)
    cluster.settle()
    sim, srv = await serve_sim(cluster, tmp_path)
    try:
        yield Served(sim)
    finally:
        await srv.stop()  # type: ignore[attr-defined]


async def test_every_shape_is_one_workload_with_its_autoscaling(served: Served) -> None:
    s = served.cluster.store
    isvc = yaml.safe_load((FIXTURES / "kserve-autoscale-gpu-legacy.yaml").read_text())
    isvc["metadata"]["namespace"] = NS
    s.create(ISVCS, isvc)
    iw = yaml.safe_load((FIXTURES / "runai-inference1.yaml").read_text())
    iw["metadata"]["namespace"] = NS
    s.create(INFERENCEWORKLOADS, iw)
    dep = b.inference_deployment("embed", NS, "serve", 1, 0.25)
    s.create(DEPLOYMENTS, dep)
    s.create(HPAS, b.hpa_for("embed", NS, 1, 3, "cpu", 70))
    served.run(20)
    snap = await take(served.kubeconfig, None, "workloads")
    rows = {w["name"]: w for w in snap["workloads"] if w["namespace"] == NS}
    # one row per top object: no rows for revisions, predictor Services or their Deployments
    assert set(rows) == {"chat", "flowers-sample-gpu", "inference1", "embed"}
    chat = rows["chat"]
    assert chat["kind"] == "Service" and chat["api_group"] == "serving.knative.dev" and chat["type"] == "inference"
    assert chat["autoscaling"] == {"source": "knative", "min": 0, "max": 4, "metric": "concurrency", "target": 1.0,
                                   "desired": chat["autoscaling"]["desired"], "current": chat["replicas_ready"],
                                   "scaled_to_zero": chat["autoscaling"]["scaled_to_zero"], "problems": []}
    assert chat["revisions"][0]["name"] == "chat-00001" and chat["revisions"][0]["percent"] == 100
    assert chat["service"] == "chat"
    fl = rows["flowers-sample-gpu"]
    assert fl["kind"] == "InferenceService" and fl["pods"] == 1 and fl["gpu_request"] == "1"
    a = fl["autoscaling"]
    assert (a["source"], a["min"], a["max"], a["metric"], a["target"], a["desired"]) == \
        ("kserve", 1, None, "concurrency", 1.0, 1)
    assert fl["revisions"][0]["name"] == "flowers-sample-gpu-predictor-00001"
    inf = rows["inference1"]
    assert inf["kind"] == "InferenceWorkload" and inf["gpu_request"] == "0.5" and inf["project"] == "serve"
    assert (inf["autoscaling"]["source"], inf["autoscaling"]["min"], inf["autoscaling"]["max"],
            inf["autoscaling"]["target"]) == ("runai", 1, 2, 80.0)
    assert inf["revisions"][0]["percent"] == 100
    emb = rows["embed"]
    assert emb["kind"] == "Deployment" and emb["autoscaling"]["source"] == "hpa"
    assert (emb["autoscaling"]["min"], emb["autoscaling"]["max"], emb["autoscaling"]["metric"],
            emb["autoscaling"]["target"]) == (1, 3, "cpu", 70.0)
    fixed = [w for w in snap["workloads"] if w["name"] == "pretrain"]
    assert fixed and fixed[0]["autoscaling"] is None and fixed[0]["revisions"] == []


async def test_load_raises_replicas_pends_over_quota_and_reclaims_training_as_previewed(served: Served) -> None:
    s = served.cluster.store
    await served.load("chat", 0.5)
    served.run(70)
    before = await served.row("chat")
    assert before["autoscaling"]["desired"] == 1 and before["replicas_ready"] == 1
    train_running = sorted(p["metadata"]["name"] for p in s.items(PODS, TRAIN_NS)
                           if p["status"].get("phase") == "Running")
    assert len(train_running) == 6
    # The preview the console shows for three more replicas of chat (its max is 4)
    creds = config.load(served.kubeconfig, None)
    async with KubeClient(creds, max_retries=1) as client:
        facts = await facts_mod.load(client)
    ksvc = s.get(KSVCS, NS, "chat")
    preview = preview_new(facts, pods_from_template(ksvc, 3), ksvc, per_pod=True)
    assert preview.running == 2 and preview.pending_reasons() == {"NonPreemptibleOverQuota": 1}
    assert [(v.name, v.action) for v in preview.victims] == [("pretrain", "Reclaim")]
    await served.load("chat", 4.0)                      # 4 in flight at target 1: four replicas (the max)
    t0 = served.cluster.clock.now()
    rose_at = None
    for _ in range(90):
        served.run(1)
        rev = s.get(KREVISIONS, NS, "chat-00001")
        if rose_at is None and (rev.get("status") or {}).get("desiredReplicas", 0) > 1:
            rose_at = served.cluster.clock.now() - t0
    assert rose_at is not None and rose_at <= 60, "desired rises within the autoscaler's window"
    row = await served.row("chat")
    a = row["autoscaling"]
    assert a["desired"] == 4 and a["max"] == 4                               # at its max
    assert row["replicas_ready"] == 3 and row["replicas_pending"] == 1      # quota 3: the fourth waits
    assert "NonPreemptibleOverQuota" in (row["pending_reason"] or "")
    train = [p for p in s.items(PODS, TRAIN_NS) if p["status"].get("phase") == "Running"]
    assert len(train) < 6, "over-quota training was reclaimed to place chat within its quota"
    assert any(j["metadata"]["name"] == "pretrain" for j in s.items(JOBS, TRAIN_NS))


async def test_load_dropped_scales_down_to_zero_and_the_next_request_activates(served: Served) -> None:
    await served.load("chat", 3.0)
    served.run(30)
    assert (await served.row("chat"))["autoscaling"]["desired"] == 3
    await served.load("chat", 0)
    served.run(60)
    mid = await served.row("chat")
    assert 0 < mid["autoscaling"]["desired"] < 3 or mid["replicas_ready"] < 3
    served.run(60)
    zero = await served.row("chat")
    assert zero["autoscaling"]["scaled_to_zero"] is True and zero["pods"] == 0
    # the last pod drains for its grace period (Knative sets it to the revision's timeoutSeconds, 300 s by
    # default), holding its GPU: the workload reads Terminating until it is gone
    assert zero["status"] in ("Terminating", "Scaled to zero")
    served.run(300)
    assert (await served.row("chat"))["status"] == "Scaled to zero"
    await served.load("chat", 1.0)
    served.run(2)
    woke = await served.row("chat")
    assert woke["autoscaling"]["desired"] >= 1 and woke["pods"] >= 1 and not woke["autoscaling"]["scaled_to_zero"]


async def test_bad_input_is_a_problem_on_the_row(served: Served) -> None:
    s = served.cluster.store
    # Objects a webhook would refuse, as they exist where it was not running: loaded without admission.
    bad = [
        ("services.serving.knative.dev", {"apiVersion": "serving.knative.dev/v1", "kind": "Service",
                                          "metadata": {"name": "neg", "namespace": NS},
                                          "spec": {"template": {"metadata": {"annotations": {
                                              f"{KN}/min-scale": "-1"}}, "spec": {"containers": [{"image": "x"}]}}}}),
        ("services.serving.knative.dev", {"apiVersion": "serving.knative.dev/v1", "kind": "Service",
                                          "metadata": {"name": "abc", "namespace": NS},
                                          "spec": {"template": {"metadata": {"annotations": {
                                              f"{KN}/max-scale": "abc"}}, "spec": {"containers": [{"image": "x"}]}}}}),
        ("services.serving.knative.dev", {"apiVersion": "serving.knative.dev/v1", "kind": "Service",
                                          "metadata": {"name": "inverted", "namespace": NS},
                                          "spec": {"template": {"metadata": {"annotations": {
                                              f"{KN}/min-scale": "5", f"{KN}/max-scale": "2"}},
                                              "spec": {"containers": [{"image": "x"}]}}}}),
        ("inferenceservices.serving.kserve.io", {"apiVersion": "serving.kserve.io/v1beta1",
                                                 "kind": "InferenceService", "metadata": {"name": "nomodel",
                                                                                          "namespace": NS},
                                                 "spec": {"predictor": {"minReplicas": 1}}}),
    ]
    for rkey, obj in bad:
        s.load(BY_KEY[rkey], [obj])
    s.create(HPAS, b.hpa_for("ghost", NS, 1, 3))
    served.run(16)
    snap = await take(served.kubeconfig, None, "workloads")
    rows = {w["name"]: w for w in snap["workloads"] if w["namespace"] == NS}

    def problems(name: str) -> str:
        return "; ".join(rows[name]["autoscaling"]["problems"])
    assert "min-scale: '-1' must be 0 or more" in problems("neg") and rows["neg"]["autoscaling"]["min"] is None
    assert "max-scale: 'abc' is not a whole number" in problems("abc") and rows["abc"]["autoscaling"]["max"] is None
    assert "max-scale=2 is less than min-scale=5" in problems("inverted")
    assert "the predictor names no model" in problems("nomodel")
    ghost = rows["ghost"]
    assert ghost["kind"] == "HorizontalPodAutoscaler" and "FailedGetScale" in problems("ghost")
    assert 'deployments.apps "ghost" not found' in problems("ghost")


async def test_serving_apis_forbidden_to_the_user_show_as_forbidden(served: Served) -> None:
    # the confined researcher may read only its project's namespaces: Knative, KServe and HPAs elsewhere
    # are hidden, and the console still builds its model
    snap = await take(served.kubeconfig, "sim-researcher-serve")
    for key in ("services.serving.knative.dev", "revisions.serving.knative.dev",
                "horizontalpodautoscalers.autoscaling", "inferenceservices.serving.kserve.io"):
        assert any(h.startswith(f"{key}: only namespaces") for h in snap["hidden"]), snap["hidden"]
    chat = next(w for w in snap["workloads"] if w["name"] == "chat")
    assert chat["autoscaling"]["source"] == "knative" and chat["autoscaling"]["max"] == 4
    assert not any(w["namespace"] == TRAIN_NS for w in snap["workloads"])


@pytest.mark.parametrize("without", [("serving.knative.dev", "serving.kserve.io", "run.ai")])
async def test_absent_serving_apis_degrade_silently(tmp_path: Path, without: tuple[str, ...]) -> None:
    spec = scenario()
    spec["workloads"] = [w for w in spec["workloads"] if w["name"] != "chat"]
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(spec))
    cluster = make_cluster(str(path), manual_clock=True, without=without)
    cluster.settle()
    sim, srv = await serve_sim(cluster, tmp_path)
    try:
        snap = await take(str(sim.kubeconfig), None)
    finally:
        await srv.stop()  # type: ignore[attr-defined]
    assert "services.serving.knative.dev" not in snap["health"]
    assert "horizontalpodautoscalers.autoscaling" in snap["health"] and snap["hidden"] == []
    assert not [p for p in snap["problems"] if "serving" in p]
