"""Small simulated clusters for the action tests, served over loopback, with a session per context."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import yaml

from console.actions.audit import AuditLog
from console.actions.session import ActionSession
from console.kube.client import KubeClient
from console.kube.config import load_kubeconfig
from console.sim.auth import Users, write_kubeconfig
from console.sim.build import make_cluster
from console.sim.cluster import SimCluster
from console.sim.resources import BY_KEY
from console.sim.server import RunningServer, start_server

Obj = dict[str, Any]


def scenario(projects: list[Obj], gpus: int = 4, nodes: int = 1, workloads: list[Obj] | None = None,
             product: str = "NVIDIA-A100-SXM4-40GB", dept_quota: float = 8) -> Obj:
    return {"name": "actions", "departments": [{"name": "dept", "quota": dept_quota, "limit": -1}],
            "projects": [{"department": "dept", "limit": -1, **p} for p in projects],
            "nodePools": [{"name": "gpu", "product": product, "count": nodes, "gpus": gpus}],
            "workloads": workloads or []}


def snapshot(cluster: SimCluster) -> dict[str, list[tuple]]:
    """Every object's identity and resourceVersion: equal before and after means nothing changed."""
    out = {}
    for key in ("deployments.apps", "jobs.batch", "services", "pods", "replicasets.apps",
                "poddisruptionbudgets.policy", "queues.scheduling.run.ai"):
        rt = BY_KEY[key]
        out[key] = sorted((o["metadata"].get("namespace", ""), o["metadata"]["name"],
                           o["metadata"]["resourceVersion"]) for o in cluster.store.items(rt))
    return out


@dataclass
class Env:
    cluster: SimCluster
    server: RunningServer
    kubeconfig: Path
    audit: AuditLog
    clients: list[KubeClient] = field(default_factory=list)

    async def session(self, context: str = "sim-admin", readonly: bool = False, timeout: float = 10.0,
                      retries: int = 0) -> ActionSession:
        creds = load_kubeconfig(str(self.kubeconfig), context)
        client = KubeClient(creds, timeout=timeout, max_retries=retries, backoff_base=0.01, backoff_max=0.02)
        self.clients.append(client)
        return ActionSession(client, audit=self.audit, readonly=readonly)

    def settle(self, seconds: float = 1.0) -> None:
        self.cluster.clock.advance(seconds)
        self.cluster.settle()

    def token(self, name: str = "admin") -> str:
        return self.server.users.token(name)


@pytest.fixture(autouse=True)
def _state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The audit log goes to the test's own XDG state directory, never the real home."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    return tmp_path / "state"


@pytest_asyncio.fixture
async def make_env(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    envs: list[Env] = []

    async def make(spec: Obj, without: tuple[str, ...] = ()) -> Env:
        path = tmp_path / f"scenario-{len(envs)}.yaml"
        path.write_text(yaml.safe_dump(spec))
        cluster = make_cluster(str(path), seed=11, manual_clock=True, without=without)
        cluster.settle()
        srv = await start_server(cluster, bookmark_interval=0.2)
        kc = tmp_path / f"kubeconfig-{len(envs)}"
        write_kubeconfig(kc, srv.url, Users(cluster), tls=srv.tls)
        env = Env(cluster, srv, kc, AuditLog(tmp_path / "state" / "gpuconsole" / "audit.jsonl"))
        envs.append(env)
        return env

    try:
        yield make
    finally:
        for env in envs:
            for c in env.clients:
                await c.aclose()
            await env.server.stop()
