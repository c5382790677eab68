"""Informers keep the console's store equal to the API after every fault the simulator can inject.

Each round makes random changes before, during and after a fault, then waits (by awaiting the
condition, not by sleeping a fixed time) until the informers have caught up, and compares what they
hold with a fresh list from the server's store.
"""

from __future__ import annotations

import asyncio
import copy
import random
from collections.abc import Callable

import pytest

from console.kube import client as k
from console.kube.client import KubeClient
from console.kube.informer import Informer
from console.model.cluster_store import ClusterStore
from console.model.snapshot import build as build_snapshot
from console.sim import resources as r
from tests.conftest import PROJECT_NS, SimServer


class DictSink:
    """Holds exactly what the informers delivered, keyed like the server's store."""

    def __init__(self) -> None:
        self.objs: dict[str, dict[tuple[str, str], dict]] = {}
        self.events = 0

    def replace(self, kind: str, objs: list[dict], namespace: str | None = None) -> None:
        table = self.objs.setdefault(kind, {})
        for key in [key for key in table if namespace is None or key[0] == namespace]:
            del table[key]
        for o in objs:
            md = o["metadata"]
            table[(md.get("namespace", ""), md["name"])] = o

    def apply(self, kind: str, event_type: str, obj: dict) -> None:
        self.events += 1
        md = obj["metadata"]
        key = (md.get("namespace", ""), md["name"])
        table = self.objs.setdefault(kind, {})
        if event_type == "DELETED":
            table.pop(key, None)
        else:
            table[key] = obj


WATCHED = [(k.PODS, r.PODS), (k.DEPLOYMENTS, r.DEPLOYMENTS), (k.NODES, r.NODES)]


def server_view(sim: SimServer) -> dict[str, dict[tuple[str, str], str]]:
    out = {}
    for res, rt in WATCHED:
        out[res.key] = {(o["metadata"].get("namespace", ""), o["metadata"]["name"]): o["metadata"]["resourceVersion"]
                        for o in sim.cluster.store.items(rt)}
    return out


def sink_view(sink: DictSink) -> dict[str, dict[tuple[str, str], str]]:
    return {res.key: {key: o["metadata"]["resourceVersion"] for key, o in sink.objs.get(res.key, {}).items()}
            for res, _ in WATCHED}


