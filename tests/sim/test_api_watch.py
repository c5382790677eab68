"""Watch streams: events, bookmarks, timeouts, resume, 410 Expired, Table watches."""

from __future__ import annotations

import orjson

from console.sim.resources import PODS
from tests.conftest import PROJECT_NS

PODS_URL = f"/api/v1/namespaces/{PROJECT_NS}/pods"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"


def _pod(name: str, **labels: str) -> dict:
    return {"metadata": {"name": name, "labels": labels}, "spec": {"containers": [{"name": "c", "image": "i:1"}]}}


async def _events(resp, n: int) -> list[dict]:
    out = []
    async for line in resp.aiter_lines():
        if line.strip():
            out.append(orjson.loads(line))
            if len(out) == n:
                break
    return out


async def test_watch_from_list_rv_sees_added_modified_deleted(sim_server) -> None:
    s = sim_server.cluster.store
    async with sim_server.client() as c:
        rv = (await c.get(PODS_URL)).json()["metadata"]["resourceVersion"]
        async with c.stream("GET", PODS_URL, params={"watch": "1", "resourceVersion": rv}) as resp:
            assert resp.status_code == 200
            s.create(PODS, _pod("w1"), PROJECT_NS)
            s.mutate(PODS, PROJECT_NS, "w1", lambda o: o["metadata"]["labels"].__setitem__("x", "1"))
            s.delete(PODS, PROJECT_NS, "w1")
            evs = await _events(resp, 3)
    assert [e["type"] for e in evs] == ["ADDED", "MODIFIED", "DELETED"]
    assert all(e["object"]["metadata"]["name"] == "w1" for e in evs)
    assert int(evs[2]["object"]["metadata"]["resourceVersion"]) > int(evs[1]["object"]["metadata"]["resourceVersion"])


async def test_watch_without_rv_starts_with_synthetic_added(sim_server) -> None:
    async with sim_server.client() as c:
        async with c.stream("GET", "/api/v1/pods", params={"watch": "true"}) as resp:
            evs = await _events(resp, 1)
    assert evs[0]["type"] == "ADDED" and evs[0]["object"]["metadata"]["name"] == "p1"


async def test_label_selector_transitions_become_added_and_deleted(sim_server) -> None:
    s = sim_server.cluster.store
    async with sim_server.client() as c:
        rv = str(s.resource_version)
        async with c.stream("GET", PODS_URL, params={"watch": "1", "resourceVersion": rv,
                                                     "labelSelector": "sel=yes"}) as resp:
            s.mutate(PODS, PROJECT_NS, "p1", lambda o: o["metadata"]["labels"].__setitem__("sel", "yes"))
            s.mutate(PODS, PROJECT_NS, "p1", lambda o: o["metadata"]["labels"].__setitem__("sel", "no"))
            evs = await _events(resp, 2)
    assert [e["type"] for e in evs] == ["ADDED", "DELETED"]


async def test_bookmarks_carry_the_current_resource_version(sim_server) -> None:
    s = sim_server.cluster.store
    async with sim_server.client() as c:
        async with c.stream("GET", PODS_URL, params={"watch": "1", "resourceVersion": str(s.resource_version),
                                                     "allowWatchBookmarks": "true"}) as resp:
            evs = await _events(resp, 1)
    assert evs[0]["type"] == "BOOKMARK"
    assert evs[0]["object"]["kind"] == "Pod" and evs[0]["object"]["metadata"]["resourceVersion"] == \
        str(s.resource_version)


async def test_timeout_seconds_ends_the_stream_cleanly(sim_server) -> None:
    async with sim_server.client() as c:
        async with c.stream("GET", PODS_URL, params={"watch": "1", "timeoutSeconds": "1",
                                                     "resourceVersion": str(sim_server.cluster.store.resource_version)}) as resp:
            lines = [line async for line in resp.aiter_lines() if line.strip()]
    assert lines == []  # nothing happened; the stream just ended without error


async def test_resume_from_expired_rv_gets_an_error_event_with_410(sim_server) -> None:
    s = sim_server.cluster.store
    old = str(s.resource_version)
    s.create(PODS, _pod("later"), PROJECT_NS)
    sim_server.cluster.extras["faults"].expire_window()
    async with sim_server.client() as c:
        async with c.stream("GET", PODS_URL, params={"watch": "1", "resourceVersion": old}) as resp:
            assert resp.status_code == 200
            lines = [orjson.loads(line) async for line in resp.aiter_lines() if line.strip()]
    assert len(lines) == 1 and lines[0]["type"] == "ERROR"
    st = lines[0]["object"]
    assert (st["kind"], st["code"], st["reason"]) == ("Status", 410, "Expired")


async def test_resume_replays_what_happened_since(sim_server) -> None:
    s = sim_server.cluster.store
    rv = str(s.resource_version)
    s.create(PODS, _pod("r1"), PROJECT_NS)
    s.create(PODS, _pod("r2"), "default")
    async with sim_server.client() as c:
        async with c.stream("GET", PODS_URL, params={"watch": "1", "resourceVersion": rv}) as resp:
            evs = await _events(resp, 1)
    assert evs[0]["object"]["metadata"]["name"] == "r1"


async def test_table_watch_sends_rows(sim_server) -> None:
    s = sim_server.cluster.store
    async with sim_server.client() as c:
        rv = str(s.resource_version)
        async with c.stream("GET", PODS_URL, params={"watch": "1", "resourceVersion": rv},
                            headers={"Accept": TABLE}) as resp:
            s.create(PODS, _pod("t1"), PROJECT_NS)
            s.create(PODS, _pod("t2"), PROJECT_NS)
            evs = await _events(resp, 2)
    first, second = evs[0]["object"], evs[1]["object"]
    assert first["kind"] == "Table" and first["columnDefinitions"][0]["name"] == "Name"
    assert first["rows"][0]["cells"][0] == "t1"
    assert first["rows"][0]["object"]["kind"] == "PartialObjectMetadata"
    assert second["columnDefinitions"] == [] and second["rows"][0]["cells"][0] == "t2"


async def test_single_object_watch(sim_server) -> None:
    s = sim_server.cluster.store
    async with sim_server.client() as c:
        async with c.stream("GET", f"{PODS_URL}/p1", params={"watch": "1",
                                                             "resourceVersion": str(s.resource_version)}) as resp:
            s.create(PODS, _pod("other"), PROJECT_NS)
            s.mutate(PODS, PROJECT_NS, "p1", lambda o: o["metadata"]["labels"].__setitem__("k", "v"))
            evs = await _events(resp, 1)
    assert evs[0]["type"] == "MODIFIED" and evs[0]["object"]["metadata"]["name"] == "p1"


async def test_server_stop_ends_open_watches(sim_server) -> None:
    import asyncio
    async with sim_server.client() as c:
        async with c.stream("GET", PODS_URL, params={"watch": "1", "resourceVersion":
                                                     str(sim_server.cluster.store.resource_version)}) as resp:
            reader = asyncio.ensure_future(_events(resp, 1))
            await asyncio.sleep(0)
            await sim_server.server.stop()
            assert await reader == []
