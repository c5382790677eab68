"""Themes, key remaps and read-only mode as the config file, flags and the theme picker set them."""

from __future__ import annotations

from console.config import Config
from console.ui.screens import TextScreen

from .test_console_snapshots import make_app


async def _ready(app, pilot) -> None:  # type: ignore[no-untyped-def]
    while app.session is None:
        await pilot.pause(0.01)
    app.flush()
    await pilot.pause()


async def test_theme_from_flag_config_and_command_restyles_cells() -> None:
    app = make_app("gpuconsole-light")
    async with app.run_test(size=(120, 30)) as pilot:
        await _ready(app, pilot)
        assert app.theme == "gpuconsole-light"
        table = app.pane().table
        before = table.render_line(1)
        ok_before = app.ctx.palette.ok
        await pilot.press("colon", *"theme gpuconsole-contrast", "enter")
        assert app.theme == "gpuconsole-contrast"
        assert app.ctx.palette.ok != ok_before
        assert table.render_line(1) != before
        await pilot.press("colon", *"theme gpuconsole-ansi", "enter")
        assert app.theme == "gpuconsole-ansi"
        assert app.ctx.palette.holders[0].color is not None and app.ctx.palette.holders[0].color.number == 4
        await pilot.press("colon", *"theme nope", "enter")
        assert app.theme == "gpuconsole-ansi"
    cfg_app = make_app("")
    cfg_app.config = Config(theme="gpuconsole-contrast")
    from console.app import ClusterConsole
    themed = ClusterConsole(cfg_app.factory, config=Config(theme="gpuconsole-contrast"))
    assert themed.theme == "gpuconsole-contrast"
    assert "textual-dark" in themed.available_themes  # Textual's own themes stay in the picker


async def test_keys_remapped_by_binding_id() -> None:
    from console.app import ClusterConsole

    base = make_app("gpuconsole-dark")
    app = ClusterConsole(base.factory, config=Config(keys={"row.describe": "D", "view.gpus": "2,X"}))
    async with app.run_test(size=(120, 30)) as pilot:
        await _ready(app, pilot)
        await pilot.press("X")
        assert app.view == "gpus"
        await pilot.press("4", "d")
        assert not isinstance(app.screen, TextScreen), "d no longer describes"
        await pilot.press("D")
        assert isinstance(app.screen, TextScreen)
        await app.workers.wait_for_complete()
        assert app.screen.content.startswith("Name:")
        await pilot.press("escape")
        from widgets.keyhints import KeyHints
        hints = dict(app.query_one(KeyHints).items)
        assert hints.get("D") == "describe" and "d" not in hints
        assert "l" not in hints, "nodes have no logs"
        await pilot.press("3")
        assert dict(app.query_one(KeyHints).items).get("l") == "logs"
        rows = {r[3]: r[1] for r in app.help_rows()}
        assert rows["row.describe"] == "D" and rows["view.gpus"] == "2, X"


async def test_readonly_from_flag_and_per_context() -> None:
    from console.app import ClusterConsole

    base = make_app("gpuconsole-dark")
    for app in (ClusterConsole(base.factory, readonly=True),
                ClusterConsole(base.factory, config=Config(readonly_contexts={"sim-admin"}))):
        async with app.run_test(size=(120, 30)) as pilot:
            await _ready(app, pilot)
            assert app.readonly and app.query_one("#header").data.readonly
            assert "read-only" in str(app.query_one("#header").render())
    app = ClusterConsole(base.factory, config=Config(readonly_contexts={"prod"}))
    async with app.run_test(size=(120, 30)) as pilot:
        await _ready(app, pilot)
        assert not app.readonly
