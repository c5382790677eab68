"""The action dialogs: submit, scale, preempt, delete. Each shows the plan before anything is sent.

A dialog opens with Cancel focused, so a stray enter never acts. Planning (validation, permission
review, server dry run, KAI preview) and sending run in workers; the dialog only ever shows their
results, and every failure becomes a line in it. Sending goes through the `send` callable the console
hands in (the action session's `apply`, which writes the audit entry); a changed form makes the shown
plan stale, and a stale plan is checked again before it can be confirmed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Select, Static, TextArea

from console.actions.plan import ActionPlan, Outcome
from widgets.action_dialogs import message_text, plan_text

Planner = Callable[[], Awaitable[ActionPlan]]
Sender = Callable[[ActionPlan, "str | None"], Awaitable[Outcome]]
Decline = Callable[[ActionPlan], None]


class ActionDialog(ModalScreen["Outcome | None"]):
    """Plan → show → (typed phrase) → confirm → send; dismissed with the Outcome, or None when cancelled."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="dialog.cancel")]
    confirm_label = "Confirm"

    def __init__(self, title: str, send: Sender, decline: Decline | None = None) -> None:
        super().__init__()
        self.title_text = title
        self.send_fn = send
        self.decline_fn = decline
        self.plan: ActionPlan | None = None
        self.stale = True
        self.busy = False
        self.message = ""

    # ------------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        with Vertical(id="action-body"):
            yield Static(self.title_text, classes="screen-title")
            yield Static(self.where(), id="action-where")
            yield from self.form()
            with VerticalScroll(id="action-plan-scroll"):
                yield Static("checking…", id="action-plan")
            yield Input(id="action-phrase", placeholder="type the confirmation shown above")
            yield Static("", id="action-message")
            with Horizontal(id="action-buttons"):
                yield Button("Cancel", id="cancel")
                yield from self.extra_buttons()
                yield Button(self.confirm_label, id="confirm", variant="error", disabled=True)

    def form(self) -> ComposeResult:
        yield from ()

    def where(self) -> str:
        """`on context sim-admin · https://127.0.0.1:6443`: which cluster the action goes to."""
        info = getattr(getattr(self.app, "session", None), "info", None)
        if info is None:
            return ""
        out = f"on context {info.context or '-'}" + (f" · {info.server}" if info.server else "")
        if info.tls == "unverified":
            out += " · TLS unverified"
        elif info.tls == "plain":
            out += " · plain HTTP"
        return out

    def extra_buttons(self) -> ComposeResult:
        yield from ()

    def on_mount(self) -> None:
        self.query_one("#action-phrase", Input).display = False
        self.query_one("#cancel", Button).focus()
        if self.plans_on_open():
            self.check()

    def plans_on_open(self) -> bool:
        return True

    # ------------------------------------------------------------------ planning
    def planner(self) -> Planner:
        raise NotImplementedError

    def mark_stale(self) -> None:
        self.stale = True
        self.query_one("#confirm", Button).disabled = True

    @work(exclusive=True, group="plan", exit_on_error=False)
    async def check(self) -> None:
        """Plan again and show it; any failure is a message in the dialog."""
        self.stale = False
        self._show_plan(["checking…"])
        try:
            plan = await self.planner()()
        except Exception as e:  # a usage error, an unreachable cluster: words, never a traceback
            self.plan = None
            self._show_plan([f"{self.title_text}", f"Refused: {_one_line(e)}"])
            self._set_confirm()
            return
        self.plan = plan
        self._show_plan(plan.lines())
        phrase = self.query_one("#action-phrase", Input)
        phrase.display = bool(plan.confirm_phrase and plan.ok)
        self._set_confirm()
        self.planned(plan)

    def planned(self, plan: ActionPlan) -> None:
        """A subclass's hook after each plan (the preempt dialog offers Force here)."""

    def _show_plan(self, lines: list[str]) -> None:
        self.query_one("#action-plan", Static).update(plan_text(lines, getattr(self.app, "ctx", None)
                                                                and self.app.ctx.palette))  # type: ignore[attr-defined]

    def _set_confirm(self) -> None:
        ok = self.plan is not None and self.plan.ok and not self.stale and not self.busy
        self.query_one("#confirm", Button).disabled = not ok

    def say(self, message: str, ok: bool = False) -> None:
        self.message = message
        self.query_one("#action-message", Static).update(message_text(message, ok) if message else Text(""))

    # ------------------------------------------------------------------ buttons
    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self) -> None:
        self.action_cancel()

    @on(Button.Pressed, "#confirm")
    def _confirm_pressed(self) -> None:
        self.confirm()

    def action_cancel(self) -> None:
        if self.busy:
            self.say("sending…; the outcome shows here when the server answers")
            return
        if self.plan is not None and self.decline_fn is not None:
            self.decline_fn(self.plan)
        self.dismiss(None)

    def confirm(self) -> None:
        if self.plan is None or self.stale or not self.plan.ok or self.busy:
            self.check()
            return
        self.send()

    @work(exclusive=True, group="send", exit_on_error=False)
    async def send(self) -> None:
        plan = self.plan
        if plan is None:
            return
        phrase = self.query_one("#action-phrase", Input).value if plan.confirm_phrase else None
        if plan.confirm_phrase and (phrase or "").strip() != plan.confirm_phrase:
            self.say(f"type exactly {plan.confirm_phrase!r} to go ahead")
            return
        self.busy = True
        self._set_confirm()
        self.say("sending…", ok=True)
        try:
            outcome = await self.send_fn(plan, phrase)
        except Exception as e:
            outcome = Outcome(False, f"{plan.action} failed: {_one_line(e)}")
        finally:
            self.busy = False
        if outcome.ok:
            self.dismiss(outcome)
            return
        self.say(outcome.message + "".join(f"\n  {d}" for d in outcome.details))
        self._set_confirm()


