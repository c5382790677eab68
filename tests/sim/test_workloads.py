"""Workload controllers: Deployment → ReplicaSet → Pods, Job → Pods, StatefulSet, driven with a manual clock."""

from __future__ import annotations

import copy

import pytest

from console.sim import controllers
from console.sim import scenario_build as b
from console.sim.cluster import SimCluster
from console.sim.resources import DEPLOYMENTS, JOBS, NAMESPACES, NODES, PODS, REPLICASETS, STATEFULSETS
from console.sim.workloads import HASH_LABEL, template_hash


class Binder:
    """Stands in for the scheduler: binds each unbound pending pod to the node with most free GPUs."""

    name = "test-binder"

    def __init__(self, cluster: SimCluster) -> None:
        self.cluster = cluster

    def reconcile(self) -> bool:
        from console.sim.kubelet import whole_gpus
        st = self.cluster.store
        nodes = sorted(n["metadata"]["name"] for n in st.items(NODES))
        if not nodes:
            return False
        used = {n: 0 for n in nodes}
        for p in st.items(PODS):
            node = p["spec"].get("nodeName")
            if node in used and p["status"].get("phase") in ("Pending", "Running"):
                used[node] += whole_gpus(p)
        wrote = False
        for p in sorted(st.items(PODS), key=lambda p: p["metadata"]["name"]):
            if p["spec"].get("nodeName") or p["status"].get("phase", "Pending") != "Pending":
                continue
            node = min(nodes, key=lambda n: (used[n], n))
            used[node] += whole_gpus(p)

            def bind(o: dict, n: str = node) -> None:
                o["spec"]["nodeName"] = n
            st.mutate(PODS, p["metadata"]["namespace"], p["metadata"]["name"], bind)
            wrote = True
        return wrote


def make(nodes: int = 2, gpus: int = 8, binder: bool = True) -> SimCluster:
    c = SimCluster(seed=7, manual_clock=True)
    if binder:
        c.add(Binder(c))
    controllers.install(c)
    c.store.create(NAMESPACES, b.namespace("team"))
    for i in range(nodes):
        c.store.create(NODES, b.node(f"n{i + 1}", "NVIDIA-H100-80GB-HBM3", gpus, i + 1))
    return c


def pods_of(c: SimCluster, prefix: str) -> list[dict]:
    return sorted((p for p in c.store.items(PODS, "team") if p["metadata"]["name"].startswith(prefix)),
                  key=lambda p: p["metadata"]["name"])


def live(pods: list[dict]) -> list[dict]:
    return [p for p in pods if not p["metadata"].get("deletionTimestamp")]


def terminating(pods: list[dict]) -> list[dict]:
    return [p for p in pods if p["metadata"].get("deletionTimestamp")]


def after_grace(c: SimCluster, seconds: float = 30) -> None:
    """Let deleted pods finish their grace period (30 s unless the pod says otherwise)."""
    c.clock.advance(seconds)
    c.settle()


@pytest.fixture
def cluster() -> SimCluster:
    return make()


def deploy(c: SimCluster, name: str = "web", replicas: int = 3, gpu: float | None = 1) -> dict:
    d = b.inference_deployment(name, "team", "team", replicas, gpu)
    c.store.create(DEPLOYMENTS, d)
    c.settle()
    return c.store.get(DEPLOYMENTS, "team", name)


def test_deployment_makes_replicaset_and_pods(cluster: SimCluster) -> None:
    d = deploy(cluster)
    h = template_hash(d["spec"]["template"])
    rs = cluster.store.get(REPLICASETS, "team", f"web-{h}")
    assert rs["metadata"]["labels"][HASH_LABEL] == h
    assert rs["metadata"]["ownerReferences"][0]["uid"] == d["metadata"]["uid"]
    pods = pods_of(cluster, "web-")
    assert len(pods) == 3
    for p in pods:
        name = p["metadata"]["name"]
        assert name.startswith(f"web-{h}-") and len(name) == len(f"web-{h}-") + 5
        assert p["metadata"]["labels"][HASH_LABEL] == h
        assert p["metadata"]["ownerReferences"][0]["kind"] == "ReplicaSet"
        assert p["status"]["phase"] == "Running"
    st = d["status"]
    assert (st["replicas"], st["readyReplicas"], st["availableReplicas"], st["updatedReplicas"]) == (3, 3, 3, 3)
    assert st["observedGeneration"] == d["metadata"]["generation"]
    conds = {c["type"]: (c["status"], c["reason"]) for c in st["conditions"]}
    assert conds == {"Available": ("True", "MinimumReplicasAvailable"),
                     "Progressing": ("True", "NewReplicaSetAvailable")}


