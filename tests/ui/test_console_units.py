"""Unit tests for the console's pure parts: filter grammar, commands, config file, events buffer, bars,
column layout, ages and the header text."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.style import Style

from console.config import ConfigError, load, parse
from console.model.events import EventBuffer, category, event_row
from console.ui.commands import Command, CommandError, completions, parse_command
from console.ui.filter import FilterError, parse_filter
from console.ui.panes.base import age
from widgets.bars import fmt_gpu, quota_bar, share_bar
from widgets.header import HeaderData, ResourceState, merge_states, render_header
from widgets.palette import Palette
from widgets.vtable import Column, layout


# ------------------------------------------------------------------------------------------------ filter
def test_filter_text_labels_and_fields_combine_with_and() -> None:
    f = parse_filter("llama -l app=chat,tier!=dev project:chat-serving,vision", ["project"])
    assert f.text == ("llama",)
    assert [(t.key, t.op, set(t.values)) for t in f.labels.requirements] == [("app", "=", {"chat"}),
                                                                              ("tier", "!=", {"dev"})]
    assert f.fields == (("project", frozenset({"chat-serving", "vision"})),)
    assert f.matches("ns/llama-8b", {"app": "chat"}, {"project": "vision"})
    assert not f.matches("ns/llama-8b", {"app": "chat", "tier": "dev"}, {"project": "vision"})
    assert not f.matches("ns/llama-8b", {"app": "chat"}, {"project": "speech"})
    assert not f.matches("ns/mistral", {"app": "chat"}, {"project": "vision"})
    assert not f.matches("ns/llama-8b", {"app": "chat"}, {})


def test_filter_model_matches_by_substring_and_lists_match_any() -> None:
    f = parse_filter("model:h100 workload:a,b", ["model", "workload"])
    assert f.matches("", None, {"model": "NVIDIA-H100-80GB-HBM3", "workload": ["x", "b"]})
    assert not f.matches("", None, {"model": "NVIDIA-L40S", "workload": ["b"]})
    assert not f.matches("", None, {"model": "NVIDIA-H100", "workload": ["x"]})


def test_filter_unknown_field_is_text_and_bad_terms_say_why() -> None:
    assert parse_filter("GPU-1234:abc", ["project"]).text == ("gpu-1234:abc",)
    with pytest.raises(FilterError, match="-l needs a label selector"):
        parse_filter("-l", [])
    with pytest.raises(FilterError, match="expected: identifier after ','"):
        parse_filter("-l a=b,,c", [])
    with pytest.raises(FilterError, match=r"expected: ',' or '\)'"):
        parse_filter("-l env in (a b)", [])
    with pytest.raises(FilterError, match="project: needs a value"):
        parse_filter("project:", ["project"])
    sets = parse_filter("vision -l env in (prod, staging),tier notin (dev) node:x", ["node"])
    assert sets.text == ("vision",) and sets.fields == (("node", frozenset({"x"})),)
    on_x = {"node": "x"}
    assert sets.matches("vision", {"env": "prod"}, on_x) and not sets.matches("vision", {"env": "dev"}, on_x)
    assert not sets.matches("vision", {"env": "prod", "tier": "dev"}, on_x)
    exists = parse_filter("-l gpu,!spot", [])
    assert exists.matches("", {"gpu": "1"}) and not exists.matches("", {"gpu": "1", "spot": ""})


# ------------------------------------------------------------------------------------------------ commands
def test_commands_views_aliases_ctx_theme_quit() -> None:
    assert parse_command(":gpus").arg == "gpus"
    assert parse_command("no").arg == "nodes"
    assert parse_command("pj").arg == "projects"
    assert parse_command("workloads project:vision").arg == "workloads project:vision"
    assert (parse_command("ctx prod").verb, parse_command("ctx prod").arg) == ("ctx", "prod")
    assert parse_command("theme gpuconsole-light").arg == "gpuconsole-light"
    assert parse_command("q").verb == "quit"
    with pytest.raises(CommandError, match="unknown command 'pods2'"):
        parse_command("pods2")
    with pytest.raises(CommandError, match="empty"):
        parse_command(":")
    assert parse_command(":ns runai-a") == Command("ns", "runai-a")
    assert parse_command("namespace all") == Command("ns", "all")
    assert parse_command("ns") == Command("ns", "")
    assert parse_command("project vision") == Command("project", "vision")
    assert parse_command("project") == Command("view", "projects"), "a bare :project is the Projects view"
    with pytest.raises(CommandError, match="takes one namespace"):
        parse_command("ns a b")


def test_completions() -> None:
    assert completions("g", [], []) == ["gpus"]
    assert completions(":c", [], []) == ["ctx"]
    assert completions("ctx sim-v", ["sim-admin", "sim-viewer"], []) == ["ctx sim-viewer"]
    assert completions("theme gpuconsole-l", [], ["gpuconsole-light", "gpuconsole-dark"]) == ["theme gpuconsole-light"]
    assert completions("zz", [], []) == []
    assert completions("n", [], []) == ["nodes", "ns"]
    assert completions("ns runai-", [], [], ["default", "runai-a", "runai-b"]) == ["ns runai-a", "ns runai-b"]
    assert completions("ns ", [], [], ["runai-a"]) == ["ns all", "ns runai-a"]
    assert completions("project v", [], [], [], ["speech", "vision"]) == ["project vision"]


# ------------------------------------------------------------------------------------------------ config
def test_config_valid_file(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text("theme: gpuconsole-light\nrefresh_hz: 2\ndefault_view: gpus\n"
                 "keys: {row.logs: L, view.gpus: '2,G'}\ncontexts: {prod: {readonly: true}}\n")
    cfg = load(p, binding_ids=["row.logs", "view.gpus"], themes=["gpuconsole-light"])
    assert (cfg.theme, cfg.refresh_hz, cfg.default_view) == ("gpuconsole-light", 2.0, "gpus")
    assert cfg.keys == {"row.logs": "L", "view.gpus": "2,G"}
    assert cfg.readonly_for("prod") and not cfg.readonly_for("dev")


def test_config_names_every_bad_key_and_refuses_the_whole_file() -> None:
    with pytest.raises(ConfigError) as e:
        parse({"theme": "nope", "refresh_hz": 50, "default_view": "pods", "colour": 1,
               "keys": {"row.nope": "x", "row.logs": "ctrl+b", "row.yaml": 3},
               "contexts": {"prod": {"readonly": "yes", "color": 1}}},
              binding_ids=["row.logs", "row.yaml"], themes=["gpuconsole-dark"])
    text = "\n".join(e.value.problems)
    for needle in ("theme: unknown theme 'nope'", "refresh_hz: 50 is outside", "default_view: 'pods'",
                   "colour: unknown setting", "keys.row.nope: unknown binding id", "keys.row.logs: ctrl+b",
                   "keys.row.yaml: must be a key name", "contexts.prod.readonly: must be true or false",
                   "contexts.prod.color: unknown setting"):
        assert needle in text, needle
    with pytest.raises(ConfigError, match="mapping"):
        parse([1, 2])


def test_config_missing_default_file_is_defaults_but_named_file_must_exist(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.delenv("GPUCONSOLE_CONFIG", raising=False)
    assert load().refresh_hz == 4.0
    with pytest.raises(ConfigError, match="file not found"):
        load(tmp_path / "nope.yaml")
    bad = tmp_path / "gpuconsole" / "config.yaml"
    bad.parent.mkdir()
    bad.write_text("theme: [unclosed\n")
    with pytest.raises(ConfigError, match="cannot read it"):
        load()


# ------------------------------------------------------------------------------------------------ events
def _ev(name: str, reason: str, ts: str, type_: str = "Normal", message: str = "m") -> dict:
    return {"metadata": {"name": name, "namespace": "ns"}, "reason": reason, "type": type_, "message": message,
            "involvedObject": {"kind": "Pod", "namespace": "ns", "name": "p"}, "lastTimestamp": ts, "count": 2}


def test_event_categories() -> None:
    assert category("FailedScheduling", "Warning", "") == "scheduling"
    assert category("Evict", "Normal", "evicted by reclaim") == "eviction"
    assert category("Evict", "Normal", "to preempt for ...") == "preemption"
    assert category("Preempted", "Normal", "") == "preemption"
    assert category("BackOff", "Warning", "") == "warning"
    assert category("Pulled", "Normal", "") is None
    assert event_row({"metadata": {}}) is None and event_row("junk") is None  # type: ignore[arg-type]


def test_event_buffer_is_bounded_newest_first_and_drains_keyed_changes() -> None:
    b = EventBuffer(capacity=10)
    b.replace("events", [_ev(f"e{i:02d}", "Scheduled", f"2026-01-01T00:{i:02d}:00Z") for i in range(5)]
              + [_ev("pulled", "Pulled", "2026-01-01T00:00:00Z")])
    ups, rem = b.drain()
    assert len(ups) == 5 and not rem and ("ns", "pulled") not in b.rows
    for i in range(5, 30):
        b.apply("events", "ADDED", _ev(f"e{i:02d}", "FailedScheduling", f"2026-01-01T00:{i:02d}:00Z", "Warning"))
    assert len(b) <= 11
    newest = b.newest_first()
    assert newest[0].name == "e29" and [r.last for r in newest] == sorted((r.last for r in newest), reverse=True)
    b.apply("events", "DELETED", _ev("e29", "FailedScheduling", "x"))
    ups, rem = b.drain()
    assert ("ns", "e29") in rem and ("ns", "e29") not in ups
    assert b.for_object("Pod", "ns", "p")[0].name == "e28"


# ------------------------------------------------------------------------------------------------ bars
def test_share_bar_splits_a_gpu_between_holders_and_free() -> None:
    a, b, free = Style(color="red"), Style(color="blue"), Style(dim=True)
    t = share_bar([(0.5, a), (0.25, b)], 20, free)
    assert t.plain == "█" * 15 + "·" * 5
    assert [(s.start, s.end, s.style) for s in t.spans] == [(0, 10, a), (10, 15, b), (15, 20, free)]
    assert share_bar([(None, a), (0.01, b)], 10, free).plain == "?█" + "·" * 8  # never invisible
    assert share_bar([(1.0, a), (0.5, b)], 10, free).plain == "█" * 10   # overcommitted: clipped, no crash


def test_quota_bar_in_quota_over_quota_and_limit_mark() -> None:
    s = Style()
    t = quota_bar(6, 4, 8, 16, ok=s, over=s, unused=s, limit_style=s)
    assert t.plain == "█" * 12 + "   │"
    t = quota_bar(2, 8, -1, 16, ok=s, over=s, unused=s, limit_style=s)
    assert t.plain == "████" + "░" * 12
    assert quota_bar(0, 0, None, 5, ok=s, over=s, unused=s, limit_style=s).plain == "·····"
    assert (fmt_gpu(2.0), fmt_gpu(0.25), fmt_gpu(-1), fmt_gpu(None), fmt_gpu(1.3333)) == ("2", "0.25", "∞", "-", "1.33")


def test_layout_drops_low_priority_columns_when_narrow_and_flexes_one() -> None:
    cols = [Column("a", "A", 10), Column("b", "B", 10, priority=3), Column("c", "C", 10, priority=1, flex=True)]
    assert layout(cols, 60) == [(0, 10), (1, 10), (2, 38)]
    assert layout(cols, 25) == [(0, 10), (2, 14)]
    assert layout(cols, 5) == [(0, 10)]


def test_age_and_header_text() -> None:
    assert [age(100 - d, 100) for d in (5, 600, 7300, 200000)] == ["5s", "10m", "2h", "2d"]
    assert age(None, 0) == "-"
    states = merge_states([ResourceState("pods", "synced"), ResourceState("pods", "forbidden"),
                           ResourceState("nodes", "reconnecting", 12.0)])
    assert {s.kind: s.state for s in states} == {"pods": "forbidden", "nodes": "reconnecting"}
    text = render_header(HeaderData(context="prod", readonly=True, connection="connected", resources=tuple(states),
                                    gpus_allocated=94.5, gpus_capacity=96, gpus_in_use=96, gpus_slivers=1.5,
                                    api_per_min=12, watches=11),
                         Palette()).plain
    assert "ctx prod" in text and "read-only" in text
    assert "GPU 94.5/96 · 96 in use · 1.5 free in slivers" in text
    assert "pods⊘" in text and "nodes↻12s" in text and "watches 11" in text


def test_header_gpu_figure_never_shows_what_is_not_known() -> None:
    def gpu_text(**kw: object) -> str:
        line = render_header(HeaderData(connection="connected", **kw), Palette()).plain.splitlines()[1]  # type: ignore[arg-type]
        return line.split(" · API")[0]

    assert gpu_text() == "connected · GPU …"                                   # nothing listed yet
    assert gpu_text(gpus_capacity=16000) == "connected · GPU …/16000 · … in use · … free in slivers"  # nodes only
    assert gpu_text(gpus_allocated=12000.25, gpus_capacity=16000, gpus_in_use=12001, gpus_slivers=0.75,
                    gpus_stale=True) == "connected · GPU 12000.25/16000 · 12001 in use · 0.75 free in slivers (stale)"


def test_config_idle_settings_reach_the_idle_policy() -> None:
    from console.app import ClusterConsole
    from console.config import ConfigError, parse

    cfg = parse({"idle_threshold_pct": 10, "idle_minutes": 2.5})
    assert (cfg.idle_threshold_pct, cfg.idle_minutes) == (10.0, 2.5)
    app = ClusterConsole(lambda ctx: None, config=cfg)
    assert (app.idle_policy.threshold_pct, app.idle_policy.hold_s) == (10.0, 150.0)
    with pytest.raises(ConfigError) as e:
        parse({"idle_threshold_pct": 150, "idle_minutes": "soon"})
    assert any(p.startswith("idle_threshold_pct: 150 is outside") for p in e.value.problems)
    assert any(p.startswith("idle_minutes: must be a number") for p in e.value.problems)
