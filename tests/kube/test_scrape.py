"""The scrape transport against the simulator over HTTPS: the API client's credentials and TLS, exactly."""

from __future__ import annotations

import dataclasses

import pytest

from console.kube import config
from console.kube.client import KubeClient
from console.kube.errors import ApiError
from console.kube.scrape import Scraper, ScrapeError
from console.sim.resources import PODS


def exporter(cluster) -> dict:  # type: ignore[no-untyped-def]
    return next(p for p in cluster.store.items(PODS)
                if (p["metadata"].get("labels") or {}).get("app") == "nvidia-dcgm-exporter")


async def page(scraper: Scraper, pod: dict) -> str:
    md = pod["metadata"]
    return (await scraper.get_proxy(md["namespace"], md["name"], 9400)).decode()


@pytest.mark.parametrize("context", ["sim-admin", "sim-cert"])
async def test_pod_proxy_with_the_kubeconfig_credentials(demo, context: str) -> None:
    """Bearer token or client certificate, verified against the kubeconfig's CA, as KubeClient does."""
    cluster, kubeconfig = demo
    creds = config.load(kubeconfig, context)
    assert creds.server.startswith("https://") and creds.ca_file
    pod = exporter(cluster)
    async with KubeClient(creds) as client, Scraper.for_client(client, timeout_s=5) as scraper:
        text = await page(scraper, pod)
        assert "DCGM_FI_DEV_GPU_UTIL{" in text
        assert client.stats.requests == 1     # counted as the console's load on the API server


async def test_refusals_come_back_as_the_servers_status(demo) -> None:
    cluster, kubeconfig = demo
    pod = exporter(cluster)
    async with Scraper(config.load(kubeconfig, "sim-admin"), timeout_s=5) as scraper:
        with pytest.raises(ApiError) as e:
            await scraper.get_proxy(pod["metadata"]["namespace"], "no-such-pod", 9400)
        assert e.value.code == 404 and "no-such-pod" in str(e.value)
    creds = config.load(kubeconfig, "sim-admin")
    unknown = dataclasses.replace(creds, token="not-a-token")
    async with Scraper(unknown, timeout_s=5, reload=lambda: unknown) as scraper:
        with pytest.raises(ApiError) as e:
            await page(scraper, pod)
        assert e.value.code == 401


async def test_a_401_reloads_the_credentials_once(demo) -> None:
    cluster, kubeconfig = demo
    good = config.load(kubeconfig, "sim-admin")
    stale = dataclasses.replace(good, token="expired-token")
    reloads: list[int] = []

    def reload() -> config.Credentials:
        reloads.append(1)
        return good

    async with Scraper(stale, timeout_s=5, reload=reload) as scraper:
        assert "DCGM_FI_DEV_GPU_UTIL{" in await page(scraper, exporter(cluster))
        assert "DCGM_FI_DEV_GPU_UTIL{" in await page(scraper, exporter(cluster))
    assert reloads == [1]


async def test_tls_is_verified_unless_the_kubeconfig_says_otherwise(demo) -> None:
    cluster, kubeconfig = demo
    creds = config.load(kubeconfig, "sim-admin")
    pod = exporter(cluster)
    no_ca = dataclasses.replace(creds, ca_file=None, _ssl=None)   # the system's CAs do not know the simulator's
    async with Scraper(no_ca, timeout_s=5) as scraper:
        with pytest.raises(ScrapeError) as e:
            await page(scraper, pod)
        assert e.value.status == 0 and "certificate" in str(e.value).lower()
    skip = dataclasses.replace(creds, ca_file=None, verify=False, _ssl=None)  # insecure-skip-tls-verify: true
    async with Scraper(skip, timeout_s=5) as scraper:
        assert "DCGM_FI_DEV_GPU_UTIL{" in await page(scraper, pod)


async def test_a_direct_page_that_does_not_come_is_a_scrape_error() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with Scraper(timeout_s=1) as scraper:
        with pytest.raises(ScrapeError) as e:
            await scraper.get(f"http://127.0.0.1:{port}/metrics")
    assert e.value.status == 0 and str(e.value) == "connection refused"


async def test_a_page_over_the_cap_is_refused_whether_or_not_its_length_is_announced() -> None:
    """`max_bytes`: the serving scrape's guard against a runaway page (a pod that prints 50 MB)."""
    from aiohttp import web

    async def announced(_: web.Request) -> web.Response:
        return web.Response(body=b"x" * 5000)

    async def streamed(req: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()        # chunked: no Content-Length
        await resp.prepare(req)
        for _ in range(10):
            await resp.write(b"y" * 1000)
        return resp

    async def small(_: web.Request) -> web.Response:
        return web.Response(body=b"ok 1\n")

    app = web.Application()
    app.router.add_get("/announced", announced)
    app.router.add_get("/streamed", streamed)
    app.router.add_get("/small", small)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        async with Scraper(timeout_s=5, max_bytes=2048) as scraper:
            with pytest.raises(ScrapeError, match="page of 4.88 KiB is over the 2 KiB cap"):
                await scraper.get(f"http://127.0.0.1:{port}/announced")
            with pytest.raises(ScrapeError, match="page over the 2 KiB cap"):
                await scraper.get(f"http://127.0.0.1:{port}/streamed")
            assert await scraper.get(f"http://127.0.0.1:{port}/small") == b"ok 1\n"
    finally:
        await runner.cleanup()
