"""Scale: set a workload's replicas to N or step by +N / -N through the `scale` subresource.

Deployments, ReplicaSets and StatefulSets have one; inference Deployments may also carry a min/max
range (the autoscale annotation), which is shown and can be changed in the same action. Scaling up is
previewed with KAI's rules, so "3 run, 2 stay Pending over quota" is known before it is sent.
"""

from __future__ import annotations

import re
from typing import Any

from console.kube.errors import ApiError

from .context import ActionContext
from .errors import explain_api_error
from .manifests import AUTOSCALE_ANNOTATION
from .permissions import Need
from .plan import ActionPlan, Outcome
from .preview import pods_from_template, preview_new
from .targets import SEARCH, UsageError, parse_ref, resolve
from .validate import parse_int

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


async def plan_scale(session: ActionContext, target: str, count: str | int, min_replicas: Any = None,
                     max_replicas: Any = None) -> ActionPlan:
    ref = parse_ref(target)
    facts = await session.facts()
    wl = resolve(facts, ref, SEARCH)
    plan = ActionPlan("scale", str(wl), wl.namespace, data={"workload": wl})
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
