"""The HorizontalPodAutoscaler controller, simulated (autoscaling/v2).

What kube-controller-manager's podautoscaler does (kubernetes pkg/controller/podautoscaler/horizontal.go
and replica_calculator.go), on the simulator's clock: every 15 s (`--horizontal-pod-autoscaler-sync-period`)
each HPA reads its target's scale and its ready pods' metrics, and for each metric proposes

    desiredReplicas = ceil(currentReplicas × currentMetricValue / desiredMetricValue)

left at the current count while the ratio is within the 0.1 tolerance; the largest proposal wins,
clamped to minReplicas..maxReplicas, a step up at most max(2 × current, 4); a scale down takes the
highest recommendation of the stabilisation window (`behavior.scaleDown.stabilizationWindowSeconds`,
300 s by default). Metrics come from the load model (`console.sim.serving_load`): `cpu` utilisation
(percent of request) from each pod's busy fraction, and the per-pod custom metrics `rps`, `concurrency`
and `latency` (milliseconds) the simulated custom metrics API serves. A missing target or metric is a
condition and a Warning event with the controller's own wording, never a crash.
"""

from __future__ import annotations

from typing import Any

from console.model import autoscaling as autoscale

from . import serving_load
from .cluster import SimCluster
from .errors import ApiError
from .resources import DEPLOYMENTS, HPAS, KREVISIONS, PODS, REPLICASETS, STATEFULSETS
from .selectors import selector_from_match
from .store import Obj
from .workloads import EventRecorder, controller_of, pod_ready, set_condition

SYNC_S = 15.0
DOWNSCALE_WINDOW_S = 300.0
TARGETS = {("apps", "Deployment"): DEPLOYMENTS, ("apps", "StatefulSet"): STATEFULSETS,
           ("apps", "ReplicaSet"): REPLICASETS}
CUSTOM_METRICS = ("rps", "concurrency", "latency")


def pod_metric(load: serving_load.PodLoad, name: str) -> float | None:
    """A pod's value of a metric the simulated metrics APIs serve (None: not one of them)."""
    if name == "cpu":
        return round(load.utilization * 100.0)
    if name == "memory":
        return 40.0 + 20.0 * load.utilization
    if name == "rps":
        return load.rps
    if name == "concurrency":
        return load.concurrency
    if name == "latency":
        return load.latency_s * 1000.0
    return None


def target_pods(store: Any, target: Obj) -> list[Obj]:
    md = target["metadata"]
    sel = selector_from_match((target.get("spec") or {}).get("selector"))
    return [p for p in store.items(PODS, md["namespace"]) if sel.matches(p["metadata"].get("labels"))
            and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
            and not p["metadata"].get("deletionTimestamp")]


def share_of(store: Any, target: Obj) -> float:
    """A Knative revision's Deployment serves the revision's share of its Service's traffic."""
    ref = controller_of(target)
    if ref and ref.get("kind") == "Revision":
        rev = store.try_get(KREVISIONS, target["metadata"]["namespace"], ref["name"])
        if rev is not None:
            from .knative import traffic_share
            return traffic_share(store, rev)
    return 1.0


