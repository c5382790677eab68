"""KAI's fair shares read from the scheduler's metrics through the API server's pod proxy, and the fallbacks."""

from __future__ import annotations

import orjson
import pytest
import yaml

from console.kube import config
from console.kube.client import KubeClient
from console.model.fair_share import SOURCE_COMPUTED, SOURCE_KAI
from console.sim.errors import ApiError
from console.sim.resources import NAMESPACES, PODS, QUEUES
from console.snapshot_cmd import take
from console.snapshot_format import render
from console.telemetry.kai_metrics import KaiMetricsReader, parse_fair_share
from tests.telemetry.test_dcgm_sim import synced

# As KAI's scheduler writes it (client_golang), with the default metrics namespace `kai`.
KAI_TEXT = """# HELP kai_e2e_scheduling_latency_milliseconds E2e scheduling latency in milliseconds
# TYPE kai_e2e_scheduling_latency_milliseconds gauge
kai_e2e_scheduling_latency_milliseconds 12
# HELP kai_queue_fair_share_gpu GPU Fair share of queue, as a gauge. Values in GPU devices
# TYPE kai_queue_fair_share_gpu gauge
kai_queue_fair_share_gpu{queue_name="default-queue"} 0
kai_queue_fair_share_gpu{queue_name="team-a"} 4.5
kai_queue_fair_share_gpu{queue_name="Team \\"B\\""} 3
kai_queue_fair_share_cpu_cores{queue_name="team-a"} 12
"""


def test_parse_reads_the_family_under_any_metrics_namespace() -> None:
    p = parse_fair_share(KAI_TEXT)
    assert p.values == {"default-queue": 0.0, "team-a": 4.5, 'Team "B"': 3.0} and p.family == "kai_queue_fair_share_gpu"
    assert parse_fair_share('monitoring_queue_fair_share_gpu{queue_name="q"} 2\n').values == {"q": 2.0}
    assert parse_fair_share('queue_fair_share_gpu{queue_name="q"} 2 1700000000000\n').values == {"q": 2.0}
    assert parse_fair_share("kai_queue_fair_share_gpu_total 3\n").values == {}


def test_parse_counts_junk_and_keeps_the_rest() -> None:
    p = parse_fair_share('<html>502 Bad Gateway</html>\nkai_queue_fair_share_gpu{queue_name="a"} lots\n'
                         'kai_queue_fair_share_gpu{queue_name="b"} NaN\nkai_queue_fair_share_gpu 3\n'
                         'kai_queue_fair_share_gpu{queue_name="c"} 2\n')
    assert p.values == {"c": 2.0} and p.bad_lines == 3
    assert p.bad_example == 'kai_queue_fair_share_gpu{queue_name="a"} lots'


async def test_reads_the_simulated_scheduler_and_matches_the_models_own_division(demo) -> None:
    cluster, kubeconfig = demo
    creds = config.load(kubeconfig, None)
    async with KubeClient(creds, max_retries=1) as client:
        store = await synced(kubeconfig, client)
        reader = KaiMetricsReader(client)
        got = await reader.read()
        assert await reader.read() is got and reader.reads == 1   # within the interval: no second request
    pod = next(p for p in cluster.store.items(PODS) if p["metadata"]["namespace"] == "kai-scheduler")
    assert got.ok and got.origin == f"kai-scheduler/{pod['metadata']['name']}"
    assert got.family == "kai_queue_fair_share_gpu"

    computed = store.fair_share.table
    assert computed.source == SOURCE_COMPUTED and computed.detail == ""
    store.set_kai_fair_share(got)
    store.refresh()
    t = store.fair_share.table
    assert t.source == SOURCE_KAI and t.detail == got.origin
    fair = cluster.extras["kai_scheduler"].fair_share_now()
    for name, share in t.shares.items():
        assert share.source == SOURCE_KAI
        assert share.fair_share_gpu == pytest.approx(fair[name])
        # one implementation: what the console computes from the Queues and nodes is what the scheduler did
        # (to the thousandth of a GPU the Queue status is written in)
        assert computed.shares[name].fair_share_gpu == pytest.approx(fair[name], abs=0.005)


def scheduler_pod(port: int) -> dict:
    return {"metadata": {"name": "kai-scheduler-default-7d9f-x1", "namespace": "kai-scheduler",
                         "labels": {"app": "kai-scheduler-default"}},
            "spec": {"nodeName": "node-1", "containers": [{"name": "kai-scheduler-default", "image": "scheduler",
                                                           "args": [f"--listen-address=:{port}"]}]},
            "status": {"phase": "Running", "podIP": "10.0.0.9"}}


