"""Service-level objectives of inference workloads: where they come from and whether one is breached.

A workload's targets come from its top object's annotations, `gpuconsole.io/slo-p95-ms` (the p95 latency
in milliseconds it must stay under) and `gpuconsole.io/slo-error-ratio` (the share of failed requests,
0–1, it must stay under), or else from the first rule of the config file's `slos:` list that matches it
by name (`namespace/name` or `name`) or label selector. A workload with neither has no SLO and is never
marked. A breach needs the figure: an unknown p95 is "unknown", not "met" and not "breached".
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

P95_ANN = "gpuconsole.io/slo-p95-ms"
ERROR_ANN = "gpuconsole.io/slo-error-ratio"

MET, BREACHED, UNKNOWN = "met", "breached", "unknown"


@dataclass(frozen=True, slots=True)
class SloTarget:
    p95_ms: float | None
    error_ratio: float | None
    source: str                       # "annotations" or "config: <rule>"
    problems: tuple[str, ...] = ()    # annotation values that could not be read (that target is left out)

    @property
    def empty(self) -> bool:
        return self.p95_ms is None and self.error_ratio is None


@dataclass(frozen=True, slots=True)
class SloRule:
    """One `slos:` entry of the config file."""

    p95_ms: float | None = None
    error_ratio: float | None = None
    name: str | None = None                                     # `namespace/name` or `name`
    selector: tuple[tuple[str, str, bool], ...] = field(default=())   # (key, value, equal)

    def matches(self, namespace: str, name: str, labels: Mapping[str, str]) -> bool:
        if self.name is not None and self.name not in (name, f"{namespace}/{name}"):
            return False
        for k, v, eq in self.selector:
            if (labels.get(k) == v) != eq:
                return False
        return self.name is not None or bool(self.selector)

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        return ",".join(f"{k}{'=' if eq else '!='}{v}" for k, v, eq in self.selector)


def parse_selector(text: str) -> tuple[tuple[str, str, bool], ...]:
    """`app=chat,tier!=batch` as (key, value, equal) triples. Raises ValueError naming the bad part."""
    out = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        if "!=" in part:
            k, v = part.split("!=", 1)
            eq = False
        elif "==" in part:
            k, v = part.split("==", 1)
            eq = True
        elif "=" in part:
            k, v = part.split("=", 1)
            eq = True
        else:
            raise ValueError(f"{part!r} is not key=value or key!=value")
        if not k.strip():
            raise ValueError(f"{part!r} has no key")
        out.append((k.strip(), v.strip(), eq))
    if not out:
        raise ValueError("empty selector")
    return tuple(out)


def _number(text: str, key: str, lo: float, hi: float, problems: list[str]) -> float | None:
    try:
        v = float(text)
    except ValueError:
        problems.append(f"{key}: {text!r} is not a number")
        return None
    if not math.isfinite(v) or not lo < v <= hi:
        problems.append(f"{key}: {text!r} must be more than {lo:g} and at most {hi:g}")
        return None
    return v


def from_annotations(ann: Mapping[str, str]) -> SloTarget | None:
    if P95_ANN not in ann and ERROR_ANN not in ann:
        return None
    problems: list[str] = []
    p95 = _number(ann[P95_ANN], P95_ANN, 0.0, 3.6e6, problems) if P95_ANN in ann else None
    err = _number(ann[ERROR_ANN], ERROR_ANN, 0.0, 1.0, problems) if ERROR_ANN in ann else None
    return SloTarget(p95, err, "annotations", tuple(problems))


def target_for(namespace: str, name: str, annotations: Mapping[str, str], labels: Mapping[str, str],
               rules: Sequence[SloRule]) -> SloTarget | None:
    """The workload's SLO: its annotations, else the first matching config rule, else None."""
    t = from_annotations(annotations)
    if t is not None:
        return t
    for r in rules:
        if r.matches(namespace, name, labels):
            return SloTarget(r.p95_ms, r.error_ratio, f"config: {r.label}")
    return None


def evaluate(t: SloTarget | None, p95_s: float | None, p95_capped: bool, error_ratio: float | None
             ) -> tuple[str | None, str]:
    """(met | breached | unknown, why); (None, "") without targets."""
    if t is None or t.empty:
        return None, ""
    why: list[str] = []
    unknown: list[str] = []
    if t.p95_ms is not None:
        if p95_s is None:
            unknown.append("p95 unknown")
        elif p95_s * 1000.0 > t.p95_ms or (p95_capped and p95_s * 1000.0 >= t.p95_ms):
            why.append(f"p95 {'>' if p95_capped else ''}{p95_s * 1000.0:.0f} ms over {t.p95_ms:g} ms")
    if t.error_ratio is not None:
        if error_ratio is None:
            unknown.append("error ratio unknown")
        elif error_ratio > t.error_ratio:
            why.append(f"errors {error_ratio * 100:.2g}% over {t.error_ratio * 100:.2g}%")
    if why:
        return BREACHED, "; ".join(why)
    if unknown:
        return UNKNOWN, "; ".join(unknown)
    return MET, ""
