"""`:ns NAME` / `:ns all` and `:project NAME` (k9s's namespace switch) on the live console: every pane narrowed,
the scope in the header, the pane titles and the breadcrumbs, completion from the model's names."""

from __future__ import annotations

from .conftest import synced, until

SIZE = (160, 48)
NS = "runai-vision"


def _keys(app, view: str) -> list:
    """The rows a pane shows (a pane catches up when it is on screen, so it is shown first)."""
    if app.view != view:
        app.show_view(view)
    app.pane(view).catch_up()
    return list(app.pane(view).table.order)


async def test_ns_narrows_every_namespaced_pane_and_all_lifts_it(demo_env) -> None:
    app = demo_env.app()
    async with app.run_test(size=SIZE) as pilot:
        await synced(app, pilot)
        await until(pilot, lambda: len(app.ctx.events.rows) > 0, what="events")
        all_workloads = len(_keys(app, "workloads"))
        await pilot.press("colon", *"ns runai-vi")
        assert "ns runai-vision" in str(app.query_one("#prompt-hints").render()), "completes from the model"
        await pilot.press("tab")
        assert app.query_one("#prompt").value == "ns runai-vision"
        await pilot.press("enter")
        assert app.scope_ns == NS and app.prompt_mode == ""
        store = app.ctx.store
        wl = _keys(app, "workloads")
        assert wl and len(wl) < all_workloads and {k[0] for k in wl} == {NS}
        gpus = [k for k in _keys(app, "gpus") if k[0] == "gpu"]
        assert gpus and all(any(h.namespace == NS for h in store.gpus.rows[(k[1], k[2])].holders) for k in gpus)
        ev = _keys(app, "events")
        assert ev and {app.ctx.events.rows[k].object_namespace for k in ev} == {NS}
        projects = _keys(app, "projects")
        assert "vision" in projects and "chat-serving" not in projects
        assert len(_keys(app, "nodes")) == len(store.nodes_view.rows), "nodes are cluster-scoped"
        assert app.query_one("#header").data.scope == f"ns {NS}"
        assert f"<ns {NS}>" in str(app.query_one("#crumbs").render())
        await pilot.press("3")
        assert f"ns {NS}" in str(app.pane().query_one(".pane-title").render())
        # a typed filter works inside the scope
        await pilot.press("slash", *"status:running", "enter")
        assert {k[0] for k in _keys(app, "workloads")} <= {NS}
        await pilot.press("escape")

        await pilot.press("colon", *"ns nope", "enter")
        assert app.scope_ns == NS, "an unknown namespace changes nothing"
        await pilot.press("colon", *"ns all", "enter")
        assert app.scope_ns is None and len(_keys(app, "workloads")) == all_workloads
        assert app.query_one("#header").data.scope == ""


async def test_project_narrows_to_its_workloads_gpus_and_namespaces(demo_env) -> None:
    app = demo_env.app()
    async with app.run_test(size=SIZE) as pilot:
        await synced(app, pilot)
        await pilot.press("colon", *"project vis", "tab", "enter")
        assert app.scope_project == "vision"
        store = app.ctx.store
        wl = _keys(app, "workloads")
        assert wl and {store.workloads.rows[k].project for k in wl} == {"vision"}
        projects = _keys(app, "projects")
        assert projects[-1] == "vision" and "speech" not in projects
        gpus = [k for k in _keys(app, "gpus") if k[0] == "gpu"]
        assert gpus and all(any((h.workload or "") and h.namespace == NS for h in store.gpus.rows[(k[1], k[2])]
                                .holders) for k in gpus)
        assert {app.ctx.events.rows[k].object_namespace for k in _keys(app, "events")} <= {NS}
        await pilot.press("colon", *"ns runai-speech", "enter")
        assert app.scope_text() == "ns runai-speech · project vision"
        assert _keys(app, "workloads") == [], "both scopes hold: vision has nothing in runai-speech"
        await pilot.press("colon", *"project all", "enter", "colon", *"ns all", "enter")
        assert app.scope_text() == "" and len(_keys(app, "workloads")) > len(wl)
        await pilot.press("colon", *"project", "enter")
        assert app.view == "projects", "a bare :project is still the Projects view"
        await pilot.press("colon", *"project ghost", "enter")
        assert app.scope_project is None