async def read_with(sim_server, handler=None, port: int = 8181):  # type: ignore[no-untyped-def]
    """The reader against the small cluster, its scheduler pod (if `handler`) served by `handler`."""
    c = sim_server.cluster
    if handler is not None:
        c.store.create(NAMESPACES, {"metadata": {"name": "kai-scheduler"}})
        c.store.create(PODS, scheduler_pod(port))
        c.store.mutate(PODS, "kai-scheduler", "kai-scheduler-default-7d9f-x1",
                       lambda o: o["status"].update(phase="Running"), subresource="status")
        c.proxies[port] = handler
    creds = config.load(str(sim_server.kubeconfig), None)
    async with KubeClient(creds, max_retries=1) as client:
        store = await synced(str(sim_server.kubeconfig), client)
        got = await KaiMetricsReader(client, timeout_s=1.0).read()
    store.set_kai_fair_share(got)
    store.refresh()
    return got, store.fair_share.table


async def test_absent_scheduler_falls_back_to_computed_with_the_reason(sim_server) -> None:
    got, t = await read_with(sim_server)
    assert not got.ok and got.error == ("no running KAI scheduler pod in kai-scheduler "
                                        "(labels app=kai-scheduler-default or app=scheduler)")
    assert t.source == SOURCE_COMPUTED and t.shares["team-a"].source == SOURCE_COMPUTED
    assert t.label == f"fair share: computed with KAI's rules (KAI scheduler metrics unavailable: {got.error})"


async def test_a_404_falls_back_to_computed_with_the_reason(sim_server) -> None:
    def not_found(pod, path, query):  # type: ignore[no-untyped-def]
        raise ApiError(404, "404 page not found", "NotFound")

    got, t = await read_with(sim_server, not_found)
    assert not got.ok and got.error.startswith("kai-scheduler/kai-scheduler-default-7d9f-x1: ")
    assert "404" in got.error and t.source == SOURCE_COMPUTED and "404" in t.detail


async def test_junk_falls_back_to_computed_with_the_reason(sim_server) -> None:
    def junk(pod, path, query):  # type: ignore[no-untyped-def]
        assert path == "metrics"
        return "text/html", b'<html>oops</html>\nkai_queue_fair_share_gpu{queue_name="team-a"} lots\n'

    got, t = await read_with(sim_server, junk)
    assert got.error == ("kai-scheduler/kai-scheduler-default-7d9f-x1: no queue_fair_share_gpu samples in its "
                         "metrics (1 malformed, e.g. 'kai_queue_fair_share_gpu{queue_name=\"team-a\"} lots')")
    assert t.source == SOURCE_COMPUTED and t.shares["team-a"].fair_share_gpu == pytest.approx(0)


async def test_a_working_endpoint_on_another_port_is_read(sim_server) -> None:
    def ok(pod, path, query):  # type: ignore[no-untyped-def]
        return "text/plain", b'kai_queue_fair_share_gpu{queue_name="team-a"} 6\n'

    got, t = await read_with(sim_server, ok, port=9090)
    assert got.ok and t.source == SOURCE_KAI and t.shares["team-a"].fair_share_gpu == 6
    assert t.shares["dept-1"].source == SOURCE_COMPUTED and "1 queues not in its metrics" in t.detail


async def test_snapshot_has_fair_share_and_saturation_in_every_format(demo) -> None:
    cluster, kubeconfig = demo
    snap = await take(kubeconfig, None, "projects", timeout=30)
    fs = snap["fair_share"]
    assert fs["source"] == SOURCE_KAI and fs["detail"].startswith("kai-scheduler/kai-scheduler-default-")
    assert fs["capacity_gpu"] == 96
    fair = cluster.extras["kai_scheduler"].fair_share_now()
    rows = {p["name"]: p for p in snap["projects"]}
    assert set(rows) == {q["metadata"]["name"] for q in cluster.store.items(QUEUES)}
    for name, p in rows.items():
        assert p["fair_share_gpu"] == pytest.approx(fair[name]) and p["fair_share_source"] == SOURCE_KAI
        if p["fair_share_gpu"] > 0:
            assert p["saturation"] == pytest.approx(p["allocated_gpu"] / p["fair_share_gpu"])
    assert sum(p["reclaim_next"] for p in snap["projects"]) == 1
    nxt = fs["reclaim_next"]
    assert rows[nxt["project"]]["reclaim_next"] and nxt["reason"].startswith("reclaimed next: allocated ")

    js = orjson.loads(render(snap, "json", "projects"))
    assert js["fair_share"] == fs and js["projects"][0]["fair_share_gpu"] == snap["projects"][0]["fair_share_gpu"]
    ym = yaml.safe_load(render(snap, "yaml", "projects"))
    assert ym["fair_share"]["source"] == "kai-scheduler" and "saturation" in ym["projects"][0]
    table = render(snap, "table", "projects")
    head = next(ln for ln in table.splitlines() if ln.startswith("PROJECT ")).split()
    assert head[:9] == ["PROJECT", "PARENT", "QUOTA", "LIMIT", "WEIGHT", "PRIORITY", "ALLOCATED", "FAIR",
                        "SATURATION"]
    assert f"fair share: KAI metrics ({fs['detail']})" in table
    assert f"{nxt['project']}: {nxt['reason']}" in table
    line = next(ln for ln in table.splitlines() if ln.startswith(nxt["project"] + " <reclaim next"))
    assert f"{rows[nxt['project']]['saturation']:.2f}" in line
