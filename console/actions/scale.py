"""Scale: set a workload's replicas to N or step by +N / -N through the `scale` subresource; on an
autoscaled workload, change its autoscaler's min/max instead.

Deployments, ReplicaSets and StatefulSets have a scale subresource. A workload an autoscaler drives (a
Knative Service, KServe InferenceService, Run:ai InferenceWorkload, or a Deployment an HPA targets) is
never given a replica count the autoscaler would undo: its bounds change, in the field that autoscaler
reads (Knative's `autoscaling.knative.dev/min-scale`/`max-scale`, the predictor's minReplicas/maxReplicas,
Run:ai's minScale/maxScale, the HPA's minReplicas/maxReplicas), and the plan says so. Raising the max is
previewed with KAI's rules for the replicas the autoscaler may then add, so "3 run, 2 stay Pending over
quota" is known before it is sent.
"""

from __future__ import annotations

import re
from typing import Any

from console.kube import client as k
from console.kube.errors import ApiError
from console.model import autoscaling

from .context import ActionContext
from .errors import explain_api_error
from .facts import ClusterFacts
from .manifests import AUTOSCALE_ANNOTATION
from .permissions import Need
from .plan import ActionPlan, Outcome
from .preview import pods_from_template, preview_new
from .targets import SEARCH, UsageError, Workload, parse_ref, resolve
from .workload_pods import pods_of
from .validate import parse_int

Obj = dict[str, Any]
SCALABLE = ("deployments", "statefulsets", "replicasets")
COUNT = re.compile(r"^\s*([+-]?)(\d+)\s*$")


def parse_count(text: str | int, current: int) -> int:
    """`N` sets, `+N` / `-N` steps from `current`; UsageError for anything else (2.5, abc)."""
    if isinstance(text, bool):
        raise UsageError(f"replicas must be N, +N or -N, got {text!r}")
    if isinstance(text, int):
        return text
    m = COUNT.match(str(text))
    if not m:
        raise UsageError(f"replicas must be a whole number N, or a step +N / -N, got {text!r}")
    sign, n = m.group(1), int(m.group(2))
    return current + n if sign == "+" else current - n if sign == "-" else n


def autoscale_range(obj: dict) -> tuple[int, int] | None:
    text = ((obj.get("metadata") or {}).get("annotations") or {}).get(AUTOSCALE_ANNOTATION)
    lo, _, hi = str(text or "").partition("-")
    try:
        a, b = int(lo), int(hi or lo)
    except ValueError:
        return None
    return (a, b) if 0 <= a <= b else None


def autoscaler_of(facts: ClusterFacts, wl: Workload) -> tuple[str, autoscaling.ScalingSpec, Obj] | None:
    """(source, bounds, the object whose bounds change) when an autoscaler drives `wl`, else None."""
    if wl.res.key == k.KSERVICES.key:
        tmd = (((wl.obj.get("spec") or {}).get("template") or {}).get("metadata") or {})
        return autoscaling.KNATIVE, autoscaling.knative(tmd.get("annotations") or {}), wl.obj
    if wl.res.key == k.INFERENCESERVICES.key:
        return autoscaling.KSERVE, autoscaling.kserve(wl.obj), wl.obj
    if wl.res.key == k.INFERENCEWORKLOADS.key:
        return autoscaling.RUNAI, autoscaling.runai(wl.obj), wl.obj
    h = facts.hpa_for(wl.namespace, wl.kind, wl.name)
    if h is not None:
        return autoscaling.HPA, autoscaling.hpa(h), h
    return None


def _bounds_patch(source: str, lo: int, hi: int) -> tuple[Obj, str, str]:
    """(merge patch, min field, max field) for the autoscaler's own bounds."""
    if source == autoscaling.KNATIVE:
        return ({"spec": {"template": {"metadata": {"annotations": {
            autoscaling.MIN_SCALE[0]: str(lo), autoscaling.MAX_SCALE[0]: str(hi)}}}}},
            f"spec.template.metadata.annotations[{autoscaling.MIN_SCALE[0]}]",
            f"spec.template.metadata.annotations[{autoscaling.MAX_SCALE[0]}]")
    if source == autoscaling.KSERVE:
        return ({"spec": {"predictor": {"minReplicas": lo, "maxReplicas": hi}}}, "spec.predictor.minReplicas",
                "spec.predictor.maxReplicas")
    if source == autoscaling.RUNAI:
        return ({"spec": {"minScale": {"value": lo}, "maxScale": {"value": hi}}}, "spec.minScale.value",
                "spec.maxScale.value")
    return {"spec": {"minReplicas": lo, "maxReplicas": hi}}, "spec.minReplicas", "spec.maxReplicas"


