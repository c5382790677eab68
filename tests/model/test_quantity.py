"""Kubernetes quantities: parsing every suffix form and formatting back the way the apiserver writes."""

from __future__ import annotations

from fractions import Fraction

import pytest

from console.model.quantity import (
    format_bytes, format_gpu, format_milli, format_quantity, parse_exact, parse_quantity, to_milli,
)


@pytest.mark.parametrize("text,value", [
    ("500m", Fraction(1, 2)), ("1500m", Fraction(3, 2)), ("2", 2), ("0.5", Fraction(1, 2)),
    ("1Gi", 2**30), ("250M", 250_000_000), ("87425380Ki", 87425380 * 1024), ("1e3", 1000),
    ("100u", Fraction(1, 10_000)), ("+3k", 3000), (".5", Fraction(1, 2)), (7, 7), (0.25, Fraction(1, 4)),
])
def test_parse(text, value) -> None:
    assert parse_exact(text) == value


def test_parse_is_exact_for_millis() -> None:
    assert parse_exact("100m") * 3 == Fraction(3, 10)
    assert parse_quantity("1500m") == 1.5


@pytest.mark.parametrize("bad", ["", "abc", "1.5.2", "10Xi", "1 Gi", "--1", True, None, float("nan")])
def test_parse_rejects_with_message(bad) -> None:
    with pytest.raises(ValueError, match="quantit"):
        parse_exact(bad)


def test_to_milli_rounds_up() -> None:
    assert to_milli("0.0001") == 1
    assert to_milli("1500m") == 1500
    assert to_milli("2") == 2000


def test_format() -> None:
    assert format_milli(1500) == "1500m"
    assert format_milli(2000) == "2"
    assert format_milli(0) == "0"
    assert format_gpu(1.5) == "1500m"
    assert format_gpu(0.3 + 0.3 + 0.3) == "900m"
    assert format_gpu(3.0) == "3"
    assert format_bytes(24 * 2**30) == "24Gi"
    assert format_bytes(250_000_000) == "250M"
    assert format_bytes(1023) == "1023"
    assert format_quantity(0.1, "cpu") == "100m"
    assert format_quantity(6, "cpu") == "6"
    assert format_quantity(2**30, "memory") == "1Gi"


def test_round_trip() -> None:
    for text in ("1500m", "3", "250m"):
        assert format_milli(to_milli(text)) == text
