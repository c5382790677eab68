"""Pilot tests of every key path on the live console against the seeded demo cluster served in-process."""

from __future__ import annotations

from console.sim.resources import DEPLOYMENTS, NODES, QUEUES
from console.ui.screens import HelpScreen, LogScreen, TextScreen

from .conftest import first_col, rows, synced, until

SIZE = (160, 48)


async def test_header_and_every_pane_fill_from_the_cluster(demo_env) -> None:
    app = demo_env.app()
    async with app.run_test(size=SIZE) as pilot:
        await synced(app, pilot)
        h = app.query_one("#header").data
        assert h.context == "sim-admin" and h.connection == "connected"
        assert h.server_version.startswith("v1.")
        nodes = list(demo_env.cluster.store.items(NODES))
        cap = sum(int(n["metadata"]["labels"].get("nvidia.com/gpu.count", 0)) for n in nodes)
        assert h.gpus_capacity == cap and 0 < h.gpus_allocated <= cap
        assert h.watches >= 10 and h.api_per_min > 0
        await until(pilot, lambda: {r.state for r in app.query_one("#header").data.resources} == {"synced"},
                    what="every watch open")
        queues = {q["metadata"]["name"] for q in demo_env.cluster.store.items(QUEUES)}
        assert set(first_col(app, "projects")) == queues
        for key, view in (("2", "gpus"), ("3", "workloads"), ("4", "nodes"), ("5", "events"), ("1", "projects")):
            await pilot.press(key)
            assert app.view == view
            assert len(app.pane().table) > 0, view
        assert set(first_col(app, "nodes")) == {n["metadata"]["name"] for n in nodes}
        gpu_rows = [r for r in rows(app, "gpus") if r[0].strip().startswith("#")]
        assert len(gpu_rows) == cap
        deployments = {d["metadata"]["name"] for d in demo_env.cluster.store.items(DEPLOYMENTS)
                       if not d["metadata"].get("ownerReferences")}  # serving ones group under their service
        assert deployments <= set(first_col(app, "workloads"))
        assert {"llama-8b-chat", "reranker", "summarizer", "sdxl-preview"} <= set(first_col(app, "workloads"))
        assert any(r[2] in ("Scheduled", "FailedScheduling", "Evict") for r in rows(app, "events"))


async def test_command_mode_with_completion_and_unknown_command(demo_env) -> None:
    app = demo_env.app()
    async with app.run_test(size=SIZE) as pilot:
        await synced(app, pilot)
        await pilot.press("colon", "g", "p")
        assert "gpus" in str(app.query_one("#prompt-hints").render())
        await pilot.press("tab", "enter")
        assert app.view == "gpus" and app.prompt_mode == ""
        await pilot.press("colon", *"nodes", "enter")
        assert app.view == "nodes"
        await pilot.press("colon", *"bogus", "enter")
        assert app.view == "nodes" and app.prompt_mode == ":"  # stays open to fix the typo
        await pilot.press("escape")
        assert app.prompt_mode == ""
        await pilot.press("colon", *"workloads project:vision", "enter")
        assert app.view == "workloads"
        assert {r[1] for r in rows(app)} == {"vision"}


async def test_filter_text_label_and_field_then_escape_clears(demo_env) -> None:
    app = demo_env.app()
    async with app.run_test(size=SIZE) as pilot:
        await synced(app, pilot)
        await pilot.press("3", "slash", *"llama")
        names = first_col(app)
        assert names and all("llama" in n for n in names)
        await pilot.press("enter")
        assert app.prompt_mode == "" and app.pane().typed == "llama"
        await pilot.press("escape")
        assert app.pane().typed == "" and len(first_col(app)) > len(names)
        dep = next(d for d in demo_env.cluster.store.items(DEPLOYMENTS) if d["metadata"]["name"] == "spell-correct")
        key, value = next(iter(dep["spec"]["selector"]["matchLabels"].items()))
        await pilot.press("slash", *f"-l {key}={value}", "enter")
        assert first_col(app) == ["spell-correct"]
        await pilot.press("slash")
        app.query_one("#prompt").value = "-l"
        await pilot.pause()
        assert "label selector" in str(app.query_one("#prompt-hints").render())
        assert first_col(app) == ["spell-correct"], "a bad filter changes nothing"
        await pilot.press("escape")
        await pilot.press("2", "slash", *"model:l40s", "enter")
        nodes = [r[0].strip("▾ ") for r in rows(app) if r[0].startswith("▾")]
        assert nodes and all(n.startswith("l40s") for n in nodes)


