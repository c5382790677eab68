"""Submit: a form or YAML manifests → validated, permitted, dry-run, previewed → created all or none."""

from __future__ import annotations

import copy
from typing import Any

from console.kube import client as k
from console.kube.client import Res
from console.kube.errors import ApiError
from console.model import autoscaling

from .context import ActionContext
from .errors import ActionError, explain_api_error
from .manifests import SubmitForm, build
from .permissions import ALLOWED, Need
from .plan import ActionPlan, Outcome
from .preview import pods_from_template, preview_new
from .validate import validate_form, validate_objects

Obj = dict[str, Any]
RES_BY_KIND: dict[tuple[str, str], Res] = {
    ("apps/v1", "Deployment"): k.DEPLOYMENTS, ("apps/v1", "StatefulSet"): k.STATEFULSETS,
    ("batch/v1", "Job"): k.JOBS, ("v1", "Service"): k.SERVICES, ("v1", "Pod"): k.PODS,
    ("v1", "ConfigMap"): k.CONFIGMAPS, ("serving.knative.dev/v1", "Service"): k.KSERVICES,
    ("autoscaling/v2", "HorizontalPodAutoscaler"): k.HPAS,
}
WORKLOAD_KINDS = (("apps/v1", "Deployment"), ("apps/v1", "StatefulSet"), ("batch/v1", "Job"), ("v1", "Pod"),
                  ("serving.knative.dev/v1", "Service"))


def _is_workload(o: Obj) -> bool:
    return (o.get("apiVersion"), o.get("kind")) in WORKLOAD_KINDS


def max_replicas(objs: list[Obj], workload: Obj) -> int | None:
    """What an autoscaled workload may grow to: Knative's max-scale, or the max of an HPA on it."""
    if workload.get("kind") == "Service":
        ann = (((workload.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("annotations") or {}
        return autoscaling.knative(ann).max
    name = (workload.get("metadata") or {}).get("name")
    for o in objs:
        if o.get("kind") == "HorizontalPodAutoscaler" and \
                ((o.get("spec") or {}).get("scaleTargetRef") or {}).get("name") == name:
            return autoscaling.hpa(o).max
    return None


def _label(obj: Obj) -> str:
    md = obj.get("metadata") or {}
    return f"{obj.get('kind')} {md.get('namespace')}/{md.get('name')}"


def pod_count(obj: Obj) -> int:
    """How many pods a workload manifest starts with."""
    spec = obj.get("spec") or {}
    kind = obj.get("kind")
    try:
        if kind == "Pod":
            return 1
        if kind == "Job":
            return int(spec.get("parallelism", 1) if spec.get("parallelism") is not None else 1)
        return int(spec.get("replicas", 1) if spec.get("replicas") is not None else 1)
    except (TypeError, ValueError):
        return 0


async def plan_submit(session: ActionContext, form: SubmitForm | None = None, manifests: list[Obj] | None = None,
                      project: str | None = None) -> ActionPlan:
    facts = await session.facts()
    if form is not None:
        values, placement, errs = validate_form(form, facts)
        ns = placement.namespace if placement else None
        target = f"{form.type} {ns or '?'}/{form.name or '?'}"
        if errs or values is None or placement is None:
            return ActionPlan("submit", target, ns, problems=errs)
        objs = build(values, placement)
    else:
        objs = copy.deepcopy(manifests or [])
        default_ns = None
        errs = []
        if project:
            if project not in facts.projects():
                errs.append(f"project {project!r} does not exist (projects: {', '.join(facts.projects()) or 'none'})")
            else:
                default_ns = facts.project_namespace(project)
        else:
            default_ns = getattr(session.client.creds, "namespace", None) or "default"
        errs += validate_objects(objs, facts, default_ns)
        if errs:
            first = objs[0] if objs and isinstance(objs[0], dict) else {}
            return ActionPlan("submit", _label(first) if first.get("kind") else "manifests", default_ns,
                              problems=errs)
        for o in objs:
            o["metadata"].setdefault("namespace", default_ns)
    pairs = [(RES_BY_KIND[(o["apiVersion"], o["kind"])], o) for o in objs]
    workload = next((o for _, o in pairs if _is_workload(o)), None)
    ns = (workload or objs[0])["metadata"]["namespace"]
    plan = ActionPlan("submit", ", ".join(_label(o) for o in objs), ns, manifests=objs,
                      data={"pairs": pairs})

    verdict = ALLOWED
    for namespace in sorted({o["metadata"]["namespace"] for o in objs}):
        needs = [Need("create", r) for r, o in pairs if o["metadata"]["namespace"] == namespace]
        verdict = await session.may("submit", needs, namespace)
        if not verdict.allowed:
            break
    plan.permission = verdict
    if not verdict.allowed:
        return plan

    answers = []
    for res, obj in pairs:
        try:
            await session.client.create(res, obj, obj["metadata"]["namespace"], dry_run=True)
            answers.append(f"{_label(obj)} accepted")
        except ApiError as e:
            plan.problems.append(explain_api_error(e, f"creating {_label(obj)}"))
    plan.dry_run = "; ".join(answers) if not plan.problems else "refused"
    if workload is not None and not plan.problems:
        top = max_replicas(objs, workload)
        count = top if top is not None else pod_count(workload)
        plan.preview = preview_new(facts, pods_from_template(workload, count), workload,
                                   per_pod=True if workload.get("kind") == "Service" else None)
        if top is not None:
            plan.notes.append(f"the preview is for the most the autoscaler may run: {top} replica(s)")
    return plan


async def apply_submit(session: ActionContext, plan: ActionPlan) -> Outcome:
    """Create the manifests in order; if one fails, delete the ones created before it and say so."""
    created: list[tuple[Res, Obj]] = []
    for res, obj in plan.data["pairs"]:
        try:
            await session.client.create(res, obj, obj["metadata"]["namespace"])
        except ApiError as e:
            problems = [explain_api_error(e, f"creating {_label(obj)}")]
            problems += await _roll_back(session, created)
            raise ActionError(problems) from None
        created.append((res, obj))
    names = [_label(o) for _, o in created]
    out = Outcome(True, "created " + ", ".join(names), changed=names)
    if plan.preview is not None:
        out.details = plan.preview.lines()
    return out


async def _roll_back(session: ActionContext, created: list[tuple[Res, Obj]]) -> list[str]:
    out = []
    for res, obj in reversed(created):
        md = obj["metadata"]
        try:
            await session.client.delete(res, md["name"], md["namespace"])
            out.append(f"rolled back: deleted {_label(obj)} again")
        except ApiError as e:
            out.append(f"could not roll back {_label(obj)}: {e}; delete it by hand")
    return out
