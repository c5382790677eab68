"""Admission: the apiserver's defaulting, and validation that lists every bad field as one cause."""

from __future__ import annotations

import pytest

from console.sim.cluster import SimCluster
from console.sim.errors import ApiError
from console.sim.resources import (
    DEPLOYMENTS, JOBS, NAMESPACES, PODS, PRIORITYCLASSES, QUEUES, REPLICASETS, SERVICES,
)
from console.sim.validation import check_labels, check_qualified_key, install


@pytest.fixture
def cluster() -> SimCluster:
    c = SimCluster(seed=3)
    install(c)
    install(c)  # idempotent
    c.store.create(NAMESPACES, {"metadata": {"name": "ns"}})
    return c


def _pod(name: str = "p", **spec) -> dict:
    return {"metadata": {"name": name}, "spec": {"containers": [{"name": "main", "image": "busybox:1.36"}], **spec}}


def _causes(e: pytest.ExceptionInfo[ApiError]) -> dict[str, str]:
    assert e.value.code == 422 and e.value.reason == "Invalid"
    return {c["field"]: c["reason"] for c in e.value.details["causes"]}


def test_install_registers_exactly_one_hook(cluster: SimCluster) -> None:
    assert len(cluster.store.admission) == 1


def test_pod_defaults(cluster: SimCluster) -> None:
    p = cluster.store.create(PODS, _pod(), "ns")
    assert p["status"]["phase"] == "Pending"
    assert p["spec"]["restartPolicy"] == "Always"
    assert p["spec"]["schedulerName"] == "default-scheduler"
    assert p["spec"]["serviceAccountName"] == "default"
    assert p["spec"]["containers"][0]["imagePullPolicy"] == "IfNotPresent"
    latest = cluster.store.create(PODS, {"metadata": {"name": "q"}, "spec": {"containers": [
        {"name": "c", "image": "busybox"}]}}, "ns")
    assert latest["spec"]["containers"][0]["imagePullPolicy"] == "Always"


def test_pod_keeps_an_explicit_scheduler_and_phase(cluster: SimCluster) -> None:
    p = cluster.store.create(PODS, {**_pod(schedulerName="kai-scheduler"), "status": {"phase": "Running"}}, "ns")
    assert p["spec"]["schedulerName"] == "kai-scheduler" and p["status"]["phase"] == "Running"


def test_pod_every_bad_field_is_one_cause_and_nothing_is_stored(cluster: SimCluster) -> None:
    bad = {"metadata": {"name": "Bad_Name", "labels": {"ok": "fine", "bad key!": "v", "k": "bad value!"}},
           "spec": {"containers": [{"name": "main"}, {"image": "x"}], "restartPolicy": "Sometimes"}}
    with pytest.raises(ApiError) as e:
        cluster.store.create(PODS, bad, "ns")
    causes = _causes(e)
    assert causes["metadata.name"] == "FieldValueInvalid"
    assert causes["spec.containers[0].image"] == "FieldValueRequired"
    assert causes["spec.containers[1].name"] == "FieldValueRequired"
    assert causes["spec.restartPolicy"] == "FieldValueNotSupported"
    assert sum(1 for c in e.value.details["causes"] if c["field"] == "metadata.labels") == 2
    assert e.value.message.startswith('Pod "Bad_Name" is invalid: [')
    assert cluster.store.try_get(PODS, "ns", "Bad_Name") is None


def test_pod_without_containers(cluster: SimCluster) -> None:
    with pytest.raises(ApiError) as e:
        cluster.store.create(PODS, {"metadata": {"name": "p"}, "spec": {}}, "ns")
    assert _causes(e) == {"spec.containers": "FieldValueRequired"}
    assert e.value.message == 'Pod "p" is invalid: spec.containers: Required value'


def test_namespace_is_a_dns_label_and_gets_defaults(cluster: SimCluster) -> None:
    with pytest.raises(ApiError) as e:
        cluster.store.create(NAMESPACES, {"metadata": {"name": "a.b"}})
    assert "RFC 1123 label" in e.value.details["causes"][0]["message"]
    ns = cluster.store.create(NAMESPACES, {"metadata": {"name": "team"}})
    assert ns["status"]["phase"] == "Active"
    assert ns["metadata"]["labels"]["kubernetes.io/metadata.name"] == "team"


def test_service_is_a_dns1035_label_and_gets_a_unique_cluster_ip(cluster: SimCluster) -> None:
    with pytest.raises(ApiError) as e:
        cluster.store.create(SERVICES, {"metadata": {"name": "1svc"}, "spec": {"ports": [{"port": 80}]}}, "ns")
    assert "DNS-1035" in e.value.details["causes"][0]["message"]
    a = cluster.store.create(SERVICES, {"metadata": {"name": "a"}, "spec": {"ports": [{"port": 80}]}}, "ns")
    b = cluster.store.create(SERVICES, {"metadata": {"name": "b"}, "spec": {"ports": [{"port": 80}]}}, "ns")
    assert a["spec"]["clusterIP"] != b["spec"]["clusterIP"]
    assert a["spec"]["clusterIP"].startswith("10.")
    assert a["spec"]["type"] == "ClusterIP"
    assert a["spec"]["ports"] == [{"port": 80, "protocol": "TCP", "targetPort": 80}]
    upd = cluster.store.mutate(SERVICES, "ns", "a", lambda o: o["spec"].pop("clusterIP"))
    assert upd["spec"]["clusterIP"] == a["spec"]["clusterIP"]  # kept across updates


