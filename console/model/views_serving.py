"""What an inference workload's autoscaler says: bounds, metric, target, desired and current replicas,
scale to zero, and the revisions traffic is split across. One shape for every source:

- a Knative Service (its revision template's annotations; desired = the revisions' `desiredReplicas`),
- a KServe InferenceService (predictor minReplicas/maxReplicas/scaleMetric/scaleTarget; desired from its
  predictor's Knative revisions in Serverless mode, or from the HPA on `<isvc>-predictor` in raw mode),
- a Run:ai InferenceWorkload (its Knative Service of the same name),
- a Deployment driven by a HorizontalPodAutoscaler (desired = the HPA's `status.desiredReplicas`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .autoscaling import HPA, KNATIVE, KSERVE, RUNAI
from .records import HpaRec, OwnerRec
from .workload_row import AutoscalingRow, RevisionRow

if TYPE_CHECKING:
    from .records import WKey
    from .store_reads import StoreReads


def _revisions(store: StoreReads, ns: str, service: str, traffic: tuple[tuple[str, int], ...]
               ) -> tuple[RevisionRow, ...]:
    pct = dict(traffic)
    out = []
    for rec in sorted(store.revisions_of(ns, service), key=lambda r: r.name):
        out.append(RevisionRow(rec.name, pct.get(rec.name), rec.scale_desired, rec.scale_actual))
    return tuple(out)


def _desired_of(revs: tuple[RevisionRow, ...]) -> int | None:
    """What the autoscalers of the routed revisions want (all revisions when none is routed yet)."""
    routed = [r for r in revs if r.percent] or list(revs)
    vals = [r.desired for r in routed if r.desired is not None]
    return sum(vals) if vals else None


def _from_hpa(h: HpaRec, source: str, ready: int, extra: tuple[str, ...] = ()) -> AutoscalingRow:
    s = h.scaling
    return AutoscalingRow(source, s.min, s.max, s.metric, s.target, h.desired, ready, False,
                          tuple(dict.fromkeys(extra + h.problems)))


def serving_of(store: StoreReads, key: WKey, owner: OwnerRec | None, ready: int, live: int
               ) -> tuple[AutoscalingRow | None, tuple[RevisionRow, ...]]:
    """The workload's autoscaling and revisions; (None, ()) for a fixed-replica workload."""
    ns, kind, name = key
    if kind == "HorizontalPodAutoscaler":
        h = store.hpas.get((ns, name))
        return (_from_hpa(h, HPA, 0) if h else None), ()
    if owner is None:
        return None, ()
    if kind == "Deployment":
        h = store.hpa_for_target(ns, "Deployment", name)
        return (_from_hpa(h, HPA, ready) if h else None), ()
    if owner.scaling is None:
        return None, ()
    source = {"Service": KNATIVE, "InferenceService": KSERVE, "InferenceWorkload": RUNAI}.get(kind)
    if source is None:
        return None, ()
    s = owner.scaling
    problems = owner.problems
    traffic = owner.traffic
    if source == RUNAI and not traffic:  # Run:ai's Knative Service of the same name holds the route's split
        ksvc = store.owners.get(("services.serving.knative.dev", ns, name))
        traffic = ksvc.traffic if ksvc is not None else ()
    revs = _revisions(store, ns, name, traffic)
    if source == KSERVE and not revs:
        h = store.hpa_for_target(ns, "Deployment", f"{name}-predictor")  # raw deployment mode
        if h is not None:
            row = _from_hpa(h, KSERVE, ready, problems)
            return AutoscalingRow(KSERVE, s.min, s.max, s.metric, s.target, row.desired, ready, False,
                                  row.problems), ()
    desired = _desired_of(revs)
    zero = desired == 0 and live == 0 and (s.min or 0) == 0
    return AutoscalingRow(source, s.min, s.max, s.metric, s.target, desired, ready, zero, problems), revs
