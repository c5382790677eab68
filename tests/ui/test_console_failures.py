"""Failure stays calm: an unreachable cluster, a dropped connection and a forbidden resource are states
in the header and the panes, with retry; the console keeps answering keys."""

from __future__ import annotations

from pathlib import Path

from console.config import Config
from console.kube.informer import Health
from console.ui.session import LiveSession, StaticSession

from .conftest import FROZEN_NOW, frozen_demo, synced, until

SIZE = (120, 30)


def _unreachable_kubeconfig(tmp_path: Path, server: str = "http://127.0.0.1:9") -> str:
    kc = tmp_path / "k.yaml"
    kc.write_text("apiVersion: v1\nkind: Config\n"
                  f"clusters: [{{name: c, cluster: {{server: '{server}'}}}}]\n"
                  "users: [{name: u, user: {token: t}}]\n"
                  "contexts: [{name: far, context: {cluster: c, user: u}}]\ncurrent-context: far\n")
    return str(kc)


async def test_unreachable_cluster_is_a_state_with_retry(tmp_path: Path) -> None:
    from console.app import ClusterConsole

    kc = _unreachable_kubeconfig(tmp_path)
    app = ClusterConsole(lambda ctx: LiveSession(kc, ctx, max_retries=0), retry_base=60.0)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.conn_state == "unreachable", what="unreachable state")
        h = app.query_one("#header").data
        assert h.connection == "unreachable" and "retry" in h.message
        # the context, the server and the file it came from, and the cause in words
        assert h.message.startswith(f"cannot reach http://127.0.0.1:9 (context far from {kc}): connection refused")
        assert "unreachable" in app.pane().state_message
        tries = []
        app.factory = lambda ctx: (tries.append(ctx), LiveSession(kc, ctx, max_retries=0))[1]
        await pilot.press("r")  # retry now, not in 60 s
        await until(pilot, lambda: len(tries) == 1 and app.conn_state == "unreachable", what="a retry")
        await pilot.press("2", "colon", *"nodes", "enter")  # the UI still answers
        assert app.view == "nodes"
        assert app.is_running


async def test_missing_kubeconfig_is_a_state_not_a_traceback(tmp_path: Path) -> None:
    from console.app import ClusterConsole

    missing = str(tmp_path / "nope.yaml")
    app = ClusterConsole(lambda ctx: LiveSession(missing, ctx), retry_base=60.0)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.conn_state == "unreachable", what="unreachable state")
        assert "not found" in app.query_one("#header").data.message


async def test_dropped_watches_show_reconnecting_then_recover(demo_env) -> None:
    app = demo_env.app()
    async with app.run_test(size=SIZE) as pilot:
        await synced(app, pilot)
        await until(pilot, lambda: all(h.connected for h in app.session.health), what="watches open")
        faults = demo_env.cluster.extras["faults"]
        faults.stall(30)
        faults.drop_watches()
        await until(pilot, lambda: "reconnecting" in app.pane("projects").state_message,
                    what="reconnecting shown on the pane")
        assert any(r.state == "reconnecting" for r in app.query_one("#header").data.resources)
        assert "↻" in str(app.query_one("#header").render())
        assert len(app.pane("projects").table) > 0, "the last known rows stay"
        faults.resume()
        await until(pilot, lambda: all(h.state == "synced" for h in app.session.health), timeout=20,
                    what="watches back")
        app.flush()
        assert app.pane("projects").state_message == ""


class _ForbiddenPods(StaticSession):
    @property
    def health(self) -> list[Health]:
        h = Health("pods", forbidden=True, last_error="403 Forbidden: pods is forbidden")
        ok = Health("nodes", synced=True, connected=True, last_event=1.0)
        return [h, ok]


async def test_forbidden_resource_is_shown_on_header_and_pane() -> None:
    from console.app import ClusterConsole
    from console.sim.resources import NODES

    cluster = frozen_demo()
    session = _ForbiddenPods({"nodes": list(cluster.store.items(NODES))})
    app = ClusterConsole(lambda ctx: session, now=lambda: FROZEN_NOW, config=Config())
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.session is session, what="session")
        app.flush()
        await pilot.pause()
        states = {r.kind: r.state for r in app.query_one("#header").data.resources}
        assert states == {"pods": "forbidden", "nodes": "synced"}
        assert "pods⊘" in str(app.query_one("#header").render())
        assert "forbidden" in app.pane("workloads").state_message
        await pilot.press("4")
        assert len(app.pane().table) == len(list(cluster.store.items(NODES)))
        assert app.pane().state_message == ""
