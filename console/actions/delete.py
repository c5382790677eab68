"""Delete: workloads with their dependents (ReplicaSets, pods and PodGroups by garbage collection, and the
Service that fronts them), one at a time or marked in bulk behind a typed confirmation."""

from __future__ import annotations

from typing import Any

from console.kube import client as k
from console.kube.errors import ApiError

from .context import ActionContext
from .errors import ActionError, explain_api_error, outcome_unknown
from .manifests import MANAGED_BY, MANAGED_BY_LABEL
from .permissions import Need
from .plan import ActionPlan, Outcome
from .preview import preview_release
from .targets import SEARCH, Workload, parse_ref, resolve
from .workload_pods import pods_of

Obj = dict[str, Any]


def fronting_services(facts: Any, wl: Workload) -> list[Obj]:
    """Services that exist for this workload: same name (or made by the console) and selecting its pods."""
    tmpl_labels = ((((wl.obj.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {}
                   if wl.kind != "Pod" else (wl.obj.get("metadata") or {}).get("labels") or {})
    out = []
    for svc in facts.items("services", wl.namespace):
        sel = (svc.get("spec") or {}).get("selector") or {}
        md = svc.get("metadata") or {}
        ours = md.get("name") == wl.name or (md.get("labels") or {}).get(MANAGED_BY_LABEL) == MANAGED_BY and \
            (md.get("labels") or {}).get("app") == wl.name
        if sel and ours and all(tmpl_labels.get(key) == v for key, v in sel.items()):
            out.append(svc)
    return out


async def plan_delete(session: ActionContext, targets: list[str]) -> ActionPlan:
    refs = [parse_ref(t) for t in targets]
    facts = await session.facts()
    problems: list[str] = []
    wls: list[Workload] = []
    for ref in refs:
        try:
            wl = resolve(facts, ref, SEARCH + ("pods",))
        except ActionError as e:
            problems += e.problems
            continue
        if all(str(w) != str(wl) for w in wls):
            wls.append(wl)
    plan = ActionPlan("delete", ", ".join(str(w) for w in wls) or ", ".join(targets), destructive=True,
                      problems=problems)
    if not wls or problems:
        return plan
    plan.namespace = wls[0].namespace if len({w.namespace for w in wls}) == 1 else None
    items: list[tuple[Any, str, str, str]] = []  # (res, namespace, name, label)
    pod_keys: set[str] = set()
    for wl in wls:
        pods = pods_of(facts, wl)
        pod_keys |= {f"{wl.namespace}/{p['metadata']['name']}" for p in pods}
        svcs = fronting_services(facts, wl)
        deps = []
        if wl.kind == "Deployment":
            rss = [r for r in facts.items("replicasets", wl.namespace)
                   if any(o.get("uid") == wl.obj["metadata"].get("uid") for o in r["metadata"].get("ownerReferences")
                          or ())]
            deps.append(f"{len(rss)} ReplicaSet(s)")
        deps.append(f"{len(pods)} pod(s) and their PodGroups")
        deps += [f"Service {s['metadata']['name']}" for s in svcs]
        plan.notes.append(f"{wl} with " + ", ".join(deps))
        items.append((wl.res, wl.namespace, wl.name, str(wl)))
        items += [(k.SERVICES, wl.namespace, s["metadata"]["name"], f"Service {wl.namespace}/{s['metadata']['name']}")
                  for s in svcs]
    plan.data["items"] = items
    if len(wls) > 1:
        plan.confirm_phrase = f"delete {len(wls)} workloads"
    for ns in sorted({i[1] for i in items}):
        needs = [Need("delete", res) for res in {i[0] for i in items if i[1] == ns}]
        plan.permission = await session.may("delete", sorted(needs, key=lambda n: n.what), ns)
        if not plan.permission.allowed:
            return plan
    for res, ns, name, label in items:
        try:
            await session.client.delete(res, name, ns, dry_run=True)
        except ApiError as e:
            plan.problems.append(explain_api_error(e, f"deleting {label}"))
    if plan.problems:
        plan.dry_run = "refused"
        return plan
    plan.dry_run = f"deletion of {len(items)} object(s) accepted"
    plan.preview = preview_release(facts, pod_keys, [], None)
    return plan


async def apply_delete(session: ActionContext, plan: ActionPlan) -> Outcome:
    done: list[str] = []
    for res, ns, name, label in plan.data["items"]:
        try:
            await session.client.delete(res, name, ns, propagation="Background")
        except ApiError as e:
            if e.code == 404:
                done.append(f"{label} (already gone)")
                continue
            left = [i[3] for i in plan.data["items"] if i[3] not in done and i[3] != label]
            before = ([f"deleted before this: {', '.join(done)}"] if done else
                      [] if outcome_unknown(e) else ["nothing was deleted"])
            raise ActionError([explain_api_error(e, f"deleting {label}")] + before
                              + ([f"not deleted: {', '.join(left)}"] if left else [])) from None
        done.append(label)
    return Outcome(True, "deleted " + ", ".join(done), changed=done)
