"""DcgmExporterSampler: per-node isolation, cadence, discovery by both labels, reservation joins."""

from __future__ import annotations

import asyncio
import socket

import httpx
import orjson
import pytest
from aiohttp import web

from console.kube.client import KubeClient
from console.kube.config import Credentials
from console.telemetry.dcgm import ApiGroupIndex, DcgmExporterSampler, Target, join_groups, target_of
from console.telemetry.sampler import PodRef, state_line


def scrape_text(node: str, gpus: int = 2, pod: str = "", util: int = 50) -> str:
    lines = ["# HELP DCGM_FI_DEV_GPU_UTIL GPU utilization (in %).", "# TYPE DCGM_FI_DEV_GPU_UTIL gauge"]
    for i in range(gpus):
        who = (f'container="main",namespace="team",pod="{pod}"' if pod and i == 0 else
               'container="",namespace="",pod=""')
        lines.append(f'DCGM_FI_DEV_GPU_UTIL{{gpu="{i}",UUID="GPU-{node}-{i}",device="nvidia{i}",'
                     f'modelName="NVIDIA H100 80GB HBM3",Hostname="nvidia-dcgm-exporter-{node}",{who}}} {util + i}')
    lines.append("# HELP DCGM_FI_DEV_FB_USED Framebuffer memory used (in MiB).")
    lines.append("# TYPE DCGM_FI_DEV_FB_USED gauge")
    for i in range(gpus):
        lines.append(f'DCGM_FI_DEV_FB_USED{{gpu="{i}",UUID="GPU-{node}-{i}",Hostname="h"}} {1000 * (i + 1)}')
    return "\n".join(lines) + "\n"


class Clock:
    def __init__(self) -> None:
        self.t = 500.0

    def __call__(self) -> float:
        return self.t


class Pages:
    """A metrics server on loopback: `handler(name, request)` answers GET /<name>/metrics (aiohttp)."""

    def __init__(self, handler) -> None:  # type: ignore[no-untyped-def]
        self.handler = handler
        self.hits: list[str] = []
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def __aenter__(self) -> "Pages":
        async def route(request: web.Request) -> web.StreamResponse:
            self.hits.append(request.path)
            return await self.handler(request.match_info.get("name", ""), request)

        app = web.Application()
        app.router.add_get("/{name}/metrics", route)
        app.router.add_get("/{tail:.*}", route)
        self.runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.runner is not None
        await self.runner.cleanup()

    def target(self, node: str, **kw) -> Target:  # type: ignore[no-untyped-def]
        return Target(node, url=f"{self.url}/{node}/metrics", **kw)


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then closed): connections to it are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_one_exporter_down_leaves_the_others_sampled() -> None:
    hang = asyncio.Event()

    async def handler(node: str, request: web.Request) -> web.Response:
        if node == "node-b":
            return web.Response(status=500, text="DCGM initialization error")
        if node == "node-d":
            await hang.wait()                                 # never answers
        if node == "node-e":
            return web.Response(text="<html>not metrics</html>\n")
        return web.Response(text=scrape_text(node))

    async with Pages(handler) as pages:
        targets = [pages.target(n) for n in ("node-a", "node-b", "node-d", "node-e", "node-f")]
        targets.insert(2, Target("node-c", url=f"http://127.0.0.1:{closed_port()}/metrics"))
        s = DcgmExporterSampler(targets=targets, timeout_s=0.2)
        try:
            snap = await s.sample()
        finally:
            hang.set()
            await s.close()
    assert snap.error is None
    ok = {n: ng for n, ng in snap.nodes.items() if not ng.error}
    assert set(ok) == {"node-a", "node-f"}
    assert [g.util_pct for g in ok["node-a"].gpus] == [50.0, 51.0]
    assert [g.mem_used_mib for g in ok["node-f"].gpus] == [1000.0, 2000.0]
    assert all(g.node == "node-a" for g in ok["node-a"].gpus)        # the node, never the Hostname label
    errors = {n: snap.nodes[n].error for n in snap.failing_nodes}
    assert "HTTP 500" in errors["node-b"]
    assert errors["node-c"].endswith(": connection refused")   # said plainly, not aiohttp's repr
    assert "no answer within 0.2 s" in errors["node-d"]
    assert "no GPU metrics" in errors["node-e"] and snap.nodes["node-e"].bad_lines == 1
    assert snap.nodes["node-b"].gpus == ()
    assert "4 GPUs on 2/6 nodes" in state_line(snap) and "failing: node-b, node-c, node-d +1" in state_line(snap)


