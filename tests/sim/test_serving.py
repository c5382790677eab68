"""Simulated inference serving: Knative, KServe, Run:ai and HPA controllers, the KPA-like autoscaler and the
HPA algorithm, all driven by the load model on a manual clock."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from console.model import autoscaling
from console.sim import serving_load
from console.sim.build import make_cluster
from console.sim.cluster import SimCluster
from console.sim.errors import ApiError
from console.sim.resources import (DEPLOYMENTS, EVENTS, HPAS, INFERENCEWORKLOADS, ISVCS, KCONFIGS, KREVISIONS,
                                   KROUTES, KSVCS, PODS, SERVICES)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "serving"
NS = "runai-serve"
KN = "autoscaling.knative.dev"


def cluster(tmp_path: Path, without: tuple[str, ...] = (), gpus: int = 8, serve_quota: float = 4) -> SimCluster:
    spec = {"name": "serving",
            "departments": [{"name": "dept", "quota": 8, "limit": -1}],
            "projects": [{"name": "serve", "department": "dept", "quota": serve_quota, "limit": -1},
                         {"name": "team-a", "department": "dept", "quota": 2, "limit": -1}],
            "nodePools": [{"name": "gpu", "product": "NVIDIA-A100-SXM4-40GB", "count": 1, "gpus": gpus}]}
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(spec))
    c = make_cluster(str(path), manual_clock=True, without=without)
    c.settle()
    return c


def ksvc(name: str = "chat", ann: dict[str, str] | None = None, gpu: str = "0.5") -> dict[str, Any]:
    return {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "metadata": {"name": name, "namespace": NS},
            "spec": {"template": {
                "metadata": {"labels": {"kai.scheduler/queue": "serve"},
                             "annotations": {"gpu-fraction": gpu, **(ann or {})}},
                "spec": {"schedulerName": "kai-scheduler",
                         "containers": [{"image": "vllm/vllm-openai:v0.6.3", "ports": [{"containerPort": 8000}]}]}}}}


def run(c: SimCluster, seconds: int, step: int = 1) -> None:
    for _ in range(seconds // step):
        c.clock.advance(step)
        c.settle()


def replicas(c: SimCluster, name: str = "chat-00001-deployment") -> int:
    return c.store.get(DEPLOYMENTS, NS, name)["spec"]["replicas"]


def test_knative_names_and_labels_what_it_makes(tmp_path: Path) -> None:
    c = cluster(tmp_path)
    c.store.create(KSVCS, ksvc())
    c.settle()
    s = c.store
    svc = s.get(KSVCS, NS, "chat")
    assert svc["status"]["latestReadyRevisionName"] == "chat-00001"
    assert svc["status"]["traffic"] == [{"revisionName": "chat-00001", "latestRevision": True, "percent": 100}]
    assert [x for x in svc["status"]["conditions"] if x["type"] == "Ready"][0]["status"] == "True"
    assert s.get(KCONFIGS, NS, "chat")["metadata"]["ownerReferences"][0]["kind"] == "Service"
    assert s.get(KROUTES, NS, "chat")
    rev = s.get(KREVISIONS, NS, "chat-00001")
    labels = rev["metadata"]["labels"]
    assert labels["serving.knative.dev/service"] == "chat" and labels["serving.knative.dev/configuration"] == "chat"
    assert labels["serving.knative.dev/configurationGeneration"] == "1"
    dep = s.get(DEPLOYMENTS, NS, "chat-00001-deployment")
    assert dep["metadata"]["ownerReferences"][0]["kind"] == "Revision"
    tmpl = dep["spec"]["template"]
    assert [c_["name"] for c_ in tmpl["spec"]["containers"]] == ["user-container", "queue-proxy"]
    assert tmpl["metadata"]["labels"]["serving.knative.dev/revision"] == "chat-00001"
    assert tmpl["metadata"]["annotations"]["gpu-fraction"] == "0.5"
    assert not any(k.startswith(KN) for k in tmpl["metadata"]["annotations"])
    for name in ("chat", "chat-00001", "chat-00001-private"):
        assert s.get(SERVICES, NS, name)
    pods = [p for p in s.items(PODS, NS) if p["metadata"]["name"].startswith("chat-00001-deployment-")]
    assert len(pods) == 1 and pods[0]["status"]["phase"] == "Running"
    assert pods[0]["metadata"]["labels"]["serving.knative.dev/service"] == "chat"
    # a change to the template is a new revision, and the traffic moves to it
    def bump(o: dict) -> None:
        o["spec"]["template"]["spec"]["containers"][0]["image"] = "vllm/vllm-openai:v0.6.4"
    s.mutate(KSVCS, NS, "chat", bump)
    c.settle()
    assert s.get(KSVCS, NS, "chat")["status"]["traffic"][0]["revisionName"] == "chat-00002"


@pytest.mark.parametrize("ann,words", [
    ({f"{KN}/min-scale": "-1"}, "min-scale: '-1' must be 0 or more"),
    ({f"{KN}/max-scale": "abc"}, "max-scale: 'abc' is not a whole number"),
    ({f"{KN}/min-scale": "3", f"{KN}/max-scale": "1"}, "max-scale=1 is less than min-scale=3"),
])
def test_knative_webhook_refuses_bad_annotations(tmp_path: Path, ann: dict, words: str) -> None:
    c = cluster(tmp_path)
    with pytest.raises(ApiError) as e:
        c.store.create(KSVCS, ksvc(ann=ann))
    assert e.value.code == 400 and words in e.value.message and "validation.webhook.serving.knative.dev" in \
        e.value.message
    assert not list(c.store.items(KSVCS)) and not list(c.store.items(KREVISIONS))


def test_kpa_scales_up_within_its_windows_down_at_half_rate_then_to_zero_and_activates(tmp_path: Path) -> None:
    c = cluster(tmp_path)
    c.store.create(KSVCS, ksvc(ann={f"{KN}/min-scale": "0", f"{KN}/max-scale": "6", f"{KN}/target": "2",
                                    "sim.gpuconsole.io/latency-ms": "500"}))
    c.settle()
    load = serving_load.of(c)
    load.set_rps(NS, "chat", 4, c.clock.now())            # 4 rps × 0.5 s = 2 in flight: one replica
    run(c, 70)
    assert replicas(c) == 1
    load.set_rps(NS, "chat", 20, c.clock.now())           # 10 in flight / 2 = 5 replicas
    t0 = c.clock.now()
    while replicas(c) < 5 and c.clock.now() - t0 < 60:
        run(c, 1)
    assert replicas(c) == 5 and c.clock.now() - t0 <= 6, "the panic window (6 s) sees the jump"
    assert c.store.get(KREVISIONS, NS, "chat-00001")["status"]["desiredReplicas"] == 5
    load.set_rps(NS, "chat", 40, c.clock.now())            # 20 in flight: wants 10, held at max-scale 6
    run(c, 10)
    assert replicas(c) == 6
    load.set_rps(NS, "chat", 0, c.clock.now())
    seen, ready = [], []
    for _ in range(120):
        run(c, 1)
        seen.append(replicas(c))
        ready.append(c.store.get(DEPLOYMENTS, NS, "chat-00001-deployment")["status"].get("readyReplicas", 0))
    steps = [(r, b) for a, b, r in zip(seen, seen[1:], ready) if b < a]
    # max-scale-down-rate 2: a step keeps at least half the ready pods (floor), down to the last one
    assert len(steps) >= 3 and all(b >= r // 2 for r, b in steps), f"gradual scale-down: {seen}"
    assert seen[-1] == 0
    zero_at = seen.index(0)
    assert zero_at >= 60 + 30 - 1, "zero only after the stable window and the grace period"
    rev = c.store.get(KREVISIONS, NS, "chat-00001")
    assert [x for x in rev["status"]["conditions"] if x["type"] == "Active"][0]["status"] == "False"
    load.set_rps(NS, "chat", 1, c.clock.now())             # the next request activates it
    run(c, 1)
    assert replicas(c) == 1


def test_min_scale_holds_with_no_traffic(tmp_path: Path) -> None:
    c = cluster(tmp_path)
    c.store.create(KSVCS, ksvc(ann={f"{KN}/minScale": "2", f"{KN}/maxScale": "4"}))  # the older keys
    run(c, 120)
    assert replicas(c) == 2


def test_hpa_proposes_ceil_ratio_keeps_tolerance_and_stabilises_scale_down(tmp_path: Path) -> None:
    c = cluster(tmp_path)
    from console.sim import scenario_build as b
    dep = b.inference_deployment("web", NS, "serve", 1, 0.25)
    dep["metadata"]["annotations"] = {"sim.gpuconsole.io/replica-rps": "10"}
    c.store.create(DEPLOYMENTS, dep)
    c.store.create(HPAS, b.hpa_for("web", NS, 1, 4, "rps", 5))
    load = serving_load.of(c)
    load.set_rps(NS, "web", 5, c.clock.now())             # 5 rps on 1 replica = target: stays
    run(c, 30, 5)
    assert c.store.get(DEPLOYMENTS, NS, "web")["spec"]["replicas"] == 1
    load.set_rps(NS, "web", 15, c.clock.now())            # 15 / 5 = 3 replicas
    run(c, 30, 5)
    h = c.store.get(HPAS, NS, "web")
    assert c.store.get(DEPLOYMENTS, NS, "web")["spec"]["replicas"] == 3 and h["status"]["desiredReplicas"] == 3
    assert any(e["reason"] == "SuccessfulRescale" and "New size: 3" in e["message"] for e in c.store.items(EVENTS, NS))
    load.set_rps(NS, "web", 16, c.clock.now())            # 16 / 3 pods = 5.33 per pod: within 0.1 of 5
    run(c, 30, 5)
    assert c.store.get(DEPLOYMENTS, NS, "web")["spec"]["replicas"] == 3
    load.set_rps(NS, "web", 2, c.clock.now())             # wants 1, but the 300 s window holds the 3
    run(c, 120, 5)
    assert c.store.get(DEPLOYMENTS, NS, "web")["spec"]["replicas"] == 3
    run(c, 240, 5)
    assert c.store.get(DEPLOYMENTS, NS, "web")["spec"]["replicas"] == 1
    conds = {x["type"]: x for x in c.store.get(HPAS, NS, "web")["status"]["conditions"]}
    assert conds["ScalingActive"]["reason"] == "ValidMetricFound"


def test_hpa_naming_a_missing_target_says_so(tmp_path: Path) -> None:
    c = cluster(tmp_path)
    from console.sim import scenario_build as b
    c.store.create(HPAS, b.hpa_for("ghost", NS, 1, 3))
    run(c, 2)
    h = c.store.get(HPAS, NS, "ghost")
    conds = {x["type"]: x for x in h["status"]["conditions"]}
    assert conds["AbleToScale"]["status"] == "False" and conds["AbleToScale"]["reason"] == "FailedGetScale"
    assert 'deployments.apps "ghost" not found' in conds["AbleToScale"]["message"]
    assert any(e["reason"] == "FailedGetScale" for e in c.store.items(EVENTS, NS))


def test_kserve_serverless_and_raw(tmp_path: Path) -> None:
    c = cluster(tmp_path)
    doc = yaml.safe_load((FIXTURES / "kserve-flowers-sample-gpu.yaml").read_text())
    doc["metadata"]["namespace"] = NS
    c.store.create(ISVCS, doc)
    c.settle()
    k = c.store.get(KSVCS, NS, "flowers-sample-gpu-predictor")
    ann = k["spec"]["template"]["metadata"]["annotations"]
    assert (ann[f"{KN}/target"], ann[f"{KN}/metric"], ann[f"{KN}/min-scale"]) == ("1", "concurrency", "1")
    assert k["metadata"]["labels"]["serving.kserve.io/inferenceservice"] == "flowers-sample-gpu"
    assert k["spec"]["template"]["spec"]["containers"][0]["name"] == "kserve-container"
    isvc = c.store.get(ISVCS, NS, "flowers-sample-gpu")
    assert isvc["status"]["components"]["predictor"]["traffic"][0]["revisionName"] == \
        "flowers-sample-gpu-predictor-00001"
    raw = yaml.safe_load((FIXTURES / "kserve-flowers-sample-gpu.yaml").read_text())
    raw["metadata"].update(name="raw", namespace=NS,
                           annotations={"serving.kserve.io/deploymentMode": "RawDeployment"})
    c.store.create(ISVCS, raw)
    c.settle()
    dep = c.store.get(DEPLOYMENTS, NS, "raw-predictor")
    assert dep["metadata"]["labels"]["app"] == "isvc.raw-predictor"
    assert c.store.get(SERVICES, NS, "raw-predictor")
    assert c.store.get(HPAS, NS, "raw-predictor")["spec"]["scaleTargetRef"]["name"] == "raw-predictor"


def test_kserve_webhook_refuses_a_predictor_without_a_model(tmp_path: Path) -> None:
    c = cluster(tmp_path)
    with pytest.raises(ApiError) as e:
        c.store.create(ISVCS, {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
                               "metadata": {"name": "empty", "namespace": NS}, "spec": {"predictor": {}}})
    assert "exactly one of [SKLearn, XGBoost" in e.value.message


def test_without_knative_kserve_goes_raw(tmp_path: Path) -> None:
    c = cluster(tmp_path, without=("serving.knative.dev",))
    doc = yaml.safe_load((FIXTURES / "kserve-flowers-sample-gpu.yaml").read_text())
    doc["metadata"]["namespace"] = NS
    c.store.create(ISVCS, doc)
    c.settle()
    assert c.store.try_get(DEPLOYMENTS, NS, "flowers-sample-gpu-predictor") is not None
    assert not list(c.store.items(KSVCS))


def test_runai_inference_workload_becomes_a_knative_service(tmp_path: Path) -> None:
    c = cluster(tmp_path)
    doc = yaml.safe_load((FIXTURES / "runai-inference1.yaml").read_text())
    doc["metadata"]["namespace"] = NS
    c.store.create(INFERENCEWORKLOADS, doc)
    c.settle()
    k = c.store.get(KSVCS, NS, "inference1")
    assert k["metadata"]["ownerReferences"][0]["kind"] == "InferenceWorkload"
    tmpl = k["spec"]["template"]
    assert tmpl["metadata"]["labels"]["workloadKind"] == "InferenceWorkload"
    assert tmpl["metadata"]["labels"]["project"] == "serve" and tmpl["metadata"]["labels"]["runai/queue"] == "serve"
    ann = tmpl["metadata"]["annotations"]
    assert (ann["gpu-fraction"], ann[f"{KN}/min-scale"], ann[f"{KN}/max-scale"], ann[f"{KN}/target"]) == \
        ("0.5", "1", "2", "80")
    assert tmpl["spec"]["schedulerName"] == "runai-scheduler"
    dep = c.store.get(DEPLOYMENTS, NS, "inference1-00001-deployment")
    assert dep["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] == 8000
    assert c.store.get(INFERENCEWORKLOADS, NS, "inference1")["status"]["phase"] == "Running"


def test_knative_fixture_from_knatives_docs(tmp_path: Path) -> None:
    c = cluster(tmp_path)
    doc = yaml.safe_load((FIXTURES / "knative-autoscale-go.yaml").read_text())
    c.store.create(KSVCS, doc)
    c.settle()
    rev = c.store.get(KREVISIONS, "default", "autoscale-go-00001")
    spec = autoscaling.knative(rev["metadata"]["annotations"])
    assert (spec.target, spec.utilization_pct, spec.problems) == (10.0, 100.0, ())
    assert c.store.get(DEPLOYMENTS, "default", "autoscale-go-00001-deployment")["spec"]["replicas"] == 1
