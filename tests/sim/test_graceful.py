"""Graceful deletion in the simulated apiserver: deletionTimestamp, grace periods, force, finalizers,
propagation and namespaces, in the store and over HTTP, on the simulation's manual clock."""

from __future__ import annotations

import datetime as dt

import pytest

from console.sim.errors import ApiError
from console.sim.resources import DEPLOYMENTS, JOBS, NAMESPACES, PODS, REPLICASETS, STATEFULSETS
from console.sim.store import Change
from tests.conftest import PROJECT_NS

PODS_URL = f"/api/v1/namespaces/{PROJECT_NS}/pods"


def running(name: str, **spec) -> dict:
    return {"metadata": {"name": name, "labels": {"app": name}},
            "spec": {"nodeName": "node-1", "containers": [{"name": "c", "image": "i:1"}], **spec},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}


def changes(store, rkey: str = "pods") -> list[Change]:
    seen: list[Change] = []
    store.subscribe(lambda ch: seen.append(ch) if ch.rkey == rkey else None)
    return seen


def ts(s: str) -> dt.datetime:
    return dt.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ")


def tick(cluster, seconds: float) -> None:
    cluster.clock.advance(seconds)
    cluster.settle()


# ------------------------------------------------------------------------------------------ grace periods
def test_a_deleted_bound_pod_terminates_for_its_grace_period(sim_cluster) -> None:
    s = sim_cluster.store
    s.create(PODS, running("job"), PROJECT_NS)
    seen = changes(s)
    before = s.get(PODS, PROJECT_NS, "job")
    out = s.delete(PODS, PROJECT_NS, "job")
    md = out["metadata"]
    # deletionTimestamp is when the grace period ends (rest/delete.go BeforeDelete: now + grace)
    assert md["deletionGracePeriodSeconds"] == 30
    assert ts(md["deletionTimestamp"]) - ts(before["metadata"]["creationTimestamp"]) >= dt.timedelta(seconds=30)
    assert md["generation"] == before["metadata"]["generation"] + 1
    assert s.get(PODS, PROJECT_NS, "job") == out
    tick(sim_cluster, 29)
    assert s.try_get(PODS, PROJECT_NS, "job") is not None
    tick(sim_cluster, 1)
    assert s.try_get(PODS, PROJECT_NS, "job") is None
    assert [ch.type for ch in seen] == ["MODIFIED", "DELETED"]
    # the kubelet's final delete has grace 0: the last state shows the period used up (BeforeDelete moves
    # the timestamp back by the difference)
    last = seen[1].obj["metadata"]
    assert last["deletionGracePeriodSeconds"] == 0
    assert ts(md["deletionTimestamp"]) - ts(last["deletionTimestamp"]) == dt.timedelta(seconds=30)


def test_grace_comes_from_the_pod_or_the_delete_options(sim_cluster) -> None:
    s = sim_cluster.store
    s.create(PODS, running("own", terminationGracePeriodSeconds=5), PROJECT_NS)
    s.create(PODS, running("asked"), PROJECT_NS)
    s.create(PODS, running("negative"), PROJECT_NS)
    s.create(PODS, running("forced"), PROJECT_NS)
    assert s.delete(PODS, PROJECT_NS, "own")["metadata"]["deletionGracePeriodSeconds"] == 5
    assert s.delete(PODS, PROJECT_NS, "asked", grace_period=10)["metadata"]["deletionGracePeriodSeconds"] == 10
    assert s.delete(PODS, PROJECT_NS, "negative", grace_period=-3)["metadata"]["deletionGracePeriodSeconds"] == 1
    s.delete(PODS, PROJECT_NS, "forced", grace_period=0)
    assert s.try_get(PODS, PROJECT_NS, "forced") is None
    tick(sim_cluster, 5)
    assert {p["metadata"]["name"] for p in s.items(PODS, PROJECT_NS)} == {"p1", "asked"}
    tick(sim_cluster, 5)
    assert {p["metadata"]["name"] for p in s.items(PODS, PROJECT_NS)} == {"p1"}


def test_unbound_and_finished_pods_go_at_once(sim_cluster) -> None:
    s = sim_cluster.store
    done = running("done")
    done["status"] = {"phase": "Succeeded"}
    s.create(PODS, done, PROJECT_NS)
    s.delete(PODS, PROJECT_NS, "p1")  # never bound: CheckGracefulDelete gives it no grace period
    s.delete(PODS, PROJECT_NS, "done")
    assert list(s.items(PODS, PROJECT_NS)) == []


