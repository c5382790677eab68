"""The offered load on each inference service, and what it means for each of its pods.

One model that every consumer reads, so they agree: the Knative-like and HPA autoscalers (requests per
second, requests in flight, per-pod utilisation), the dcgm-exporter (GPU utilisation of a serving pod),
and the `/sim/load` endpoint that sets a service's load. It keeps per-service state (the offered rate,
set by hand or following the demo's curve) and per-pod state (each ready pod's share and what follows
from it), all on the simulator's clock, so a test with the manual clock sees the same numbers every run.

The simulated inference servers' metrics (`console.sim.serving_metrics`) read `PodLoad`: the per-pod rate,
concurrency, utilisation and queueing latency, and `contention`, how much slower a replica runs because
other workloads' pods are busy on the same GPU (`contention_of`, set by the metrics module: 1 + the summed
busy fraction of the GPU's other holders). A replica on a quarter GPU next to a busy neighbour serves
fewer requests per second and each one more slowly, so its latency climbs first.

A service is addressed by the name an operator uses: the Knative Service, the InferenceService, the
Run:ai InferenceWorkload or the Deployment. Objects below it (revisions, the KServe predictor's Knative
Service, Deployments) find their service through the labels their controllers stamp on them.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Obj = dict[str, Any]
Key = tuple[str, str]

PEAK_ANNOTATION = "sim.gpuconsole.io/peak-rps"          # the demo's load curve tops out here
LATENCY_ANNOTATION = "sim.gpuconsole.io/latency-ms"      # one request on an idle replica
CAPACITY_ANNOTATION = "sim.gpuconsole.io/replica-rps"    # what one replica serves at full utilisation
IDLE_ANNOTATION = "sim.gpuconsole.io/idle-below"         # the curve under this fraction is no traffic at all
KSERVE_LABEL = "serving.kserve.io/inferenceservice"
KNATIVE_SERVICE_LABEL = "serving.knative.dev/service"
RUNAI_WORKLOAD_LABEL = "workloadName"
DEFAULT_LATENCY_S = 0.25
DEFAULT_CAPACITY_RPS = 8.0
BUSY_CAP = 0.95  # past this the queueing latency is held, as a server sheds load rather than queue forever


@dataclass
class ServiceLoad:
    """One service's offered load: a rate set by hand (`/sim/load`), or its demo curve's peak."""

    namespace: str
    name: str
    set_rps: float | None = None      # None: follow the curve (dynamic) or half the peak (static)
    peak_rps: float = 0.0
    latency_s: float = DEFAULT_LATENCY_S
    capacity_rps: float = DEFAULT_CAPACITY_RPS
    idle_below: float = 0.0           # a demo service whose traffic stops when its curve dips under this
    set_at: float = 0.0


@dataclass
class PodLoad:
    """What one ready pod sees of its service's load at one moment."""

    rps: float
    concurrency: float
    utilization: float            # busy fraction, 0..1
    latency_s: float
    contention: float = 1.0       # slow-down from sharing the GPU with busy neighbours (1 = alone)
    at: float = 0.0
    capacity_rps: float = DEFAULT_CAPACITY_RPS   # what it serves at full utilisation, contention included


