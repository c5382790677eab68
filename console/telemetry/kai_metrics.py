"""KAI's own fair shares, read from the KAI scheduler's Prometheus metrics.

KAI's scheduler sets, on every scheduling cycle, the gauge `queue_fair_share_gpu{queue_name}` (GPU
devices) for every queue it divided the cluster among (NVIDIA/KAI-Scheduler pkg/scheduler/metrics/
metrics.go, UpdateQueueFairShare called from pkg/scheduler/plugins/proportion/resource_division/
resource_division.go; docs/metrics/METRICS.md). The family carries the metrics namespace as a prefix:
`kai_queue_fair_share_gpu` by default (`--metrics-namespace`, DefaultMetricsNamespace "kai" in
pkg/common/constants/constants.go), so any `<prefix>_queue_fair_share_gpu` is read. `queue_name` is the
Queue's `spec.displayName` when set, else its name (pkg/scheduler/api/queue_info/queue_info.go).

The scheduler runs as Deployment `kai-scheduler-<shard>` in namespace `kai-scheduler`, its pods labelled
`app=kai-scheduler-default` for the default shard (pkg/operator/operands/scheduler/resources_for_shard.go)
or `app=scheduler` in the installs docs/metrics/service-monitors.yaml describes. It serves `/metrics` on
`--listen-address` (":8080" by default, cmd/scheduler/app/options/options.go) and declares no container
port, so the console reads it through the API server's pod proxy, as it reads dcgm-exporter. Only the
leader of a replicated scheduler runs cycles: pods are tried in turn until one has the family.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from console.kube.client import PODS, KubeClient
from console.kube.errors import ApiError

from .dcgm_parse import fast_labels, parse_labels

Obj = dict[str, Any]

FAMILY = "queue_fair_share_gpu"
NAMESPACE = "kai-scheduler"
SELECTORS = ("app=kai-scheduler-default", "app=scheduler")
DEFAULT_PORT = 8080
DEFAULT_INTERVAL_S = 10.0
MAX_BODY = 8_000_000


@dataclass(frozen=True, slots=True)
class KaiFairShare:
    """One read of the scheduler's fair shares: values by `queue_name` label, or why there are none."""

    values: Mapping[str, float] = field(default_factory=dict)
    origin: str = ""              # namespace/pod the values came from
    error: str | None = None      # why there are no values (then the console computes them)
    taken_at: float = 0.0
    family: str = ""              # the family as found, with its prefix

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(slots=True)
class ParsedFairShare:
    values: dict[str, float] = field(default_factory=dict)
    family: str = ""
    bad_lines: int = 0
    bad_example: str = ""


def is_family(name: str) -> bool:
    return name == FAMILY or name.endswith("_" + FAMILY)


def parse_fair_share(text: str) -> ParsedFairShare:
    """Every `[<prefix>_]queue_fair_share_gpu{queue_name="…"} <value>` sample. Never raises: a malformed
    line of the family is counted, other families are skipped unread."""
    out = ParsedFairShare()
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] == "#":
            continue
        brace = line.find("{")
        space = line.find(" ")
        end = brace if brace >= 0 and (space < 0 or brace < space) else space
        name = line[:end] if end >= 0 else line
        if not is_family(name):
            continue
        try:
            if end != brace:
                raise ValueError("no queue_name label")
            got = fast_labels(line, brace)
            labels, after = got if got is not None else parse_labels(line, brace + 1)
            tokens = line[after:].split()
            if not 1 <= len(tokens) <= 2:
                raise ValueError("expected a value and an optional timestamp")
            value = float(tokens[0])
            queue = labels.get("queue_name")
            if not queue:
                raise ValueError("no queue_name label")
            if value != value or value in (float("inf"), float("-inf")) or value < 0:
                raise ValueError(f"not a GPU count: {tokens[0]}")
        except ValueError:
            out.bad_lines += 1
            out.bad_example = out.bad_example or line[:120]
            continue
        out.values[queue] = value
        out.family = out.family or name
    return out


