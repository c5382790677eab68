"""The simulated kubelet and device plugin, pod logs, and Service endpoints."""

from __future__ import annotations

import pytest

from console.sim import scenario_build as b
from console.sim.errors import ApiError
from console.sim.gpus import gpu_uuid
from console.sim.kubelet import RESERVE_ANNOTATION, devices
from console.sim.resources import DEPLOYMENTS, ENDPOINTS, ENDPOINTSLICES, NAMESPACES, PODS, SERVICES
from tests.sim.test_workloads import make


def bare_pod(name: str, node: str | None, gpus: int = 0, ns: str = "team", labels: dict | None = None) -> dict:
    res = {"limits": {"nvidia.com/gpu": str(gpus)}} if gpus else {}
    spec: dict = {"schedulerName": "kai-scheduler", "restartPolicy": "Never",
                  "containers": [{"name": "main", "image": "ubuntu", "resources": res}]}
    if node:
        spec["nodeName"] = node
    return {"metadata": {"name": name, "namespace": ns, "labels": labels or {}}, "spec": spec,
            "status": {"phase": "Pending"}}


def test_bound_pod_runs_with_kubelet_status() -> None:
    c = make(binder=False)
    c.store.create(PODS, bare_pod("p", "n1"))
    c.store.create(PODS, bare_pod("unbound", None))
    c.settle()
    p = c.store.get(PODS, "team", "p")
    st = p["status"]
    assert st["phase"] == "Running"
    conds = {x["type"]: x["status"] for x in st["conditions"]}
    assert {t: conds.get(t) for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")} == {
        "PodScheduled": "True", "Initialized": "True", "ContainersReady": "True", "Ready": "True"}
    assert st["podIP"].startswith("10.128.1.") and st["podIPs"] == [{"ip": st["podIP"]}]
    assert st["hostIP"] == "10.0.0.3" and st["startTime"]
    (cs,) = st["containerStatuses"]
    assert cs["name"] == "main" and cs["ready"] is True and "running" in cs["state"]
    assert cs["containerID"].startswith("containerd://")
    assert c.store.get(PODS, "team", "unbound")["status"]["phase"] == "Pending"


def test_whole_gpu_pods_get_distinct_devices() -> None:
    c = make(nodes=1, gpus=4, binder=False)
    c.store.create(PODS, bare_pod("a", "n1", 2))
    c.store.create(PODS, bare_pod("b", "n1", 1))
    c.settle()
    devs = devices(c, "n1")
    assert [d[1] for d in devs] == [gpu_uuid("n1", i) for i in range(4)]
    holders = [d[2] for d in devs]
    assert holders.count(("team", "a")) == 2 and holders.count(("team", "b")) == 1 and holders.count(None) == 1
    c.store.delete(PODS, "team", "a")
    c.settle()
    # a terminating pod keeps its devices until its grace period is over and it is gone
    assert [d[2] for d in devices(c, "n1")].count(("team", "a")) == 2
    c.clock.advance(30)
    c.settle()
    assert c.store.try_get(PODS, "team", "a") is None
    assert [d[2] for d in devices(c, "n1")].count(None) == 3


def test_overcommitted_node_rejects_the_pod() -> None:
    c = make(nodes=1, gpus=2, binder=False)
    c.store.create(PODS, bare_pod("a", "n1", 2))
    c.store.create(PODS, bare_pod("b", "n1", 1))
    c.settle()
    b_st = c.store.get(PODS, "team", "b")["status"]
    assert b_st["phase"] == "Failed" and b_st["reason"] == "UnexpectedAdmissionError"
    assert "Requested: 1, Available: 0" in b_st["message"]


def test_finished_pod_releases_its_devices() -> None:
    c = make(nodes=1, gpus=1, binder=False)
    pod = bare_pod("short", "n1", 1)
    pod["metadata"]["annotations"] = {"sim.gpuconsole.io/run-seconds": "30"}
    c.store.create(PODS, pod)
    c.settle()
    assert devices(c, "n1")[0][2] == ("team", "short")
    c.clock.advance(30)
    c.settle()
    st = c.store.get(PODS, "team", "short")["status"]
    assert st["phase"] == "Succeeded"
    assert st["containerStatuses"][0]["state"]["terminated"]["reason"] == "Completed"
    assert devices(c, "n1")[0][2] is None


