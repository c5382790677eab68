"""SLO targets from annotations or config rules, and their evaluation against what is known."""

from __future__ import annotations

import pytest

from console.config import ConfigError, parse
from console.model import slo
from console.model.slo import BREACHED, MET, UNKNOWN, SloRule, SloTarget


def test_annotations_win_over_rules_and_bad_values_are_problems() -> None:
    rules = [SloRule(p95_ms=100, name="ns/chat")]
    t = slo.target_for("ns", "chat", {slo.P95_ANN: "800", slo.ERROR_ANN: "0.01"}, {}, rules)
    assert t == SloTarget(800.0, 0.01, "annotations")
    bad = slo.target_for("ns", "chat", {slo.P95_ANN: "fast", slo.ERROR_ANN: "2"}, {}, rules)
    assert bad is not None and bad.empty and len(bad.problems) == 2
    assert "is not a number" in bad.problems[0] and "at most 1" in bad.problems[1]


def test_rules_match_by_name_or_selector_first_wins() -> None:
    rules = [SloRule(p95_ms=500, name="chat"), SloRule(p95_ms=900, selector=slo.parse_selector("tier=online")),
             SloRule(error_ratio=0.05, selector=slo.parse_selector("tier!=batch"))]
    assert slo.target_for("a", "chat", {}, {"tier": "online"}, rules).p95_ms == 500  # type: ignore[union-attr]
    on = slo.target_for("a", "x", {}, {"tier": "online"}, rules)
    assert on is not None and on.p95_ms == 900 and on.source == "config: tier=online"
    assert slo.target_for("a", "x", {}, {}, rules).error_ratio == 0.05  # type: ignore[union-attr]
    assert slo.target_for("a", "x", {}, {"tier": "batch"}, rules) is None


@pytest.mark.parametrize("p95,capped,err,state", [
    (0.7, False, 0.0, MET),
    (0.9, False, 0.0, BREACHED),
    (0.8, True, 0.0, BREACHED),       # `>800 ms`: the truth is above the bound
    (None, False, 0.0, UNKNOWN),      # never "met" without the figure
    (0.5, False, 0.2, BREACHED),
    (0.5, False, None, UNKNOWN),
])
def test_evaluation(p95: float | None, capped: bool, err: float | None, state: str) -> None:
    got, why = slo.evaluate(SloTarget(800.0, 0.1, "annotations"), p95, capped, err)
    assert got == state
    if state == BREACHED:
        assert "over" in why


def test_no_target_no_state() -> None:
    assert slo.evaluate(None, 5.0, False, 1.0) == (None, "")


def test_config_slos_and_serving_windows() -> None:
    c = parse({"serving_window_s": 120, "serving_scrape_s": 15,
               "slos": [{"name": "team/llm", "p95_ms": 800, "error_ratio": 0.01}, {"selector": "app=rr", "p95_ms": 50}]})
    assert c.serving_window_s == 120 and c.serving_scrape_s == 15
    assert c.slos[0] == SloRule(800.0, 0.01, "team/llm") and c.slos[1].selector == (("app", "rr", True),)
    with pytest.raises(ConfigError) as e:
        parse({"serving_scrape_s": 50, "slos": [{"name": "x", "selector": "a=b", "p95_ms": 1}, {"name": "y"},
                                                {"selector": "nope", "p95_ms": 1}, {"name": "z", "p95_ms": -3},
                                                {"name": "w", "p95": 3}]})
    text = str(e.value)
    for part in ("must hold at least two scrapes", "exactly one of name or selector", "give p95_ms, error_ratio",
                 "slos[2].selector", "slos[3].p95_ms", "slos[4].p95: unknown setting"):
        assert part in text, part


def test_config_pod_proxy_page_budget() -> None:
    assert parse({}).serving_proxy_rps == 100.0
    assert parse({"serving_proxy_rps": 25}).serving_proxy_rps == 25.0
    for bad, why in ((0, "outside 1..10000"), ("fast", "must be a number"), (True, "must be a number")):
        with pytest.raises(ConfigError, match=f"serving_proxy_rps: .*{why}"):
            parse({"serving_proxy_rps": bad})
