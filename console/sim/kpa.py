"""A Knative-Pod-Autoscaler-like autoscaler for the simulated Knative revisions.

Per revision of class KPA (knative/serving pkg/autoscaler/scaling/autoscaler.go, simplified): every
second of simulated time it samples the revision's metric from the load model (requests in flight for
`concurrency`, requests per second for `rps`, times the revision's share of the Route's traffic), then

    desired = ceil(average over the stable window (60 s) / target)            (stable mode)
    panic when ceil(average over the panic window (6 s) / target) >= 2 × ready pods; while panicking
    (one stable window long) the panic recommendation is used and never goes down;
    a scale-down removes at most half the ready pods per step (max-scale-down-rate 2);
    clamped to min-scale..max-scale; a revision whose stable average is zero scales to zero (min-scale 0)
    once the scale-to-zero grace period (30 s) has passed; the next request activates it again at once.

It writes the Deployment's replicas and the Revision's `status.desiredReplicas`. Revisions of class
HPA get a HorizontalPodAutoscaler named like the revision, as Knative's autoscaler-hpa makes, which the
simulated HPA controller (`console.sim.hpa`) drives. Revisions whose annotations cannot be read keep
their replicas: the webhook refuses such annotations, so they only arrive by other routes.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from console.model import autoscaling as autoscale

from . import serving_load
from .cluster import SimCluster
from .errors import ApiError
from .knative import REVISION_UID_LABEL, traffic_share
from .resources import DEPLOYMENTS, HPAS, KREVISIONS, PODS
from .store import Obj
from .workloads import EventRecorder, owner_ref, pod_ready


@dataclass
class _RevState:
    samples: deque[tuple[int, float]] = field(default_factory=deque)
    last_sec: int | None = None
    panic_until: float = -1.0
    desired: int | None = None
    zero_since: float | None = None


class Kpa:
    name = "knative-autoscaler"

    def __init__(self, cluster: SimCluster) -> None:
        self.cluster = cluster
        self.store = cluster.store
        self.load = serving_load.of(cluster)
        self.state: dict[tuple[str, str], _RevState] = {}
        self.events = EventRecorder(cluster.store, "autoscaler")

    def reconcile(self) -> bool:
        now = self.cluster.clock.now()
        wrote = False
        alive = set()
        for rev in self.store.items(KREVISIONS):
            md = rev["metadata"]
            key = (md["namespace"], md["name"])
            alive.add(key)
            try:
                wrote |= self._revision(rev, key, now)
            except ApiError as e:
                if e.code not in (404, 409):
                    raise
        for k in list(self.state):
            if k not in alive:
                del self.state[k]
        return wrote

    def _revision(self, rev: Obj, key: tuple[str, str], now: float) -> bool:
        md = rev["metadata"]
        spec = autoscale.knative(md.get("annotations") or {})
        if spec.problems:
            return False
        dep = self.store.try_get(DEPLOYMENTS, md["namespace"], f"{md['name']}-deployment")
        if dep is None:
            return False
        if spec.klass == "hpa":
            return self._hpa_for(rev, dep, spec)
        if spec.klass != "kpa":
            return False  # another autoscaler's class: not ours to act on
        svc = serving_load.service_key(rev)
        self.load.declare(*svc, md.get("annotations"))
        share = traffic_share(self.store, rev)
        st = self.state.setdefault(key, _RevState())
        now_sec = int(math.floor(now))
        window = int(spec.window_s)
        first = now_sec - window + 1 if st.last_sec is None else max(st.last_sec + 1, now_sec - window + 1)
        for s in range(first, now_sec + 1):
            if spec.metric == "rps":
                v = self.load.offered(svc, float(s)) * share
            else:
                v = self.load.in_flight(svc, float(s), share)
            st.samples.append((s, v))
        new_second = first <= now_sec
        if new_second:  # share the load out over the ready pods
            self._spread(rev, svc, now, share)
        st.last_sec = now_sec
        while st.samples and st.samples[0][0] <= now_sec - window:
            st.samples.popleft()
        if not st.samples or spec.target is None:
            return False
        panic_n = max(1, int(round(window * autoscale.PANIC_WINDOW_PCT / 100.0)))
        stable = sum(v for _, v in st.samples) / len(st.samples)
        recent = list(st.samples)[-panic_n:]
        panic = sum(v for _, v in recent) / len(recent)
        d_stable = autoscale.desired_from_metric(stable, spec.target, spec.utilization_pct)
        d_panic = autoscale.desired_from_metric(panic, spec.target, spec.utilization_pct)
        current = int((dep.get("spec") or {}).get("replicas", 0) or 0)
        ready = int(((dep.get("status") or {}).get("readyReplicas")) or 0)
        if not new_second and not (current == 0 and self.load.offered(svc, now) * share > 0):
            return False  # one decision per tick (a second), as the autoscaler ticks; activation at once
        if current and d_panic >= autoscale.PANIC_THRESHOLD_PCT / 100.0 * max(ready, 1):
            st.panic_until = now + spec.window_s
        if now < st.panic_until:
            desired = max(d_panic, st.desired or 0)
        else:
            desired = d_stable
        offered_now = self.load.offered(svc, now) * share
        if current == 0 and offered_now > 0:
            desired = max(desired, 1)  # activation: the activator holds the request and pokes the autoscaler
            st.panic_until = now + spec.window_s
        if 0 < desired < current or (desired == 0 and current > 1):
            desired = max(desired, int(math.floor(ready / autoscale.MAX_SCALE_DOWN_RATE)))
        desired = autoscale.clamp(desired, spec.min, spec.max)
        st.desired = desired
        if desired == 0 and current > 0:
            if st.zero_since is None:
                st.zero_since = now
            if now - st.zero_since < autoscale.SCALE_TO_ZERO_GRACE_S:
                desired = current  # proxy mode: the last pods stay for the grace period
        else:
            st.zero_since = None
        wrote = self._status(rev, st.desired)
        if desired != current:
            def put(o: Obj, n: int = desired) -> None:
                o["spec"]["replicas"] = n
            self.store.mutate(DEPLOYMENTS, md["namespace"], dep["metadata"]["name"], put)
            wrote = True
        return wrote

    def _spread(self, rev: Obj, svc: tuple[str, str], now: float, share: float) -> None:
        md = rev["metadata"]
        uid = md["uid"]
        pods = [(md["namespace"], p["metadata"]["name"]) for p in self.store.items(PODS, md["namespace"])
                if (p["metadata"].get("labels") or {}).get(REVISION_UID_LABEL) == uid and pod_ready(p)]
        self.load.spread(svc, pods, now, share)

    def _status(self, rev: Obj, desired: int | None) -> bool:
        st = rev.get("status") or {}
        if desired is None or st.get("desiredReplicas") == desired:
            return False

        def put(o: Obj) -> None:
            o.setdefault("status", {})["desiredReplicas"] = desired
        self.store.mutate(KREVISIONS, rev["metadata"]["namespace"], rev["metadata"]["name"], put,
                          subresource="status")
        return True

    def _hpa_for(self, rev: Obj, dep: Obj, spec: autoscale.ScalingSpec) -> bool:
        """Knative's HPA class: an autoscaling/v2 HPA named like the revision, on its Deployment."""
        md = rev["metadata"]
        if spec.metric in ("cpu", "memory"):
            metric: Obj = {"type": "Resource", "resource": {"name": spec.metric, "target": {
                "type": "Utilization", "averageUtilization": int(spec.target or 80)}}}
        else:
            metric = {"type": "Pods", "pods": {"metric": {"name": spec.metric},
                                               "target": {"type": "AverageValue",
                                                          "averageValue": f"{spec.target or 1:g}"}}}
        want = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
                "metadata": {"name": md["name"], "namespace": md["namespace"],
                             "labels": {k: v for k, v in (md.get("labels") or {}).items()
                                        if k.startswith("serving.knative.dev/")},
                             "ownerReferences": [owner_ref(rev)]},
                "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                            "name": dep["metadata"]["name"]},
                         "minReplicas": max(1, spec.min or 0), "maxReplicas": spec.max or 10,
                         "metrics": [metric]}}
        from .knative import ensure
        return ensure(self.store, HPAS, want)


def install(cluster: SimCluster) -> Kpa:
    k = Kpa(cluster)
    cluster.add(k)
    cluster.extras[k.name] = k
    return k
