"""Real kubectl against the simulated demo's inference: Knative Services, InferenceServices, HPAs and the
load endpoint."""

from __future__ import annotations

import json
import ssl
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
import yaml

from console.sim.auth import Users
from console.sim.resources import DEPLOYMENTS, INFERENCEWORKLOADS, KREVISIONS, KSVCS
from tests.sim.test_kubectl import KUBECTL, kubectl, ok

pytestmark = [pytest.mark.kubectl, pytest.mark.skipif(KUBECTL is None, reason="kubectl is not on PATH")]
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "serving"


@pytest.fixture
def served(demo):  # type: ignore[no-untyped-def]
    cluster, kubeconfig = demo
    return SimpleNamespace(cluster=cluster, kubeconfig=Path(kubeconfig))


def _server_url(kubeconfig: Path, context: str = "sim-admin") -> str:
    doc = yaml.safe_load(kubeconfig.read_text())
    ctx = next(c["context"] for c in doc["contexts"] if c["name"] == context)
    return next(c["cluster"]["server"] for c in doc["clusters"] if c["name"] == ctx["cluster"])


async def test_get_ksvc_inferenceservices_and_hpa_list_the_demos(served) -> None:
    out = await ok(served, "get", "ksvc", "-A")
    assert out.split("\n")[0].split() == ["NAMESPACE", "NAME", "URL", "LATESTCREATED", "LATESTREADY", "READY",
                                          "REASON", "AGE"]
    assert "llama-8b-chat" in out and "sdxl-preview" in out and "llama-8b-chat-00001" in out
    out = await ok(served, "get", "inferenceservices", "-A")
    assert out.split("\n")[0].split()[:4] == ["NAMESPACE", "NAME", "URL", "READY"] and "reranker" in out
    assert "reranker" in await ok(served, "get", "isvc", "-A")
    out = await ok(served, "get", "hpa", "-A")
    assert out.split("\n")[0].split() == ["NAMESPACE", "NAME", "REFERENCE", "TARGETS", "MINPODS", "MAXPODS",
                                          "REPLICAS", "AGE"]
    assert "Deployment/embeddings" in out and "cpu:" in out
    out = await ok(served, "get", "revisions", "-n", "runai-chat-serving")
    assert "ACTUAL REPLICAS" in out.split("\n")[0] and "llama-8b-chat-00001" in out
    assert "summarizer" in await ok(served, "get", "inferenceworkloads", "-A")
    desc = await ok(served, "describe", "ksvc", "llama-8b-chat", "-n", "runai-chat-serving")
    assert "autoscaling.knative.dev/max-scale:" in desc and "Latest Ready Revision Name:" in desc
    assert "llama-8b-chat-00001" in desc


async def test_apply_published_examples(served) -> None:
    await ok(served, "apply", "-f", str(FIXTURES / "knative-autoscale-go.yaml"))
    doc = yaml.safe_load((FIXTURES / "runai-inference1.yaml").read_text())
    doc["metadata"]["namespace"] = "runai-recsys"
    await ok(served, "apply", "-f", "-", stdin=yaml.safe_dump(doc))
    doc = yaml.safe_load((FIXTURES / "kserve-flowers-sample-gpu.yaml").read_text())
    doc["metadata"]["namespace"] = "runai-vision"
    await ok(served, "apply", "-f", "-", stdin=yaml.safe_dump(doc))
    served.cluster.settle()
    s = served.cluster.store
    assert s.get(KREVISIONS, "default", "autoscale-go-00001")
    assert s.get(INFERENCEWORKLOADS, "runai-recsys", "inference1")
    assert s.get(DEPLOYMENTS, "runai-recsys", "inference1-00001-deployment")
    assert s.get(KSVCS, "runai-vision", "flowers-sample-gpu-predictor")
    out = await ok(served, "apply", "-f", str(FIXTURES / "knative-autoscale-go.yaml"))
    assert "unchanged" in out
    bad = {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "metadata": {"name": "bad", "namespace": "default"},
           "spec": {"template": {"metadata": {"annotations": {"autoscaling.knative.dev/max-scale": "abc"}},
                                 "spec": {"containers": [{"image": "x:1"}]}}}}
    rc, _, err = await kubectl(served, "apply", "-f", "-", stdin=yaml.safe_dump(bad))
    assert rc != 0 and "validation.webhook.serving.knative.dev" in err and "max-scale: 'abc'" in err


async def test_load_endpoint_over_kubectl_raw_and_http(served, tmp_path: Path) -> None:
    body = tmp_path / "body.json"
    body.write_text(json.dumps({"namespace": "runai-chat-serving", "name": "llama-8b-chat", "rps": 100}))
    out = await ok(served, "create", "--raw", "/sim/load", "-f", str(body))
    assert json.loads(out)["rps"] == 100
    listing = json.loads(await ok(served, "get", "--raw", "/sim/load"))
    assert {"namespace": "runai-chat-serving", "name": "llama-8b-chat", "rps": 100, "set": True} in listing["services"]
    rc, _, err = await kubectl(served, "create", "--raw", "/sim/load", "-f", str(body), context="sim-viewer")
    assert rc != 0 and "admin-only" in err
    url = _server_url(served.kubeconfig)
    ca = ssl.create_default_context(cafile=str(served.kubeconfig.parent / "kubeconfig-ca.pem"))
    admin = {"Authorization": f"Bearer {Users(served.cluster).token('admin')}"}
    async with httpx.AsyncClient(base_url=url, headers=admin, verify=ca) as c:
        r = await c.post("/sim/load", json={"namespace": "runai-chat-serving", "name": "nope", "rps": 1})
        assert r.status_code == 404
        r = await c.post("/sim/load", json={"namespace": "runai-chat-serving", "name": "llama-8b-chat", "rps": -3})
        assert r.status_code == 422 and "rps: must be a number 0 or more" in r.json()["message"]
        r = await c.get("/apis/custom.metrics.k8s.io/v1beta2")
        assert {x["name"] for x in r.json()["resources"]} == {"pods/rps", "pods/concurrency", "pods/latency"}
