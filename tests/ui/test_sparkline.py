"""Sparklines and block plots: scaling, clamping, gaps for missing points, fixed widths."""

from __future__ import annotations

from widgets.sparkline import plot, sparkline


def test_sparkline_scales_clamps_and_keeps_gaps() -> None:
    assert sparkline([0, 50, 100], 3) == "▁▅█"
    assert sparkline([-10, 150], 2) == "▁█"                     # clamped to 0..100
    assert sparkline([None, 100], 2) == " █"                    # a missing point is not a zero
    assert sparkline([100], 4) == "   █"                        # right-aligned: newest at the right edge
    assert sparkline(list(range(20)), 5, lo=None, hi=None) == "▁▃▅▇█"   # only the last five, own range
    assert sparkline([], 3) == "   " and sparkline([1], 0) == ""


def test_plot_has_height_lines_of_width_and_shows_small_values() -> None:
    lines = plot([0.0, 50.0, 100.0, None], 6, 2, 0.0, 100.0)
    assert len(lines) == 2 and all(len(ln) == 6 for ln in lines)
    assert lines[1] == "  ▁██ "                                 # bottom line; 0 is still one eighth
    assert lines[0] == "    █ "                                 # top line: only the full value reaches it
    assert plot([5.0, 5.0], 2, 3) == ["  ", "  ", "▁▁"]         # flat series: the own range is widened
