"""Connection failures in words: every message names the server, the context and its file, and the cause.

Real sockets on loopback: a port nothing listens on (refused), a name that cannot resolve (DNS), a server
that accepts and never speaks (timeout while connecting), and the simulator stalled (no answer). TLS
failures are in tests/sim/test_tls.py, against the simulator's own certificates.
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest
import yaml

from console.kube import reach
from console.kube.client import KubeClient
from console.kube.config import load_kubeconfig
from console.kube.errors import ApiError
from console.kube.kubeconfig_merge import show_path


def _kubeconfig(tmp_path: Path, server: str, context: str = "prod") -> Path:
    kc = tmp_path / "prod.yaml"
    kc.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": context,
        "clusters": [{"name": "c", "cluster": {"server": server}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": context, "context": {"cluster": "c", "user": "u"}}]}))
    return kc


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _fail(kc: Path, **kw: object) -> ApiError:
    creds = load_kubeconfig(str(kc))
    async with KubeClient(creds, max_retries=0, **kw) as c:  # type: ignore[arg-type]
        with pytest.raises(ApiError) as e:
            await c.version()
    return e.value


async def test_refused(tmp_path: Path) -> None:
    server = f"https://127.0.0.1:{_free_port()}"
    kc = _kubeconfig(tmp_path, server)
    e = await _fail(kc)
    assert str(e) == f"cannot reach {server} (context prod from {kc}): connection refused"
    assert e.unreachable and e.transport == "refused"


async def test_dns_failure(tmp_path: Path) -> None:
    server = "https://apiserver.gpuconsole-test.invalid:6443"  # .invalid never resolves (RFC 6761)
    kc = _kubeconfig(tmp_path, server)
    e = await _fail(kc)
    assert e.transport == "dns", str(e)
    assert str(e).startswith(f"cannot reach {server} (context prod from {kc}): the host name "
                             "apiserver.gpuconsole-test.invalid does not resolve (")


async def test_timeout_while_connecting(tmp_path: Path) -> None:
    silent = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)  # accepts, never answers the handshake
    port = silent.sockets[0].getsockname()[1]
    try:
        server = f"https://127.0.0.1:{port}"
        kc = _kubeconfig(tmp_path, server)
        e = await _fail(kc, timeout=0.3)
        assert str(e) == f"cannot reach {server} (context prod from {kc}): no answer within 0.3 s while connecting"
        assert e.transport == "connect-timeout"
    finally:
        silent.close()


async def test_no_answer_names_the_request(sim_server) -> None:
    creds = load_kubeconfig(str(sim_server.kubeconfig), "sim-viewer")
    faults = sim_server.cluster.extras["faults"]
    async with KubeClient(creds, max_retries=0, timeout=0.3) as c:
        await c.version()  # connected; now the server stops answering
        faults.stall(30)
        try:
            with pytest.raises(ApiError) as e:
                await c.request("GET", "/api/v1/namespaces")
        finally:
            faults.resume()
    assert str(e.value) == (f"{sim_server.url} (context sim-viewer from {sim_server.kubeconfig}) did not answer "
                            "GET /api/v1/namespaces: no answer within 0.3 s")
    assert e.value.outcome_unknown


def test_home_is_written_as_a_tilde(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert show_path(str(tmp_path / ".kube" / "prod.yaml")) == "~/.kube/prod.yaml"
    assert show_path("/etc/k.yaml") == "/etc/k.yaml"


def test_an_unknown_failure_still_names_the_server() -> None:
    from console.kube.config import Credentials

    creds = Credentials(server="https://10.0.0.1:6443", context="prod", source="/k.yaml")
    e = reach.unreachable(RuntimeError("Something odd"), creds)
    assert str(e) == "cannot reach https://10.0.0.1:6443 (context prod from /k.yaml): something odd"
