"""One operator's actions on one cluster context: shared by the keyboard dialogs and the CLI verbs.

Each action goes plan → (show, confirm) → apply. Planning validates locally, asks the server whether
the user may (SelfSubjectAccessReview), dry-runs the request and previews it with KAI's rules; applying
sends it, never half-applies, and writes the audit entry whatever the outcome.
"""

from __future__ import annotations

from typing import Any

from console.kube.client import KubeClient, Res
from console.kube.errors import ApiError

from . import delete, preempt, scale, submit
from . import facts as facts_mod
from .audit import AuditLog
from .errors import ActionError, explain_api_error
from .facts import ClusterFacts
from .permissions import MUTATING_ACTIONS, Need, Verdict, check, needs_for
from .plan import ActionPlan, Outcome
from .targets import UsageError


class ActionSession:
    """Actions for `client` as `user` in kubeconfig `context`; `readonly` refuses every mutation."""

    def __init__(self, client: KubeClient, *, context: str = "", user: str = "", audit: AuditLog | None = None,
                 readonly: bool = False) -> None:
        self.client = client
        self.context = context or getattr(client.creds, "context", "")
        self.user = user or getattr(client.creds, "user", "")
        token = getattr(client.creds, "token", None)
        password = getattr(client.creds, "password", None)
        self.audit = audit or AuditLog()
        self.audit.secrets = list({*self.audit.secrets, *(s for s in (token, password) if s)})
        self.readonly = readonly

    async def facts(self) -> ClusterFacts:
        return await facts_mod.load(self.client)

    async def may(self, action: str, needs: list[Need], namespace: str | None) -> Verdict:
        return await check(self.client, self.user, needs, namespace, self.readonly, action)

    async def offer(self, action: str, namespace: str, res: Res | None = None) -> Verdict:
        """Whether to offer `action` on a workload of `res` in `namespace`; a refusal carries the reason
        a disabled key shows."""
        return await self.may(action, needs_for(action, res), namespace)

    async def offers(self, namespace: str, res: Res | None = None) -> dict[str, Verdict]:
        """Every action's verdict for one namespace (and workload resource), for a pane's key hints."""
        return {a: await self.offer(a, namespace, res) for a in MUTATING_ACTIONS}

    # ------------------------------------------------------------ plans
    async def plan_submit(self, form: Any = None, manifests: list[dict] | None = None,
                          project: str | None = None) -> ActionPlan:
        return await self._planned("submit", submit.plan_submit(self, form=form, manifests=manifests,
                                                                project=project))

    async def plan_scale(self, target: str, count: str | int, min_replicas: Any = None,
                         max_replicas: Any = None) -> ActionPlan:
        return await self._planned("scale", scale.plan_scale(self, target, count, min_replicas, max_replicas))

    async def plan_preempt(self, target: str, force: bool = False) -> ActionPlan:
        return await self._planned("preempt", preempt.plan_preempt(self, target, force))

    async def plan_delete(self, targets: list[str]) -> ActionPlan:
        return await self._planned("delete", delete.plan_delete(self, targets))

    async def _planned(self, action: str, coro: Any) -> ActionPlan:
        """Run a planner; a cluster that fails while planning yields a plan that says so."""
        try:
            return await coro
        except ActionError as e:
            return ActionPlan(action, "?", problems=e.problems)
        except ApiError as e:
            return ActionPlan(action, "?", problems=[explain_api_error(e, f"{action}: reading the cluster")])
        except UsageError as e:  # a target or count that cannot be read: a problem to show, not an exception
            return ActionPlan(action, "?", problems=[str(e)])

    # ------------------------------------------------------------ apply
    async def apply(self, plan: ActionPlan, confirm: str | None = None, dry_run: bool = False) -> Outcome:
        """Send a plan (or with `dry_run`, only record that it was checked) and write the audit entry."""
        if self.readonly:
            outcome = Outcome(False, f"{plan.action} is disabled: the console runs read-only (--readonly)")
        elif not plan.ok:
            outcome = Outcome(False, f"{plan.action} refused: " + "; ".join(plan.blockers()), plan.blockers())
        elif plan.confirm_phrase and not dry_run and (confirm or "").strip() != plan.confirm_phrase:
            outcome = Outcome(False, f"{plan.action} not confirmed: type exactly {plan.confirm_phrase!r} to go ahead")
        elif dry_run:
            outcome = Outcome(True, f"{plan.action}: dry run only; nothing was sent")
        else:
            outcome = await self._send(plan)
        self.record(plan, outcome, dry_run)
        return outcome

    async def _send(self, plan: ActionPlan) -> Outcome:
        fn = {"submit": submit.apply_submit, "scale": scale.apply_scale, "preempt": preempt.apply_preempt,
              "delete": delete.apply_delete}[plan.action]
        try:
            return await fn(self, plan)
        except ActionError as e:
            return Outcome(False, f"{plan.action} failed: " + "; ".join(e.problems), e.problems)
        except ApiError as e:
            msg = explain_api_error(e, plan.action)
            return Outcome(False, msg, [msg])

    def record(self, plan: ActionPlan, outcome: Outcome, dry_run: bool = False) -> None:
        """Write the audit entry for a plan's outcome (also for one the operator declined)."""
        state = "dry-run" if dry_run and outcome.ok else ("ok" if outcome.ok else
                                                          "refused" if not plan.ok or "not confirmed" in
                                                          outcome.message or self.readonly else "failed")
        try:
            self.audit.record(context=self.context, user=self.user, action=plan.action, target=plan.target,
                              manifest=plan.manifests or None, diff=plan.diff, dry_run=plan.dry_run,
                              outcome=state, detail={"message": outcome.message, "changed": outcome.changed})
        except OSError as e:
            outcome.details.append(f"the audit log {self.audit.path} could not be written: {e.strerror or e}")