class ScaleDialog(ActionDialog):
    """Replicas of one workload; `+` / `-` step the count, each step planned again."""

    BINDINGS = [
        Binding("plus,equals_sign", "step(1)", "One more", id="scale.up", priority=True),
        Binding("minus", "step(-1)", "One less", id="scale.down", priority=True),
    ]
    confirm_label = "Scale"

    def __init__(self, target: str, current: int | None, plan_for: Callable[[int], Awaitable[ActionPlan]],
                 send: Sender, decline: Decline | None = None) -> None:
        super().__init__(f"Scale {target}  (+/- step the replicas)", send, decline)
        self.current = current       # None while the lists it is counted from are not complete
        self.count = current
        self.plan_for = plan_for

    def form(self) -> ComposeResult:
        with Horizontal(classes="action-row"):
            now = "…, still listing: type a count" if self.current is None else str(self.current)
            yield Static(f"replicas (now {now})", classes="action-label")
            yield Input("" if self.count is None else str(self.count), id="scale-count", restrict=r"\d*",
                        max_length=5)

    def plans_on_open(self) -> bool:
        self.mark_stale()
        self._show_plan([self.title_text, "press + or - (or type a count) to see the change and its preview"])
        return False

    def planner(self) -> Planner:
        count = self.count
        return lambda: self.plan_for(count)

    def action_step(self, delta: int) -> None:
        if self.count is None:  # nothing to step from: the current count is not known yet
            self.say("the current replicas are not known until the lists are complete: type a count")
            return
        self.count = max(0, self.count + delta)
        self.query_one("#scale-count", Input).value = str(self.count)

    @on(Input.Changed, "#scale-count")
    def _count_changed(self, event: Input.Changed) -> None:
        if not event.value.isdigit():
            self.mark_stale()
            return
        n = int(event.value)
        self.count = n
        if n == self.current and self.plan is None:
            return
        self.mark_stale()
        self.check()