async def until(cond: Callable[[], bool], what: str, limit: float = 20.0) -> None:
    """Await a condition the informers will make true; fail with `what` if they never do."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not cond():
        if loop.time() > deadline:
            pytest.fail(f"informers never caught up: {what}")
        await asyncio.sleep(0.01)


class Churn:
    """Random cluster changes straight into the server's store, as controllers would make them."""

    def __init__(self, sim: SimServer, rng: random.Random, tag: str = "") -> None:
        self.store = sim.cluster.store
        self.rng = rng
        self.tag = tag
        self.n = 0

    def step(self, count: int = 5) -> None:
        for _ in range(count):
            self.n += 1
            pods = list(self.store.items(r.PODS, PROJECT_NS))
            roll = self.rng.random()
            if roll < 0.4 or not pods:
                self.store.create(r.PODS, {"metadata": {"generateName": "churn-", "labels": {"i": str(self.n)}},
                                           "spec": {"containers": [{"name": "c", "image": "busybox"}]}},
                                  PROJECT_NS)
            elif roll < 0.75:
                victim = self.rng.choice(pods)["metadata"]["name"]
                self.store.mutate(r.PODS, PROJECT_NS, victim,
                                  lambda o: o["metadata"].setdefault("labels", {}).update(rev=str(self.n)))
            elif roll < 0.95:
                self.store.delete(r.PODS, PROJECT_NS, self.rng.choice(pods)["metadata"]["name"])
            else:
                name = f"dep-{self.tag}{self.n}"
                self.store.create(r.DEPLOYMENTS, {"metadata": {"name": name}, "spec": {
                    "replicas": 1, "selector": {"matchLabels": {"app": name}},
                    "template": {"metadata": {"labels": {"app": name}},
                                 "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}, PROJECT_NS)


FAULTS: dict[str, Callable] = {
    "drop_watches": lambda f: f.drop_watches(),
    "expire_window": lambda f: f.expire_window(),
    "burst_500": lambda f: f.fail_next(4, 500),
    "burst_503": lambda f: f.fail_next(3, 503, retry_after=0.01),
    "throttle_429": lambda f: f.fail_next(2, 429, retry_after=0.01),
    "restart_epoch": lambda f: f.restart(),
}


async def _round(sim: SimServer, fault: str, seed: int, informers: list[Informer], sink: DictSink) -> None:
    churn = Churn(sim, random.Random(seed), f"{seed}-")
    faults = sim.cluster.extras["faults"]
    churn.step(8)
    FAULTS[fault](faults)
    churn.step(8)
    if fault in ("drop_watches", "restart_epoch"):
        faults.drop_watches()  # a second drop while resuming
    churn.step(8)
    await until(lambda: sink_view(sink) == server_view(sim), f"{fault} (seed {seed})")
    await until(lambda: all(i.health.state == "synced" for i in informers), f"{fault}: connected again")


def _client(sim: SimServer) -> KubeClient:
    return KubeClient(sim.credentials("admin"), backoff_base=0.001,
                      backoff_max=0.01, rng=random.Random(0))


def _informers(c: KubeClient, sink) -> list[Informer]:
    return [Informer(c, res, sink, backoff_max=0.05, stall_grace=0.2, rng=random.Random(i))
            for i, (res, _) in enumerate(WATCHED)]


@pytest.mark.parametrize("fault", sorted(FAULTS))
async def test_store_equals_fresh_list_after_fault(sim_server: SimServer, fault: str) -> None:
    sink = DictSink()
    async with _client(sim_server) as c:
        informers = _informers(c, sink)
        for i in informers:
            i.start()
        await asyncio.gather(*(i.synced.wait() for i in informers))
        try:
            for seed in range(4):
                await _round(sim_server, fault, seed * 31 + len(fault), informers, sink)
        finally:
            for i in informers:
                await i.stop()
    if fault == "expire_window" or fault == "restart_epoch":
        assert all(i.health.relists >= 2 for i in informers[:1])


async def test_mixed_faults_many_rounds_feed_the_model(sim_server: SimServer) -> None:
    """Seeded rounds of random faults; the console's model equals one built from a fresh list."""
    sink = DictSink()
    model = ClusterStore()
    rng = random.Random(2024)
    async with _client(sim_server) as c:
        informers = _informers(c, sink)
        # The model takes re-lists page by page (tiny pages here, so every list is several).
        model_informers = [Informer(c, res, model, page_size=3, backoff_max=0.05, rng=random.Random(9))
                           for res, _ in WATCHED]
        for i in informers + model_informers:
            i.start()
        await asyncio.gather(*(i.synced.wait() for i in informers + model_informers))
        try:
            for round_no in range(12):
                await _round(sim_server, rng.choice(sorted(FAULTS)), round_no, informers, sink)
                await until(lambda: _model_equals_fresh(model, sim_server), f"model after round {round_no}")
        finally:
            for i in informers + model_informers:
                await i.stop()
    assert any(i.health.relists > 1 for i in model_informers), "some fault forced a paged re-list"


def _fresh_model(sim: SimServer) -> ClusterStore:
    fresh = ClusterStore()
    for res, rt in WATCHED:
        fresh.replace(res.key, [copy.deepcopy(o) for o in sim.cluster.store.items(rt)])
    return fresh


def _model_equals_fresh(model: ClusterStore, sim: SimServer) -> bool:
    fresh = _fresh_model(sim)
    return build_snapshot(model) == build_snapshot(fresh) and model.problems == fresh.problems


async def test_stall_then_recovery(sim_server: SimServer) -> None:
    sink = DictSink()
    faults = sim_server.cluster.extras["faults"]
    async with KubeClient(sim_server.credentials("admin"), timeout=0.5,
                          backoff_base=0.001, backoff_max=0.01, rng=random.Random(0)) as c:
        informers = _informers(c, sink)
        for i in informers:
            i.start()
        await asyncio.gather(*(i.synced.wait() for i in informers))
        faults.stall(60)
        faults.drop_watches()
        Churn(sim_server, random.Random(5)).step(10)
        await until(lambda: any(i.health.state == "reconnecting" for i in informers),
                    "a server that stops answering shows as reconnecting")
        faults.resume()
        await until(lambda: sink_view(sink) == server_view(sim_server), "after the stall")
        for i in informers:
            await i.stop()


async def test_read_access_and_unauthorized_user(sim_server: SimServer) -> None:
    sink = DictSink()
    async with KubeClient(sim_server.credentials("team-a")) as c:
        inf = Informer(c, k.PODS, sink, namespace="default")  # project users may read everywhere
        inf.start()
        await inf.synced.wait()
        assert inf.health.state == "synced"  # no false "reconnecting" between the list and its watch
        await inf.stop()
    async with KubeClient(sim_server.credentials(token="sim.nobody.0000")) as c:
        inf = Informer(c, k.PODS, sink, backoff_max=0.01)
        task = inf.start()
        await until(lambda: inf.health.last_error != "", "unauthorized user reports an error")
        assert "401" in inf.health.last_error
        await inf.stop()
        assert task.done()


async def test_list_progress_is_exact_and_a_relist_marks_figures_stale(sim_server: SimServer) -> None:
    """Each page reports items so far and the server's remainingItemCount; the resource is complete only
    after the sink holds the list; a 410 re-list starts from the previous count and marks it stale."""
    from console.kube import progress as pg

    store = sim_server.cluster.store
    for i in range(11):
        store.create(r.PODS, {"metadata": {"name": f"prog-{i}"}, "spec": {"containers": [{"name": "c",
                                                                                           "image": "i"}]}},
                     PROJECT_NS)
    total = len(store.items(r.PODS))
    sink = DictSink()
    board = pg.SyncBoard()
    seen: list[tuple[pg.KindProgress, int]] = []
    board.listeners.append(lambda snap: seen.append((snap.kind("pods"), len(sink.objs.get("pods", {})))))
    faults = sim_server.cluster.extras["faults"]
    async with _client(sim_server) as c:
        inf = Informer(c, k.PODS, sink, page_size=3, board=board, backoff_max=0.05, stall_grace=0.2)
        board.open()
        assert not board.snapshot.known({"pods"})
        inf.start()
        await inf.synced.wait()
        listing = [kp for kp, _ in seen if kp.phase == pg.LISTING and kp.listed]
        assert [kp.listed for kp in listing] == list(range(3, total, 3))
        assert all(kp.total == total and kp.total_exact for kp in listing)
        assert all(held == 0 for kp, held in seen if kp.phase != pg.WATCHING)  # nothing complete before commit
        assert board.snapshot.known({"pods"}) and not board.snapshot.stale({"pods"})
        assert "pods" not in pg.progress_text(board.snapshot, 0.0)

        seen.clear()
        faults.expire_window()
        faults.drop_watches()
        await until(lambda: any(kp.phase == pg.WATCHING and kp.listed == total for kp, _ in seen[1:]),
                    "re-listed after 410")
        again = [kp for kp, _ in seen if kp.phase == pg.LISTING]
        assert again[0].listed == 0 and again[0].total == total and not again[0].total_exact  # the last count
        assert all(kp.relist and kp.settled for kp in again)  # the old list stays: known, but stale
        assert board.snapshot.known({"pods"}) and not board.snapshot.stale({"pods"})
        assert inf.health.relists == 2
        await inf.stop()
