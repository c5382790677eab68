"""The async client against the simulated apiserver over loopback: verbs, errors, retries, watches."""

from __future__ import annotations

import random
import threading

import pytest

from console.kube import client as k
from console.kube.client import KubeClient
from console.kube.config import Credentials, load_kubeconfig
from console.kube.errors import ApiError
from tests.conftest import PROJECT_NS, SimServer


def make_client(sim: SimServer, context: str = "sim-admin", **kw) -> KubeClient:
    creds = load_kubeconfig(str(sim.kubeconfig), context)
    kw.setdefault("backoff_base", 0.001)
    kw.setdefault("backoff_max", 0.01)
    return KubeClient(creds, rng=random.Random(1), **kw)


def pod(name: str, **labels: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels},
            "spec": {"containers": [{"name": "main", "image": "busybox:1.36"}]}}


async def test_version_and_paginated_list(sim_server: SimServer) -> None:
    async with make_client(sim_server) as c:
        assert (await c.version())["gitVersion"].startswith("v1.")
        for i in range(23):
            await c.create(k.PODS, pod(f"w{i:02d}", tier="web"), PROJECT_NS)
        before = c.stats.requests
        items, rv = await c.list(k.PODS, PROJECT_NS, label_selector="tier=web", page_size=5)
        assert sorted(o["metadata"]["name"] for o in items) == [f"w{i:02d}" for i in range(23)]
        assert c.stats.requests - before == 5  # 5 pages of at most 5
        assert int(rv) >= 23


async def test_create_conflict_and_invalid_are_typed(sim_server: SimServer) -> None:
    async with make_client(sim_server) as c:
        await c.create(k.PODS, pod("dup"), PROJECT_NS)
        with pytest.raises(ApiError) as e:
            await c.create(k.PODS, pod("dup"), PROJECT_NS)
        assert e.value.code == 409 and e.value.reason == "AlreadyExists"
        with pytest.raises(ApiError) as e:
            await c.create(k.PODS, pod("Bad_Name"), PROJECT_NS)
        assert e.value.code == 422 and e.value.reason == "Invalid"
        assert any(cause.get("field") == "metadata.name" for cause in e.value.causes)


async def test_patch_kinds_and_dry_run(sim_server: SimServer) -> None:
    async with make_client(sim_server) as c:
        await c.create(k.PODS, pod("pp", a="1"), PROJECT_NS)
        out = await c.patch(k.PODS, "pp", {"metadata": {"labels": {"b": "2"}}}, PROJECT_NS, kind="merge")
        assert out["metadata"]["labels"] == {"a": "1", "b": "2"}
        out = await c.patch(k.PODS, "pp", [{"op": "remove", "path": "/metadata/labels/a"}], PROJECT_NS,
                            kind="json")
        assert out["metadata"]["labels"] == {"b": "2"}
        out = await c.patch(k.PODS, "pp", {"metadata": {"labels": {"c": "3"}}}, PROJECT_NS, kind="strategic",
                            dry_run=True)
        assert out["metadata"]["labels"]["c"] == "3"
        assert "c" not in (await c.get(k.PODS, "pp", PROJECT_NS))["metadata"]["labels"]
        await c.delete(k.PODS, "pp", PROJECT_NS, dry_run=True)
        assert (await c.get(k.PODS, "pp", PROJECT_NS))["metadata"]["name"] == "pp"
        await c.delete(k.PODS, "pp", PROJECT_NS)
        with pytest.raises(ApiError) as e:
            await c.get(k.PODS, "pp", PROJECT_NS)
        assert e.value.code == 404


async def test_forbidden_is_reported_not_retried(sim_server: SimServer) -> None:
    async with make_client(sim_server, "sim-viewer") as c:
        before = c.stats.requests
        with pytest.raises(ApiError) as e:
            await c.create(k.PODS, pod("nope"), PROJECT_NS)
        assert e.value.code == 403 and "cannot create" in e.value.message
        assert c.stats.requests - before == 1
        allowed, _ = await c.can_i("create", k.PODS, PROJECT_NS)
        assert allowed is False
        allowed, _ = await c.can_i("list", k.PODS)
        assert allowed is True


async def test_project_user_writes_only_its_namespace(sim_server: SimServer) -> None:
    async with make_client(sim_server, "sim-team-a") as c:
        assert (await c.can_i("create", k.PODS, PROJECT_NS))[0] is True
        assert (await c.can_i("create", k.PODS, "default"))[0] is False


async def test_retries_5xx_and_429_then_succeeds(sim_server: SimServer) -> None:
    faults = sim_server.cluster.extras["faults"]
    async with make_client(sim_server) as c:
        faults.fail_next(3, 503)
        assert (await c.get(k.NAMESPACES, PROJECT_NS))["metadata"]["name"] == PROJECT_NS
        assert c.stats.retries == 3
        faults.fail_next(1, 429, retry_after=0.01)
        await c.get(k.NAMESPACES, PROJECT_NS)
        assert c.stats.retries == 4
        faults.fail_next(10, 500)
        with pytest.raises(ApiError) as e:
            await c.get(k.NAMESPACES, PROJECT_NS)
        assert e.value.code == 500
    faults.clear()