class BoundsDialog(ActionDialog):
    """An autoscaled workload's min/max replicas; `+` / `-` step the max. Its replicas are the autoscaler's."""

    BINDINGS = [
        Binding("plus,equals_sign", "step(1)", "Max +1", id="bounds.up", priority=True),
        Binding("minus", "step(-1)", "Max -1", id="bounds.down", priority=True),
    ]
    confirm_label = "Change bounds"

    def __init__(self, target: str, source: str, lo: int | None, hi: int | None,
                 plan_for: Callable[[int | None, int | None], Awaitable[ActionPlan]], send: Sender,
                 decline: Decline | None = None) -> None:
        super().__init__(f"Autoscaling bounds of {target}  (+/- step the max)", send, decline)
        self.source = source
        self.lo0, self.hi0 = lo, hi
        self.lo, self.hi = lo, hi
        self.plan_for = plan_for

    def form(self) -> ComposeResult:
        with Horizontal(classes="action-row"):
            yield Static(f"min replicas (now {'-' if self.lo0 is None else self.lo0})", classes="action-label")
            yield Input("" if self.lo is None else str(self.lo), id="bounds-min", restrict=r"\d*", max_length=5)
        with Horizontal(classes="action-row"):
            yield Static(f"max replicas (now {'-' if self.hi0 is None else self.hi0})", classes="action-label")
            yield Input("" if self.hi is None else str(self.hi), id="bounds-max", restrict=r"\d*", max_length=5)

    def plans_on_open(self) -> bool:
        self.mark_stale()
        self._show_plan([self.title_text, f"autoscaled by {self.source}: the autoscaler sets the replicas, this "
                                          "changes the range it keeps them in; press + or - (or type) to see it"])
        return False

    def planner(self) -> Planner:
        lo, hi = self.lo, self.hi
        return lambda: self.plan_for(lo, hi)

    def action_step(self, delta: int) -> None:
        self.hi = max(1, (self.hi or 0) + delta)
        self.query_one("#bounds-max", Input).value = str(self.hi)

    @on(Input.Changed, "#bounds-min, #bounds-max")
    def _changed(self, event: Input.Changed) -> None:
        value = int(event.value) if event.value.isdigit() else None
        if event.input.id == "bounds-min":
            self.lo = value
        else:
            self.hi = value
        if (self.lo, self.hi) == (self.lo0, self.hi0) and self.plan is None:
            return
        self.mark_stale()
        if value is not None:
            self.check()


class PreemptDialog(ActionDialog):
    """Evict a workload's pods; a non-preemptible one is refused unless forced with the typed phrase."""

    confirm_label = "Preempt"

    def __init__(self, target: str, plan_for: Callable[[bool], Awaitable[ActionPlan]], send: Sender,
                 decline: Decline | None = None) -> None:
        super().__init__(f"Preempt {target}", send, decline)
        self.force = False
        self.plan_for = plan_for

    def extra_buttons(self) -> ComposeResult:
        yield Button("Force", id="force", variant="warning")

    def on_mount(self) -> None:
        self.query_one("#force", Button).display = False
        super().on_mount()

    def planner(self) -> Planner:
        force = self.force
        return lambda: self.plan_for(force)

    def planned(self, plan: ActionPlan) -> None:
        self.query_one("#force", Button).display = (not self.force and any("not preemptible" in p
                                                                           for p in plan.problems))

    @on(Button.Pressed, "#force")
    def _force(self) -> None:
        self.force = True
        self.mark_stale()
        self.check()


class DeleteDialog(ActionDialog):
    """Delete workloads with their dependents; several at once need the typed phrase."""

    confirm_label = "Delete"

    def __init__(self, targets: list[str], plan_for: Planner, send: Sender, decline: Decline | None = None) -> None:
        what = targets[0] if len(targets) == 1 else f"{len(targets)} marked workloads"
        super().__init__(f"Delete {what}", send, decline)
        self.plan_for = plan_for

    def planner(self) -> Planner:
        return self.plan_for