def test_scale_up_and_down(cluster: SimCluster) -> None:
    deploy(cluster, replicas=2)

    def scale(n: int) -> None:
        def put(o: dict) -> None:
            o["spec"]["replicas"] = n
        cluster.store.mutate(DEPLOYMENTS, "team", "web", put)
        cluster.settle()
    scale(5)
    assert len(pods_of(cluster, "web-")) == 5
    assert cluster.store.get(DEPLOYMENTS, "team", "web")["status"]["readyReplicas"] == 5
    scale(1)
    # the four removed pods terminate for their grace period; the ReplicaSet no longer counts them
    assert len(live(pods_of(cluster, "web-"))) == 1 and len(terminating(pods_of(cluster, "web-"))) == 4
    st = cluster.store.get(DEPLOYMENTS, "team", "web")["status"]
    assert st["replicas"] == 1 and st["availableReplicas"] == 1
    after_grace(cluster)
    assert len(pods_of(cluster, "web-")) == 1


def test_deleting_a_pod_recreates_it(cluster: SimCluster) -> None:
    deploy(cluster, replicas=2)
    victim = pods_of(cluster, "web-")[0]["metadata"]["name"]
    cluster.store.delete(PODS, "team", victim)
    cluster.settle()
    # the replacement comes at once, while the deleted pod is still terminating
    names = [p["metadata"]["name"] for p in live(pods_of(cluster, "web-"))]
    assert len(names) == 2 and victim not in names
    assert [p["metadata"]["name"] for p in terminating(pods_of(cluster, "web-"))] == [victim]
    assert all(p["status"]["phase"] == "Running" for p in pods_of(cluster, "web-"))
    after_grace(cluster)
    assert [p["metadata"]["name"] for p in pods_of(cluster, "web-")] == names


def test_delete_cascades(cluster: SimCluster) -> None:
    deploy(cluster, replicas=2)
    cluster.store.delete(DEPLOYMENTS, "team", "web", propagation="Background")
    cluster.settle()
    assert list(cluster.store.items(REPLICASETS, "team")) == []
    assert len(terminating(pods_of(cluster, "web-"))) == 2 and not live(pods_of(cluster, "web-"))
    after_grace(cluster)
    assert pods_of(cluster, "web-") == []


def test_foreground_delete_waits_for_terminating_pods(cluster: SimCluster) -> None:
    deploy(cluster, replicas=2)
    rs = cluster.store.items(REPLICASETS, "team")[0]
    cluster.store.delete(DEPLOYMENTS, "team", "web", propagation="Foreground")
    cluster.settle()
    # the Deployment and its ReplicaSet wait with foregroundDeletion while the pods terminate
    d = cluster.store.get(DEPLOYMENTS, "team", "web")
    assert d["metadata"]["deletionTimestamp"] and d["metadata"]["finalizers"] == ["foregroundDeletion"]
    rs = cluster.store.get(REPLICASETS, "team", rs["metadata"]["name"])
    assert rs["metadata"]["finalizers"] == ["foregroundDeletion"]
    assert len(terminating(pods_of(cluster, "web-"))) == 2
    after_grace(cluster, 29)
    assert cluster.store.try_get(DEPLOYMENTS, "team", "web") is not None
    after_grace(cluster, 1)
    assert pods_of(cluster, "web-") == []
    assert list(cluster.store.items(REPLICASETS, "team")) == []
    assert cluster.store.try_get(DEPLOYMENTS, "team", "web") is None


def test_template_change_rolls_to_a_new_replicaset(cluster: SimCluster) -> None:
    d = deploy(cluster, replicas=4)
    old_hash = template_hash(d["spec"]["template"])

    def new_image(o: dict) -> None:
        o["spec"]["template"]["spec"]["containers"][0]["image"] = "vllm/vllm-openai:v0.7.0"
    cluster.store.mutate(DEPLOYMENTS, "team", "web", new_image)
    cluster.settle()
    d = cluster.store.get(DEPLOYMENTS, "team", "web")
    new_hash = template_hash(d["spec"]["template"])
    assert new_hash != old_hash
    pods = live(pods_of(cluster, "web-"))
    assert len(pods) == 4
    assert {p["metadata"]["labels"][HASH_LABEL] for p in pods} == {new_hash}
    assert {p["metadata"]["labels"][HASH_LABEL] for p in terminating(pods_of(cluster, "web-"))} == {old_hash}
    after_grace(cluster)
    assert pods_of(cluster, "web-") == pods
    assert all(p["spec"]["containers"][0]["image"].endswith("v0.7.0") for p in pods)
    old_rs = cluster.store.get(REPLICASETS, "team", f"web-{old_hash}")
    assert old_rs["spec"]["replicas"] == 0
    new_rs = cluster.store.get(REPLICASETS, "team", f"web-{new_hash}")
    assert new_rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    assert d["status"]["updatedReplicas"] == 4


