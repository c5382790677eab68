"""May this user do this action here? Asked with SelfSubjectAccessReview before the action is offered.

A refusal reads as the operator would say it ("sim-viewer cannot patch deployments/scale in runai-team-a"),
so a disabled key or a refused verb explains itself. `--readonly` refuses every mutation without asking.
"""

from __future__ import annotations

from dataclasses import dataclass

from console.kube import client as k
from console.kube.client import KubeClient, Res
from console.kube.errors import ApiError

MUTATING_ACTIONS = ("submit", "scale", "preempt", "delete")


@dataclass(frozen=True)
class Need:
    """One permission an action needs: verb on resource (and subresource) in a namespace."""

    verb: str
    res: Res
    sub: str | None = None

    @property
    def what(self) -> str:
        return self.res.plural + (f"/{self.sub}" if self.sub else "")


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reason: str = ""


ALLOWED = Verdict(True)


def needs_for(action: str, res: Res | None = None, extra: tuple[Res, ...] = ()) -> list[Need]:
    """What an action needs on a workload of resource `res` (Deployments by default)."""
    if action == "submit":
        return [Need("create", r) for r in (res or k.DEPLOYMENTS,) + extra]
    if action == "scale":
        return [Need("patch", res or k.DEPLOYMENTS, "scale")]
    if action == "preempt":
        return [Need("create", k.PODS, "eviction")]
    if action == "delete":
        return [Need("delete", res or k.DEPLOYMENTS)] + [Need("delete", r) for r in extra]
    raise ValueError(f"unknown action {action!r}")


def readonly_verdict(action: str) -> Verdict:
    return Verdict(False, f"{action} is disabled: the console runs read-only (--readonly)")


async def check(client: KubeClient, user: str, needs: list[Need], namespace: str | None,
                readonly: bool = False, action: str = "") -> Verdict:
    """The first need the server denies, as a sentence; ALLOWED when every one is granted.

    An API server without the review API (404) is given the benefit of the doubt: the request itself
    will be authorised. An unreachable server is a refusal, since nothing could be sent anyway.
    """
    if readonly:
        return readonly_verdict(action or "this action")
    who = user or "this user"
    where = f" in {namespace}" if namespace else " at cluster scope"
    for need in needs:
        try:
            ok, why = await client.can_i(need.verb, need.res, namespace, subresource=need.sub)
        except ApiError as e:
            if e.code == 404:
                continue
            if e.unreachable:
                return Verdict(False, f"cannot ask whether {who} may {need.verb} {need.what}: the cluster is "
                                      f"unreachable ({e.message})")
            return Verdict(False, f"cannot ask whether {who} may {need.verb} {need.what}{where}: {e}")
        if not ok:
            return Verdict(False, f"{who} cannot {need.verb} {need.what}{where}" + (f" ({why})" if why else ""))
    return ALLOWED