def test_a_second_delete_may_only_shorten_the_period(sim_cluster) -> None:
    s = sim_cluster.store
    s.create(PODS, running("job"), PROJECT_NS)
    first = s.delete(PODS, PROJECT_NS, "job")
    assert s.delete(PODS, PROJECT_NS, "job", grace_period=60) == first
    assert s.delete(PODS, PROJECT_NS, "job") == first
    tick(sim_cluster, 4)
    short = s.delete(PODS, PROJECT_NS, "job", grace_period=10)
    md = short["metadata"]
    assert md["deletionGracePeriodSeconds"] == 10
    # the timestamp moves by the difference: the period still counts from the first delete
    assert ts(first["metadata"]["deletionTimestamp"]) - ts(md["deletionTimestamp"]) == dt.timedelta(seconds=20)
    tick(sim_cluster, 5)
    assert s.try_get(PODS, PROJECT_NS, "job") is not None
    tick(sim_cluster, 1)
    assert s.try_get(PODS, PROJECT_NS, "job") is None


def test_force_deletes_a_terminating_pod(sim_cluster) -> None:
    s = sim_cluster.store
    s.create(PODS, running("job"), PROJECT_NS)
    s.delete(PODS, PROJECT_NS, "job")
    s.delete(PODS, PROJECT_NS, "job", grace_period=0)
    assert s.try_get(PODS, PROJECT_NS, "job") is None
    assert s.terminating == 0


def test_dry_run_delete_changes_nothing(sim_cluster) -> None:
    s = sim_cluster.store
    s.create(PODS, running("job"), PROJECT_NS)
    rv = s.resource_version
    s.delete(PODS, PROJECT_NS, "job", dry_run=True)
    assert s.resource_version == rv and not s.get(PODS, PROJECT_NS, "job")["metadata"].get("deletionTimestamp")


def test_the_deletion_timestamp_cannot_be_cleared(sim_cluster) -> None:
    s = sim_cluster.store
    s.create(PODS, running("job"), PROJECT_NS)
    marked = s.delete(PODS, PROJECT_NS, "job")

    def clear(o: dict) -> None:
        o["metadata"].pop("deletionTimestamp")
        o["metadata"]["deletionGracePeriodSeconds"] = 300
        o["metadata"].setdefault("labels", {})["touched"] = "yes"
    after = s.mutate(PODS, PROJECT_NS, "job", clear)
    assert after["metadata"]["deletionTimestamp"] == marked["metadata"]["deletionTimestamp"]
    assert after["metadata"]["deletionGracePeriodSeconds"] == 30 and after["metadata"]["labels"]["touched"] == "yes"


# ------------------------------------------------------------------------------------------ finalizers
def test_finalizers_hold_an_object_until_the_last_is_removed(sim_cluster) -> None:
    s = sim_cluster.store
    s.create(DEPLOYMENTS, {"metadata": {"name": "web", "finalizers": ["a.example.com/x", "b.example.com/y"]},
                           "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                                    "template": {"metadata": {"labels": {"app": "web"}},
                                                 "spec": {"containers": [{"name": "c", "image": "i:1"}]}}}},
             PROJECT_NS)
    seen = changes(s, DEPLOYMENTS.key)
    held = s.delete(DEPLOYMENTS, PROJECT_NS, "web")
    assert held["metadata"]["deletionTimestamp"] and held["metadata"]["deletionGracePeriodSeconds"] == 0
    tick(sim_cluster, 3600)
    assert s.try_get(DEPLOYMENTS, PROJECT_NS, "web") is not None

    def add(o: dict) -> None:
        o["metadata"]["finalizers"].append("c.example.com/z")
    with pytest.raises(ApiError) as e:
        s.mutate(DEPLOYMENTS, PROJECT_NS, "web", add)
    assert e.value.code == 422 and "no new finalizers can be added" in e.value.message

    def drop_one(o: dict) -> None:
        o["metadata"]["finalizers"] = ["b.example.com/y"]
    s.mutate(DEPLOYMENTS, PROJECT_NS, "web", drop_one)
    assert s.get(DEPLOYMENTS, PROJECT_NS, "web")["metadata"]["finalizers"] == ["b.example.com/y"]

    def drop_all(o: dict) -> None:
        o["metadata"]["finalizers"] = []
    gone = s.mutate(DEPLOYMENTS, PROJECT_NS, "web", drop_all)
    assert s.try_get(DEPLOYMENTS, PROJECT_NS, "web") is None
    assert gone["metadata"]["deletionTimestamp"] == held["metadata"]["deletionTimestamp"]
    assert [ch.type for ch in seen] == ["MODIFIED", "MODIFIED", "DELETED"]


