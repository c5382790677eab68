"""What samples this machine's GPUs: NVML, or (`GPUCONSOLE_FAKE_NVML=demo`) the fake standing in for a node.

Both go through the same `NvmlSampler`; only the library differs. The real one is nvidia-ml-py's
`pynvml` on whatever driver this machine has (none: the sampler's snapshot says why, in one line). The
fake follows one node of the connected cluster (`GPUCONSOLE_FAKE_NVML_NODE`, else the first GPU node
with pods on its GPUs), rebuilt from the model and that node's dcgm-exporter scrape before each sample;
with no cluster it shows two GPUs whose processes belong to no pod the console knows.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from console.telemetry.fake_nvml import FakeNvml, LocalScenario, demo_scenario
from console.telemetry.nvml import NvmlSampler
from console.telemetry.sampler import Snapshot

from .local_fake import pick_node, scenario_for_node
from .telemetry_view import physical

if TYPE_CHECKING:
    from .cluster_store import ClusterStore

FAKE_ENV = "GPUCONSOLE_FAKE_NVML"
FAKE_NODE_ENV = "GPUCONSOLE_FAKE_NVML_NODE"
FAKE_MODES = ("demo",)
FAKE_HOST = "fake-nvml-host"


def fake_mode(env: Mapping[str, str] | None = None) -> str | None:
    """`demo` when the environment asks for the fake NVML; None for the real library. Raises ValueError
    for a value it does not know (so a typo does not silently sample the real GPUs)."""
    v = (os.environ if env is None else env).get(FAKE_ENV, "").strip()
    if not v:
        return None
    if v not in FAKE_MODES:
        raise ValueError(f"{FAKE_ENV}={v!r}: unknown (use {' or '.join(FAKE_MODES)}, or unset it for real NVML)")
    return v


def this_host() -> str:
    """The names this machine goes by for the node lookup: NODE_NAME (set from the downward API when
    the console runs in a pod), else the hostname."""
    return os.environ.get("NODE_NAME") or socket.gethostname()


class LocalSource:
    """This machine's GPU sampler, real or fake; `refresh` keeps a fake in step with the cluster."""

    def __init__(self, fake: str | None = None, *, node: str | None = None, interval_s: float = 2.0,
                 clock: Callable[[], float] = time.monotonic, nvml: Any = None, **sampler_kw: Any) -> None:
        self.fake_mode = fake
        self.wanted_node = node if node is not None else (os.environ.get(FAKE_NODE_ENV) or None)
        self.fake: FakeNvml | None = None
        self.node: str | None = None          # the node a fake stands in for
        self._delivered: dict[str, int] = {}  # the XID each fake GPU last raised
        if fake:
            self.fake = FakeNvml(demo_scenario(), clock=clock)
            nvml = self.fake
            sampler_kw.setdefault("pod_of_pid", self.fake.pod_of_pid)
            self.host = FAKE_HOST
        else:
            self.host = this_host()
        self.sampler = NvmlSampler(nvml, node=self.host, interval_s=interval_s, clock=clock, **sampler_kw)

    @property
    def source(self) -> str:
        return f"fake NVML ({self.fake_mode})" if self.fake_mode else "nvml"

    @property
    def interval_s(self) -> float:
        return self.sampler.interval_s

    @property
    def driver(self) -> str | None:
        return self.sampler.driver_version

    def refresh(self, store: ClusterStore | None, dcgm: Snapshot | None = None) -> None:
        """A fake follows its node: GPUs, values, health and processes from the model and the scrape."""
        if self.fake is None or store is None:
            return
        node = pick_node(store, self.wanted_node)
        if node is None:
            return
        samples = physical(dcgm.nodes[node].gpus) if dcgm is not None and node in dcgm.nodes else []
        self._apply(scenario_for_node(store, node, samples))
        if node != self.node:
            self.node = node
            self.host = node                  # the fake is that node
            self.sampler.node = node
        for i, g in enumerate(self.fake.scenario.gpus):
            xid = next((s.health.xid for s in samples if s.uuid == g.uuid and s.health is not None), None)
            if xid and self._delivered.get(g.uuid) != xid:
                self._delivered[g.uuid] = xid
                self.fake.xid(i, xid)         # as the driver would raise it: once, as an event

    def _apply(self, new: LocalScenario) -> None:
        """Swap in the new GPUs; GPUs that stay (same UUID) keep the XID events still waiting on them."""
        assert self.fake is not None
        old = {g.uuid: g for g in self.fake.scenario.gpus}
        for g in new.gpus:
            if g.uuid in old:
                g.xids = old[g.uuid].xids
        self.fake.scenario = new

    async def sample(self) -> Snapshot:
        return await self.sampler.sample()

    async def close(self) -> None:
        await self.sampler.close()
