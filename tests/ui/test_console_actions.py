"""Pilot tests of the action keys (submit, scale, preempt, delete, mark) on the live console against the
seeded demo cluster served in-process: what each dialog shows before sending, what it changes after, and
that cancelling, a viewer and --readonly change nothing."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from textual.widgets import Button, Input

from console.sim.resources import BY_KEY, DEPLOYMENTS, KSVCS, PODS
from console.sim.store import Change
from console.ui.action_screens import (ActionDialog, BoundsDialog, DeleteDialog, PreemptDialog, ScaleDialog,
                                        SubmitDialog)

from .conftest import synced, until

SIZE = (160, 48)
LISTED = ("pods", "deployments.apps", "replicasets.apps", "jobs.batch", "services", "podgroups.scheduling.run.ai")


@pytest.fixture(autouse=True)
def _state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The audit log goes to the test's own XDG state directory."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    return tmp_path / "state"


def audit(state: Path) -> list[dict]:
    p = state / "gpuconsole" / "audit.jsonl"
    return [orjson.loads(x) for x in p.read_bytes().splitlines()] if p.exists() else []


def listing(cluster) -> dict[str, list[tuple]]:  # type: ignore[no-untyped-def]
    """Every object of the workload resources with its resourceVersion: any change shows."""
    return {k: sorted((o["metadata"].get("namespace", ""), o["metadata"]["name"], o["metadata"]["resourceVersion"])
                      for o in cluster.store.items(BY_KEY[k])) for k in LISTED}


def wkey(app, name: str) -> tuple:  # type: ignore[no-untyped-def]
    return next(k for k in app.ctx.store.workloads.rows if k[2] == name)


async def at_workload(app, pilot, name: str) -> tuple:  # type: ignore[no-untyped-def]
    await pilot.press("3")
    key = wkey(app, name)
    assert app.pane().table.move_to_key(key)
    return key


async def planned(app, pilot) -> ActionDialog:  # type: ignore[no-untyped-def]
    """The open dialog once its plan worker has answered."""
    dialog = app.screen
    assert isinstance(dialog, ActionDialog)
    await until(pilot, lambda: not dialog.stale and dialog.plan is not None and
                not any(w.is_running for w in dialog.workers), what="the plan")
    return dialog


async def closed(pilot) -> None:  # type: ignore[no-untyped-def]
    """Await the dialog closing; a dialog that stays open says why in its message."""
    app = pilot.app
    try:
        await until(pilot, lambda: not isinstance(app.screen, ActionDialog), what="the dialog to close")
    except AssertionError:
        raise AssertionError(f"the dialog stayed open: {getattr(app.screen, 'message', '')}") from None


async def press(pilot, button: str) -> None:  # type: ignore[no-untyped-def]
    """Press a dialog button as enter on it does (a toast may cover it for a mouse click, and a button
    ignores a second enter during its 0.2 s press animation)."""
    pilot.app.screen.query_one(button, Button).press()
    await pilot.pause()


def plan_shown(dialog: ActionDialog) -> str:
    return str(dialog.query_one("#action-plan").render())


async def test_submit_fractional_inference_from_the_form(demo_env, _state_home) -> None:
    app = demo_env.app()
    async with app.run_test(size=SIZE) as pilot:
        await synced(app, pilot)
        app.pane().table.move_to_key("vision")
        await pilot.press("n")
        dialog = app.screen
        assert isinstance(dialog, SubmitDialog)
        assert dialog.focused is dialog.query_one("#cancel", Button)
        assert dialog.query_one("#submit-project", Input).value == "vision", "the project under the cursor"
        for fid, value in (("name", "chat-small"), ("image", "nginx:1.27"), ("gpu", "0.5"), ("replicas", "2")):
            dialog.query_one(f"#submit-{fid}", Input).value = value
        await press(pilot, "#check")
        await planned(app, pilot)
        text = plan_shown(dialog)
        assert "gpu-fraction: '0.5'" in text and "kai.scheduler/queue: vision" in text
        assert "schedulerName: kai-scheduler" in text
        assert "Server dry run: Deployment runai-vision/chat-small accepted" in text
        assert "2 of 2 new pod(s) would run now" in text
        assert not dialog.query_one("#confirm", Button).disabled
        assert demo_env.cluster.store.try_get(DEPLOYMENTS, "runai-vision", "chat-small") is None, "nothing sent yet"
        await press(pilot, "#confirm")
        await closed(pilot)
        assert demo_env.cluster.store.try_get(DEPLOYMENTS, "runai-vision", "chat-small") is not None
        key = ("runai-vision", "Deployment", "chat-small")
        assert key in app.actions.pending, "shown pending until the watch reports it"
        demo_env.cluster.settle()
        await until(pilot, lambda: key in app.ctx.store.workloads.rows and key not in app.actions.pending,
                    what="the new workload from the watch")
        demo_env.cluster.clock.advance(30)
        demo_env.cluster.settle()
        pods = [p for p in demo_env.cluster.store.items(PODS)
                if p["metadata"]["namespace"] == "runai-vision" and p["metadata"]["name"].startswith("chat-small-")]
        assert len(pods) == 2 and all(p["status"]["phase"] == "Running" for p in pods)
        await until(pilot, lambda: app.ctx.store.workloads.rows[key].replicas_running == 2, what="pods running")
    entry = audit(_state_home)[-1]
    assert (entry["action"], entry["outcome"], entry["user"]) == ("submit", "ok", "sim-admin")
    assert entry["manifest"][0]["metadata"]["name"] == "chat-small"


async def test_submit_bad_form_lists_every_problem_and_yaml_mode(demo_env) -> None:
    app = demo_env.app()
    async with app.run_test(size=SIZE) as pilot:
        await synced(app, pilot)
        before = listing(demo_env.cluster)
        await pilot.press("n")
        dialog = app.screen
        for fid, value in (("name", "Bad_Name"), ("project", "nope"), ("gpu", "1.5")):
            dialog.query_one(f"#submit-{fid}", Input).value = value
        await press(pilot, "#check")
        await planned(app, pilot)
        text = plan_shown(dialog)
        assert text.count("Refused:") >= 3 and "nope" in text and "1.5" in text
        assert dialog.query_one("#confirm", Button).disabled
        await pilot.press("ctrl+t")
        assert dialog.yaml_mode and dialog.stale
        dialog.query_one("#submit-yaml").text = "kind: [unclosed"
        await press(pilot, "#check")
        await planned(app, pilot)
        assert "not valid YAML at line 1" in plan_shown(dialog)
        assert dialog.query_one("#confirm", Button).disabled
        await pilot.press("escape")
        assert not isinstance(app.screen, ActionDialog)
        assert listing(demo_env.cluster) == before


async def test_scale_with_plus_plus_then_confirm(demo_env, _state_home) -> None:
    app = demo_env.app()
    async with app.run_test(size=SIZE) as pilot:
        await synced(app, pilot)
        key = await at_workload(app, pilot, "code-assistant")
        before = app.ctx.store.workloads.rows[key].replicas_desired
        await pilot.press("s")
        dialog = app.screen
        assert isinstance(dialog, ScaleDialog) and dialog.focused is dialog.query_one("#cancel", Button)
        await pilot.press("plus", "plus")
        dialog = await planned(app, pilot)
        assert dialog.count == before + 2
        text = plan_shown(dialog)
        assert f"spec.replicas: {before} -> {before + 2}" in text and "Preview" in text
        assert "Server dry run: scale to" in text
        await pilot.press("tab")  # keys only: Cancel → Scale
        assert dialog.focused is dialog.query_one("#confirm", Button)
        await pilot.press("enter")
        await closed(pilot)
        dep = demo_env.cluster.store.get(DEPLOYMENTS, key[0], key[2])
        assert dep["spec"]["replicas"] == before + 2
        await until(pilot, lambda: key not in app.actions.pending, what="the scale reported by the watch")
        assert app.ctx.store.workloads.rows[key].replicas_desired == before + 2
    assert [(e["action"], e["outcome"]) for e in audit(_state_home)] == [("scale", "ok")]


async def test_scale_on_an_autoscaled_service_changes_its_bounds(demo_env, _state_home) -> None:
    app = demo_env.app()
    async with app.run_test(size=SIZE) as pilot:
        await synced(app, pilot)
        key = await at_workload(app, pilot, "llama-8b-chat")
        a = app.ctx.store.workloads.rows[key].autoscaling
        assert a is not None and (a.source, a.min, a.max) == ("knative", 2, 6)
        await pilot.press("s")
        dialog = app.screen
        assert isinstance(dialog, BoundsDialog) and dialog.focused is dialog.query_one("#cancel", Button)
        await pilot.press("plus", "plus")
        dialog = await planned(app, pilot)
        text = plan_shown(dialog)
        assert "changes its bounds to 2–8, not its replicas" in text
        assert "autoscaling.knative.dev/max-scale]: 6 -> 8" in text and "Preview" in text
        await press(pilot, "#confirm")
        await closed(pilot)
        ksvc = demo_env.cluster.store.get(KSVCS, key[0], key[2])
        assert ksvc["spec"]["template"]["metadata"]["annotations"]["autoscaling.knative.dev/max-scale"] == "8"
        demo_env.cluster.settle()
        await until(pilot, lambda: key not in app.actions.pending, what="the new bounds reported by the watch")
        assert app.ctx.store.workloads.rows[key].autoscaling.max == 8
    assert [(e["action"], e["outcome"]) for e in audit(_state_home)] == [("scale", "ok")]


async def test_preempt_training_evicts_its_pods(demo_env, _state_home) -> None:
    app = demo_env.app()
    marked: list[str] = []

    def watch(ch: Change) -> None:
        conds = (ch.obj.get("status") or {}).get("conditions") or [] if ch.obj else []
        if ch.rkey == "pods" and any(c.get("type") == "DisruptionTarget" and c.get("status") == "True"
                                     for c in conds):
            marked.append(ch.obj["metadata"]["name"])

    demo_env.cluster.store.subscribe(watch)
    async with app.run_test(size=SIZE) as pilot:
        await synced(app, pilot)
        key = await at_workload(app, pilot, "sam-finetune")
        pods = {p[1] for p in app.ctx.store.pods_by_workload[key]}
        await pilot.press("p")
        dialog = await planned(app, pilot)
        assert isinstance(dialog, PreemptDialog) and dialog.focused is dialog.query_one("#cancel", Button)
        assert "Server dry run: eviction of 1 pod(s) accepted" in plan_shown(dialog)
        await press(pilot, "#confirm")
        await closed(pilot)
        assert set(marked) == pods, "every pod evicted with DisruptionTarget"
        demo_env.cluster.settle()
        await until(pilot, lambda: key not in app.actions.pending, what="the eviction reported by the watch")
    assert audit(_state_home)[-1]["action"] == "preempt" and audit(_state_home)[-1]["outcome"] == "ok"


def _plain(cells) -> list[str]:  # type: ignore[no-untyped-def]
    return [c.plain if hasattr(c, "plain") else str(c) for c in cells]


async def test_preempted_pod_shows_terminating_and_holds_its_gpus_until_it_goes(demo_env) -> None:
    """After a preemption the victim terminates for its grace period: the Workloads pane and its pod row
    say Terminating (for how long), the GPUs pane keeps its share drawn (▒) and marked (⌛) so the
    operator sees why its GPUs are not free yet; when the period is over it is gone from both."""
    app = demo_env.app()
    async with app.run_test(size=SIZE) as pilot:
        await synced(app, pilot)
        store = app.ctx.store
        key = await at_workload(app, pilot, "sam-finetune")
        (victim,) = store.pods_by_workload[key]
        node = store.pods[victim].node
        await pilot.press("p")
        await planned(app, pilot)
        await press(pilot, "#confirm")
        await closed(pilot)
        demo_env.cluster.settle()
        await until(pilot, lambda: (store.workloads.rows[key].terminating, store.workloads.rows[key].pods) == (1, 1),
                    what="the victim terminating and the Job's replacement")
        wl = app.pane("workloads").model
        cells = _plain(wl.cells(key))
        # the frozen cluster deleted it at its clock's 00:00:00; the console's clock is ten minutes on
        assert cells[12].startswith("⌛ terminating 10m, 2 GPU held")
        assert "1 pod(s) being deleted, holding 2 GPU" in wl.detail(key).plain
        assert wl.toggle(key)
        pod_row = ("pod", victim[0], victim[1], "")
        assert _plain(wl.cells(pod_row))[7] == "Terminating 10m"
        gp = app.pane("gpus").model
        held = [k for k in gp.order() if k[0] == "gpu" and k[1] == node and any(
            h.pod == victim[1] for h in store.gpus.rows[(k[1], k[2])].holders)]
        assert len(held) == 2 and gp.ages
        for k in held:
            gpu = _plain(gp.cells(k))
            assert gpu[2] == "▒" * 20 and gpu[3] == "0" and "⌛sam-finetune" in gpu[-1]
            assert "terminating 10m, held until it is gone" in gp.detail(k).plain
        assert "⌛ 2 held by pods being deleted" in gp.summary()
        demo_env.cluster.clock.advance(30)
        demo_env.cluster.settle()
        await until(pilot, lambda: victim not in store.pods, what="the victim gone")
        app.flush()
        assert store.workloads.rows[key].terminating == 0 and not gp.ages
        assert "⌛" not in "".join(_plain(wl.cells(key)))
        assert not any(h.terminating for r in store.gpus.rows.values() for h in r.holders)


async def test_delete_one_then_marked_rows_need_the_typed_phrase(demo_env) -> None:
    app = demo_env.app()
    async with app.run_test(size=SIZE) as pilot:
        await synced(app, pilot)
        key = await at_workload(app, pilot, "vit-demo")
        await pilot.press("ctrl+d")
        dialog = await planned(app, pilot)
        assert isinstance(dialog, DeleteDialog) and dialog.focused is dialog.query_one("#cancel", Button)
        assert not dialog.query_one("#action-phrase").display, "one workload: no typed phrase"
        await press(pilot, "#confirm")
        await closed(pilot)
        assert demo_env.cluster.store.try_get(DEPLOYMENTS, key[0], key[2]) is None
        demo_env.cluster.settle()
        await until(pilot, lambda: key not in app.ctx.store.workloads.rows and key not in app.actions.pending,
                    what="the deletion reported by the watch")
        a, b = wkey(app, "detr-sweep-1"), wkey(app, "sam-finetune")
        for k in (a, b):
            app.pane().table.move_to_key(k)
            await pilot.press("space")
        assert app.actions.marked == {a, b}
        assert "◆" in app.pane().table.visible_cells(a)[0]
        before = listing(demo_env.cluster)
        await pilot.press("ctrl+d")
        dialog = await planned(app, pilot)
        assert dialog.plan.confirm_phrase == "delete 2 workloads"
        assert dialog.query_one("#action-phrase").display
        dialog.query_one("#action-phrase", Input).value = "delete 2"
        await press(pilot, "#confirm")
        await until(pilot, lambda: "type exactly" in dialog.message, what="the phrase refused")
        assert listing(demo_env.cluster) == before and isinstance(app.screen, DeleteDialog)
        dialog.query_one("#action-phrase", Input).value = "delete 2 workloads"
        await press(pilot, "#confirm")
        await closed(pilot)
        for k in (a, b):
            assert demo_env.cluster.store.try_get(BY_KEY["jobs.batch"], k[0], k[2]) is None
        assert not app.actions.marked


async def test_every_dialog_opens_on_cancel_and_cancel_changes_nothing(demo_env, _state_home) -> None:
    app = demo_env.app()
    async with app.run_test(size=SIZE) as pilot:
        await synced(app, pilot)
        before = listing(demo_env.cluster)
        await at_workload(app, pilot, "llama-8b-chat")
        for key, how in (("n", "escape"), ("s", "button"), ("p", "escape"), ("ctrl+d", "button")):
            await pilot.press(key)
            dialog = app.screen
            assert isinstance(dialog, ActionDialog), key
            assert dialog.focused is dialog.query_one("#cancel", Button), key
            # every dialog says where the action would go
            assert str(dialog.query_one("#action-where").render()) == f"on context sim-admin · {demo_env.url}", key
            if key == "s":
                await pilot.press("plus")
            await app.workers.wait_for_complete()
            await pilot.pause()
            if how == "escape":
                await pilot.press("escape")
            else:
                await pilot.press("enter")  # enter on the focused Cancel
            assert not isinstance(app.screen, ActionDialog), key
        await app.workers.wait_for_complete()
        assert listing(demo_env.cluster) == before
    outcomes = {(e["action"], e["outcome"]) for e in audit(_state_home)}
    assert outcomes <= {("scale", "refused"), ("preempt", "refused"), ("delete", "refused")}


async def test_viewer_sees_every_action_disabled_with_its_reason(demo_env) -> None:
    app = demo_env.app(context="sim-viewer")
    async with app.run_test(size=SIZE) as pilot:
        await synced(app, pilot)
        await at_workload(app, pilot, "llama-8b-chat")
        await until(pilot, lambda: app.actions.reason("scale") is not None, what="the access reviews")
        assert app.actions.reason("scale") == "sim-viewer cannot patch deployments/scale in runai-chat-serving"
        assert "sim-viewer cannot" in app.actions.reason("submit")
        hints = dict(app.query_one("#keys").items)
        assert hints["s"] == "scale✗" and hints["n"] == "submit✗" and hints["^d"] == "delete✗"
        assert "sim-viewer cannot" in hints["✗"]
        help_desc = {r[3]: r[2] for r in app.help_rows()}
        assert "disabled: sim-viewer cannot patch deployments/scale" in help_desc["action.scale"]
        from console.ui.commands import ConsoleCommands
        palette = {n: d for n, d, _ in ConsoleCommands(app.screen)._entries()}
        assert palette["Preempt selected workload"].startswith("disabled: sim-viewer cannot create pods/eviction")
        before = listing(demo_env.cluster)
        for key in ("n", "s", "p", "ctrl+d"):
            await pilot.press(key)
            assert not isinstance(app.screen, ActionDialog), key
        assert listing(demo_env.cluster) == before


async def test_readonly_disables_every_action_visibly(demo_env) -> None:
    app = demo_env.app(readonly=True)
    async with app.run_test(size=SIZE) as pilot:
        await synced(app, pilot)
        await at_workload(app, pilot, "llama-8b-chat")
        for a in ("submit", "scale", "preempt", "delete"):
            assert "read-only (--readonly)" in (app.actions.reason(a) or ""), a
        assert "read-only" in dict(app.query_one("#keys").items)["✗"]
        before = listing(demo_env.cluster)
        for key in ("n", "s", "p", "ctrl+d"):
            await pilot.press(key)
            assert not isinstance(app.screen, ActionDialog), key
        assert listing(demo_env.cluster) == before


async def test_action_keys_remap_by_binding_id(demo_env) -> None:
    from console.config import Config

    app = demo_env.app(config=Config(refresh_hz=4, keys={"action.scale": "S", "row.mark": "m"}))
    async with app.run_test(size=SIZE) as pilot:
        await synced(app, pilot)
        key = await at_workload(app, pilot, "code-assistant")
        await pilot.press("s")
        assert not isinstance(app.screen, ActionDialog)
        await pilot.press("m")
        assert key in app.actions.marked
        app.pane().table.move_to_key(key)
        await pilot.press("S")
        assert isinstance(app.screen, ScaleDialog)
        await pilot.press("escape")
        rows = {r[3]: r[1] for r in app.help_rows()}
        assert rows["action.scale"] == "S" and rows["row.mark"] == "m"


async def test_preempting_non_preemptible_inference_needs_force_and_the_phrase(demo_env) -> None:
    app = demo_env.app()
    async with app.run_test(size=SIZE) as pilot:
        await synced(app, pilot)
        await at_workload(app, pilot, "vit-demo")
        before = listing(demo_env.cluster)
        await pilot.press("p")
        dialog = await planned(app, pilot)
        assert "is not preemptible" in plan_shown(dialog) and dialog.query_one("#confirm", Button).disabled
        assert dialog.query_one("#force", Button).display
        await press(pilot, "#force")
        dialog = await planned(app, pilot)
        assert dialog.force and dialog.plan.confirm_phrase == "preempt vit-demo"
        assert "To go ahead, type: preempt vit-demo" in plan_shown(dialog)
        assert dialog.query_one("#action-phrase").display and not dialog.query_one("#force", Button).display
        await press(pilot, "#confirm")
        await until(pilot, lambda: "type exactly" in dialog.message, what="the missing phrase refused")
        await pilot.press("escape")
        assert not isinstance(app.screen, ActionDialog)
        assert listing(demo_env.cluster) == before


def test_form_reads_command_args_and_env() -> None:
    from console.ui.actions import form_of

    form = form_of({"type": "training", "name": "t", "project": "vision", "image": "pytorch", "gpu": "2",
                    "command": "python -m train", "args": "--epochs 3 --name 'a b'", "env": "A=1, B=two"})
    assert form.command == ["python", "-m", "train"]
    assert form.args == ["--epochs", "3", "--name", "a b"]
    assert form.env == {"A": "1", "B": "two"}
    assert form_of({"name": "x"}).command is None and form_of({"name": "x"}).env == {}
    with pytest.raises(ValueError, match="env: write KEY=VALUE"):
        form_of({"env": "NOVALUE"})
    with pytest.raises(ValueError, match="command"):
        form_of({"command": "python 'unclosed"})
