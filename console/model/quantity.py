"""Kubernetes resource quantities ("500m", "1Gi", "1500m" GPU): parse to numbers, format back.

The API writes quantities as strings with SI or binary suffixes; the console and the scheduler need
numbers to add and compare, and must write them back the way the apiserver would ("1500m", not 1.5).
Parsing uses `Fraction` so "100m" three times is exactly 0.3, never 0.30000000000000004.
"""

from __future__ import annotations

import functools
import math
import re
from fractions import Fraction

_SUFFIX: dict[str, Fraction] = {
    "n": Fraction(1, 10**9),
    "u": Fraction(1, 10**6),
    "m": Fraction(1, 1000),
    "": Fraction(1),
    "k": Fraction(10**3),
    "M": Fraction(10**6),
    "G": Fraction(10**9),
    "T": Fraction(10**12),
    "P": Fraction(10**15),
    "E": Fraction(10**18),
    "Ki": Fraction(2**10),
    "Mi": Fraction(2**20),
    "Gi": Fraction(2**30),
    "Ti": Fraction(2**40),
    "Pi": Fraction(2**50),
    "Ei": Fraction(2**60),
}

_RE = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?)$")


def parse_exact(value: str | int | float) -> Fraction:
    """A quantity as an exact fraction; raises ValueError saying what is wrong with the text."""
    if isinstance(value, bool):
        raise ValueError(f"quantity must be a number or a string, got {value!r}")
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"quantity must be finite, got {value!r}")
        return Fraction(str(value))
    if not isinstance(value, str):
        raise ValueError(f"quantity must be a number or a string, got {type(value).__name__}")
    return _parse_text(value)


@functools.lru_cache(maxsize=4096)
def _parse_text(value: str) -> Fraction:
    """Cached: a cluster spells the same few quantities ("1", "500m", "16Gi") on thousands of pods."""
    text = value.strip()
    m = _RE.match(text)
    if not m:
        raise ValueError(f"quantities must match the regular expression "
                         f"'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$', got {value!r}")
    number, exponent, suffix = m.groups()
    base = Fraction(number)
    if exponent:
        return base * Fraction(10) ** int(exponent[1:])
    return base * _SUFFIX[suffix or ""]


def parse_quantity(value: str | int | float) -> float:
    """A quantity as a float (cores, bytes, devices)."""
    return float(parse_exact(value))


def to_milli(value: str | int | float) -> int:
    """A quantity in thousandths, rounded up as the apiserver rounds (`0.0001` CPU → 1m)."""
    q = parse_exact(value) * 1000
    n = q.numerator // q.denominator
    return n if n == q else n + 1


def format_milli(milli: int) -> str:
    """Thousandths back to canonical text: 1500 → "1500m", 2000 → "2", 0 → "0"."""
    if milli % 1000 == 0:
        return str(milli // 1000)
    return f"{milli}m"


def format_gpu(devices: float) -> str:
    """GPU devices as Queue and PodGroup status write them: 1.5 → "1500m", 3.0 → "3"."""
    return format_milli(round(devices * 1000))


def format_bytes(n: int | float) -> str:
    """Bytes as the shortest exact binary or decimal quantity: 25769803776 → "24Gi", 250000000 → "250M"."""
    n = int(round(n))
    if n == 0:
        return "0"
    for suffix in ("Ei", "Pi", "Ti", "Gi", "Mi", "Ki"):
        unit = int(_SUFFIX[suffix])
        if n % unit == 0:
            return f"{n // unit}{suffix}"
    for suffix in ("E", "P", "T", "G", "M", "k"):
        unit = int(_SUFFIX[suffix])
        if n % unit == 0:
            return f"{n // unit}{suffix}"
    return str(n)


def format_quantity(value: float | Fraction, resource: str = "") -> str:
    """Format by resource name: memory-like in bytes, everything else in thousandths."""
    if resource in ("memory", "ephemeral-storage") or resource.startswith("hugepages-") or \
            resource == "run.ai/gpu.memory":
        if resource == "run.ai/gpu.memory":
            return str(int(round(value)))
        return format_bytes(value)
    m = float(value) * 1000
    n = round(m)
    if abs(m - n) > 1e-6:  # not a whole number of thousandths: round up, as the apiserver does
        n = math.ceil(m)
    return format_milli(int(n))
