"""The console's action keys: submit, scale, preempt, delete, and marking rows for a bulk delete.

Everything goes through one `ActionSession` per cluster connection, on the UI's own client (the one
describe and YAML use), so each action is planned, permission-checked, dry-run, previewed and audited
exactly as the CLI verbs are. Permissions are asked per namespace in a worker and cached; a key whose
action is refused stays visible with the reason. After an action the affected rows carry a pending
marker until the watch reports the state the action asked for: nothing on screen changes by itself.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from rich.text import Text

from console.actions.errors import ActionError
from console.actions.manifests import SubmitForm
from console.actions.permissions import MUTATING_ACTIONS, Verdict, readonly_verdict
from console.actions.plan import ActionPlan, Outcome
from console.actions.session import ActionSession
from console.actions.yaml_input import parse_documents
from console.model.workload_row import WorkloadRow

from widgets.glyphs import current as G

from .host import ActionHost

WKey = tuple[str, str, str]  # (namespace, kind, name) of a workload row
KIND_ALIAS = {"Deployment": "deployment", "StatefulSet": "statefulset", "ReplicaSet": "replicaset", "Job": "job",
              "Pod": "pod", "Service": "ksvc", "InferenceService": "isvc", "InferenceWorkload": "inferenceworkload"}
LABELS = {"submit": "submit", "scale": "scale", "preempt": "preempt", "delete": "delete"}
MARK = " ◆"  # the Unicode mark, for readers; drawing reads the table chosen at start


@dataclass
class Pending:
    """An action sent whose result the watch has not shown yet."""

    action: str
    done: Callable[[WorkloadRow | None], bool]


def target_of(key: Hashable) -> str | None:
    """`NS/KIND/NAME` for a workload row or an expanded pod row; None for anything else."""
    if isinstance(key, tuple) and len(key) == 4 and key[0] == "pod":
        return f"{key[1]}/pod/{key[2]}"
    if isinstance(key, tuple) and len(key) == 3:
        ns, kind, name = key
        alias = KIND_ALIAS.get(str(kind))
        return f"{ns}/{alias}/{name}" if alias else f"{ns}/{name}"
    return None


def _words(field: str, text: str) -> list[str] | None:
    try:
        words = shlex.split(text)
    except ValueError as e:
        raise ValueError(f"{field}: {e} (quote words as a shell would)") from None
    return words or None


def _env(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in shlex.split(text.replace(",", " ")) if text.strip() else []:
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise ValueError(f"env: write KEY=VALUE, got {item!r}")
        out[key] = value
    return out


def form_of(values: dict[str, Any]) -> SubmitForm:
    """The dialog's fields as the actions layer's form; empty optional fields are absent, not zero.

    Raises ValueError naming the field when command, args or env cannot be read.
    """
    def opt(k: str) -> Any:
        return values.get(k) or None
    return SubmitForm(str(values.get("type") or "inference"), values.get("name", ""), values.get("project", ""),
                      values.get("image", ""), opt("gpu"), opt("replicas"), opt("min"), opt("max"), opt("port"),
                      opt("priority"), _words("command", values.get("command", "")),
                      _words("args", values.get("args", "")), _env(values.get("env", "")),
                      metric=opt("metric"), metric_threshold=opt("threshold"))


class ConsoleActions:
    """Action keys for one console: verdicts per namespace, marks, pending rows, and the dialogs."""

    def __init__(self, app: ActionHost) -> None:
        self.app = app
        self._session_for: tuple[int, bool] | None = None
        self._session: ActionSession | None = None
        self.verdicts: dict[str, dict[str, Verdict]] = {}
        self.asking: set[str] = set()
        self.marked: set[WKey] = set()
        self.pending: dict[Hashable, Pending] = {}
        self.last_outcome: Outcome | None = None

    # ------------------------------------------------------------------ session and verdicts
    def session(self) -> ActionSession | None:
        """The action session for the live connection (rebuilt when the connection or --readonly changes)."""
        s = self.app.session
        if s is None or s.client is None:
            return None
        ident = (id(s), self.app.readonly)
        if self._session is None or self._session_for != ident:
            # With a live session, actions use the informers' client and run on their loop (see `_run`).
            client = getattr(s, "informer_client", None) if hasattr(s, "off_ui") else None
            self._session = ActionSession(client or s.client, context=s.info.context, user=s.info.user,
                                          readonly=self.app.readonly)
            self._session_for = ident
            self.verdicts.clear()
            self.asking.clear()
        return self._session

    async def _run(self, coro: Any) -> Any:
        """Await an ActionSession call off the UI loop when the session can (plans parse whole lists)."""
        s = self.app.session
        if s is not None and hasattr(s, "off_ui") and getattr(s, "informer_client", None) is not None \
                and self._session is not None and self._session.client is s.informer_client:
            return await s.off_ui(coro)
        return await coro

    def namespace(self) -> str:
        """Where the row under the cursor lives (the connection's default namespace off a workload row)."""
        key = self.app.pane().table.cursor_key if self.app.view == "workloads" else None
        if isinstance(key, tuple) and len(key) == 3:
            return str(key[0])
        if isinstance(key, tuple) and len(key) == 4:
            return str(key[1])
        s = self.app.session
        creds = getattr(getattr(s, "client", None), "creds", None)
        return getattr(creds, "namespace", None) or "default"

    def verdict(self, action: str, namespace: str | None = None) -> Verdict | None:
        """The cached verdict (None while it is being asked); read-only answers at once."""
        if self.app.readonly:
            return readonly_verdict(action)
        s = self.app.session
        if s is None or s.client is None:
            return Verdict(False, "actions need a live cluster connection")
        ns = namespace or self.namespace()
        known = self.verdicts.get(ns)
        if known is None:
            self.ask(ns)
            return None
        return known.get(action)

    def ask(self, namespace: str) -> None:
        """Ask the server (SelfSubjectAccessReview) what this user may do in `namespace`, in a worker."""
        session = self.session()
        if session is None or namespace in self.asking:
            return
        self.asking.add(namespace)

        async def run() -> None:
            try:
                self.verdicts[namespace] = await self._run(session.offers(namespace))
            finally:
                self.asking.discard(namespace)
            if session is self._session:
                self.app.update_header()

        self.app.run_worker(run(), group="offers", exit_on_error=False)

    def reason(self, action: str) -> str | None:
        """Why `action` is disabled here, or None when it is offered (or not known yet)."""
        v = self.verdict(action)
        return None if v is None or v.allowed else v.reason

    def hints(self, key: Callable[[str, str], str]) -> list[tuple[str, str]]:
        """Footer items for the action keys; a disabled one is crossed and the first reason follows."""
        s = self.app.session
        if s is None or s.client is None:
            return []
        out: list[tuple[str, str]] = []
        why = None
        defaults = {"submit": "n", "scale": "s", "preempt": "p", "delete": "ctrl+d"}
        for a in MUTATING_ACTIONS:
            r = self.reason(a)
            out.append((_short(key(f"action.{a}", defaults[a])), LABELS[a] + (G().refused if r else "")))
            why = why or r
        if self.app.view == "workloads":
            out.append((_short(key("row.mark", "space")), f"mark ({len(self.marked)})" if self.marked else "mark"))
        if why:
            out.append((G().refused, why))
        return out

    # ------------------------------------------------------------------ rows: marks and pending
    def decorate(self, cells: Callable[[Hashable], Any]) -> Callable[[Hashable], Any]:
        """Wrap a workload pane's cell renderer with the mark and pending markers on the name cell."""
        def render(key: Hashable) -> Any:
            out = list(cells(key))
            extra = Text()
            if key in self.marked:
                extra.append(f" {G().marked}", self.app.ctx.palette.accent)
            pend = self.pending.get(key)
            if pend is not None:
                extra.append(f" {G().pending}{pend.action}{G().unknown}", self.app.ctx.palette.warn)
            if extra and out:
                name = out[0] if isinstance(out[0], Text) else Text(str(out[0]))
                name = name.copy()
                name.append_text(extra)
                out[0] = name
            return out
        return render

    def _invalidate(self, keys: set[Hashable]) -> None:
        try:
            self.app.pane("workloads").table.invalidate(keys)
        except Exception:
            pass

    def toggle_mark(self) -> None:
        table = self.app.pane().table
        key = table.cursor_key
        if not (isinstance(key, tuple) and len(key) == 3):
            self.app.notify("only workload rows can be marked", timeout=2)
            return
        if key in self.marked:
            self.marked.discard(key)  # type: ignore[arg-type]
        else:
            self.marked.add(key)  # type: ignore[arg-type]
        self._invalidate({key})
        table.action_cursor(1)
        self.app.update_header()

    def watch_pending(self) -> None:
        """After each flush: a pending row whose new state the watch has shown loses its marker."""
        if not self.pending and not self.marked:
            return
        rows = self.app.ctx.store.workloads.rows
        done = {k for k, p in self.pending.items() if p.done(rows.get(k))}  # type: ignore[arg-type]
        gone = {k for k in self.marked if k not in rows}
        for k in done:
            del self.pending[k]
        self.marked -= gone
        if done or gone:
            self._invalidate(done | gone)

    def _pend(self, key: Hashable, action: str, done: Callable[[WorkloadRow | None], bool]) -> None:
        self.pending[key] = Pending(action, done)
        self._invalidate({key})

    # ------------------------------------------------------------------ keys
    def _allowed(self, action: str) -> ActionSession | None:
        session = self.session()
        if session is None:
            self.app.notify(f"{action}: actions need a live cluster connection", severity="warning", timeout=4)
            return None
        why = self.reason(action)
        if why:
            self.app.notify(f"{action} is disabled: {why}", severity="warning", timeout=6)
            return None
        return session

    def _cursor(self) -> tuple[Hashable, str] | None:
        if self.app.view != "workloads":
            self.app.notify("select a workload in the workloads view (3) first", timeout=3)
            return None
        key = self.app.pane().table.cursor_key
        target = target_of(key)
        if key is None or target is None:
            self.app.notify("no workload under the cursor", timeout=2)
            return None
        return key, target

    def _decline(self, session: ActionSession) -> Callable[[ActionPlan], None]:
        def decline(plan: ActionPlan) -> None:
            async def write() -> None:
                import asyncio
                await asyncio.to_thread(session.record, plan,
                                        Outcome(False, f"{plan.action} not confirmed: cancelled in the dialog"))
            self.app.run_worker(write(), group="audit", exit_on_error=False)
        return decline

    def _sender(self, session: ActionSession, after: Callable[[ActionPlan, Outcome], None]) -> Any:
        async def send(plan: ActionPlan, phrase: str | None) -> Outcome:
            outcome = await self._run(session.apply(plan, confirm=phrase))
            if outcome.ok:
                after(plan, outcome)
            return outcome
        return send

    def _done(self, outcome: Outcome | None) -> None:
        if outcome is None:
            return
        self.last_outcome = outcome
        self.app.notify(outcome.message, timeout=6)
        self.app.update_header()

    def submit(self) -> None:
        from .action_screens import SubmitDialog

        session = self._allowed("submit")
        if session is None:
            return
        project = self._project_here()

        async def plan_form(values: dict[str, Any]) -> ActionPlan:
            try:
                form = form_of(values)
            except ValueError as e:  # command, args or env that cannot be read: a problem, not a crash
                return ActionPlan("submit", "the form", problems=[str(e)])
            return await self._run(session.plan_submit(form=form))

        async def plan_yaml(text: str, project: str) -> ActionPlan:
            try:
                docs = parse_documents(text, "editor")
            except ActionError as e:
                return ActionPlan("submit", "manifests from the editor", problems=e.problems)
            return await self._run(session.plan_submit(manifests=docs, project=project or None))

        def after(plan: ActionPlan, _o: Outcome) -> None:
            for obj in plan.manifests:
                if obj.get("kind") in ("Deployment", "StatefulSet", "Job"):
                    md = obj["metadata"]
                    key = (md["namespace"], obj["kind"], md["name"])
                    self._pend(key, "submit", lambda r: r is not None and r.pods > 0)

        self.app.push_screen(SubmitDialog(project, plan_form, plan_yaml, self._sender(session, after),
                                          self._decline(session)), self._done)

    def _project_here(self) -> str:
        key = self.app.pane().table.cursor_key
        if self.app.view == "projects" and isinstance(key, str):
            return key
        if self.app.view == "workloads" and isinstance(key, tuple) and len(key) == 3:
            row = self.app.ctx.store.workloads.rows.get(key)  # type: ignore[arg-type]
            return (row.project or "") if row else ""
        return ""

    def scale(self) -> None:
        from .action_screens import ScaleDialog

        session = self._allowed("scale")
        here = self._cursor() if session else None
        if session is None or here is None:
            return
        key, target = here
        row = self.app.ctx.store.workloads.rows.get(key)  # type: ignore[arg-type]
        if row is not None and row.autoscaling is not None:
            self._scale_bounds(key, target, row)
            return
        if row is None or row.kind not in ("Deployment", "StatefulSet", "ReplicaSet"):
            what = row.kind if row else "pod"
            self.app.notify(f"scale: a {what} has no scale subresource (Deployments, StatefulSets and "
                            "ReplicaSets do)", severity="warning", timeout=5)
            return
        # The owner's spec says how many replicas it wants; else the pods are counted, which is only a
        # number once every list is complete.
        counted = self.app.pane("workloads").model.figures_known()
        current = row.replicas_desired if row.replicas_desired is not None else (row.pods if counted else None)

        async def plan_for(count: int) -> ActionPlan:
            return await self._run(session.plan_scale(target, str(count)))

        def after(plan: ActionPlan, _o: Outcome) -> None:
            n = plan.data.get("replicas")
            self._pend(key, "scale", lambda r: r is not None and r.replicas_desired == n)

        self.app.push_screen(ScaleDialog(target, current, plan_for, self._sender(session, after),
                                         self._decline(session)), self._done)

    def _scale_bounds(self, key: Hashable, target: str, row: Any) -> None:
        """An autoscaled workload: its min/max change, never a replica count the autoscaler would undo."""
        from .action_screens import BoundsDialog

        session = self.session()
        if session is None:
            return
        a = row.autoscaling

        async def plan_for(lo: int | None, hi: int | None) -> ActionPlan:
            return await self._run(session.plan_scale(target, None, lo, hi))

        def after(plan: ActionPlan, _o: Outcome) -> None:
            lo, hi = plan.data.get("range", (None, None))
            self._pend(key, "scale", lambda r: r is not None and r.autoscaling is not None
                       and (r.autoscaling.min, r.autoscaling.max) == (lo, hi))

        self.app.notify(f"{row.name} is autoscaled by {a.source}: scale changes its min/max, not its replicas",
                        timeout=4)
        self.app.push_screen(BoundsDialog(target, a.source, a.min, a.max, plan_for, self._sender(session, after),
                                          self._decline(session)), self._done)

    def preempt(self) -> None:
        from .action_screens import PreemptDialog

        session = self._allowed("preempt")
        here = self._cursor() if session else None
        if session is None or here is None:
            return
        key, target = here

        async def plan_for(force: bool) -> ActionPlan:
            return await self._run(session.plan_preempt(target, force))

        def after(plan: ActionPlan, _o: Outcome) -> None:
            evicted = set(plan.data.get("pods") or ())
            wkey = key if len(key) == 3 else None  # type: ignore[arg-type]
            if wkey is None:
                return
            store = self.app.ctx.store

            def evicted_seen(r: object) -> bool:
                """Every evicted pod is Terminating (its deletionTimestamp came through the watch) or gone."""
                if r is None:
                    return True
                for k in store.pods_by_workload.get(wkey, ()):
                    rec = store.pods.get(k)
                    if k[1] in evicted and rec is not None and not rec.deleting:
                        return False
                return True
            self._pend(wkey, "preempt", evicted_seen)

        self.app.push_screen(PreemptDialog(target, plan_for, self._sender(session, after),
                                           self._decline(session)), self._done)

    def delete(self) -> None:
        from .action_screens import DeleteDialog

        session = self._allowed("delete")
        if session is None:
            return
        if self.marked:
            keys: list[Hashable] = sorted(self.marked)
        else:
            here = self._cursor()
            if here is None:
                return
            keys = [here[0]]
        targets = [t for t in (target_of(k) for k in keys) if t]

        async def plan_for() -> ActionPlan:
            return await self._run(session.plan_delete(targets))

        def after(_plan: ActionPlan, _o: Outcome) -> None:
            for k in keys:
                if isinstance(k, tuple) and len(k) == 3:
                    self._pend(k, "delete", lambda r: r is None)
            self.marked.clear()

        self.app.push_screen(DeleteDialog(targets, plan_for, self._sender(session, after),
                                          self._decline(session)), self._done)


def _short(key: str) -> str:
    """`ctrl+d` as the footer writes it (`^d`, like `^p`), so the line keeps room for every key."""
    return key.replace("ctrl+", "^")
