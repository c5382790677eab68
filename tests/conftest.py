"""Shared test fixtures and paths."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
REALWORLD = SHARED / "realworld"


@pytest.fixture(autouse=True)
def _state_home_and_log(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Every test writes state (the audit log, the log file) under its own XDG state directory, never the real
    home; the log handler a command installs is removed after the test."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("state")))
    monkeypatch.delenv("GPUCONSOLE_LOG", raising=False)
    yield
    from console import logs
    logs.teardown()


@pytest.fixture
def realworld() -> Path:
    if not REALWORLD.is_dir():
        pytest.fail(f"real-world fixtures missing: expected {REALWORLD} beside the checkout")
    return REALWORLD


# ------------------------------------------------------------------------------------------ simulated apiserver
from collections.abc import AsyncIterator  # noqa: E402
from dataclasses import dataclass  # noqa: E402

import pytest_asyncio  # noqa: E402

from console.sim import faults as sim_faults, pdb as sim_pdb, validation as sim_validation  # noqa: E402
from console.sim.auth import Users, write_kubeconfig  # noqa: E402
from console.sim.cluster import SimCluster  # noqa: E402
from console.sim.resources import NAMESPACES, NODES, PODS, QUEUES  # noqa: E402

PROJECT_NS = "runai-team-a"


def make_sim_cluster(seed: int = 7) -> SimCluster:
    """A small cluster: namespaces, a department with one project (team-a), a node and one pod.

    Admission (validation, defaulting), faults and PDB status are installed; no scheduler runs, so
    tests set pod state themselves.
    """
    c = SimCluster(seed=seed, manual_clock=True)
    sim_validation.install(c)
    sim_faults.install(c)
    sim_pdb.install(c)
    s = c.store
    s.create(NAMESPACES, {"metadata": {"name": "default"}})
    s.create(NAMESPACES, {"metadata": {"name": PROJECT_NS, "labels": {"runai/queue": "team-a"}}})
    s.create(QUEUES, {"metadata": {"name": "dept-1"}, "spec": {"resources": {"gpu": {"quota": 8, "limit": -1}}}})
    s.create(QUEUES, {"metadata": {"name": "team-a"},
                      "spec": {"parentQueue": "dept-1", "resources": {"gpu": {"quota": 4, "limit": -1}}}})
    s.create(NODES, {"metadata": {"name": "node-1", "labels": {"nvidia.com/gpu.count": "8"}},
                     "status": {"conditions": [{"type": "Ready", "status": "True"}],
                                "allocatable": {"nvidia.com/gpu": "8"}}})
    s.create(PODS, {"metadata": {"name": "p1", "namespace": PROJECT_NS, "labels": {"app": "p1"}},
                    "spec": {"containers": [{"name": "main", "image": "busybox:1.36"}]}})
    return c


@pytest.fixture
def sim_cluster() -> SimCluster:
    return make_sim_cluster()


@dataclass
class SimServer:
    """A running simulated apiserver: its URL, cluster, users' tokens and a kubeconfig for kubectl.

    HTTPS by default, as every real cluster is: `ca_file` holds the CA a client must trust, and
    `credentials()` / `client()` build clients that do.
    """

    url: str
    cluster: SimCluster
    server: object
    tokens: dict[str, str]
    kubeconfig: Path
    ca_file: str | None = None

    def headers(self, user: str = "admin") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}

    def verify(self):  # type: ignore[no-untyped-def]
        import ssl
        return ssl.create_default_context(cafile=self.ca_file) if self.ca_file else True

    def client(self, user: str | None = "admin", **kw: object):
        """An httpx client for `user` (None: anonymous) that trusts the server's CA."""
        import httpx
        kw.setdefault("timeout", 10.0)
        kw.setdefault("verify", self.verify())
        return httpx.AsyncClient(base_url=self.url, headers=self.headers(user) if user else {}, **kw)

    def credentials(self, user: str | None = "admin", token: str | None = None):  # type: ignore[no-untyped-def]
        """Credentials built by hand for `user`'s token (or `token`), trusting the server's CA."""
        from console.kube.config import Credentials
        return Credentials(server=self.url, token=token if token is not None else self.tokens[user] if user else None,
                           ca_file=self.ca_file)