@dataclass
class LoadModel:
    seed: int = 42
    dynamic: bool = False
    services: dict[Key, ServiceLoad] = field(default_factory=dict)
    pods: dict[Key, PodLoad] = field(default_factory=dict)
    # (pod, t) -> slow-down from the pod's GPU neighbours; None: every pod runs alone
    contention_of: Callable[[Key, float], float] | None = None

    # ------------------------------------------------------------------ services
    def service(self, ns: str, name: str) -> ServiceLoad:
        s = self.services.get((ns, name))
        if s is None:
            s = self.services[(ns, name)] = ServiceLoad(ns, name)
        return s

    def declare(self, ns: str, name: str, annotations: dict[str, Any] | None) -> ServiceLoad:
        """Read a service's demo parameters from its top object's annotations (kept if unreadable)."""
        s = self.service(ns, name)
        ann = annotations or {}
        for attr, key, scale in (("peak_rps", PEAK_ANNOTATION, 1.0), ("latency_s", LATENCY_ANNOTATION, 0.001),
                                 ("capacity_rps", CAPACITY_ANNOTATION, 1.0), ("idle_below", IDLE_ANNOTATION, 1.0)):
            try:
                v = float(ann[key]) * scale
            except (KeyError, TypeError, ValueError):
                continue
            if v >= 0 and (v > 0 or attr in ("peak_rps", "idle_below")):
                setattr(s, attr, v)
        return s

    def set_rps(self, ns: str, name: str, rps: float, t: float) -> ServiceLoad:
        s = self.service(ns, name)
        s.set_rps = max(0.0, float(rps))
        s.set_at = t
        return s

    def offered(self, key: Key, t: float) -> float:
        """Requests per second arriving at the service now."""
        s = self.services.get(key)
        if s is None:
            return 0.0
        if s.set_rps is not None:
            return s.set_rps
        if not s.peak_rps:
            return 0.0
        if not self.dynamic:
            return s.peak_rps * 0.5
        level = load_curve(self.seed, key, t)
        return 0.0 if level < s.idle_below else s.peak_rps * level

    def in_flight(self, key: Key, t: float, share: float = 1.0) -> float:
        """Requests in flight at the service (Little's law on the idle latency), times a traffic share."""
        s = self.services.get(key)
        lat = s.latency_s if s else DEFAULT_LATENCY_S
        return self.offered(key, t) * share * lat

    # ------------------------------------------------------------------ pods
    def spread(self, key: Key, pods: list[Key], t: float, share: float = 1.0) -> dict[Key, PodLoad]:
        """Split the service's traffic (its `share` of it) evenly over its ready pods; remember each."""
        s = self.services.get(key) or ServiceLoad(*key)
        if not pods:
            return {}
        rps = self.offered(key, t) * share / len(pods)
        out = {}
        for pk in pods:
            c = max(1.0, self.contention_of(pk, t)) if self.contention_of is not None else 1.0
            cap = s.capacity_rps / c if s.capacity_rps else 0.0
            util = min(1.0, rps / cap) if cap else 1.0
            latency = s.latency_s * c / (1.0 - min(util, BUSY_CAP))
            pl = PodLoad(rps, rps * latency, util, latency, c, t, cap)
            self.pods[pk] = out[pk] = pl
        return out

    def forget_pod(self, pk: Key) -> None:
        self.pods.pop(pk, None)

    def pod(self, pk: Key) -> PodLoad | None:
        return self.pods.get(pk)


def load_curve(seed: int, key: tuple[str, str], t: float) -> float:
    """Requests on an inference service as a fraction of its peak: a slow wave plus drift, in [0.05, 1]."""
    r = random.Random(f"{seed}/{key[0]}/{key[1]}/load")
    period = r.uniform(240.0, 900.0)
    phase = r.uniform(0.0, 2 * math.pi)
    level = r.uniform(0.35, 0.7)
    k = math.floor(t / 30.0)
    a = random.Random(f"{seed}/{key}/{k}").random()
    b = random.Random(f"{seed}/{key}/{k + 1}").random()
    x = t / 30.0 - k
    drift = a + (b - a) * (1 - math.cos(math.pi * x)) / 2
    v = level + 0.3 * math.sin(2 * math.pi * t / period + phase) + 0.15 * (drift - 0.5)
    return max(0.05, min(1.0, v))


def service_key(obj: Obj) -> Key:
    """The service an object serves: its InferenceService, Run:ai workload or Knative Service, else itself."""
    md = obj.get("metadata") or {}
    labels = md.get("labels") or {}
    ns = md.get("namespace", "")
    for k in (KSERVE_LABEL, RUNAI_WORKLOAD_LABEL, KNATIVE_SERVICE_LABEL):
        if labels.get(k):
            return ns, str(labels[k])
    return ns, str(md.get("name", ""))


def find_service(store: Any, ns: str, name: str) -> Obj | None:
    """The object a load setting names: an InferenceService, InferenceWorkload, Knative Service or Deployment."""
    from .resources import DEPLOYMENTS, INFERENCEWORKLOADS, ISVCS, KSVCS
    for rt in (ISVCS, INFERENCEWORKLOADS, KSVCS, DEPLOYMENTS):
        o = store.try_get(rt, ns, name)
        if o is not None:
            return o
    return None


def of(cluster: Any) -> LoadModel:
    """The cluster's load model (created on first use)."""
    m = cluster.extras.get("load")
    if m is None:
        m = cluster.extras["load"] = LoadModel(seed=cluster.seed)
    return m