async def test_drill_project_to_workloads_and_back_with_breadcrumbs(demo_env) -> None:
    app = demo_env.app()
    async with app.run_test(size=SIZE) as pilot:
        await synced(app, pilot)
        table = app.pane("projects").table
        assert table.move_to_key("vision")
        await pilot.press("enter")
        assert app.view == "workloads"
        assert {r[1] for r in rows(app)} == {"vision"}
        assert "projects" in str(app.query_one("#crumbs").render())
        assert "vision" in str(app.query_one("#crumbs").render())
        await pilot.press("escape")
        assert app.view == "projects" and app.pane().table.cursor_key == "vision"
        assert len(app.pane("workloads").table) > 10, "the drill filter is gone after going back"
        # a department drills into all of its projects
        table.move_to_key("research")
        await pilot.press("enter")
        assert {r[1] for r in rows(app)} == {"llm-pretrain", "vision", "speech", "rl-lab"}


async def test_drill_node_to_its_gpus_and_workload_to_its_pods(demo_env) -> None:
    app = demo_env.app()
    async with app.run_test(size=SIZE) as pilot:
        await synced(app, pilot)
        await pilot.press("4")
        app.pane().table.move_to_key("l40s-01")
        await pilot.press("enter")
        assert app.view == "gpus"
        heads = [r[0] for r in rows(app) if r[0].startswith("▾")]
        assert heads == ["▾ l40s-01"]
        assert len(rows(app)) == 1 + 4
        await pilot.press("escape", "3")
        t = app.pane().table
        key = next(k for k in t.order if k[2] == "llama-8b-chat")
        t.move_to_key(key)
        before = len(t)
        await pilot.press("enter")
        # a Knative Service: its revision, with the revision's pods under it
        revs = [r for r in rows(app) if r[0].strip().startswith("◇")]
        assert [r[0].strip() for r in revs] == ["◇ llama-8b-chat-00001"] and "100% traffic" in revs[0]
        pods = [r for r in rows(app) if r[0].strip().startswith("└")]
        replicas = next(d for d in demo_env.cluster.store.items(DEPLOYMENTS)
                        if d["metadata"]["name"] == "llama-8b-chat-00001-deployment")["spec"]["replicas"]
        assert len(pods) == replicas and len(t) == before + 1 + replicas
        await pilot.press("down", "down", "l")  # logs of the first pod
        assert isinstance(app.screen, LogScreen)
        log_screen = app.screen
        await until(pilot, lambda: log_screen.lines > 0, what="log lines")
        await pilot.press("escape")
        assert not isinstance(app.screen, LogScreen)
        await pilot.press("up", "up", "enter")
        assert len(t) == before


async def test_describe_and_yaml_are_fetched_fresh(demo_env) -> None:
    app = demo_env.app()
    async with app.run_test(size=SIZE) as pilot:
        await synced(app, pilot)
        await pilot.press("4")
        app.pane().table.move_to_key("dgx-h100-01")
        demo_env.cluster.store.mutate(NODES, None, "dgx-h100-01",
                                      lambda n: n["metadata"].setdefault("labels", {}).update({"fresh": "yes"}))
        await pilot.press("y")
        assert isinstance(app.screen, TextScreen)
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "fresh: 'yes'" in app.screen.content and "kind: Node" in app.screen.content
        assert "managedFields" not in app.screen.content
        await pilot.press("escape", "d")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.screen.content.startswith("Name:         dgx-h100-01")
        assert "fresh=yes" in app.screen.content and "Conditions:" in app.screen.content
        await pilot.press("escape")
        assert app.view == "nodes"