async def test_429_honours_retry_after(sim_server: SimServer, monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    import asyncio

    real_sleep = asyncio.sleep

    async def fake_sleep(d: float) -> None:
        slept.append(d)
        await real_sleep(0)

    faults = sim_server.cluster.extras["faults"]
    async with make_client(sim_server) as c:
        faults.fail_next(1, 429, retry_after=7)
        monkeypatch.setattr("console.kube.client.asyncio.sleep", fake_sleep)
        await c.get(k.NAMESPACES, PROJECT_NS)
    assert slept and 7 <= slept[0] < 7.2


async def test_401_reloads_credentials_once(sim_server: SimServer) -> None:
    good = sim_server.credentials("admin")
    bad = sim_server.credentials(token="expired-token")
    reloads = []

    def reload() -> Credentials:
        reloads.append(1)
        return good

    async with KubeClient(bad, reload=reload) as c:
        assert (await c.get(k.NAMESPACES, PROJECT_NS))["metadata"]["name"] == PROJECT_NS
    assert reloads == [1]

    async with KubeClient(bad, reload=lambda: bad) as c:
        sent = sim_server.server.api.requests
        with pytest.raises(ApiError) as e:
            await c.get(k.NAMESPACES, PROJECT_NS)
        assert e.value.code == 401
        assert sim_server.server.api.requests == sent + 1  # the same token again would be refused again: not sent
    assert str(e.value) == (f"{sim_server.url} rejected the bearer token (401 Unauthorized: the credentials are "
                            "wrong, expired or revoked)")


async def test_unreachable_cluster_is_a_clear_error() -> None:
    creds = Credentials(server="http://127.0.0.1:9")  # discard port: nothing listens
    async with KubeClient(creds, max_retries=1, backoff_base=0.001, backoff_max=0.002) as c:
        with pytest.raises(ApiError) as e:
            await c.version()
    assert e.value.unreachable and e.value.transport == "refused"
    assert str(e.value) == "cannot reach http://127.0.0.1:9: connection refused"


async def test_scale_subresource(sim_server: SimServer) -> None:
    dep = {"metadata": {"name": "web"}, "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
           "template": {"metadata": {"labels": {"app": "web"}},
                        "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}
    async with make_client(sim_server) as c:
        await c.create(k.DEPLOYMENTS, dep, PROJECT_NS)
        out = await c.scale(k.DEPLOYMENTS, "web", PROJECT_NS, 4)
        assert out["kind"] == "Scale" and out["spec"]["replicas"] == 4
        assert (await c.get(k.DEPLOYMENTS, "web", PROJECT_NS))["spec"]["replicas"] == 4
        assert (await c.get_scale(k.DEPLOYMENTS, "web", PROJECT_NS))["spec"]["replicas"] == 4


async def test_eviction_deletes_the_pod(sim_server: SimServer) -> None:
    async with make_client(sim_server) as c:
        await c.create(k.PODS, pod("victim"), PROJECT_NS)
        await c.evict("victim", PROJECT_NS)
        with pytest.raises(ApiError) as e:
            await c.get(k.PODS, "victim", PROJECT_NS)
        assert e.value.code == 404


async def test_watch_resumes_and_reports_gone(sim_server: SimServer) -> None:
    store = sim_server.cluster.store
    async with make_client(sim_server) as c:
        _, rv = await c.list(k.PODS, PROJECT_NS)
        await c.create(k.PODS, pod("watched"), PROJECT_NS)
        seen = []
        async for etype, obj in c.watch(k.PODS, PROJECT_NS, resource_version=rv, timeout_seconds=1):
            seen.append((etype, obj["metadata"].get("name")))
            if etype == "ADDED":
                break
        assert ("ADDED", "watched") in seen
        store.expire_window()
        with pytest.raises(ApiError) as e:
            async for _ in c.watch(k.PODS, PROJECT_NS, resource_version=rv, timeout_seconds=1):
                pass
        assert e.value.code == 410


async def test_logs(sim_server: SimServer) -> None:
    async with make_client(sim_server) as c:
        lines = [line async for line in c.logs("p1", PROJECT_NS)]
        assert lines and "p1" in lines[0]
        with pytest.raises(ApiError) as e:
            async for _ in c.logs("p1", PROJECT_NS, container="nope"):
                pass
        assert e.value.code == 400


def test_stats_rate_never_waits_for_the_writer() -> None:
    """The header reads the API rate on the UI thread while the informers' thread records requests."""
    st = k.Stats()
    for _ in range(30):
        st.record()
    assert st.requests == 30 and st.rate_per_min() == 30.0
    held = threading.Event()
    release = threading.Event()

    def writer_holds_the_lock() -> None:
        with st._lock:
            held.set()
            release.wait(5)

    t = threading.Thread(target=writer_holds_the_lock)
    t.start()
    held.wait(5)
    try:
        assert st.rate_per_min() == 30.0      # the previous figure, at once
    finally:
        release.set()
        t.join(5)
    st.record()
    assert st.rate_per_min() == 31.0