def _deploy(replicas=2, sel=None, labels=None) -> dict:
    return {"metadata": {"name": "d"}, "spec": {
        "replicas": replicas, "selector": {"matchLabels": sel or {"app": "d"}},
        "template": {"metadata": {"labels": labels or {"app": "d"}},
                     "spec": {"containers": [{"name": "c", "image": "i:1"}]}}}}


def test_deployment_defaults(cluster: SimCluster) -> None:
    d = _deploy()
    del d["spec"]["replicas"]
    out = cluster.store.create(DEPLOYMENTS, d, "ns")
    assert out["spec"]["replicas"] == 1
    assert out["spec"]["strategy"] == {"type": "RollingUpdate",
                                       "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}
    assert out["spec"]["template"]["spec"]["restartPolicy"] == "Always"


@pytest.mark.parametrize("kw,field", [
    ({"replicas": -1}, "spec.replicas"),
    ({"replicas": "two"}, "spec.replicas"),
    ({"sel": {"app": "other"}}, "spec.template.metadata.labels"),
])
def test_deployment_validation(cluster: SimCluster, kw, field) -> None:
    with pytest.raises(ApiError) as e:
        cluster.store.create(DEPLOYMENTS, _deploy(**kw), "ns")
    assert field in _causes(e)
    assert e.value.message.startswith('Deployment.apps "d" is invalid')


def test_scaling_a_deployment_below_zero_is_rejected_on_update(cluster: SimCluster) -> None:
    cluster.store.create(DEPLOYMENTS, _deploy(), "ns")
    with pytest.raises(ApiError) as e:
        cluster.store.mutate(DEPLOYMENTS, "ns", "d", lambda o: o["spec"].__setitem__("replicas", -3))
    assert "spec.replicas" in _causes(e)
    assert cluster.store.get(DEPLOYMENTS, "ns", "d")["spec"]["replicas"] == 2


def test_replicaset_selector_required(cluster: SimCluster) -> None:
    rs = _deploy()
    del rs["spec"]["selector"]
    with pytest.raises(ApiError) as e:
        cluster.store.create(REPLICASETS, rs, "ns")
    assert _causes(e) == {"spec.selector": "FieldValueRequired"}


def test_job_defaults_and_restart_policy(cluster: SimCluster) -> None:
    job = {"metadata": {"name": "j"}, "spec": {"template": {"spec": {
        "containers": [{"name": "c", "image": "i:1"}], "restartPolicy": "Never"}}}}
    out = cluster.store.create(JOBS, job, "ns")
    assert (out["spec"]["completions"], out["spec"]["parallelism"], out["spec"]["backoffLimit"]) == (1, 1, 6)
    assert out["spec"]["selector"]["matchLabels"] == {"batch.kubernetes.io/job-name": "j"}
    assert out["spec"]["template"]["metadata"]["labels"]["job-name"] == "j"
    del job["spec"]["template"]["spec"]["restartPolicy"]
    job["metadata"]["name"] = "j2"
    with pytest.raises(ApiError) as e:
        cluster.store.create(JOBS, job, "ns")
    assert _causes(e) == {"spec.template.spec.restartPolicy": "FieldValueNotSupported"}


def test_queue_needs_resources_and_priorityclass_needs_value(cluster: SimCluster) -> None:
    with pytest.raises(ApiError) as e:
        cluster.store.create(QUEUES, {"metadata": {"name": "q"}, "spec": {"priority": 1}})
    assert _causes(e) == {"spec.resources": "FieldValueRequired"}
    cluster.store.create(QUEUES, {"metadata": {"name": "q"}, "spec": {"resources": {"gpu": {"quota": 1}}}})
    with pytest.raises(ApiError) as e:
        cluster.store.create(PRIORITYCLASSES, {"metadata": {"name": "pc"}})
    assert _causes(e) == {"value": "FieldValueRequired"}
    pc = cluster.store.create(PRIORITYCLASSES, {"metadata": {"name": "pc"}, "value": 100})
    assert pc["preemptionPolicy"] == "PreemptLowerPriority" and pc["globalDefault"] is False


def test_realworld_manifests_are_admitted(cluster: SimCluster, realworld) -> None:
    """Every KAI example pod and queue passes admission unchanged (their KAI annotations are not ours)."""
    import yaml

    from console.sim.resources import for_kind
    n = 0
    for i, f in enumerate(sorted((realworld / "kai").glob("*.yaml"))):
        cluster.store.create(NAMESPACES, {"metadata": {"name": f"rw-{i}"}})
        for doc in yaml.safe_load_all(f.read_text()):
            if not doc:
                continue
            rt = for_kind(doc["apiVersion"], doc["kind"])
            if rt is None:
                continue
            doc.get("metadata", {}).pop("namespace", None)
            if rt.namespaced:
                cluster.store.create(rt, doc, f"rw-{i}")
            elif cluster.store.try_get(rt, None, doc["metadata"]["name"]) is None:
                cluster.store.create(rt, doc)
            n += 1
    assert n >= 8


@pytest.mark.parametrize("key,ok", [
    ("app", True), ("kai.scheduler/queue", True), ("nvidia.com/gpu.product", True), ("a/b/c", False),
    ("-bad", False), ("x" * 64, False), ("UPPER.example.com/x", False), ("/x", False),
])
def test_qualified_keys(key: str, ok: bool) -> None:
    assert (check_qualified_key("f", key) == []) is ok


def test_label_values() -> None:
    assert check_labels("f", {"a": "", "b": "A-b_c.9"}) == []
    assert len(check_labels("f", {"a": "-x", "b": "y" * 64, "c": 3})) == 3
