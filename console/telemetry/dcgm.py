"""DcgmExporterSampler: every GPU of the cluster, from each node's dcgm-exporter pod.

Exporter pods are found through the API by label: `app=nvidia-dcgm-exporter` (GPU Operator) and
`app.kubernetes.io/name=dcgm-exporter` (standalone chart). Each pod is scraped, not the Service (it
load-balances to one pod). Directly at `http://<podIP>:9400/metrics` when this machine can reach pod
IPs, else through the API server's pod proxy; "auto" tries direct once and sticks to what works.
Scrapes run concurrently on one aiohttp pool (`console.kube.scrape`: the API client's credentials and
TLS for the proxy; httpx cost six times the bytes here), each with its own timeout; one node's failure
is that node's `error`.
Sampling faster than the exporter collects (`DCGM_EXPORTER_INTERVAL`, 30 s by default) returns the
previous snapshot, since the exporter would answer with the same values.

A shared GPU is labelled by the exporter with its KAI/Run:ai reservation pod; the sampler replaces it
with the pods that share the GPU (same `runai-gpu-group` label) and keeps the reservation pod apart.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from console.kube.client import PODS, KubeClient
from console.kube.errors import ApiError
from console.kube.scrape import Scraper, ScrapeError

from .dcgm_parse import parse, to_sample
from .sampler import VIA_GPU_GROUP, GpuSample, NodeGpus, PodRef, Snapshot

Obj = dict[str, Any]

EXPORTER_SELECTORS = ("app=nvidia-dcgm-exporter", "app.kubernetes.io/name=dcgm-exporter")
GROUP_LABEL = "runai-gpu-group"
RESERVATION_NAMESPACES = frozenset({"kai-resource-reservation", "runai-reservation"})
DEFAULT_PORT = 9400
DEFAULT_INTERVAL_S = 30.0
MODES = ("auto", "direct", "proxy")


@dataclass(frozen=True, slots=True)
class Target:
    """One exporter to scrape. `url` set: scrape it as is (static targets, benchmarks)."""

    node: str
    namespace: str = ""
    pod: str = ""
    ip: str | None = None
    port: int = DEFAULT_PORT
    interval_s: float = DEFAULT_INTERVAL_S
    url: str | None = None

    @property
    def label(self) -> str:
        return f"{self.namespace}/{self.pod}" if self.pod else (self.url or self.node)


class GroupIndex(Protocol):
    def consumers(self, namespace: str, pod: str) -> tuple[PodRef, ...] | None:
        """The pods sharing a reservation pod's GPU; None when (namespace, pod) is not a reservation pod."""


def _interval_of(pod: Obj) -> float:
    """The exporter's collect interval: env DCGM_EXPORTER_INTERVAL or `-c/--collect-interval` (ms)."""
    for c in (pod.get("spec") or {}).get("containers") or []:
        for e in c.get("env") or []:
            if e.get("name") == "DCGM_EXPORTER_INTERVAL" and str(e.get("value", "")).isdigit():
                return int(e["value"]) / 1000.0
        args = [str(a) for a in (c.get("args") or []) + (c.get("command") or [])]
        for i, a in enumerate(args):
            for flag in ("-c", "--collect-interval"):
                if a == flag and i + 1 < len(args) and args[i + 1].isdigit():
                    return int(args[i + 1]) / 1000.0
                if a.startswith(flag + "=") and a.split("=", 1)[1].isdigit():
                    return int(a.split("=", 1)[1]) / 1000.0
    return DEFAULT_INTERVAL_S


def _port_of(pod: Obj) -> int:
    for c in (pod.get("spec") or {}).get("containers") or []:
        for p in c.get("ports") or []:
            if p.get("name") in ("metrics", "gpu-metrics") and isinstance(p.get("containerPort"), int):
                return p["containerPort"]
        for e in c.get("env") or []:
            if e.get("name") == "DCGM_EXPORTER_LISTEN":
                tail = str(e.get("value", "")).rpartition(":")[2]
                if tail.isdigit():
                    return int(tail)
    return DEFAULT_PORT


def target_of(pod: Obj) -> Target | None:
    """A scrape target for a running exporter pod on a node; None for pods that cannot be scraped."""
    md, spec, st = pod.get("metadata") or {}, pod.get("spec") or {}, pod.get("status") or {}
    node = spec.get("nodeName")
    if not node or st.get("phase") != "Running" or md.get("deletionTimestamp"):
        return None
    return Target(node, md.get("namespace", ""), md.get("name", ""), st.get("podIP"), _port_of(pod),
                  _interval_of(pod))


def _gpu_container(pod: Obj) -> str:
    md = pod.get("metadata") or {}
    name = (md.get("annotations") or {}).get("gpu-fraction-container-name")
    if name:
        return name
    cs = (pod.get("spec") or {}).get("containers") or []
    return cs[0].get("name", "") if cs else ""