async def _plan_bounds(session: ActionContext, facts: ClusterFacts, wl: Workload, plan: ActionPlan,
                       auto: tuple[str, autoscaling.ScalingSpec, Obj], count: str | int | None,
                       min_replicas: Any, max_replicas: Any) -> ActionPlan:
    source, spec, obj = auto
    what = f"{spec.min if spec.min is not None else '?'}–{spec.max if spec.max is not None else 'unlimited'}"
    if count not in (None, ""):
        plan.problems.append(f"{wl} is autoscaled by {source} ({what} replicas on {spec.metric or '?'}): a replica "
                             "count would be undone by the autoscaler; change its bounds instead (--min / --max, "
                             "or + / - in the dialog)")
        return plan
    if min_replicas is None and max_replicas is None:
        plan.problems.append(f"{wl} is autoscaled by {source} ({what}): give a new --min and/or --max")
        return plan
    lo, e1 = parse_int(min_replicas if min_replicas is not None else spec.min, "min replicas")
    hi, e2 = parse_int(max_replicas if max_replicas is not None else spec.max, "max replicas", 1)
    plan.problems += [e for e in (e1, e2) if e]
    if lo is not None and hi is not None and hi < lo:
        plan.problems.append(f"max replicas ({hi}) must be at least min replicas ({lo})")
    if lo is not None and lo == 0 and source == autoscaling.HPA:
        plan.problems.append("an HPA cannot scale to zero: min replicas must be at least 1")
    if plan.problems or lo is None or hi is None:
        return plan
    if (lo, hi) == (spec.min, spec.max):
        plan.problems.append(f"{wl} is already bounded {lo}–{hi}; nothing to change")
        return plan
    body, fmin, fmax = _bounds_patch(source, lo, hi)
    plan.diff = {fmin: [spec.min, lo], fmax: [spec.max, hi]}
    res = k.HPAS if source == autoscaling.HPA else wl.res
    name = obj["metadata"]["name"]
    plan.notes.append(f"{wl} is autoscaled by {source}: this changes its bounds to {lo}–{hi}, not its replicas; "
                      "the autoscaler decides the count within them")
    if source == autoscaling.KNATIVE:
        plan.notes.append("Knative makes a new revision for the change and moves the traffic to it")
    plan.data.update({"bounds": (res, name, body), "range": (lo, hi), "source": source})
    plan.permission = await session.may("scale", [Need("patch", res)], wl.namespace)
    if not plan.permission.allowed:
        return plan
    try:
        await session.client.patch(res, name, body, wl.namespace, dry_run=True)
        plan.dry_run = f"bounds {lo}–{hi} accepted"
    except ApiError as e:
        plan.problems.append(explain_api_error(e, f"changing the bounds of {wl}"))
        return plan
    now = len([p for p in pods_of(facts, wl)])
    if hi > max(now, spec.max or 0):
        plan.preview = preview_new(facts, pods_from_template(_template_owner(wl.obj, source), hi - now), wl.obj,
                                   per_pod=True)
        plan.notes.append(f"the preview is for the {hi - now} replica(s) the autoscaler may add up to its new max")
    return plan


def _template_owner(obj: Obj, source: str) -> Obj:
    """An object whose spec.template is the pod template the autoscaled replicas are made from."""
    if source == autoscaling.KNATIVE:
        return obj
    from .manifests import serving_pod_template
    return {"kind": "Deployment", "metadata": obj.get("metadata") or {},
            "spec": {"template": serving_pod_template(obj)}}


