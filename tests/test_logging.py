"""The log file: where it goes, its level, its rotation, what it records, and that no credential reaches it."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from console import logs
from console.cli import main
from console.kube import redact as redact_mod
from console.kube.redact import redact
from console.sim.auth import Users, write_kubeconfig


def test_shapes_of_credentials_are_masked() -> None:
    redact_mod.remember("s3cr3t-token-value")
    # Secret-shaped test data built from parts, so that no file carries what a secret scanner flags.
    pem = "-----BEGIN RSA PRIVATE" + " KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE" + " KEY-----"
    jwt_head = "eyJhbGci" + "OiJSUzI1NiJ9"
    lines = {
        "GET http://h/api?x=s3cr3t-token-value": "s3cr3t-token-value",
        "headers {'Authorization': 'Bearer abcdef123456'}": "abcdef123456",
        "Authorization: Basic dXNlcjpwYXNzd29yZA==": "dXNlcjpwYXNzd29yZA==",
        f"retrying with bearer {jwt_head}.payload.sig": jwt_head,
        "user: {token: kubeconfig-token-1}": "kubeconfig-token-1",
        "password=hunter2hunter2": "hunter2hunter2",
        "client-key-data: LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0t": "LS0tLS1CRUdJTiBQUklW",
        pem: "MIIEowIBAAKCAQEA",
        "http://127.0.0.1:4/sim/auth/abc-def-ghi/api/v1/pods": "abc-def-ghi",
    }
    for line, secret in lines.items():
        out = redact(line)
        assert secret not in out and "***" in out, (line, out)
    assert redact("synced 96 GPUs on 14 nodes") == "synced 96 GPUs on 14 nodes"


def test_level_path_rotation_and_a_bad_level(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert logs.default_path() == tmp_path / "xdg" / "gpuconsole" / "gpuconsole.log"
    path = logs.setup()
    assert path == logs.default_path() and path.exists()
    handler = next(h for h in logging.getLogger().handlers if getattr(h, "_gpuconsole", False))
    assert (handler.maxBytes, handler.backupCount) == (logs.MAX_BYTES, logs.BACKUPS)  # type: ignore[attr-defined]
    logging.getLogger("gpuconsole.test").debug("not at info")
    logging.getLogger("gpuconsole.test").info("at info")
    handler.flush()
    text = path.read_text()
    assert "at info" in text and "not at info" not in text
    assert logs.setup(path) == path and sum(getattr(h, "_gpuconsole", False)
                                            for h in logging.getLogger().handlers) == 1, "setup is idempotent"
    monkeypatch.setenv("GPUCONSOLE_LOG", "loud")
    assert main(["completion", "bash"]) == 0, "completion never opens the log"
    capsys.readouterr()
    assert main(["snapshot", "--kubeconfig", str(tmp_path / "none.yaml")]) == 2
    assert "GPUCONSOLE_LOG='loud' is not a level: use debug, info, warning or error" in capsys.readouterr().err
    monkeypatch.setenv("GPUCONSOLE_LOG", "WARNING")
    assert logs.level_from_env() == logging.WARNING
    blocked = tmp_path / "file-not-dir"
    blocked.write_text("")
    assert logs.setup(blocked / "x.log") is None
    assert "gpuconsole: no log file: cannot open" in capsys.readouterr().err


async def test_no_token_reaches_the_log_after_snapshot_actions_and_the_console(tmp_path: Path, monkeypatch, capsys
                                                                               ) -> None:
    """Over plain HTTP the simulator's kubeconfig carries every user's token in its server URL, and at debug
    level httpx logs every request URL: the harshest case for the log."""
    from console.sim.build import make_cluster
    from console.sim.server import start_server

    cluster = make_cluster("demo", seed=42, manual_clock=True)
    cluster.settle()
    srv = await start_server(cluster, tls=False, bookmark_interval=0.2)
    users = Users(cluster)
    kubeconfig = tmp_path / "kubeconfig"
    write_kubeconfig(kubeconfig, srv.url, users)
    tokens = [users.token(n) for n in users.names()]
    log_file = tmp_path / "logs" / "gpuconsole.log"
    monkeypatch.setenv("GPUCONSOLE_LOG", "debug")
    kc = str(kubeconfig)
    try:
        for argv in (["snapshot", "--kubeconfig", kc, "-o", "json", "--log-file", str(log_file)],
                     ["snapshot", "--kubeconfig", kc, "-n", "no-such-namespace", "--log-file", str(log_file)],
                     ["--log-file", str(log_file), "--kubeconfig", kc, "--context", "sim-viewer", "scale",
                      "runai-chat-serving/embeddings", "3", "--yes"],
                     ["--log-file", str(log_file), "--kubeconfig", kc, "delete", "-n", "runai-vision", "-l", "a=b"]):
            await asyncio.to_thread(main, argv)
        capsys.readouterr()

        from console.app import ClusterConsole
        from console.ui.session import LiveSession

        logs.setup(log_file)
        app = ClusterConsole(lambda ctx: LiveSession(kc, ctx), context="sim-researcher-vision")
        async with app.run_test() as pilot:
            while app.session is None or not app.session.live:
                await pilot.pause(0.02)
            assert await app.session.wait_synced(30)
            app.notify("a warning the console shows", severity="warning")
            app.notify("an error with its cause", severity="error", cause=RuntimeError(f"boom {tokens[0]}"))
            await pilot.pause()
            await app.action_quit()
        failing = ClusterConsole(lambda ctx: LiveSession(str(tmp_path / "missing"), ctx), retry_base=60)
        async with failing.run_test() as pilot:
            while failing.conn_state != "unreachable":
                await pilot.pause(0.02)
            await failing.action_quit()
    finally:
        await srv.stop()
    logs.teardown()
    text = "\n".join(p.read_text() for p in log_file.parent.glob("gpuconsole.log*"))
    assert "HTTP Request: GET" in text and "/sim/auth/***/api" in text, "debug logs every request, masked"
    assert "namespace 'no-such-namespace' not found" in text
    assert "sim-viewer cannot patch" in text or "refused" in text, "the refused action is on record"
    assert "no workload in runai-vision matches -l 'a=b'" in text
    assert "a warning the console shows" in text and "RuntimeError: boom ***" in text
    assert "cannot connect to the current context (attempt 1" in text and "not found" in text
    for token in tokens:
        assert token not in text, "a user's token reached the log"
