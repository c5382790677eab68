"""Prometheus histograms: read from `_bucket`/`_sum`/`_count` samples, differenced across scrapes with
counter resets handled, summed across replicas of one bucket layout, and their quantiles computed as
Prometheus' `histogram_quantile` does.

`quantile` follows prometheus/promql/quantile.go `bucketQuantile`: the rank q × observations falls in
the first bucket whose cumulative count reaches it; the value is interpolated linearly within that
bucket, from the previous bucket's upper bound (0 for the first bucket when its bound is positive) to
its own. A rank in the `+Inf` bucket answers the highest finite bound, which is only a lower bound on the
truth: `Quantile.capped` says so, and the console shows `>bound` rather than a number that looks exact.

What is refused, with the reason, rather than guessed: no `+Inf` bucket, an `le` that is not a number,
the same `le` twice, NaN or negative counts, cumulative counts that fall as `le` rises. Bucket lines in
any order are fine (they are sorted by `le`, as Prometheus sorts them).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .prom_text import Exposition, Labels


class HistogramError(ValueError):
    """A histogram that cannot be used, and why."""


@dataclass(frozen=True, slots=True)
class Hist:
    """Cumulative bucket counts by upper bound (ascending, the last `+Inf`), and the sum of observations."""

    bounds: tuple[float, ...]
    counts: tuple[float, ...]
    sum: float | None = None

    @property
    def count(self) -> float:
        return self.counts[-1] if self.counts else 0.0

    def scaled(self, factor: float) -> "Hist":
        """The same counts with bounds (and sum) in another unit: ms → s is `scaled(0.001)`."""
        return Hist(tuple(b * factor for b in self.bounds), self.counts,
                    None if self.sum is None else self.sum * factor)


@dataclass(frozen=True, slots=True)
class Quantile:
    value: float
    capped: bool = False      # the rank fell in the +Inf bucket: the truth is above `value`


_LAYOUTS: dict[tuple[str, ...], tuple[tuple[float, ...], tuple[int, ...]] | str] = {}


def _layout(les: tuple[str, ...]) -> tuple[tuple[float, ...], tuple[int, ...]] | str:
    """Bounds in order and where each comes from, for a series' `le` texts (pages repeat their layouts)."""
    got = _LAYOUTS.get(les)
    if got is not None:
        return got
    vals: list[float] = []
    seen: set[float] = set()
    out: tuple[tuple[float, ...], tuple[int, ...]] | str
    try:
        for le in les:
            try:
                b = math.inf if le in ("+Inf", "Inf", "inf", "+inf") else float(le)
            except ValueError:
                raise HistogramError(f"bucket bound le={le!r} is not a number") from None
            if math.isnan(b):
                raise HistogramError("bucket bound le=NaN")
            if b in seen:
                raise HistogramError(f"bucket le={le} appears twice")
            seen.add(b)
            vals.append(b)
        if not vals:
            raise HistogramError("no buckets")
        if math.inf not in seen:
            raise HistogramError("no +Inf bucket")
        order = tuple(sorted(range(len(vals)), key=vals.__getitem__))
        out = (tuple(vals[i] for i in order), order)
    except HistogramError as e:
        out = str(e)
    if len(_LAYOUTS) < 4096:
        _LAYOUTS[les] = out
    return out


def build(buckets: Iterable[tuple[str, float]], total: float | None = None) -> Hist:
    """A histogram from (le text, cumulative count) pairs. Raises HistogramError saying why it cannot be used."""
    pairs = list(buckets)
    layout = _layout(tuple(le for le, _ in pairs))
    if isinstance(layout, str):
        raise HistogramError(layout)
    bounds, order = layout
    counts = tuple(pairs[i][1] for i in order)
    prev = 0.0
    for b, n in zip(bounds, counts):
        if n != n or n < 0 or n == math.inf:
            raise HistogramError(f"bucket le={b:g} has count {n!r}")
        if n < prev:
            raise HistogramError(f"bucket counts fall as le rises (le={b:g} has {n:g} < {prev:g})")
        prev = n
    if total is not None and (math.isnan(total) or math.isinf(total)):
        total = None
    return Hist(bounds, counts, total)


def from_samples(exp: Exposition, name: str) -> dict[frozenset[tuple[str, str]], Hist | str]:
    """Every series of histogram `name`, keyed by its labels other than `le`: a Hist, or why it cannot be used."""
    series = exp.buckets.get(name + "_bucket")
    if not series:
        return {}
    sums = {frozenset(lb.items()): v for lb, v in exp.samples.get(name + "_sum", ())}
    out: dict[frozenset[tuple[str, str]], Hist | str] = {}
    for base, les, vals in series.values():
        key = frozenset(base.items())
        if "" in les:
            out[key] = "a bucket has no le label"
            continue
        try:
            h = build(zip(les, vals), sums.get(key))
        except HistogramError as e:
            out[key] = str(e)
            continue
        prev = out.get(key)
        if isinstance(prev, Hist):   # the same labels written in another order: one series
            out[key] = "the same series appears twice" if prev.bounds != h.bounds else add([prev, h])
        else:
            out[key] = h
    return out


def add(hists: Sequence[Hist]) -> Hist:
    """The sum of histograms with one bucket layout (series of one replica, or replicas of one layout)."""
    first = hists[0]
    if any(h.bounds != first.bounds for h in hists[1:]):
        raise HistogramError("bucket layouts differ")
    counts = tuple(math.fsum(c) for c in zip(*(h.counts for h in hists)))
    sums = [h.sum for h in hists]
    return Hist(first.bounds, counts, None if any(s is None for s in sums) else math.fsum(sums))  # type: ignore


def delta(new: Hist, old: Hist | None) -> Hist:
    """What was observed between two scrapes of one series. A reset (the process restarted, so a count
    fell, or the layout changed) counts from zero, as Prometheus' `increase` does: never negative."""
    if old is None or old.bounds != new.bounds:
        return new
    if any(n < o for n, o in zip(new.counts, old.counts)):
        return new
    s = None
    if new.sum is not None and old.sum is not None:
        s = new.sum - old.sum if new.sum >= old.sum else new.sum
    return Hist(new.bounds, tuple(n - o for n, o in zip(new.counts, old.counts)), s)


def counter_delta(new: float | None, old: float | None) -> float | None:
    """A counter's increase between two scrapes; a fall is a restart, counted from zero."""
    if new is None or math.isnan(new) or math.isinf(new) or new < 0:
        return None
    if old is None or math.isnan(old) or old < 0:
        return None
    return new - old if new >= old else new


def quantile(q: float, h: Hist) -> Quantile | None:
    """Prometheus' `histogram_quantile(q, …)` of a (differenced) histogram; None when nothing was observed."""
    if not 0.0 <= q <= 1.0 or len(h.bounds) < 2 or h.bounds[-1] != math.inf:
        return None
    observations = h.counts[-1]
    if observations <= 0:
        return None
    rank = q * observations
    b = 0
    while h.counts[b] < rank:
        b += 1
    if b == len(h.bounds) - 1:
        return Quantile(h.bounds[-2], capped=True)
    if b == 0 and h.bounds[0] <= 0:
        return Quantile(h.bounds[0])
    start, end, count = 0.0, h.bounds[b], h.counts[b]
    if b > 0:
        start = h.bounds[b - 1]
        count -= h.counts[b - 1]
        rank -= h.counts[b - 1]
    if count <= 0:
        return Quantile(end)
    return Quantile(start + (end - start) * (rank / count))


def mean(h: Hist) -> float | None:
    if h.sum is None or h.counts[-1] <= 0:
        return None
    return h.sum / h.counts[-1]