FORM_FIELDS = (  # id, label, placeholder
    ("name", "name", "DNS-1123 name, e.g. chat-small"),
    ("project", "project", "project (leaf queue)"),
    ("image", "image", "container image"),
    ("gpu", "GPU", "2 (whole) · 0.5 (fraction) · 20000Mi (memory)"),
    ("replicas", "replicas", "replicas (training: pods in parallel)"),
    ("min", "min replicas", "inference: minimum (optional)"),
    ("max", "max replicas", "inference: maximum (optional)"),
    ("metric", "scale on", "inference: concurrency · throughput · latency (optional)"),
    ("threshold", "threshold", "target per replica: in flight, req/s or ms (optional)"),
    ("port", "port", "container port; also creates a Service (optional)"),
    ("priority", "priority class", "default: inference / train / build"),
    ("command", "command", "container command, shell words (optional)"),
    ("args", "args", "container args, shell words (optional)"),
    ("env", "env", "KEY=VALUE KEY2=VALUE2 (optional)"),
)


class SubmitDialog(ActionDialog):
    """A workload from a form (type, name, project, image, GPU, replicas, port, priority, command, args, env)
    or pasted YAML.

    `Check` plans what is in the form; any edit makes that plan stale, and Submit checks a stale form
    first, so what is sent is always what was shown.
    """

    BINDINGS = [Binding("ctrl+t", "toggle_yaml", "Form / YAML", id="submit.yaml")]
    confirm_label = "Submit"

    def __init__(self, project: str, plan_form: Callable[[dict[str, Any]], Awaitable[ActionPlan]],
                 plan_yaml: Callable[[str, str], Awaitable[ActionPlan]], send: Sender,
                 decline: Decline | None = None) -> None:
        super().__init__("Submit a workload  (ctrl+t: form / YAML)", send, decline)
        self.project = project
        self.plan_form = plan_form
        self.plan_yaml = plan_yaml
        self.yaml_mode = False

    def form(self) -> ComposeResult:
        with Vertical(id="submit-form"):
            with Horizontal(classes="action-row"):
                yield Static("type", classes="action-label")
                yield Select([(t, t) for t in ("inference", "training", "build")], value="inference",
                             allow_blank=False, id="submit-type")
            for fid, label, placeholder in FORM_FIELDS:
                with Horizontal(classes="action-row"):
                    yield Static(label, classes="action-label")
                    yield Input(self.project if fid == "project" else "", id=f"submit-{fid}",
                                placeholder=placeholder)
        yield TextArea("", id="submit-yaml", soft_wrap=False, show_line_numbers=True)

    def extra_buttons(self) -> ComposeResult:
        yield Button("Check", id="check", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#submit-yaml", TextArea).display = False
        super().on_mount()

    def plans_on_open(self) -> bool:
        self._show_plan([self.title_text, "fill the form (or paste YAML with ctrl+t), then Check to see the "
                         "manifest, the server's dry run and the KAI preview"])
        return False

    def values(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.query_one("#submit-type", Select).value}
        for fid, _, _ in FORM_FIELDS:
            out[fid] = self.query_one(f"#submit-{fid}", Input).value.strip()
        return out

    def planner(self) -> Planner:
        if self.yaml_mode:
            text = self.query_one("#submit-yaml", TextArea).text
            project = self.query_one("#submit-project", Input).value.strip()
            return lambda: self.plan_yaml(text, project)
        values = self.values()
        return lambda: self.plan_form(values)

    def action_toggle_yaml(self) -> None:
        self.yaml_mode = not self.yaml_mode
        area = self.query_one("#submit-yaml", TextArea)
        area.display = self.yaml_mode
        for fid in ("type",) + tuple(f for f, _, _ in FORM_FIELDS if f != "project"):
            widget = self.query_one(f"#submit-{fid}")
            if widget.parent is not None:
                widget.parent.display = not self.yaml_mode  # type: ignore[attr-defined]
        if self.yaml_mode:
            area.focus()
        self.mark_stale()

    @on(Button.Pressed, "#check")
    def _check_pressed(self) -> None:
        self.check()

    @on(Input.Changed)
    @on(Select.Changed)
    @on(TextArea.Changed)
    def _edited(self, event: Any) -> None:
        if getattr(event, "input", None) is not None and event.input.id == "action-phrase":
            return
        if self.plan is not None or not self.stale:
            self.mark_stale()


def _one_line(e: BaseException) -> str:
    return " ".join((str(e) or type(e).__name__).split())[:400]
