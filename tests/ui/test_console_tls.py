"""The header says where the console is connected and how far TLS vouches for it."""

from __future__ import annotations

from pathlib import Path

import yaml

from console.sim.tls import server_tls
from console.ui.session import LiveSession
from tests.conftest import serve_sim

from .conftest import frozen_demo, synced

SIZE = (160, 40)


def _header_text(app) -> str:  # type: ignore[no-untyped-def]
    return str(app.query_one("#header").render())


async def test_header_shows_context_and_server_over_verified_tls(demo_env) -> None:
    app = demo_env.app()
    async with app.run_test(size=SIZE) as pilot:
        await synced(app, pilot)
        h = app.query_one("#header").data
        assert (h.context, h.server, h.tls) == ("sim-admin", demo_env.url, "verified")
        assert f"ctx sim-admin · {demo_env.url} · cluster" in _header_text(app)
        assert "unverified" not in _header_text(app)


async def test_header_says_when_tls_is_not_verified(tmp_path: Path) -> None:
    from console.app import ClusterConsole

    # a certificate for another host, reached with insecure-skip-tls-verify: it connects, and says so
    sim, srv = await serve_sim(frozen_demo(), tmp_path, tls=server_tls(problem="wrong-host"))
    try:
        doc = yaml.safe_load(sim.kubeconfig.read_text())
        cl = doc["clusters"][0]["cluster"]
        del cl["certificate-authority-data"]
        cl["insecure-skip-tls-verify"] = True
        sim.kubeconfig.write_text(yaml.safe_dump(doc))
        kc = str(sim.kubeconfig)
        app = ClusterConsole(lambda ctx: LiveSession(kc, ctx))
        async with app.run_test(size=SIZE) as pilot:
            await synced(app, pilot)
            assert app.query_one("#header").data.tls == "unverified"
            assert f"ctx sim-admin · {sim.url} · TLS unverified · cluster" in _header_text(app)
    finally:
        await srv.stop()  # type: ignore[attr-defined]


async def test_ctx_lists_contexts_in_kubectl_order(demo_env) -> None:
    import os
    import shutil
    import subprocess

    app = demo_env.app()
    said: list[str] = []
    async with app.run_test(size=SIZE) as pilot:
        await synced(app, pilot)
        app.notify = lambda message, **kw: said.append(str(message))  # type: ignore[method-assign]
        await pilot.press("colon", *"ctx", "enter")
    listed = next(m for m in said if m.startswith("contexts: "))[len("contexts: "):].split(", ")
    assert "sim-cert" in listed and listed == sorted(listed)
    kubectl = shutil.which("kubectl")
    if kubectl:
        out = subprocess.run([kubectl, "config", "get-contexts", "-o", "name"], capture_output=True, text=True,
                             env={**os.environ, "KUBECONFIG": demo_env.kubeconfig}, check=True).stdout
        assert listed == out.split()
