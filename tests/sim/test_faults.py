"""Fault injection: failures, stalls, dropped and expired watches, epoch restarts; the admin endpoint."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from console.sim.faults import Faults
from console.sim.resources import PODS
from tests.conftest import PROJECT_NS

PODS_URL = f"/api/v1/namespaces/{PROJECT_NS}/pods"


def _faults(sim_server) -> Faults:
    return sim_server.cluster.extras["faults"]


@pytest.mark.parametrize("code,reason", [(500, "InternalError"), (503, "ServiceUnavailable"),
                                         (429, "TooManyRequests")])
async def test_fail_next_n_requests(sim_server, code, reason) -> None:
    _faults(sim_server).fail_next(2, code, retry_after=3)
    async with sim_server.client() as c:
        for _ in range(2):
            r = await c.get(PODS_URL)
            assert r.status_code == code and r.json()["reason"] == reason
            if code in (429, 503):
                assert r.headers["Retry-After"] == "3" and r.json()["details"]["retryAfterSeconds"] == 3
            else:
                assert "Retry-After" not in r.headers
        assert (await c.get(PODS_URL)).status_code == 200
    assert _faults(sim_server).failed_requests == 2


async def test_stall_hangs_requests_until_resumed(sim_server) -> None:
    f = _faults(sim_server)
    f.stall(30)
    async with sim_server.client() as c:
        task = asyncio.ensure_future(c.get(PODS_URL))
        done, _ = await asyncio.wait({task}, timeout=0.2)
        assert not done  # still hanging
        f.resume()
        assert (await task).status_code == 200


async def test_stall_lets_a_client_time_out(sim_server) -> None:
    import httpx
    _faults(sim_server).stall(30)
    async with sim_server.client(timeout=httpx.Timeout(0.2)) as c:
        with pytest.raises(httpx.ReadTimeout):
            await c.get(PODS_URL)
    _faults(sim_server).resume()


async def test_latency_is_applied_and_requests_still_succeed(sim_server, monkeypatch) -> None:
    slept: list[float] = []
    real_sleep = asyncio.sleep

    async def fake_sleep(d: float, *a):
        slept.append(d)
        await real_sleep(0)
    f = _faults(sim_server)
    f.add_latency(0.25)
    monkeypatch.setattr("console.sim.faults.asyncio.sleep", fake_sleep)
    async with sim_server.client() as c:
        assert (await c.get(PODS_URL)).status_code == 200
    assert slept == [0.25]
    with pytest.raises(ValueError):
        f.add_latency(-1)


async def test_drop_watches_ends_open_streams(sim_server) -> None:
    async with sim_server.client() as c:
        async with c.stream("GET", PODS_URL, params={"watch": "1", "resourceVersion":
                                                     str(sim_server.cluster.store.resource_version)}) as resp:
            reader = asyncio.ensure_future(_lines(resp))
            while sim_server.cluster.store.open_watches == 0:
                await asyncio.sleep(0)
            assert _faults(sim_server).drop_watches() == 1
            assert await reader == []
    assert sim_server.cluster.store.open_watches == 0


async def _lines(resp) -> list[str]:
    return [line async for line in resp.aiter_lines() if line.strip()]


async def test_restart_epoch_makes_old_versions_expire(sim_server) -> None:
    s = sim_server.cluster.store
    old_rv = s.resource_version
    old_obj_rv = s.get(PODS, PROJECT_NS, "p1")["metadata"]["resourceVersion"]
    _faults(sim_server).restart()
    assert s.resource_version > old_rv + 1000
    assert s.get(PODS, PROJECT_NS, "p1")["metadata"]["resourceVersion"] != old_obj_rv
    async with sim_server.client() as c:
        async with c.stream("GET", PODS_URL, params={"watch": "1", "resourceVersion": str(old_rv)}) as resp:
            evs = [orjson.loads(x) for x in await _lines(resp)]
    assert evs[0]["type"] == "ERROR" and evs[0]["object"]["code"] == 410


async def test_http_endpoint_is_admin_only_and_never_faulted(sim_server) -> None:
    async with sim_server.client("viewer") as c:
        r = await c.post("/sim/faults", json={"action": "fail", "count": 3})
        assert r.status_code == 403
    async with sim_server.client() as c:
        r = await c.post("/sim/faults", json={"action": "fail", "count": 5, "code": 503, "retryAfter": 2})
        assert r.status_code == 200 and r.json()["failRemaining"] == 5
        assert (await c.get("/api/v1/pods")).status_code == 503
        state = (await c.get("/sim/faults")).json()  # not consumed by the fault
        assert state["failRemaining"] == 4
        r = await c.post("/sim/faults", json={"action": "clear"})
        assert r.json()["failRemaining"] == 0
        assert (await c.get("/api/v1/pods")).status_code == 200
        for bad in ({"action": "explode"}, {"action": "fail", "code": 418}, {"action": "latency", "seconds": "x"},
                    [1]):
            r = await c.post("/sim/faults", json=bad)
            assert r.status_code == 400 and r.json()["kind"] == "Status"
        r = await c.post("/sim/faults", json={"action": "expire_window"})
        assert r.status_code == 200
    async with sim_server.client(None) as anon:
        assert (await anon.post("/sim/faults", json={"action": "clear"})).status_code == 401


async def test_http_drop_and_stall_actions(sim_server) -> None:
    async with sim_server.client() as c:
        r = await c.post("/sim/faults", json={"action": "drop_watches"})
        assert r.json()["dropped"] == 0
        r = await c.post("/sim/faults", json={"action": "stall", "seconds": 20})
        assert r.json()["stalledSeconds"] > 0
        r = await c.post("/sim/faults", json={"action": "resume"})
        assert r.json()["stalledSeconds"] == 0
        assert (await c.get("/api/v1/pods")).status_code == 200
