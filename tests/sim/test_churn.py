"""The simulator's load generator: each kind of pod change, as watchers see it, and its admin endpoint."""

from __future__ import annotations

from console.sim.build import make_cluster
from console.sim.churn import ANNOTATION, LABEL, NAMESPACE, Churn
from console.sim.resources import PODS
from console.sim.store import Change


def _ready(pod: dict) -> str | None:
    return next((c["status"] for c in pod["status"].get("conditions") or [] if c["type"] == "Ready"), None)


def test_each_operation_is_a_pod_change_a_watch_sees() -> None:
    cluster = make_cluster("demo", seed=42, manual_clock=True)
    cluster.settle()
    seen: list[Change] = []
    cluster.store.subscribe(seen.append)
    churn = Churn(cluster, rate=100, seed=1, exclude=("runai-vision",))
    churn._ensure_namespace()
    store = cluster.store

    churn._status()
    (_, key), = churn._restore
    pod = store.get(PODS, *key)
    assert _ready(pod) == "False" and not any(c["ready"] for c in pod["status"]["containerStatuses"])
    assert seen[-1].type == "MODIFIED" and seen[-1].obj["metadata"]["name"] == key[1]
    churn._finish()                                  # nothing is left NotReady behind
    assert _ready(store.get(PODS, *key)) == "True"

    churn._label()
    assert seen[-1].obj["metadata"]["labels"][LABEL] == str(churn._serial)
    churn._annotation()
    assert seen[-1].obj["metadata"]["annotations"][ANNOTATION] == str(churn._serial)
    churn._create()
    made = churn._mine[-1]
    assert seen[-1].type == "ADDED" and store.try_get(PODS, NAMESPACE, made) is not None
    assert store.get(PODS, NAMESPACE, made)["spec"]["nodeName"]
    churn._delete()
    assert store.try_get(PODS, NAMESPACE, made) is None and seen[-1].type == "DELETED"
    churn.ended = None
    ops = {churn.step() for _ in range(300)}
    assert ops == {"status", "label", "annotation", "create", "delete"}
    churn._finish()
    touched = {(c.obj["metadata"]["namespace"]) for c in seen if c.rkey == "pods"}
    assert "runai-vision" not in touched      # excluded namespaces are never changed


async def test_runs_at_its_rate_and_stops_after_its_time() -> None:
    cluster = make_cluster("demo", seed=42, manual_clock=True)
    cluster.settle()
    churn = Churn(cluster, rate=400, seconds=0.3, seed=2)
    churn.start()
    assert churn._task is not None
    await churn._task
    st = churn.state()
    assert not st["running"] and st["podEvents"] == churn.events > 0 and st["errors"] == 0
    # Paced on the events the store emitted: never ahead of rate × elapsed (plus one operation's events).
    assert churn.events <= churn.rate * st["elapsedSeconds"] + 5
    assert sum(st["operations"].values()) > 0
    assert not churn._restore


async def test_endpoint_is_admin_only_and_checks_its_body(sim_server) -> None:
    async with sim_server.client("viewer") as c:
        assert (await c.post("/sim/churn", json={"rate": 10})).status_code == 403
    async with sim_server.client() as c:
        assert (await c.get("/sim/churn")).status_code == 404       # nothing started yet
        for bad in ({"rate": 0}, {"rate": "x"}, {"rate": 10, "seconds": -1}, [1], {"rate": 1e9}):
            r = await c.post("/sim/churn", json=bad)
            assert r.status_code == 400 and r.json()["kind"] == "Status", bad
        r = await c.post("/sim/churn", json={"rate": 200, "seed": 3, "exclude": [NAMESPACE + "-x"]})
        assert r.status_code == 200 and r.json()["running"] and r.json()["exclude"] == [NAMESPACE + "-x"]
        state = (await c.get("/sim/churn")).json()
        assert state["rate"] == 200
        r = await c.post("/sim/churn", json={"action": "stop"})
        assert r.status_code == 200 and not r.json()["running"]