async def test_cadence_follows_the_exporter_interval() -> None:
    async def handler(node: str, request: web.Request) -> web.Response:
        return web.Response(text=scrape_text("n1", util=len(pages.hits)))

    clock = Clock()
    async with Pages(handler) as pages:
        t = pages.target("n1", interval_s=15.0)
        s = DcgmExporterSampler(targets=[t], clock=clock)
        slower = DcgmExporterSampler(targets=[t], clock=clock, min_interval_s=60.0)
        fast = DcgmExporterSampler(targets=[t], clock=clock, min_interval_s=1.0)
        try:
            assert s.interval_s == 15.0
            first = await s.sample()
            clock.t += 14.9
            assert await s.sample() is first and len(pages.hits) == 1
            clock.t += 0.1
            second = await s.sample()
            assert len(pages.hits) == 2 and second.nodes["n1"].gpus[0].util_pct == 2.0
            assert slower.interval_s == 60.0
            assert fast.interval_s == 15.0                       # never faster than the exporter collects
            # Concurrent callers share one scrape.
            clock.t += 100
            await asyncio.gather(s.sample(), s.sample(), s.sample())
            assert len(pages.hits) == 3
        finally:
            for x in (s, slower, fast):
                await x.close()


def exporter_pod(name: str, node: str, labels: dict[str, str], ns: str = "gpu-operator", *,
                 env: list[dict] | None = None, port: dict | None = None, phase: str = "Running",
                 ip: str | None = "10.0.0.9") -> dict:
    return {"metadata": {"name": name, "namespace": ns, "labels": labels},
            "spec": {"nodeName": node, "containers": [{"name": "exporter", "env": env or [],
                                                       "ports": [port] if port else []}]},
            "status": {"phase": phase, **({"podIP": ip} if ip else {})}}


def test_targets_read_port_and_interval_from_the_pod() -> None:
    t = target_of(exporter_pod("e", "n1", {}, env=[{"name": "DCGM_EXPORTER_INTERVAL", "value": "5000"},
                                                   {"name": "DCGM_EXPORTER_LISTEN", "value": ":9500"}]))
    assert (t.node, t.port, t.interval_s, t.ip) == ("n1", 9500, 5.0, "10.0.0.9")
    t = target_of(exporter_pod("e", "n1", {}, port={"name": "metrics", "containerPort": 9401}))
    assert (t.port, t.interval_s) == (9401, 30.0)
    p = exporter_pod("e", "n1", {})
    p["spec"]["containers"][0]["args"] = ["-f", "/etc/x.csv", "-c", "10000"]
    assert target_of(p).interval_s == 10.0
    assert target_of(exporter_pod("e", "n1", {}, phase="Pending")) is None
    unscheduled = exporter_pod("e", "n1", {})
    del unscheduled["spec"]["nodeName"]
    assert target_of(unscheduled) is None


async def test_discovery_by_both_labels_and_proxy_fallback() -> None:
    port = closed_port()   # the pods' IPs answer nothing here: the sampler goes through the API server
    pods = {
        "app=nvidia-dcgm-exporter": [exporter_pod("nvidia-dcgm-exporter-a1", "node-1",
                                                  {"app": "nvidia-dcgm-exporter"}, ip="127.0.0.1",
                                                  port={"name": "metrics", "containerPort": port})],
        "app.kubernetes.io/name=dcgm-exporter": [exporter_pod("dcgm-exporter-b2", "node-2",
                                                              {"app.kubernetes.io/name": "dcgm-exporter"},
                                                              ns="monitoring", ip="127.0.0.1",
                                                              port={"name": "metrics", "containerPort": port})],
        "runai-gpu-group": [],
    }
    seen: list[tuple[str, str]] = []

    async def api(_name: str, request: web.Request) -> web.Response:
        path = request.path
        seen.append((path, request.headers.get("Authorization", "")))
        if path == "/api/v1/pods":
            items = pods[request.query["labelSelector"]]
            return web.Response(body=orjson.dumps({"items": items, "metadata": {"resourceVersion": "1"}}),
                                content_type="application/json")
        if path.endswith("/proxy/metrics"):
            return web.Response(text=scrape_text("node-1" if "a1" in path else "node-2"))
        return web.Response(status=404)

    async with Pages(api) as server:
        creds = Credentials(server=server.url, token="t0ken")
        async with KubeClient(creds, max_retries=0) as client:
            s = DcgmExporterSampler(client)
            try:
                snap = await s.sample()
            finally:
                await s.close()
            assert client.stats.requests >= 5   # 3 lists and 2 proxied scrapes count as the console's API load
    assert s.via_proxy is True
    assert sorted(snap.nodes) == ["node-1", "node-2"] and not snap.failing_nodes
    proxied = {p: auth for p, auth in seen if p.endswith("/proxy/metrics")}
    assert proxied == {f"/api/v1/namespaces/gpu-operator/pods/nvidia-dcgm-exporter-a1:{port}/proxy/metrics":
                       "Bearer t0ken",
                       f"/api/v1/namespaces/monitoring/pods/dcgm-exporter-b2:{port}/proxy/metrics": "Bearer t0ken"}
    assert snap.nodes["node-2"].source == "monitoring/dcgm-exporter-b2"


