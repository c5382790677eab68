"""Any Prometheus text page, read leniently: the samples of the families asked for, by sample name.

The same rules as the dcgm-exporter parser (`dcgm_parse`, whose label reader this reuses): a bad line is
skipped and counted, never the end of the parse; families not asked for are passed over cheaply. Values
are kept as written (NaN and ±Inf included): what a NaN or a negative counter means is for the reader of
that family to say, not the parser. `# TYPE` lines of the families asked for are kept, so a reader can
tell a histogram from a summary. OpenMetrics exemplars (` # {…} v`) after a value are dropped.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .dcgm_parse import fast_labels, parse_labels

Labels = dict[str, str]
SUFFIXES = ("_bucket", "_sum", "_count", "_total", "_created")


@dataclass(slots=True)
class Exposition:
    """Samples by their full name (`foo_bucket`, `foo_sum`, `foo`), each a list of (labels, value)."""

    samples: dict[str, list[tuple[Labels, float]]] = field(default_factory=dict)
    # `_bucket` samples by series (its labels but `le`, as written): (those labels, each `le`, each count)
    buckets: dict[str, dict[str, tuple[Labels, list[str], list[float]]]] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)      # family → counter | gauge | histogram | summary
    text: str = ""
    keep_examples: int = 3
    _bad: tuple[int, list[str]] | None = None

    def _scan(self) -> tuple[int, list[str]]:
        """Lines that are not Prometheus text (junk, a value that is not a number): counted when asked."""
        if self._bad is None:
            lines = self.text.count("\n") + (0 if not self.text or self.text.endswith("\n") else 1)
            good = sum(1 for _ in _GOOD.finditer(self.text)) if self.text else 0
            examples: list[str] = []
            n = 0
            if good < lines:
                for line in self.text.splitlines():
                    if not _GOOD.fullmatch(line):
                        n += 1
                        if len(examples) < self.keep_examples:
                            examples.append(line.strip()[:120])
            self._bad = (n, examples)
        return self._bad

    @property
    def bad_lines(self) -> int:
        return self._scan()[0]

    @property
    def bad_examples(self) -> list[str]:
        return self._scan()[1]

    def get(self, name: str) -> list[tuple[Labels, float]]:
        if name in self.buckets:
            return [({**lb, "le": le}, v) for lb, les, vs in self.buckets[name].values() for le, v in zip(les, vs)]
        return self.samples.get(name, [])

    def has(self, *names: str) -> bool:
        return any(n in self.samples or n in self.buckets for n in names)

    def names(self) -> set[str]:
        return set(self.samples) | set(self.buckets)


def base_name(sample: str) -> str:
    for s in SUFFIXES:
        if sample.endswith(s):
            return sample[: -len(s)]
    return sample


def number(token: str) -> float:
    """A sample value as the text format writes it (Go and Python spellings of NaN and infinities)."""
    try:
        return float(token)
    except ValueError:
        low = token.lower()
        if low in ("nan", "+nan", "-nan"):
            return math.nan
        if low in ("+inf", "inf"):
            return math.inf
        if low == "-inf":
            return -math.inf
        raise


_VALUE = r"[-+]?(?:\d|\.\d|[Nn][Aa][Nn]|[Ii][Nn][Ff])\S*"
# A line that is a comment, blank, or a sample with a numeric value and an optional integer timestamp.
_GOOD = re.compile(r"^[ \t]*(?:#.*|[A-Za-z_:][A-Za-z0-9_:]*(?:\{[^\n]*\})?[ \t]+" + _VALUE
                   + r"(?:[ \t]+-?\d+)?(?:[ \t]+#[^\n]*)?[ \t]*|)$", re.M)


_LINES: dict[str, re.Pattern[str]] = {}


def _line_re(name: str) -> re.Pattern[str]:
    """Every line of one sample name: its labels, value, timestamp and anything after (the scan runs in C)."""
    pat = _LINES.get(name)
    if pat is None:
        pat = _LINES[name] = re.compile("\n" + re.escape(name) + r"(\{[^\n]*?\})?[ \t]+([^ \t\n]+)"
                                        r"(?:[ \t]+(-?\d+))?([^\n]*)")
    return pat


def parse(text: str, names: Iterable[str], keep_examples: int = 3) -> Exposition:
    """Parse `text`, keeping the samples whose full names are in `names`. Never raises.

    Each wanted name's lines are found with `str.find` (in C), so the rest of a page (runtime metrics,
    histograms nobody reads) costs nothing. Histogram bucket lines repeat their series' labels with only
    `le` changing: the rest is read once per series and shared (callers must not change a sample's
    labels). Lines that are not Prometheus text (junk, a value that is not a number) are counted in
    `bad_lines`, with the first few kept, when asked."""
    wanted = names if isinstance(names, frozenset) else frozenset(names)
    out = Exposition(text=text, keep_examples=keep_examples)
    src = "\n" + text
    cache: dict[Any, Labels] = {}
    samples, buckets = out.samples, out.buckets
    for name in wanted:
        bucket = name[-7:] == "_bucket"
        for seg, tok, ts, rest in _line_re(name).findall(src):
            try:
                if rest and rest.strip() and not rest.lstrip().startswith("#"):
                    raise ValueError("not a sample")   # more after the value (an exemplar `# {…}` is dropped)
                seg = seg[1:-1] if seg else ""
                try:
                    value = float(tok)
                except ValueError:
                    value = number(tok)
                if bucket:
                    le_at = seg.find('le="')
                    q = seg.find('"', le_at + 4) if le_at >= 0 else -1
                    if q > 0 and (le_at == 0 or seg[le_at - 1] in ", ") and "\\" not in seg:
                        skey = (seg[:le_at], seg[q + 1:])
                        le = seg[le_at + 4:q]
                        base = cache.get(skey)
                        if base is None:
                            head, tail = skey[0].rstrip(", "), skey[1].lstrip(", ")
                            both = f"{head},{tail}" if head and tail else head or tail
                            base = cache[skey] = _read(both) if both else {}
                    else:   # `le` missing or written with escapes: read the labels whole
                        base = _read(seg) if seg else {}
                        le = base.pop("le", "")
                        skey = repr(sorted(base.items()))
                    series = buckets.get(name)
                    if series is None:
                        series = buckets[name] = {}
                    got = series.get(skey)
                    if got is None:
                        got = series[skey] = (base, [], [])
                    got[1].append(le)
                    got[2].append(value)
                    continue
                if seg:
                    labels = cache.get(seg)
                    if labels is None:
                        labels = cache[seg] = _read(seg)
                else:
                    labels = {}
            except ValueError:
                continue   # counted with the other bad lines when asked (`bad_lines`)
            got_s = samples.get(name)
            if got_s is None:
                got_s = samples[name] = []
            got_s.append((labels, value))
    return out


def _read(seg: str) -> Labels:
    line = "{" + seg + "}"
    got = fast_labels(line, 0)
    return got[0] if got is not None else parse_labels(line, 1)[0]
