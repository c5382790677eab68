"""HTTPS against the simulator, as every real user connects: token and client-certificate users, and each
TLS failure ending in one sentence that names its cause, exit 1, with nothing sent after it.

The server's certificate is made wrong on purpose (expired, not yet valid, for another host) with the
simulator's test hooks (`console.sim.tls.server_tls(problem=...)`); the client side is the console's own
path: kubeconfig → credentials → client, and `gpuconsole snapshot` as a user runs it.
"""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from console.cli import main
from console.kube import client as k
from console.kube.client import KubeClient
from console.kube.config import ConfigError, load_kubeconfig
from console.sim.tls import CertificateAuthority, server_tls
from tests.conftest import REPO, SimServer, make_sim_cluster, serve_sim

KUBECTL = shutil.which("kubectl")
WHOAMI = k.Res("authentication.k8s.io", "v1", "selfsubjectreviews", False, "SelfSubjectReview")


def _edit(kubeconfig: Path, fn) -> None:  # type: ignore[no-untyped-def]
    doc = yaml.safe_load(kubeconfig.read_text())
    fn(doc)
    kubeconfig.write_text(yaml.safe_dump(doc))


def _named(doc: dict, section: str, name: str) -> dict:
    return next(e for e in doc[section] if e["name"] == name)


async def _snapshot(kubeconfig: Path, capsys, context: str = "sim-admin",  # type: ignore[no-untyped-def]
                    view: str = "nodes") -> tuple[int, str, str]:
    capsys.readouterr()
    rc = await asyncio.to_thread(main, ["snapshot", "--kubeconfig", str(kubeconfig), "--context", context,
                                        "--view", view, "--timeout", "20"])
    out = capsys.readouterr()
    return rc, out.out, out.err