def test_a_pod_with_a_finalizer_outlives_its_grace_period(sim_cluster) -> None:
    s = sim_cluster.store
    s.create(PODS, {**running("job"), "metadata": {"name": "job", "finalizers": ["example.com/keep"]}}, PROJECT_NS)
    s.delete(PODS, PROJECT_NS, "job")

    def drop(o: dict) -> None:
        o["metadata"]["finalizers"] = []
    # removing the finalizer inside the grace period does not cut it short ...
    tick(sim_cluster, 10)
    s.create(PODS, {**running("other"), "metadata": {"name": "other", "finalizers": ["example.com/keep"]}},
             PROJECT_NS)
    s.delete(PODS, PROJECT_NS, "other")
    s.mutate(PODS, PROJECT_NS, "other", drop)
    assert s.try_get(PODS, PROJECT_NS, "other") is not None
    # ... and a finalizer still there when the period ends keeps the pod, now with grace 0
    tick(sim_cluster, 20)
    held = s.get(PODS, PROJECT_NS, "job")
    assert held["metadata"]["deletionGracePeriodSeconds"] == 0
    s.mutate(PODS, PROJECT_NS, "job", drop)
    assert s.try_get(PODS, PROJECT_NS, "job") is None
    tick(sim_cluster, 10)
    assert s.try_get(PODS, PROJECT_NS, "other") is None


# ------------------------------------------------------------------------------------------ propagation
def _owner_and_pods(s) -> dict:
    rs = s.create(REPLICASETS, {"metadata": {"name": "rs"}, "spec": {
        "replicas": 2, "selector": {"matchLabels": {"app": "x"}},
        "template": {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}},
        PROJECT_NS)
    ref = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": rs["metadata"]["uid"],
           "controller": True, "blockOwnerDeletion": True}
    for n in ("x1", "x2"):
        s.create(PODS, {**running(n), "metadata": {"name": n, "ownerReferences": [ref]}}, PROJECT_NS)
    return rs


def test_background_removes_the_owner_and_its_pods_terminate(sim_cluster) -> None:
    s = sim_cluster.store
    _owner_and_pods(s)
    s.delete(REPLICASETS, PROJECT_NS, "rs", propagation="Background")
    assert s.try_get(REPLICASETS, PROJECT_NS, "rs") is None
    assert all(s.get(PODS, PROJECT_NS, n)["metadata"]["deletionTimestamp"] for n in ("x1", "x2"))
    tick(sim_cluster, 30)
    assert s.try_get(PODS, PROJECT_NS, "x1") is None and s.try_get(PODS, PROJECT_NS, "x2") is None


def test_foreground_keeps_the_owner_until_its_pods_are_gone(sim_cluster) -> None:
    s = sim_cluster.store
    _owner_and_pods(s)
    s.delete(PODS, PROJECT_NS, "x2", grace_period=5)
    held = s.delete(REPLICASETS, PROJECT_NS, "rs", propagation="Foreground")
    assert held["metadata"]["finalizers"] == ["foregroundDeletion"] and held["metadata"]["deletionTimestamp"]
    tick(sim_cluster, 5)
    assert s.try_get(PODS, PROJECT_NS, "x2") is None and s.try_get(REPLICASETS, PROJECT_NS, "rs") is not None
    tick(sim_cluster, 25)
    assert s.try_get(PODS, PROJECT_NS, "x1") is None
    assert s.try_get(REPLICASETS, PROJECT_NS, "rs") is None


def test_orphan_leaves_the_pods_running(sim_cluster) -> None:
    s = sim_cluster.store
    _owner_and_pods(s)
    s.delete(REPLICASETS, PROJECT_NS, "rs", propagation="Orphan")
    assert s.try_get(REPLICASETS, PROJECT_NS, "rs") is None
    for n in ("x1", "x2"):
        md = s.get(PODS, PROJECT_NS, n)["metadata"]
        assert "ownerReferences" not in md and not md.get("deletionTimestamp")