def test_rolling_update_keeps_availability_while_new_pods_wait() -> None:
    """With no binder the new pods stay Pending: the old ReplicaSet may only shrink by maxUnavailable."""
    c = make()
    deploy(c, replicas=4)
    c.controllers = [x for x in c.controllers if not isinstance(x, Binder)]

    def new_image(o: dict) -> None:
        o["spec"]["template"]["spec"]["containers"][0]["image"] = "x:2"
    c.store.mutate(DEPLOYMENTS, "team", "web", new_image)
    c.settle()
    running = [p for p in live(pods_of(c, "web-")) if p["status"]["phase"] == "Running"]
    pending = [p for p in pods_of(c, "web-") if p["status"]["phase"] == "Pending"]
    assert len(running) == 3          # 4 - maxUnavailable(25% of 4 = 1)
    assert len(terminating(pods_of(c, "web-"))) == 1  # the removed old pod, in its grace period
    assert len(pending) == 2          # surge 1 + the one that replaced the removed old pod
    d = c.store.get(DEPLOYMENTS, "team", "web")
    assert [x["reason"] for x in d["status"]["conditions"] if x["type"] == "Progressing"] == ["ReplicaSetUpdated"]


def test_job_completes_after_its_run_time(cluster: SimCluster) -> None:
    job = b.training_job("train", "team", "team", gpus=1, run_seconds=120)
    cluster.store.create(JOBS, job)
    cluster.settle()
    j = cluster.store.get(JOBS, "team", "train")
    assert j["status"]["active"] == 1 and j["status"]["ready"] == 1 and j["status"]["startTime"]
    pod = pods_of(cluster, "train-")[0]
    labels = pod["metadata"]["labels"]
    assert labels["batch.kubernetes.io/job-name"] == labels["job-name"] == "train"
    assert labels["controller-uid"] == labels["batch.kubernetes.io/controller-uid"] == j["metadata"]["uid"]
    cluster.clock.advance(119)
    cluster.settle()
    assert cluster.store.get(JOBS, "team", "train")["status"]["succeeded"] == 0
    cluster.clock.advance(1)
    cluster.settle()
    j = cluster.store.get(JOBS, "team", "train")
    assert j["status"]["succeeded"] == 1 and j["status"]["active"] == 0
    assert j["status"]["completionTime"]
    assert any(c["type"] == "Complete" and c["status"] == "True" for c in j["status"]["conditions"])
    assert pods_of(cluster, "train-")[0]["status"]["phase"] == "Succeeded"


def test_gang_job_runs_parallelism_pods(cluster: SimCluster) -> None:
    cluster.store.create(JOBS, b.training_job("gang", "team", "team", gpus=8, parallelism=2, run_seconds=60))
    cluster.settle()
    pods = pods_of(cluster, "gang-")
    assert len(pods) == 2
    assert {p["spec"]["nodeName"] for p in pods} == {"n1", "n2"}
    assert cluster.store.get(JOBS, "team", "gang")["status"]["active"] == 2
    cluster.clock.advance(60)
    cluster.settle()
    st = cluster.store.get(JOBS, "team", "gang")["status"]
    assert st["succeeded"] == 2 and st["active"] == 0


def test_failing_job_stops_at_its_backoff_limit(cluster: SimCluster) -> None:
    job = b.training_job("flaky", "team", "team", gpus=1, run_seconds=10, backoff_limit=1)
    job["spec"]["template"]["metadata"]["annotations"]["sim.gpuconsole.io/exit-code"] = "3"
    cluster.store.create(JOBS, job)
    cluster.settle()
    for _ in range(3):
        cluster.clock.advance(10)
        cluster.settle()
    st = cluster.store.get(JOBS, "team", "flaky")["status"]
    assert st["failed"] == 2 and st["active"] == 0
    failed = [c for c in st["conditions"] if c["type"] == "Failed"]
    assert failed and failed[0]["reason"] == "BackoffLimitExceeded"
    assert len(pods_of(cluster, "flaky-")) == 2


def test_statefulset_pods_are_numbered(cluster: SimCluster) -> None:
    d = b.inference_deployment("db", "team", "team", 3, None)
    sts = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db", "namespace": "team"},
           "spec": {"replicas": 3, "serviceName": "db", "selector": copy.deepcopy(d["spec"]["selector"]),
                    "template": d["spec"]["template"]}}
    cluster.store.create(STATEFULSETS, sts)
    cluster.settle()
    assert [p["metadata"]["name"] for p in pods_of(cluster, "db-")] == ["db-0", "db-1", "db-2"]
    assert cluster.store.get(STATEFULSETS, "team", "db")["status"]["readyReplicas"] == 3