class HpaController:
    name = "horizontal-pod-autoscaler"

    def __init__(self, cluster: SimCluster) -> None:
        self.cluster = cluster
        self.store = cluster.store
        self.load = serving_load.of(cluster)
        self.events = EventRecorder(cluster.store, "horizontal-pod-autoscaler")
        self.next_sync: dict[tuple[str, str], float] = {}
        self.recommendations: dict[tuple[str, str], list[tuple[float, int]]] = {}
        self.seen_gen: dict[tuple[str, str], int] = {}
        self.store.subscribe(self._on_change)

    def _on_change(self, ch: Any) -> None:
        if ch.rkey == HPAS.key:
            md = ch.obj["metadata"]
            key = (md.get("namespace", ""), md["name"])
            if ch.old is None or ch.obj.get("spec") != (ch.old or {}).get("spec"):
                self.next_sync[key] = -1.0  # a new or changed HPA is evaluated at once

    def reconcile(self) -> bool:
        now = self.cluster.clock.now()
        wrote = False
        alive = set()
        for h in self.store.items(HPAS):
            md = h["metadata"]
            key = (md["namespace"], md["name"])
            alive.add(key)
            if self.next_sync.get(key, -1.0) > now:
                continue
            self.next_sync[key] = now + SYNC_S
            try:
                wrote |= self._sync(h, key, now)
            except ApiError as e:
                if e.code not in (404, 409):
                    raise
        for k in list(self.next_sync):
            if k not in alive:
                self.next_sync.pop(k, None)
                self.recommendations.pop(k, None)
        return wrote

    # ------------------------------------------------------------------ one HPA
    def _sync(self, h: Obj, key: tuple[str, str], now: float) -> bool:
        md = h["metadata"]
        ns = md["namespace"]
        spec = h.get("spec") or {}
        ref = spec.get("scaleTargetRef") or {}
        group = str(ref.get("apiVersion", "")).rpartition("/")[0]
        rt = TARGETS.get((group, str(ref.get("kind", ""))))
        conds = list((h.get("status") or {}).get("conditions") or [])
        stamp = self.store.clock()
        target = self.store.try_get(rt, ns, str(ref.get("name", ""))) if rt else None
        if target is None:
            what = f"{rt.plural}.{rt.group}" if rt else f"{str(ref.get('kind', '')).lower()}s.{group}"
            msg = f"the HPA controller was unable to get the target's current scale: {what} \"{ref.get('name')}\" " \
                  "not found"
            if not any(c.get("type") == "AbleToScale" and c.get("reason") == "FailedGetScale" for c in conds):
                self.events.record(h, "FailedGetScale", f'{what} "{ref.get("name")}" not found', "Warning")
            conds = set_condition(conds, "AbleToScale", "False", "FailedGetScale", msg, stamp)
            return self._write(h, {**(h.get("status") or {}), "conditions": conds,
                                   "currentReplicas": 0, "desiredReplicas": 0})
        scaling = autoscale.hpa(h)
        current = int((target.get("spec") or {}).get("replicas", 1) or 0)
        lo = scaling.min if scaling.min is not None else 1
        hi = scaling.max if scaling.max is not None else max(current, lo)
        conds = set_condition(conds, "AbleToScale", "True", "SucceededGetScale",
                              "the HPA controller was able to get the target's current scale", stamp)
        if current == 0 and lo != 0:
            conds = set_condition(conds, "ScalingActive", "False", "ScalingDisabled",
                                  "scaling is disabled since the replica count of the target is zero", stamp)
            return self._write(h, {"currentReplicas": 0, "desiredReplicas": 0, "conditions": conds})
        pods = [p for p in target_pods(self.store, target) if pod_ready(p)]
        svc = serving_load.service_key(target)
        self.load.declare(*svc, target["metadata"].get("annotations"))
        loads = self.load.spread(svc, [(ns, p["metadata"]["name"]) for p in pods], now, share_of(self.store, target))
        metrics = spec.get("metrics") or [{"type": "Resource", "resource": {
            "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]
        proposals: list[tuple[int, str]] = []
        current_metrics: list[Obj] = []
        problem = None
        for m in metrics:
            name, tval, why = autoscale.hpa_metric(m)
            if why or name is None or tval is None:
                problem = ("FailedGetExternalMetric", why or "the metric has no target")
                continue
            vals = [pod_metric(pl, name) for pl in loads.values()]
            if any(v is None for v in vals) or (m.get("type") == "Resource" and name not in ("cpu", "memory")):
                kind = "Resource" if m.get("type") == "Resource" else "Pods"
                problem = (f"FailedGet{kind}Metric", f"unable to get metric {name}: no metrics returned from "
                           f"{'resource' if kind == 'Resource' else 'custom'} metrics API")
                current_metrics.append(_status_metric(m, None))
                continue
            if not vals:
                problem = ("FailedGetResourceMetric" if m.get("type") == "Resource" else "FailedGetPodsMetric",
                           f"unable to get metric {name}: did not receive metrics for targeted pods "
                           "(pods might be unready)")
                current_metrics.append(_status_metric(m, None))
                continue
            avg = sum(v for v in vals if v is not None) / len(vals)
            current_metrics.append(_status_metric(m, avg))
            proposals.append((_proposal(len(vals), current, avg, tval), _describe(m, name)))
        if not proposals:
            conds = set_condition(conds, "ScalingActive", "False", problem[0] if problem else "FailedGetMetric",
                                  f"the HPA was unable to compute the replica count: {problem[1] if problem else ''}",
                                  stamp)
            if problem and not any(c.get("reason") == problem[0] for c in (h.get("status") or {}).get(
                    "conditions") or ()):
                self.events.record(h, problem[0], problem[1], "Warning")
            return self._write(h, {"currentReplicas": current, "desiredReplicas": current,
                                   "currentMetrics": current_metrics, "conditions": conds})
        desired, reason = max(proposals)
        conds = set_condition(conds, "ScalingActive", "True", "ValidMetricFound",
                              f"the HPA was able to successfully calculate a replica count from {reason}", stamp)
        limit_up = max(2 * current, 4)
        wanted = desired
        desired = min(desired, limit_up)
        desired = autoscale.clamp(desired, lo, hi)
        if wanted > hi:
            conds = set_condition(conds, "ScalingLimited", "True", "TooManyReplicas",
                                  "the desired replica count is more than the maximum replica count", stamp)
        elif wanted < lo:
            conds = set_condition(conds, "ScalingLimited", "True", "TooFewReplicas",
                                  "the desired replica count is less than the minimum replica count", stamp)
        else:
            conds = set_condition(conds, "ScalingLimited", "False", "DesiredWithinRange",
                                  "the desired count is within the acceptable range", stamp)
        recs = [(t, n) for t, n in self.recommendations.get(key, []) if t > now - _down_window(spec)]
        recs.append((now, desired))
        self.recommendations[key] = recs
        if desired < current:
            desired = min(current, max(n for _, n in recs))
        status: Obj = {"currentReplicas": current, "desiredReplicas": desired, "currentMetrics": current_metrics,
                       "conditions": conds}
        old = h.get("status") or {}
        if old.get("lastScaleTime"):
            status["lastScaleTime"] = old["lastScaleTime"]
        wrote = False
        if desired != current:
            def put(o: Obj, n: int = desired) -> None:
                o["spec"]["replicas"] = n
            self.store.mutate(rt, ns, target["metadata"]["name"], put)
            why = f"{reason} above target" if desired > current else "All metrics below target"
            self.events.record(h, "SuccessfulRescale", f"New size: {desired}; reason: {why}")
            status["lastScaleTime"] = stamp
            conds = set_condition(conds, "AbleToScale", "True", "SucceededRescale",
                                  f"the HPA controller was able to update the target scale to {desired}", stamp)
            status["conditions"] = conds
            wrote = True
        else:
            status["conditions"] = set_condition(conds, "AbleToScale", "True", "ReadyForNewScale",
                                                 "recommended size matches current size", stamp)
        return self._write(h, status) or wrote

    def _write(self, h: Obj, status: Obj) -> bool:
        if (h.get("status") or {}) == status:
            return False

        def put(o: Obj) -> None:
            o["status"] = status
        self.store.mutate(HPAS, h["metadata"]["namespace"], h["metadata"]["name"], put, subresource="status")
        return True


def _proposal(ready: int, current: int, avg: float, target: float) -> int:
    return autoscale.hpa_proposal(current, avg, target, ready=ready)


def _down_window(spec: Obj) -> float:
    sd = ((spec.get("behavior") or {}).get("scaleDown") or {})
    v = sd.get("stabilizationWindowSeconds")
    return float(v) if isinstance(v, int) and v >= 0 else DOWNSCALE_WINDOW_S


def _describe(m: Obj, name: str) -> str:
    if m.get("type") == "Resource":
        return f"{name} resource utilization (percentage of request)"
    return f"pods metric {name}"


def _status_metric(m: Obj, avg: float | None) -> Obj:
    t = m.get("type")
    if t == "Resource":
        r = m.get("resource") or {}
        cur: Obj = {}
        if avg is not None:
            if (r.get("target") or {}).get("averageUtilization") is not None:
                cur = {"averageUtilization": int(round(avg))}
            else:
                cur = {"averageValue": quantity(avg)}
        return {"type": "Resource", "resource": {"name": r.get("name"), "current": cur}}
    key = {"Pods": "pods", "Object": "object", "External": "external"}.get(str(t), "pods")
    src = m.get(key) or {}
    return {"type": t, key: {"metric": src.get("metric") or {},
                             "current": {"averageValue": quantity(avg)} if avg is not None else {}}}


def quantity(v: float) -> str:
    """A Kubernetes quantity for a metric value: whole numbers plain, else milli-units (`1500m`)."""
    if abs(v - round(v)) < 1e-9:
        return str(int(round(v)))
    return f"{int(round(v * 1000))}m"


def install(cluster: SimCluster) -> HpaController:
    c = HpaController(cluster)
    cluster.add(c)
    cluster.extras[c.name] = c
    return c