async def _whoami(sim: SimServer, context: str) -> dict:
    creds = load_kubeconfig(str(sim.kubeconfig), context)
    async with KubeClient(creds, max_retries=0) as c:
        review = await c.create(WHOAMI, {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"})
    return review["status"]["userInfo"]


# ---------------------------------------------------------------------------------------------- what works
async def test_kubeconfig_is_a_real_one(sim_server: SimServer) -> None:
    doc = yaml.safe_load(sim_server.kubeconfig.read_text())
    [cluster] = doc["clusters"]
    assert cluster["cluster"]["server"] == sim_server.url and sim_server.url.startswith("https://127.0.0.1:")
    ca = base64.b64decode(cluster["cluster"]["certificate-authority-data"])
    assert ca == Path(sim_server.ca_file).read_bytes()  # type: ignore[arg-type]
    tokens = set(sim_server.tokens.values())
    assert all(t not in sim_server.kubeconfig.read_text().split("token: ", 1)[0] for t in tokens)  # none in a URL
    assert {u["user"]["token"] for u in doc["users"] if "token" in u["user"]} == tokens
    cert_user = _named(doc, "users", "sim-cert")["user"]
    assert set(cert_user) == {"client-certificate-data", "client-key-data"}
    assert _named(doc, "contexts", "sim-cert")["context"] == {"cluster": "gpuconsole-sim", "user": "sim-cert",
                                                               "namespace": "default"}


async def test_token_user_over_tls(sim_server: SimServer) -> None:
    creds = load_kubeconfig(str(sim_server.kubeconfig), "sim-team-a")
    assert creds.tls == "verified" and creds.token == sim_server.tokens["team-a"]
    assert await _whoami(sim_server, "sim-team-a") == {"username": "team-a", "groups": ["system:authenticated"]}
    async with KubeClient(creds, max_retries=0) as c:
        assert [n["metadata"]["name"] for n in (await c.list(k.NODES))[0]] == ["node-1"]


async def test_client_certificate_user_is_its_cn_in_its_o_groups(sim_server: SimServer) -> None:
    creds = load_kubeconfig(str(sim_server.kubeconfig), "sim-cert")
    assert creds.token is None and creds.cert_file and creds.key_file
    assert await _whoami(sim_server, "sim-cert") == {"username": "cert-admin",
                                                     "groups": ["system:masters", "system:authenticated"]}
    async with KubeClient(creds, max_retries=0) as c:  # system:masters: an admin
        assert (await c.can_i("delete", k.NODES))[0]


async def test_a_certificate_for_a_token_user_is_that_user(sim_server: SimServer, tmp_path: Path) -> None:
    ca = sim_server.server.tls.ca  # type: ignore[attr-defined]
    viewer = ca.issue_client("viewer")
    (tmp_path / "v.crt").write_bytes(viewer.cert_pem)
    (tmp_path / "v.key").write_bytes(viewer.key_pem)
    _edit(sim_server.kubeconfig, lambda d: _named(d, "users", "sim-cert").__setitem__(
        "user", {"client-certificate": str(tmp_path / "v.crt"), "client-key": str(tmp_path / "v.key")}))
    assert await _whoami(sim_server, "sim-cert") == {"username": "viewer", "groups": ["system:authenticated"]}


@pytest.mark.kubectl
@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not on PATH")
async def test_kubectl_as_the_certificate_user(sim_server: SimServer) -> None:
    env = {**os.environ, "KUBECONFIG": str(sim_server.kubeconfig), "KUBECACHEDIR": str(sim_server.kubeconfig.parent)}
    proc = await asyncio.create_subprocess_exec(KUBECTL, "--context", "sim-cert", "auth", "whoami", "-o", "yaml",  # type: ignore[arg-type]
                                                env=env, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    info = yaml.safe_load(out)["status"]["userInfo"]
    assert info["username"] == "cert-admin" and info["groups"] == ["system:masters", "system:authenticated"]


async def test_insecure_skip_tls_verify_is_honoured(sim_cluster, tmp_path: Path, capsys) -> None:
    sim, srv = await serve_sim(sim_cluster, tmp_path, tls=server_tls(problem="wrong-host"))
    try:
        def skip(doc: dict) -> None:
            cl = doc["clusters"][0]["cluster"]
            del cl["certificate-authority-data"]
            cl["insecure-skip-tls-verify"] = True
        _edit(sim.kubeconfig, skip)
        assert load_kubeconfig(str(sim.kubeconfig)).tls == "unverified"
        rc, out, err = await _snapshot(sim.kubeconfig, capsys, view="all")
        assert rc == 0, err
        assert "tls: unverified" in out and "node-1" in out
    finally:
        await srv.stop()  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------------------------- what fails
def _other_ca(doc: dict) -> None:
    doc["clusters"][0]["cluster"]["certificate-authority-data"] = base64.b64encode(
        CertificateAuthority("someone-else").cert_pem).decode()


def _garbage_key(doc: dict) -> None:
    _named(doc, "users", "sim-cert")["user"]["client-key-data"] = base64.b64encode(b"not a key\n").decode()


def _foreign_key(doc: dict) -> None:
    other = CertificateAuthority().issue_client("x")
    _named(doc, "users", "sim-cert")["user"]["client-key-data"] = base64.b64encode(other.key_pem).decode()


def _foreign_cert(doc: dict) -> None:
    other = CertificateAuthority("someone-else").issue_client("cert-admin", ["system:masters"])
    _named(doc, "users", "sim-cert")["user"].update({
        "client-certificate-data": base64.b64encode(other.cert_pem).decode(),
        "client-key-data": base64.b64encode(other.key_pem).decode()})


def _bad_token(doc: dict) -> None:
    u = _named(doc, "users", "sim-admin")["user"]
    u["token"] = u["token"][:-4] + "0000"


# (server certificate problem, kubeconfig edit, context, cause the message ends with)
FAILURES = {
    "wrong CA": ("", _other_ca, "sim-admin",
                 "the server's certificate is not signed by a certificate authority this client trusts "
                 "(certificate-authority-data of cluster gpuconsole-sim in {kc})"),
    "expired": ("expired", None, "sim-admin", "the server's certificate has expired (or this machine's clock is "
                                              "wrong)"),
    "not yet valid": ("not-yet-valid", None, "sim-admin", "the server's certificate is not valid yet (or this "
                                                          "machine's clock is wrong)"),
    "wrong host": ("wrong-host", None, "sim-admin", "the server's certificate is not issued for 127.0.0.1 (it "
                                                    "names other hosts)"),
}


@pytest.mark.parametrize("case", list(FAILURES))
async def test_tls_failure_is_one_sentence_and_nothing_is_sent(case: str, sim_cluster, tmp_path: Path,
                                                               capsys) -> None:
    problem, edit, context, cause = FAILURES[case]
    sim, srv = await serve_sim(sim_cluster, tmp_path, tls=server_tls(problem=problem) if problem else True)
    try:
        if edit:
            _edit(sim.kubeconfig, edit)
        rc, out, err = await _snapshot(sim.kubeconfig, capsys, context)
        assert rc == 1 and out == ""
        assert err == (f"gpuconsole snapshot: cannot connect securely to {sim.url} (context {context} from {sim.kubeconfig}): "
                       f"{cause.format(kc=sim.kubeconfig)}\n")
        assert srv.api.requests == 0  # type: ignore[attr-defined]  # the handshake failed: no request was sent
    finally:
        await srv.stop()  # type: ignore[attr-defined]


async def test_client_certificate_from_another_ca(sim_server: SimServer, capsys) -> None:
    # kube-apiserver answers such a handshake with an alert, which reads "the server refused the client
    # certificate"; the simulator's asyncio TLS closes without one, so the client can only say what it saw.
    _edit(sim_server.kubeconfig, _foreign_cert)
    rc, out, err = await _snapshot(sim_server.kubeconfig, capsys, "sim-cert")
    assert rc == 1 and out == "" and err.count("\n") == 1
    assert err.startswith(f"gpuconsole snapshot: ") and f"(context sim-cert from {sim_server.kubeconfig})" in err
    assert err.endswith(f"(it may not accept the client certificate, client-certificate-data in "
                        f"{sim_server.kubeconfig})\n")
    assert sim_server.server.api.requests == 0  # type: ignore[attr-defined]


@pytest.mark.parametrize("edit,cause", [
    (_garbage_key, "the client key of user sim-cert (client-key-data in {kc}, context sim-cert) is not a PEM "
                   "private key"),
    (_foreign_key, "cannot use the client certificate of user sim-cert (client-key-data in {kc}, context sim-cert):"
                   " the key does not belong to the certificate"),
], ids=["not a key", "another certificate's key"])
async def test_unreadable_client_key_is_one_sentence(sim_server: SimServer, capsys, edit, cause) -> None:
    _edit(sim_server.kubeconfig, edit)
    with pytest.raises(ConfigError):
        load_kubeconfig(str(sim_server.kubeconfig), "sim-cert")
    rc, out, err = await _snapshot(sim_server.kubeconfig, capsys, "sim-cert")
    assert rc == 1 and out == ""
    assert err == f"gpuconsole snapshot: {cause.format(kc=sim_server.kubeconfig)}\n"
    assert sim_server.server.api.requests == 0  # type: ignore[attr-defined]


async def test_missing_client_key_file_names_it(sim_server: SimServer, capsys, tmp_path: Path) -> None:
    def to_files(doc: dict) -> None:
        u = _named(doc, "users", "sim-cert")["user"]
        (tmp_path / "c.crt").write_bytes(base64.b64decode(u["client-certificate-data"]))
        (tmp_path / "keys").mkdir()
        _named(doc, "users", "sim-cert")["user"] = {"client-certificate": "c.crt", "client-key": "keys"}
    _edit(sim_server.kubeconfig, to_files)
    rc, out, err = await _snapshot(sim_server.kubeconfig, capsys, "sim-cert")
    assert rc == 1
    assert err == (f"gpuconsole snapshot: cannot read the client key of user sim-cert (client-key {tmp_path / 'keys'}, "
                   "context sim-cert): it is a folder\n")


async def test_rejected_token_is_one_sentence_and_nothing_more_is_sent(sim_server: SimServer, capsys) -> None:
    _edit(sim_server.kubeconfig, _bad_token)
    rc, out, err = await _snapshot(sim_server.kubeconfig, capsys)
    assert rc == 1 and out == ""
    assert err == (f"gpuconsole snapshot: {sim_server.url} (context sim-admin from {sim_server.kubeconfig}) rejected "
                   "the bearer token of user sim-admin (401 Unauthorized: the credentials are wrong, expired or "
                   "revoked)\n")
    trail = list(sim_server.server.api.trail)  # type: ignore[attr-defined]
    assert [t[2] for t in trail].count(401) == 1 and trail[-1][2] == 401, trail


async def test_cli_verb_with_rejected_token_sends_nothing_more(sim_server: SimServer, capsys) -> None:
    _edit(sim_server.kubeconfig, _bad_token)
    capsys.readouterr()
    rc = await asyncio.to_thread(main, ["scale", "runai-team-a/p1", "2", "--yes", "--kubeconfig",
                                        str(sim_server.kubeconfig)])
    err = capsys.readouterr().err
    assert rc == 1
    assert f"{sim_server.url} (context sim-admin from {sim_server.kubeconfig}) rejected the bearer token" in err
    statuses = [t[2] for t in sim_server.server.api.trail]  # type: ignore[attr-defined]
    assert statuses and set(statuses) == {401}, statuses  # every request was the first one; no retry after


# ---------------------------------------------------------------------------------------------- by hand
@pytest.mark.kubectl
@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not on PATH")
def test_sim_process_kubeconfig_works_with_kubectl_and_snapshot(tmp_path: Path) -> None:
    """The checks a user runs by hand: `gpuconsole sim --kubeconfig-out k.yaml`, then kubectl and snapshot."""
    kc = tmp_path / "k.yaml"
    sim = subprocess.Popen([sys.executable, "-m", "console.cli", "sim", "--kubeconfig-out", str(kc), "--static",
                            "--exit-with-parent"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                           cwd=REPO)
    try:
        assert sim.stdout is not None
        ready, url = sim.stdout.readline().split()
        assert ready == "ready" and url.startswith("https://127.0.0.1:")
        text = kc.read_text()
        doc = yaml.safe_load(text)
        assert doc["clusters"] == [{"name": "gpuconsole-sim", "cluster": {
            "server": url, "certificate-authority-data": doc["clusters"][0]["cluster"]["certificate-authority-data"]}}]
        assert "/sim/auth/" not in text
        env = {**os.environ, "KUBECACHEDIR": str(tmp_path / "cache")}

        def run(*argv: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(list(argv), capture_output=True, text=True, env=env, cwd=REPO, timeout=120)

        for ctx in ("sim-admin", "sim-cert"):
            r = run(KUBECTL, "--kubeconfig", str(kc), "--context", ctx, "get", "nodes")  # type: ignore[arg-type]
            assert r.returncode == 0 and "dgx-h100-01" in r.stdout, r.stderr
            r = run(sys.executable, "-m", "console.cli", "snapshot", "--kubeconfig", str(kc), "--context", ctx,
                    "--view", "nodes")
            assert r.returncode == 0 and "dgx-h100-01" in r.stdout, r.stderr
        _edit(kc, _other_ca)
        r = run(sys.executable, "-m", "console.cli", "snapshot", "--kubeconfig", str(kc))
        assert r.returncode == 1 and r.stdout == ""
        assert r.stderr.count("\n") == 1 and "the server's certificate is not signed by a certificate authority " \
            "this client trusts" in r.stderr, r.stderr
    finally:
        sim.terminate()
        sim.wait(20)
