"""Any Prometheus text page, read leniently: the samples of the families asked for, by sample name.

The same rules as the dcgm-exporter parser (`dcgm_parse`, whose label reader this reuses): a bad line is
skipped and counted, never the end of the parse; families not asked for are passed over cheaply. Values
are kept as written (NaN and ±Inf included): what a NaN or a negative counter means is for the reader of
that family to say, not the parser. `# TYPE` lines of the families asked for are kept, so a reader can
tell a histogram from a summary. OpenMetrics exemplars (` # {…} v`) after a value are dropped.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from .dcgm_parse import _NAME, _is_value, fast_labels, parse_labels

Labels = dict[str, str]
SUFFIXES = ("_bucket", "_sum", "_count", "_total", "_created")


@dataclass(slots=True)
class Exposition:
    """Samples by their full name (`foo_bucket`, `foo_sum`, `foo`), each a list of (labels, value)."""

    samples: dict[str, list[tuple[Labels, float]]] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)      # family → counter | gauge | histogram | summary
    lines: int = 0
    bad_lines: int = 0
    bad_examples: list[str] = field(default_factory=list)

    def get(self, name: str) -> list[tuple[Labels, float]]:
        return self.samples.get(name, [])

    def has(self, *names: str) -> bool:
        return any(n in self.samples for n in names)

    def family_names(self) -> set[str]:
        return {base_name(n) for n in self.samples}


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


def parse(text: str, families: Iterable[str], keep_examples: int = 3) -> Exposition:
    """Parse `text`, keeping the samples of `families` (base names). Never raises."""
    wanted = frozenset(families)
    out = Exposition()
    samples = out.samples
    seen_other: set[str] = set()
    for line in text.splitlines():
        if not line:
            continue
        if line[0] == "#":
            if line.startswith("# TYPE "):
                parts = line.split()
                if len(parts) >= 4 and parts[2] in wanted:
                    out.types[parts[2]] = parts[3]
            continue
        if line[0] in " \t" or line[-1] in " \t":
            line = line.strip()
            if not line or line[0] == "#":
                continue
        out.lines += 1
        brace = line.find("{")
        space = line.find(" ")
        end = brace if brace >= 0 and (space < 0 or brace < space) else space
        name = line[:end] if end >= 0 else line
        if name not in wanted and base_name(name) not in wanted:
            if name in seen_other:
                continue
            if end < 0 or not _NAME.fullmatch(name) or (end == space and not _is_value(line[space:])):
                _bad(out, line, keep_examples)
            elif end == brace:
                seen_other.add(name)
            continue
        if " # {" in line:   # an OpenMetrics exemplar follows the value: not part of the sample
            line = line[:line.rindex(" # {")]
        try:
            if end == brace:
                got = fast_labels(line, brace)
                labels, after = got if got is not None else parse_labels(line, brace + 1)
            else:
                labels, after = {}, end
            tokens = line[after:].split()
            if not tokens or len(tokens) > 2:
                raise ValueError("expected a value and an optional timestamp")
            value = number(tokens[0])
        except ValueError:
            _bad(out, line, keep_examples)
            continue
        samples.setdefault(name, []).append((labels, value))
    return out


def _bad(out: Exposition, line: str, keep: int) -> None:
    out.bad_lines += 1
    if len(out.bad_examples) < keep:
        out.bad_examples.append(line[:120])
