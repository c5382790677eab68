"""The `/` filter grammar, k9s style: free text, `-l` label selectors and `field:value` terms.

`/vision` keeps rows whose text contains "vision"; `/-l app=llama,tier!=dev` keeps rows whose labels
match the selector (kubectl's grammar and checks: `=`, `==`, `!=`, `in (…)`, `notin (…)`, `key`, `!key`); `/project:vision,speech node:dgx-h100-01` keeps rows whose fields have one of the
values. Terms combine with AND. Parsing is strict so a typo says what is wrong instead of hiding rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from console.kube.selectors import LabelSelector, SelectorError, parse_label_selector


SUBSTRING_FIELDS = frozenset({"model"})  # "model:h100" matches NVIDIA-H100-80GB-HBM3; other fields are exact


class FilterError(ValueError):
    """The filter text cannot be used: the message says which term and why."""


@dataclass(frozen=True)
class Filter:
    raw: str = ""
    text: tuple[str, ...] = ()                                 # lower-case substrings, all required
    labels: LabelSelector = field(default_factory=LabelSelector)
    fields: tuple[tuple[str, frozenset[str]], ...] = field(default=())

    def __bool__(self) -> bool:
        return bool(self.text or self.labels or self.fields)

    @property
    def needs_labels(self) -> bool:
        return bool(self.labels)

    def matches(self, text: str, labels: Mapping[str, str] | None = None,
                fields: Mapping[str, Iterable[str] | str | None] | None = None) -> bool:
        if self.text:
            low = text.lower()
            if not all(t in low for t in self.text):
                return False
        if self.labels:
            if not self.labels.matches(labels or {}):
                return False
        if self.fields:
            fs = fields or {}
            for name, wanted in self.fields:
                have = fs.get(name)
                if have is None:
                    return False
                values = [have.lower()] if isinstance(have, str) else [v.lower() for v in have]
                loose = name in SUBSTRING_FIELDS
                if not any(v in wanted or (loose and any(w in v for w in wanted)) for v in values):
                    return False
        return True

    def with_fields(self, name: str, values: Iterable[str]) -> "Filter":
        """This filter plus one more field term (used by drill-down)."""
        vals = frozenset(v.lower() for v in values)
        return Filter(self.raw, self.text, self.labels, tuple(f for f in self.fields if f[0] != name) + ((name, vals),))

    def also(self, name: str, values: Iterable[str]) -> "Filter":
        """This filter and one more field term, both required (the `:ns` / `:project` scope on top of the rest)."""
        vals = frozenset(v.lower() for v in values)
        return Filter(self.raw, self.text, self.labels, self.fields + ((name, vals),))


def _selector(text: str) -> LabelSelector:
    try:
        return parse_label_selector(text)
    except SelectorError as e:
        raise FilterError(f"-l {text}: {e}") from None


def _selector_words(tokens: list[str], i: int) -> tuple[str, int]:
    """The selector starting at tokens[i] and the index after it: `env in (a, b)` spans several words."""
    words = [tokens[i]]
    i += 1
    while i < len(tokens):
        cur = " ".join(words)
        nxt = tokens[i]
        if (cur.count("(") > cur.count(")") or cur.endswith(",") or nxt.startswith((",", "("))
                or nxt in ("in", "notin") or words[-1] in ("in", "notin")):
            words.append(nxt)
            i += 1
        else:
            break
    return " ".join(words), i


def parse_filter(s: str, known_fields: Iterable[str] = ()) -> Filter:
    """Parse filter text. Raises FilterError naming the bad term."""
    known = set(known_fields)
    tokens = s.split()
    text: list[str] = []
    labels: list[LabelSelector] = []
    fields: dict[str, set[str]] = {}
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok == "-l" or (tok.startswith("-l") and len(tok) > 2):
            if tok == "-l":
                if i + 1 >= len(tokens):
                    raise FilterError("-l needs a label selector, for example -l app=llama")
                i += 1
            else:
                tokens[i] = tok[2:]  # `-lapp=x`, as kubectl takes it
            sel, i = _selector_words(tokens, i)
            labels.append(_selector(sel))
            continue
        if ":" in tok and tok.split(":", 1)[0].lower() in known:
            name, value = tok.split(":", 1)
            values = {v.strip().lower() for v in value.split(",") if v.strip()}
            if not values:
                raise FilterError(f"{name}: needs a value, for example {name}:{_example(name)}")
            fields.setdefault(name.lower(), set()).update(values)
        else:
            text.append(tok.lower())
        i += 1
    selector = LabelSelector([r for sel in labels for r in sel.requirements])
    return Filter(s, tuple(text), selector, tuple((k, frozenset(v)) for k, v in sorted(fields.items())))


def _example(name: str) -> str:
    return {"project": "vision", "node": "dgx-h100-01", "model": "h100", "status": "pending"}.get(name, "x")