async def test_help_lists_every_binding_and_sorting_by_column(demo_env) -> None:
    app = demo_env.app()
    async with app.run_test(size=SIZE) as pilot:
        await synced(app, pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = str(app.screen.query_one("#help-text").render())
        for b in app.BINDINGS:
            if b.id != "prompt.complete":
                assert b.id in text, b.id
        assert "table.down" in text and "ctrl+p" in text
        await pilot.press("escape")
        await pilot.press("4")
        names = first_col(app)
        assert names == sorted(names)
        await pilot.press("o")  # next column: GPU product
        assert app.pane().model.sort == "model"
        models = [r[1] for r in rows(app)]
        assert models == sorted(models)
        await pilot.press("O")
        assert [r[1] for r in rows(app)] == sorted(models, reverse=True)


async def test_live_change_keeps_cursor_and_scroll(demo_env) -> None:
    app = demo_env.app()
    async with app.run_test(size=(100, 20)) as pilot:
        await synced(app, pilot)
        await pilot.press("2")
        t = app.pane().table
        t.move_to(60)
        key, scroll = t.cursor_key, t.scroll_offset.y
        assert scroll > 0
        demo_env.cluster.store.mutate(NODES, None, "dgx-h100-01", lambda n: n["spec"].update(unschedulable=True))
        await until(pilot, lambda: "cordoned" in rows(app, "gpus")[0][0], what="cordon shown on the GPU pane")
        assert t.cursor_key == key and t.scroll_offset.y == scroll
        await pilot.press("4")
        assert rows(app)[0][-1].strip() == "cordoned"


async def test_context_switch_live_and_viewer_token(demo_env) -> None:
    app = demo_env.app()
    async with app.run_test(size=SIZE) as pilot:
        await synced(app, pilot)
        old = app.session
        await pilot.press("colon", *"ctx sim-viewer", "enter")
        await until(pilot, lambda: app.session is not old and app.session is not None and app.session.live,
                    what="the new context")
        await synced(app, pilot)
        h = app.query_one("#header").data
        assert h.context == "sim-viewer" and h.user == "sim-viewer"
        assert len(app.pane("projects").table) > 0
        await until(pilot, lambda: old.client is None, what="the old session closed")
        await pilot.press("colon", *"ctx nope", "enter")
        assert app.query_one("#header").data.context == "sim-viewer"


async def test_viewer_token_from_the_start_reads_everything(demo_env) -> None:
    app = demo_env.app(context="sim-viewer")
    async with app.run_test(size=SIZE) as pilot:
        await synced(app, pilot)
        assert app.query_one("#header").data.user == "sim-viewer"
        for key in "12345":
            await pilot.press(key)
            assert len(app.pane().table) > 0, app.view


async def test_palette_offers_every_view_and_action(demo_env) -> None:
    from console.ui.commands import ConsoleCommands

    app = demo_env.app()
    async with app.run_test(size=SIZE) as pilot:
        await synced(app, pilot)
        names = [n for n, _, _ in ConsoleCommands(app.screen)._entries()]
        for v in ("projects", "gpus", "workloads", "nodes", "events"):
            assert f"View: {v}" in names
        for a in ("Describe selected row", "YAML of selected row", "Logs of selected pod", "Switch context"):
            assert a in names
        await pilot.press("ctrl+p")
        await pilot.press(*"View: nodes")
        await pilot.pause(0.2)
        await pilot.press("enter")
        await until(pilot, lambda: app.view == "nodes", what="palette command")