def test_reservation_pod_gets_its_gpu_uuid() -> None:
    c = make(nodes=1, gpus=2, binder=False)
    c.store.create(PODS, bare_pod("whole", "n1", 1))
    c.settle()
    c.store.create(NAMESPACES, b.namespace("kai-resource-reservation"))
    res = bare_pod("gpu-reservation-n1-abcde", "n1", 1, ns="kai-resource-reservation",
                   labels={"app": "kai-resource-reservation", "runai-gpu-group": "g-1"})
    c.store.create(PODS, res)
    c.settle()
    got = c.store.get(PODS, "kai-resource-reservation", "gpu-reservation-n1-abcde")
    assert got["metadata"]["annotations"][RESERVE_ANNOTATION] == gpu_uuid("n1", 1)
    assert devices(c, "n1")[1][2] == ("kai-resource-reservation", "gpu-reservation-n1-abcde")


def test_logs_are_deterministic_and_grow_with_time() -> None:
    c = make(nodes=1, binder=False)
    c.store.create(PODS, bare_pod("p", "n1"))
    with pytest.raises(ApiError, match="waiting to start"):
        c.log_source(c.store.get(PODS, "team", "p") | {"status": {"phase": "Pending"}}, None, None)
    c.settle()
    pod = c.store.get(PODS, "team", "p")
    c.clock.advance(300)
    first = c.log_source(pod, None, None)
    assert first == c.log_source(pod, "main", None)
    assert c.log_source(pod, None, 2) == first[-2:]
    c.clock.advance(300)
    assert len(c.log_source(pod, None, None)) > len(first)
    with pytest.raises(ApiError, match="not valid"):
        c.log_source(pod, "nope", None)


def test_training_and_inference_logs() -> None:
    c = make(nodes=1)
    from console.sim.resources import JOBS
    c.store.create(JOBS, b.training_job("t", "team", "team", gpus=1))
    c.store.create(DEPLOYMENTS, b.inference_deployment("s", "team", "team", 1, 0.5))
    c.settle()
    c.clock.advance(60)
    t = next(p for p in c.store.items(PODS, "team") if p["metadata"]["name"].startswith("t-"))
    s = next(p for p in c.store.items(PODS, "team") if p["metadata"]["name"].startswith("s-"))
    assert any("step=" in line and "loss=" in line for line in c.log_source(t, None, None))
    assert any("/v1/chat/completions" in line for line in c.log_source(s, None, None))


def test_service_gets_endpoints_from_ready_pods() -> None:
    c = make()
    c.store.create(DEPLOYMENTS, b.inference_deployment("api", "team", "team", 2, None))
    c.store.create(SERVICES, b.service_for("api", "team"))
    c.store.create(PODS, bare_pod("stray", "n1", labels={"app": "other"}))
    c.settle()
    pods = {p["metadata"]["name"]: p for p in c.store.items(PODS, "team") if p["metadata"]["name"].startswith("api-")}
    ep = c.store.get(ENDPOINTS, "team", "api")
    (subset,) = ep["subsets"]
    assert sorted(a["ip"] for a in subset["addresses"]) == sorted(p["status"]["podIP"] for p in pods.values())
    assert {a["targetRef"]["name"] for a in subset["addresses"]} == set(pods)
    assert subset["ports"] == [{"port": 8000, "protocol": "TCP", "name": "http"}]
    (sl,) = [s for s in c.store.items(ENDPOINTSLICES, "team")]
    assert sl["metadata"]["labels"]["kubernetes.io/service-name"] == "api"
    assert len(sl["endpoints"]) == 2 and all(e["conditions"]["ready"] for e in sl["endpoints"])

    def scale(o: dict) -> None:
        o["spec"]["replicas"] = 0
    c.store.mutate(DEPLOYMENTS, "team", "api", scale)
    c.settle()
    assert "subsets" not in c.store.get(ENDPOINTS, "team", "api")
    c.store.delete(SERVICES, "team", "api")
    c.settle()
    assert c.store.try_get(ENDPOINTS, "team", "api") is None
    assert list(c.store.items(ENDPOINTSLICES, "team")) == []
    assert c.store.try_get(NAMESPACES, None, "team") is not None
