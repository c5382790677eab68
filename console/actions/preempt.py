"""Preempt: evict a workload's running pods through the Eviction API, as KAI's evictor would.

PodDisruptionBudgets are honoured (a 429 is explained with the budget's own numbers). A workload KAI
would never preempt (non-preemptible) is refused with the reason, unless forced with a typed
confirmation. The preview says what would start in the freed room and whether the workload's
controller's replacement pods would run again or wait.
"""

from __future__ import annotations

from console.kube import client as k
from console.kube.errors import ApiError

from .context import ActionContext
from .errors import ActionError, explain_api_error, outcome_unknown
from .permissions import Need
from .plan import ActionPlan, Outcome
from .preview import pods_from_template, preview_release
from .targets import SEARCH, parse_ref, resolve
from .workload_pods import pods_of, preemptibility

RECREATES = ("Deployment", "ReplicaSet", "StatefulSet", "Job")


def explain_pdb(e: ApiError, pod: str) -> str:
    """A PDB refusal (429) in words: which budget, what it needs, what it has."""
    causes = [str(c.get("message")) for c in e.causes if c.get("message")]
    why = "; ".join(causes) or e.message
    return (f"evicting pod {pod} would violate its PodDisruptionBudget: {why} (the server answered 429; try again "
            "when more of its pods are healthy, or relax the budget)")


async def plan_preempt(session: ActionContext, target: str, force: bool = False) -> ActionPlan:
    ref = parse_ref(target)
    facts = await session.facts()
    wl = resolve(facts, ref, SEARCH + ("pods",))
    plan = ActionPlan("preempt", str(wl), wl.namespace, destructive=True, data={"workload": wl})
    pods = pods_of(facts, wl, bound_only=True)
    if not pods:
        plan.problems.append(f"{wl} has no running pods to preempt")
        return plan
    blocked = [(p["metadata"]["name"], why) for p in pods for pre, why in [preemptibility(facts, wl, p)] if not pre]
    if blocked:
        why = blocked[0][1]
        if not force:
            plan.problems.append(f"{wl} is not preemptible: {why}; KAI never preempts it. To evict it anyway, "
                                 "force the action and type the confirmation")
            return plan
        plan.confirm_phrase = f"preempt {wl.name}"
        plan.notes.append(f"forced: {wl} is not preemptible ({why})")
    plan.data["pods"] = [p["metadata"]["name"] for p in pods]
    plan.permission = await session.may("preempt", [Need("create", k.PODS, "eviction")], wl.namespace)
    if not plan.permission.allowed:
        return plan
    for p in pods:
        name = p["metadata"]["name"]
        try:
            await session.client.evict(name, wl.namespace, dry_run=True)
        except ApiError as e:
            plan.problems.append(explain_pdb(e, name) if e.code == 429 else explain_api_error(e, f"evicting {name}"))
    if plan.problems:
        plan.dry_run = "refused"
        return plan
    plan.dry_run = f"eviction of {len(pods)} pod(s) accepted"
    owner = wl.obj if wl.kind in RECREATES else None
    keys = {f"{wl.namespace}/{p['metadata']['name']}" for p in pods}
    replacements = pods_from_template(owner, len(pods)) if owner is not None else []
    plan.preview = preview_release(facts, keys, replacements, owner)
    plan.notes.append(f"evicts {len(pods)} pod(s): " + ", ".join(plan.data["pods"]))
    return plan


async def apply_preempt(session: ActionContext, plan: ActionPlan) -> Outcome:
    wl = plan.data["workload"]
    done: list[str] = []
    for name in plan.data["pods"]:
        try:
            await session.client.evict(name, wl.namespace)
        except ApiError as e:
            if e.code == 404:
                continue  # gone meanwhile: nothing left to evict
            msg = explain_pdb(e, name) if e.code == 429 else explain_api_error(e, f"evicting {name}")
            left = [n for n in plan.data["pods"] if n not in done and n != name]
            before = ([f"evicted before this: {', '.join(done)}"] if done else
                      [] if outcome_unknown(e) else ["no pod was evicted"])
            raise ActionError([msg] + before + ([f"not evicted: {', '.join(left)}"] if left else [])) from None
        done.append(name)
    out = Outcome(True, f"preempted {wl}: evicted {len(done)} pod(s)",
                  changed=[f"pod {wl.namespace}/{n}" for n in done])
    if plan.preview is not None:
        out.details = plan.preview.lines()
    return out