def _port_of(pod: Obj) -> int:
    """`--listen-address=:PORT` (or `--listen-address :PORT`) from the container args, else 8080."""
    for c in (pod.get("spec") or {}).get("containers") or []:
        args = [str(a) for a in (c.get("args") or []) + (c.get("command") or [])]
        for i, a in enumerate(args):
            val = None
            if a.startswith("--listen-address="):
                val = a.split("=", 1)[1]
            elif a == "--listen-address" and i + 1 < len(args):
                val = args[i + 1]
            if val is not None:
                tail = val.rpartition(":")[2]
                if tail.isdigit():
                    return int(tail)
        for p in c.get("ports") or []:
            if p.get("name") in ("http-metrics", "metrics") and isinstance(p.get("containerPort"), int):
                return p["containerPort"]
    return DEFAULT_PORT


class KaiMetricsReader:
    """Finds the scheduler's pods and reads their fair shares; `read()` never raises for the cluster's faults."""

    def __init__(self, client: KubeClient, *, namespace: str = NAMESPACE, timeout_s: float = 3.0,
                 min_interval_s: float = DEFAULT_INTERVAL_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.client = client
        self.namespace = namespace
        self.timeout_s = timeout_s
        self.min_interval_s = min_interval_s
        self.clock = clock
        self._last: KaiFairShare | None = None
        self._lock = asyncio.Lock()
        self.reads = 0                       # metrics requests made (tests check the cadence)

    @property
    def interval_s(self) -> float:
        return self.min_interval_s

    async def _pods(self) -> tuple[list[Obj], str | None]:
        found: dict[str, Obj] = {}
        errors: list[str] = []
        for sel in SELECTORS:
            try:
                items, _ = await self.client.list(PODS, namespace=self.namespace, label_selector=sel)
            except ApiError as e:
                errors.append(f"{sel}: {e}")
                continue
            for p in items:
                md = p.get("metadata") or {}
                if (p.get("status") or {}).get("phase") == "Running" and not md.get("deletionTimestamp"):
                    found.setdefault(str(md.get("name", "")), p)
        if len(errors) == len(SELECTORS):
            return [], f"cannot list pods in {self.namespace}: {errors[0]}"
        return [found[k] for k in sorted(found)], None

    async def _get(self, pod: Obj) -> str:
        name = (pod.get("metadata") or {}).get("name", "")
        path = f"/api/v1/namespaces/{self.namespace}/pods/{name}:{_port_of(pod)}/proxy/metrics"
        self.reads += 1
        body = await self.client.request("GET", path, raw=True, retry=False)
        if isinstance(body, bytes):
            return body[:MAX_BODY].decode("utf-8", "replace")
        return str(body)[:MAX_BODY]

    async def read(self) -> KaiFairShare:
        """The scheduler's fair shares now (or the last read, when asked again within the interval)."""
        async with self._lock:
            now = self.clock()
            if self._last is not None and now - self._last.taken_at < self.min_interval_s:
                return self._last
            self._last = await self._read(now)
            return self._last

    async def _read(self, now: float) -> KaiFairShare:
        pods, err = await self._pods()
        if err is not None:
            return KaiFairShare(error=err, taken_at=now)
        if not pods:
            return KaiFairShare(error=f"no running KAI scheduler pod in {self.namespace} "
                                      f"(labels {' or '.join(SELECTORS)})", taken_at=now)
        why: list[str] = []
        for pod in pods:
            label = f"{self.namespace}/{(pod.get('metadata') or {}).get('name', '')}"
            try:
                text = await asyncio.wait_for(self._get(pod), self.timeout_s)
            except asyncio.TimeoutError:
                why.append(f"{label}: no answer within {self.timeout_s:g} s")
                continue
            except ApiError as e:
                why.append(f"{label}: {e}")
                continue
            except Exception as e:  # a transport fault of one pod: try the next, then say why
                why.append(f"{label}: {type(e).__name__}: {e}")
                continue
            parsed = parse_fair_share(text)
            if parsed.values:
                return KaiFairShare(parsed.values, label, None, now, parsed.family)
            msg = f"{label}: no {FAMILY} samples in its metrics"
            if parsed.bad_lines:
                msg += f" ({parsed.bad_lines} malformed, e.g. {parsed.bad_example!r})"
            why.append(msg)
        return KaiFairShare(error="; ".join(why), taken_at=now)