async def plan_scale(session: ActionContext, target: str, count: str | int | None, min_replicas: Any = None,
                     max_replicas: Any = None) -> ActionPlan:
    ref = parse_ref(target)
    facts = await session.facts()
    wl = resolve(facts, ref, SEARCH)
    plan = ActionPlan("scale", str(wl), wl.namespace, data={"workload": wl})
    auto = autoscaler_of(facts, wl)
    if auto is not None:
        return await _plan_bounds(session, facts, wl, plan, auto, count, min_replicas, max_replicas)
    if count in (None, ""):
        plan.problems.append(f"{wl}: give the replicas (N, +N or -N)")
        return plan
    key = {"Deployment": "deployments", "StatefulSet": "statefulsets", "ReplicaSet": "replicasets"}.get(wl.kind)
    if key not in SCALABLE:
        plan.problems.append(f"{wl}: a {wl.kind} has no scale subresource; scale its Deployment or StatefulSet, "
                             "or delete and resubmit it")
        return plan
    spec = wl.obj.get("spec") or {}
    current = spec.get("replicas", 1)
    current = current if isinstance(current, int) else 1
    new = parse_count(count, current)
    if new < 0:
        plan.problems.append(f"{wl}: replicas cannot go below 0 ({current} {count} = {new})")
    plan.diff = {"spec.replicas": [current, new]}
    rng = autoscale_range(wl.obj)
    new_rng = None
    if min_replicas is not None or max_replicas is not None:
        if wl.kind != "Deployment":
            plan.problems.append(f"{wl}: min/max replicas apply to inference Deployments only")
        else:
            lo, e1 = parse_int(min_replicas if min_replicas is not None else (rng or (new, new))[0], "min replicas")
            hi, e2 = parse_int(max_replicas if max_replicas is not None else (rng or (new, new))[1], "max replicas")
            plan.problems += [e for e in (e1, e2) if e]
            if lo is not None and hi is not None:
                if hi < lo:
                    plan.problems.append(f"max replicas ({hi}) must be at least min replicas ({lo})")
                new_rng = (lo, hi)
                plan.diff[f"metadata.annotations[{AUTOSCALE_ANNOTATION}]"] = [
                    f"{rng[0]}-{rng[1]}" if rng else None, f"{lo}-{hi}"]
                plan.data["range"] = new_rng
    eff = new_rng or rng
    if eff and not plan.problems and not eff[0] <= new <= eff[1]:
        plan.notes.append(f"the autoscaler keeps {wl.name} between {eff[0]} and {eff[1]} replicas and will move "
                          f"{new} back into that range; change min/max to keep it")
    if new == current and new_rng in (None, rng) and not plan.problems:
        plan.problems.append(f"{wl} already has {current} replicas; nothing to change")
    if plan.problems:
        return plan
    plan.data["replicas"] = new
    needs = [Need("patch", wl.res, "scale")] + ([Need("patch", wl.res)] if new_rng else [])
    plan.permission = await session.may("scale", needs, wl.namespace)
    if not plan.permission.allowed:
        return plan
    try:
        await session.client.scale(wl.res, wl.name, wl.namespace, new, dry_run=True)
        plan.dry_run = f"scale to {new} accepted"
    except ApiError as e:
        plan.problems.append(explain_api_error(e, f"scaling {wl}"))
        return plan
    if new > current:
        plan.preview = preview_new(facts, pods_from_template(wl.obj, new - current), wl.obj,
                                   per_pod=wl.kind in ("Deployment", "ReplicaSet")
                                   and (wl.kind == "Deployment" or _owned_by_deployment(wl.obj)))
    elif new < current:
        plan.notes.append(f"{current - new} pod(s) will be removed (Pending ones first)")
    return plan


def _owned_by_deployment(obj: dict) -> bool:
    return any(r.get("kind") == "Deployment" for r in (obj.get("metadata") or {}).get("ownerReferences") or ())


async def apply_scale(session: ActionContext, plan: ActionPlan) -> Outcome:
    wl = plan.data["workload"]
    if plan.data.get("bounds"):
        res, name, body = plan.data["bounds"]
        await session.client.patch(res, name, body, wl.namespace)
        lo, hi = plan.data["range"]
        out = Outcome(True, f"{wl} now scales between {lo} and {hi} replicas ({plan.data['source']} autoscaler)",
                      changed=[f"{wl} range {lo}-{hi}"])
        if plan.preview is not None:
            out.details = plan.preview.lines()
        return out
    new = plan.data["replicas"]
    changed = []
    if plan.data.get("range"):
        lo, hi = plan.data["range"]
        await session.client.patch(wl.res, wl.name, {"metadata": {"annotations": {AUTOSCALE_ANNOTATION: f"{lo}-{hi}"}}},
                                   wl.namespace)
        changed.append(f"{wl} range {lo}-{hi}")
    try:
        await session.client.scale(wl.res, wl.name, wl.namespace, new)
    except ApiError:
        if plan.data.get("range"):  # never leave the range changed without the replicas
            old = ((wl.obj.get("metadata") or {}).get("annotations") or {}).get(AUTOSCALE_ANNOTATION)
            try:
                await session.client.patch(wl.res, wl.name, {"metadata": {"annotations": {AUTOSCALE_ANNOTATION: old}}},
                                           wl.namespace)
            except ApiError:
                pass
        raise
    changed.append(f"{wl} replicas {new}")
    out = Outcome(True, f"scaled {wl} to {new} replicas", changed=changed)
    if plan.preview is not None:
        out.details = plan.preview.lines()
    return out