async def serve_sim(cluster: SimCluster, tmp_path: Path, *, tls: object = True, name: str = "kubeconfig",
                    **kw: object) -> tuple[SimServer, object]:
    """Serve `cluster` over loopback (HTTPS unless `tls=False`) and write its kubeconfig and CA file."""
    from console.sim.server import start_server

    srv = await start_server(cluster, tls=tls, **kw)  # type: ignore[arg-type]
    users = Users(cluster)
    kubeconfig = tmp_path / name
    write_kubeconfig(kubeconfig, srv.url, users, tls=srv.tls)
    ca_file = None
    if srv.tls is not None:
        ca = tmp_path / f"{name}-ca.pem"
        ca.write_bytes(srv.tls.ca.cert_pem)
        ca_file = str(ca)
    tokens = {n: users.token(n) for n in users.names()}
    return SimServer(srv.url, cluster, srv, tokens, kubeconfig, ca_file), srv


@pytest_asyncio.fixture
async def sim_server(sim_cluster: SimCluster, tmp_path: Path) -> AsyncIterator[SimServer]:
    sim, srv = await serve_sim(sim_cluster, tmp_path, bookmark_interval=0.1, log_poll_interval=0.01)
    try:
        yield sim
    finally:
        await srv.stop()  # type: ignore[attr-defined]


@pytest_asyncio.fixture
async def sim_server_plain(sim_cluster: SimCluster, tmp_path: Path) -> AsyncIterator[SimServer]:
    """The debugging mode: plain HTTP, tokens also accepted in `/sim/auth/<token>` URL paths."""
    sim, srv = await serve_sim(sim_cluster, tmp_path, tls=False, bookmark_interval=0.1, log_poll_interval=0.01)
    try:
        yield sim
    finally:
        await srv.stop()  # type: ignore[attr-defined]


@pytest_asyncio.fixture
async def demo(tmp_path: Path) -> AsyncIterator[tuple[SimCluster, str]]:
    """The seeded demo cluster, settled on a manual clock, served over loopback: (cluster, kubeconfig path)."""
    from console.sim.build import make_cluster

    cluster = make_cluster("demo", seed=42, manual_clock=True)
    cluster.settle()
    sim, srv = await serve_sim(cluster, tmp_path)
    try:
        yield cluster, str(sim.kubeconfig)
    finally:
        await srv.stop()  # type: ignore[attr-defined]


# ------------------------------------------------------------------------------------------ serving pages in-process
class SimPages:
    """A page fetcher that asks the simulator's metrics handlers directly (no HTTP): the scraper's own code
    path from the pod proxy's answer on, for pictures and unit tests that must not wait on a network."""

    concurrency = 8
    creds = None

    def __init__(self, cluster: SimCluster) -> None:
        self.cluster = cluster

    async def proxy(self, namespace: str, pod: str, port: int, path: str) -> bytes:
        import inspect

        from console.sim.errors import ApiError as SimApiError
        from console.telemetry.serving_scrape import FetchError
        obj = self.cluster.store.try_get(PODS, namespace, pod)
        handler = self.cluster.proxies.get(port)
        if obj is None or handler is None:
            raise FetchError(f"HTTP 404: no handler on port {port}")
        try:
            got = handler(obj, path.strip("/"), {})
            if inspect.isawaitable(got):
                got = await got
        except SimApiError as e:
            raise FetchError(f"HTTP {e.code}: {e.message}") from None
        return got[1]

    async def direct(self, url: str) -> bytes:
        from console.telemetry.serving_scrape import FetchError
        raise FetchError("pod IPs are not reachable from here")

    async def aclose(self) -> None:
        pass


async def serving_rounds(cluster: SimCluster, store, seconds: tuple[float, ...] = (0.0, 10.0), tracker=None):  # type: ignore[no-untyped-def]
    """Scrape every inference pod of `store` from `cluster` at each offset (advancing its clock), into a tracker."""
    from console.model.serving_view import scrape_targets
    from console.telemetry.serving_scrape import ServingScraper
    from console.telemetry.serving_tracker import ServingTracker

    tracker = tracker or ServingTracker()
    scraper = ServingScraper(SimPages(cluster), mode="proxy")  # type: ignore[arg-type]
    last = 0.0
    for t in seconds:
        while last < t:
            cluster.clock.advance(min(1.0, t - last))
            cluster.settle()
            last = min(t, last + 1.0)
        store.refresh()
        tracker.ingest(cluster.clock.now(), await scraper.scrape(scrape_targets(store)))
    return tracker