def _groups_of(labels: dict[str, str]) -> list[str]:
    return [v or k.partition("/")[2] for k, v in labels.items()
            if k == GROUP_LABEL or k.startswith(GROUP_LABEL + "/")]


class ApiGroupIndex:
    """Reservation pods and their sharing pods from a pod list (`labelSelector=runai-gpu-group`).

    Multi-device fractions (`runai-gpu-group/<id>` labels) are only seen when the caller passes them
    in: a label selector cannot match a key prefix.
    """

    def __init__(self, pods: Sequence[Obj] = ()) -> None:
        self.reservations: dict[tuple[str, str], list[str]] = {}
        self.members: dict[str, list[PodRef]] = {}
        for p in pods:
            md = p.get("metadata") or {}
            ns, name = md.get("namespace", ""), md.get("name", "")
            groups = _groups_of(md.get("labels") or {})
            if not groups:
                continue
            if ns in RESERVATION_NAMESPACES:
                self.reservations[(ns, name)] = groups
                continue
            if (p.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                continue
            ref = PodRef(ns, name, _gpu_container(p), VIA_GPU_GROUP, md.get("uid", ""))
            for g in groups:
                self.members.setdefault(g, []).append(ref)

    def consumers(self, namespace: str, pod: str) -> tuple[PodRef, ...] | None:
        groups = self.reservations.get((namespace, pod))
        if groups is None:
            return None
        out: list[PodRef] = []
        for g in groups:
            for r in sorted(self.members.get(g, ()), key=lambda r: (r.namespace, r.name)):
                if r not in out:
                    out.append(r)
        return tuple(out)


def join_groups(g: GpuSample, groups: GroupIndex | None) -> GpuSample:
    """Replace a reservation pod in `g.pods` by the pods that share its GPU."""
    if groups is None or not g.pods:
        return g
    pods: list[PodRef] = []
    reservation = g.reservation
    for p in g.pods:
        members = groups.consumers(p.namespace, p.name)
        if members is None:
            pods.append(p)
            continue
        reservation = p
        pods.extend(m for m in members if m not in pods)
    if reservation is g.reservation:
        return g
    return dataclasses.replace(g, pods=tuple(pods), reservation=reservation)


class DcgmExporterSampler:
    """Scrapes every exporter; `sample()` returns one Snapshot and never raises for a node's fault."""

    name = "dcgm-exporter"

    def __init__(self, client: KubeClient | None = None, *, targets: Sequence[Target] | None = None,
                 mode: str = "auto", scraper: Scraper | None = None, groups: GroupIndex | None = None,
                 timeout_s: float = 3.0, min_interval_s: float = 0.0, concurrency: int = 64,
                 rediscover_s: float = 120.0, clock: Callable[[], float] = time.monotonic) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        if client is None and targets is None:
            raise ValueError("give a KubeClient to discover exporters, or static targets")
        self.client = client
        self.mode = mode
        self.timeout_s = timeout_s
        self.min_interval_s = min_interval_s
        self.rediscover_s = rediscover_s
        self.clock = clock
        self.groups = groups
        self._own_groups = groups is None and client is not None
        self._static = list(targets) if targets is not None else None
        self._targets: list[Target] | None = self._static
        self._interval_of: object = None
        self._interval = DEFAULT_INTERVAL_S
        self._discovered_at: float | None = None
        self.concurrency = max(1, concurrency)
        self._scraper = scraper
        self._own_scraper = scraper is None
        self._direct: bool | None = {"direct": True, "proxy": False}.get(mode)
        self._last: Snapshot | None = None
        self._lock = asyncio.Lock()
        self.scrapes = 0                      # exporter requests made (tests check the cadence)

    @property
    def interval_s(self) -> float:
        targets = self._targets or ()
        if self._interval_of is not targets:   # once per discovery, not per read (2,000 targets)
            self._interval = max((t.interval_s for t in targets), default=DEFAULT_INTERVAL_S)
            self._interval_of = targets
        return max(self.min_interval_s, self._interval)

    @property
    def targets(self) -> list[Target]:
        """The exporters found by the last discovery (or the static ones)."""
        return list(self._targets or ())

    @property
    def via_proxy(self) -> bool | None:
        """True once scraping goes through the API server's pod proxy; None while undecided."""
        return None if self._direct is None else not self._direct

    def _pages(self) -> Scraper:
        if self._scraper is None:
            kw = {"timeout_s": self.timeout_s, "concurrency": self.concurrency}
            self._scraper = Scraper.for_client(self.client, **kw) if self.client is not None else Scraper(**kw)
        return self._scraper

    async def close(self) -> None:
        if self._own_scraper and self._scraper is not None:
            await self._scraper.aclose()
            self._scraper = None

    # ---------------------------------------------------------------- discovery
    async def discover(self) -> list[Target]:
        """Exporter pods by both labels (and, unless given an index, the GPU-sharing pods)."""
        assert self.client is not None
        found: dict[tuple[str, str], Obj] = {}
        errors: list[str] = []
        for sel in EXPORTER_SELECTORS:
            try:
                items, _ = await self.client.list(PODS, label_selector=sel)
            except ApiError as e:
                errors.append(f"{sel}: {e}")
                continue
            for p in items:
                md = p.get("metadata") or {}
                found[(md.get("namespace", ""), md.get("name", ""))] = p
        if len(errors) == len(EXPORTER_SELECTORS):
            raise RuntimeError("cannot list dcgm-exporter pods: " + "; ".join(errors))
        targets = sorted((t for p in found.values() if (t := target_of(p)) is not None),
                         key=lambda t: (t.node, t.namespace, t.pod))
        if self._own_groups:
            try:
                items, _ = await self.client.list(PODS, label_selector=GROUP_LABEL)
                self.groups = ApiGroupIndex(items)
            except ApiError:
                pass   # shared GPUs then show their reservation pod, which is still true
        return targets

    async def _ensure_targets(self, now: float) -> list[Target]:
        if self._static is not None:
            return self._static
        if self._targets is None or self._discovered_at is None or now - self._discovered_at >= self.rediscover_s:
            self._targets = await self.discover()
            self._discovered_at = now
        return self._targets

    # ---------------------------------------------------------------- scraping
    async def sample(self) -> Snapshot:
        async with self._lock:
            now = self.clock()
            if self._last is not None and now - self._last.taken_at < self.interval_s:
                return self._last
            try:
                targets = await self._ensure_targets(now)
            except (RuntimeError, ApiError) as e:
                self._last = Snapshot(self.name, now, error=f"dcgm-exporter unavailable: {e}")
                return self._last
            if not targets:
                self._last = Snapshot(self.name, now, error="dcgm-exporter unavailable: no running exporter pods "
                                      f"(labels {' or '.join(EXPORTER_SELECTORS)})")
                return self._last
            if self._direct is None and any(t.url is None for t in targets):
                await self._decide_mode(next(t for t in targets if t.url is None))
            results = await asyncio.gather(*(self._scrape(t) for t in targets))
            nodes: dict[str, NodeGpus] = {}
            for ng in results:
                old = nodes.get(ng.node)
                if old is None or (old.error and not ng.error):
                    nodes[ng.node] = ng
                elif not ng.error:
                    nodes[ng.node] = _merge(old, ng)
            if self._static is None and any(ng.error for ng in results):
                self._discovered_at = None   # pods may have moved: look again next tick
            self._last = Snapshot(self.name, now, nodes)
            return self._last

    async def _decide_mode(self, t: Target) -> None:
        """Auto mode: scrape pod IPs directly if one answers, else go through the API server for good."""
        if self.client is None or not t.ip:
            self._direct = self.client is None
            return
        try:
            await asyncio.wait_for(self._get_direct(t), min(self.timeout_s, 1.5))
            self._direct = True
        except (ScrapeError, OSError, asyncio.TimeoutError):
            self._direct = False

    async def _get_direct(self, t: Target) -> str:
        url = t.url or f"http://{t.ip}:{t.port}/metrics"
        self.scrapes += 1
        return (await self._pages().get(url)).decode("utf-8", "replace")

    async def _get_proxy(self, t: Target) -> str:
        self.scrapes += 1
        return (await self._pages().get_proxy(t.namespace, t.pod, t.port)).decode("utf-8", "replace")

    async def _scrape(self, t: Target) -> NodeGpus:
        # The transport bounds the pages in flight and each page's time (`timeout_s`, connect included).
        try:
            text = await (self._get_direct(t) if t.url is not None or self._direct else self._get_proxy(t))
        except (ScrapeError, ApiError) as e:
            return NodeGpus(t.node, (), f"exporter {t.label}: {e}", t.label)
        except Exception as e:  # whatever one node does, the others are still sampled
            return NodeGpus(t.node, (), f"exporter {t.label}: {type(e).__name__}: {e}".rstrip(": "), t.label)
        parsed = parse(text) if len(text) < 512_000 else await asyncio.to_thread(parse, text)
        try:
            gpus = tuple(join_groups(to_sample(g, t.node), self.groups) for g in parsed.gpus.values())
        except Exception as e:
            return NodeGpus(t.node, (), f"exporter {t.label}: unusable answer: {type(e).__name__}: {e}", t.label)
        error = None
        if not gpus:
            error = f"exporter {t.label}: no GPU metrics in the answer"
            if parsed.bad_lines:
                error += f" ({parsed.bad_lines} unparseable lines, e.g. {parsed.bad_examples[0]!r})"
        return NodeGpus(t.node, gpus, error, t.label, parsed.bad_lines)


def _merge(a: NodeGpus, b: NodeGpus) -> NodeGpus:
    """Two exporters on one node (operator and standalone both installed): one row per GPU key."""
    by_key: dict[Any, GpuSample] = {g.key: g for g in a.gpus}
    for g in b.gpus:
        by_key.setdefault(g.key, g)
    return NodeGpus(a.node, tuple(by_key.values()), None, a.source, a.bad_lines + b.bad_lines)