def test_a_namespace_terminates_until_its_pods_are_gone(sim_cluster) -> None:
    s = sim_cluster.store
    s.create(PODS, running("job"), PROJECT_NS)
    ns = s.delete(NAMESPACES, None, PROJECT_NS)
    assert ns["status"]["phase"] == "Terminating" and ns["metadata"]["deletionTimestamp"]
    assert s.get(PODS, PROJECT_NS, "job")["metadata"]["deletionTimestamp"]
    assert s.try_get(PODS, PROJECT_NS, "p1") is None  # unbound: gone at once
    with pytest.raises(ApiError) as e:
        s.create(PODS, running("late"), PROJECT_NS)
    assert e.value.code == 403 and "being terminated" in e.value.message
    tick(sim_cluster, 30)
    assert s.try_get(PODS, PROJECT_NS, "job") is None
    assert s.try_get(NAMESPACES, None, PROJECT_NS) is None


# ------------------------------------------------------------------------------------------ owners
def test_statefulset_recreates_a_name_only_after_the_old_pod_is_gone(sim_cluster) -> None:
    from console.sim import controllers
    controllers.install(sim_cluster)
    s = sim_cluster.store
    s.create(STATEFULSETS, {"metadata": {"name": "db"}, "spec": {
        "replicas": 1, "serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
        "template": {"metadata": {"labels": {"app": "db"}}, "spec": {"nodeName": "node-1", "containers": [
            {"name": "c", "image": "i:1"}]}}}}, PROJECT_NS)
    sim_cluster.settle()
    uid = s.get(PODS, PROJECT_NS, "db-0")["metadata"]["uid"]
    s.delete(PODS, PROJECT_NS, "db-0")
    sim_cluster.settle()
    assert s.get(PODS, PROJECT_NS, "db-0")["metadata"]["uid"] == uid  # still the terminating one
    tick(sim_cluster, 30)
    again = s.get(PODS, PROJECT_NS, "db-0")
    assert again["metadata"]["uid"] != uid and not again["metadata"].get("deletionTimestamp")


def test_job_replaces_a_terminating_pod_at_once_and_counts_it(sim_cluster) -> None:
    from console.sim import controllers
    controllers.install(sim_cluster)
    s = sim_cluster.store
    s.create(JOBS, {"metadata": {"name": "train"}, "spec": {"parallelism": 1, "completions": 1, "template": {
        "metadata": {"labels": {"app": "train"}}, "spec": {"restartPolicy": "Never", "nodeName": "node-1",
                                                           "containers": [{"name": "c", "image": "i:1"}]}}}},
             PROJECT_NS)
    sim_cluster.settle()
    (first,) = [p for p in s.items(PODS, PROJECT_NS) if p["metadata"]["name"].startswith("train-")]
    s.delete(PODS, PROJECT_NS, first["metadata"]["name"])
    sim_cluster.settle()
    pods = [p for p in s.items(PODS, PROJECT_NS) if p["metadata"]["name"].startswith("train-")]
    assert len(pods) == 2 and sum(1 for p in pods if p["metadata"].get("deletionTimestamp")) == 1
    st = s.get(JOBS, PROJECT_NS, "train")["status"]
    assert (st["active"], st["terminating"]) == (1, 1)
    tick(sim_cluster, 30)
    assert s.get(JOBS, PROJECT_NS, "train")["status"]["terminating"] == 0


# ------------------------------------------------------------------------------------------ over HTTP
async def test_delete_options_over_http(sim_server) -> None:
    s = sim_server.cluster.store
    for n in ("q", "b", "f"):
        s.create(PODS, running(n), PROJECT_NS)
    async with sim_server.client() as c:
        r = await c.delete(f"{PODS_URL}/q", params={"gracePeriodSeconds": "7"})
        assert r.status_code == 200 and r.json()["metadata"]["deletionGracePeriodSeconds"] == 7
        r = await c.request("DELETE", f"{PODS_URL}/b", json={"kind": "DeleteOptions", "apiVersion": "v1",
                                                              "gracePeriodSeconds": 12})
        assert r.status_code == 200 and r.json()["metadata"]["deletionGracePeriodSeconds"] == 12
        r = await c.request("DELETE", f"{PODS_URL}/f", json={"gracePeriodSeconds": 0})
        assert r.status_code == 200 and s.try_get(PODS, PROJECT_NS, "f") is None
        r = await c.request("DELETE", f"{PODS_URL}/q", json={"gracePeriodSeconds": "soon"})
        assert r.status_code == 400 and "gracePeriodSeconds" in r.json()["message"]
        got = (await c.get(f"{PODS_URL}/q", headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"}))
        cols = [cd["name"] for cd in got.json()["columnDefinitions"]]
        assert got.json()["rows"][0]["cells"][cols.index("Status")] == "Terminating"
    tick(sim_server.cluster, 12)
    assert s.try_get(PODS, PROJECT_NS, "q") is None and s.try_get(PODS, PROJECT_NS, "b") is None