async def test_no_exporters_and_forbidden_listing_are_clear() -> None:
    def empty(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b'{"items": [], "metadata": {}}')

    def forbidden(request: httpx.Request) -> httpx.Response:
        return httpx.Response(403, content=orjson.dumps({"kind": "Status", "code": 403, "reason": "Forbidden",
                                                         "message": "pods is forbidden"}))

    creds = Credentials(server="http://api.test")
    async with KubeClient(creds, transport=httpx.MockTransport(empty), max_retries=0) as client:
        snap = await DcgmExporterSampler(client).sample()
    assert snap.error.startswith("dcgm-exporter unavailable: no running exporter pods")
    async with KubeClient(creds, transport=httpx.MockTransport(forbidden), max_retries=0) as client:
        snap = await DcgmExporterSampler(client).sample()
    assert snap.error.startswith("dcgm-exporter unavailable: cannot list dcgm-exporter pods") and \
        "forbidden" in snap.error.lower()
    with pytest.raises(ValueError):
        DcgmExporterSampler(targets=[], mode="sideways")


def test_reservation_pod_is_replaced_by_the_pods_sharing_its_gpu() -> None:
    def pod(ns: str, name: str, labels: dict, container: str = "main", phase: str = "Running") -> dict:
        return {"metadata": {"namespace": ns, "name": name, "labels": labels, "uid": f"uid-{name}"},
                "spec": {"containers": [{"name": container}]}, "status": {"phase": phase}}

    idx = ApiGroupIndex([
        pod("runai-reservation", "runai-reservation-gpu-x", {"runai-gpu-group": "g1", "app": "runai-reservation"}),
        pod("team", "frac-a", {"runai-gpu-group": "g1"}, "server"),
        pod("team", "frac-b", {"runai-gpu-group": "g1"}),
        pod("team", "frac-done", {"runai-gpu-group": "g1"}, phase="Succeeded"),
        pod("team", "multi", {"runai-gpu-group/g2": "g2"}),
        pod("kai-resource-reservation", "gpu-reservation-n-abcde", {"runai-gpu-group": "g2"}),
    ])
    from console.telemetry.sampler import GpuSample
    g = GpuSample("n", 0, "GPU-1", pods=(PodRef("runai-reservation", "runai-reservation-gpu-x", "runai-reservation"),))
    joined = join_groups(g, idx)
    assert [(p.name, p.container, p.via) for p in joined.pods] == [("frac-a", "server", "runai-gpu-group"),
                                                                   ("frac-b", "main", "runai-gpu-group")]
    assert joined.reservation.name == "runai-reservation-gpu-x" and joined.pods[0].uid == "uid-frac-a"
    g2 = GpuSample("n", 1, "GPU-2", pods=(PodRef("kai-resource-reservation", "gpu-reservation-n-abcde"),))
    assert [p.name for p in join_groups(g2, idx).pods] == ["multi"]
    whole = GpuSample("n", 2, "GPU-3", pods=(PodRef("team", "trainer-0"),))
    assert join_groups(whole, idx) is whole


async def test_a_bug_on_one_node_is_that_nodes_error() -> None:
    class Groups:
        def consumers(self, namespace: str, pod: str):  # type: ignore[no-untyped-def]
            if pod == "odd-pod":
                raise RuntimeError("group index exploded")
            return None

    async def handler(node: str, request: web.Request) -> web.Response:
        if node == "inf":
            return web.Response(text='DCGM_FI_DEV_XID_ERRORS{gpu="0",UUID="GPU-i"} -Inf\n'
                                     'DCGM_FI_DEV_GPU_UTIL{gpu="0",UUID="GPU-i"} +Inf\n')
        return web.Response(text=scrape_text(node, pod="odd-pod" if node == "odd" else ""))

    async with Pages(handler) as pages:
        s = DcgmExporterSampler(targets=[pages.target(n) for n in ("odd", "inf", "fine")], groups=Groups())
        try:
            snap = await s.sample()
        finally:
            await s.close()
    assert snap.failing_nodes == ["odd"] and "group index exploded" in snap.nodes["odd"].error
    (g,) = snap.nodes["inf"].gpus
    assert g.last_xid is None and g.util_pct is None
    assert len(snap.nodes["fine"].gpus) == 2
