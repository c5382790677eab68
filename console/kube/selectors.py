"""Kubernetes label selectors, parsed and matched with apimachinery's own grammar and validation.

One parser for every layer: the simulated apiserver answers `?labelSelector=` with it, `gpuconsole snapshot -l` and
the action verbs select with it, and the console's `/-l` filter reads it. A pure module (no I/O), so the simulator
and the UI may both import it. It follows `k8s.io/apimachinery/pkg/labels/selector.go` (the lexer, `parse`,
`NewRequirement`, `Requirement.Matches`) and `pkg/util/validation/validation.go` (`IsQualifiedName`,
`IsValidLabelValue`), so a selector kubectl would refuse is refused here with the same words:

    <selector>    ::= <requirement> | <requirement> "," <selector>
    <requirement> ::= [!] KEY [ ("in" | "notin") "(" VALUES ")" | ("=" | "==" | "!=") VALUE | (">" | "<") INT ]
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class SelectorError(ValueError):
    """A selector the apiserver would refuse; the message is apimachinery's."""


# pkg/util/validation/validation.go
_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_QUALIFIED_NAME_MAX = 63
_SUBDOMAIN_MAX = 253
_LABEL_VALUE_MAX = 63


def label_key_problems(key: str) -> list[str]:
    """Why `key` is not a label key (`[prefix/]name`), in apimachinery's words; [] when it is one."""
    parts = key.split("/")
    if len(parts) == 1:
        name = parts[0]
        errs: list[str] = []
    elif len(parts) == 2:
        prefix, name = parts
        errs = []
        if not prefix:
            errs.append("prefix part must be non-empty")
        elif len(prefix) > _SUBDOMAIN_MAX:
            errs.append(f"prefix part must be no more than {_SUBDOMAIN_MAX} characters")
        elif not _DNS1123_SUBDOMAIN.match(prefix):
            errs.append("prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                        "characters, '-' or '.', and must start and end with an alphanumeric character")
    else:
        return ["a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and "
                "end with an alphanumeric character with an optional DNS subdomain prefix and '/' "
                "(e.g. 'example.com/MyName')"]
    if not name:
        errs.append("name part must be non-empty")
    elif len(name) > _QUALIFIED_NAME_MAX:
        errs.append(f"name part must be no more than {_QUALIFIED_NAME_MAX} characters")
    elif not _QUALIFIED_NAME.match(name):
        errs.append("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
                    "with an alphanumeric character")
    return errs


def label_value_problems(value: str) -> list[str]:
    """Why `value` is not a label value; [] when it is one (the empty string is one)."""
    errs: list[str] = []
    if len(value) > _LABEL_VALUE_MAX:
        errs.append(f"must be no more than {_LABEL_VALUE_MAX} characters")
    if value and not _QUALIFIED_NAME.match(value):
        errs.append("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
                    "and must start and end with an alphanumeric character")
    return errs


# Operators as apimachinery's `selection` package spells them.
IN, NOT_IN, EQUALS, DOUBLE_EQUALS, NOT_EQUALS = "in", "notin", "=", "==", "!="
EXISTS, DOES_NOT_EXIST, GREATER_THAN, LESS_THAN = "exists", "!", "gt", "lt"
_BINARY = (IN, NOT_IN, EQUALS, DOUBLE_EQUALS, NOT_EQUALS, GREATER_THAN, LESS_THAN)


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str                                   # one of the operators above
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        """apimachinery's Requirement.Matches: `!=` and `notin` also match objects without the key."""
        op = self.op
        if op in (IN, EQUALS, DOUBLE_EQUALS):
            return self.key in labels and labels[self.key] in self.values
        if op in (NOT_IN, NOT_EQUALS):
            return self.key not in labels or labels[self.key] not in self.values
        if op == EXISTS:
            return self.key in labels
        if op == DOES_NOT_EXIST:
            return self.key not in labels
        got = labels.get(self.key)
        try:
            have, want = int(got), int(next(iter(self.values)))  # type: ignore[arg-type]
        except (TypeError, ValueError, StopIteration):
            return False
        return have > want if op == GREATER_THAN else have < want

    def __str__(self) -> str:
        vals = ",".join(sorted(self.values))
        if self.op == EXISTS:
            return self.key
        if self.op == DOES_NOT_EXIST:
            return f"!{self.key}"
        if self.op in (IN, NOT_IN):
            return f"{self.key} {self.op} ({vals})"
        return f"{self.key}{ {GREATER_THAN: '>', LESS_THAN: '<'}.get(self.op, self.op)}{vals}"


class LabelSelector:
    """A parsed selector: every requirement must match. An empty selector matches everything."""

    def __init__(self, requirements: list[Requirement] | tuple[Requirement, ...] = ()) -> None:
        self.requirements = tuple(requirements)

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        labels = labels or {}
        return all(r.matches(labels) for r in self.requirements)

    def __bool__(self) -> bool:
        return bool(self.requirements)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LabelSelector) and self.requirements == other.requirements

    def __hash__(self) -> int:
        return hash(self.requirements)

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)

    def __repr__(self) -> str:
        return f"LabelSelector({str(self)!r})"


# ----------------------------------------------------------------------------------------------- lexer
_END, _IDENT, _ERROR = "end", "ident", "error"
_TOKENS = {")": ")", ",": ",", "!": "!", "==": "==", "=": "=", ">": ">", "in": IN, "<": "<", "!=": "!=",
           "notin": NOT_IN, "(": "("}
_SPECIAL = frozenset("=!(),><")
_SPACE = frozenset(" \t\r\n")


def _lex(s: str) -> list[tuple[str, str]]:
    """(token, literal) pairs ending with the end token; operators longest first, as the Go lexer scans."""
    out: list[tuple[str, str]] = []
    i, n = 0, len(s)
    while True:
        while i < n and s[i] in _SPACE:
            i += 1
        if i >= n:
            out.append((_END, ""))
            return out
        if s[i] in _SPECIAL:
            buf, last = "", None
            while i < n and s[i] in _SPECIAL:
                cand = buf + s[i]
                if cand in _TOKENS:
                    buf, last = cand, _TOKENS[cand]
                    i += 1
                elif last is not None:
                    break
                else:
                    buf = cand
                    i += 1
            if last is None:
                out.append((_ERROR, f"error expected: keyword found '{buf}'"))
            else:
                out.append((last, buf))
            continue
        j = i
        while j < n and s[j] not in _SPECIAL and s[j] not in _SPACE:
            j += 1
        word = s[i:j]
        i = j
        out.append((_TOKENS[word], word) if word in ("in", "notin") else (_IDENT, word))


class _Parser:
    def __init__(self, text: str) -> None:
        self.items = _lex(text)
        self.pos = 0

    def _look(self, values: bool = True) -> tuple[str, str]:
        tok, lit = self.items[self.pos]
        if values and tok in (IN, NOT_IN):  # `in`/`notin` are plain words where a value may stand
            tok = _IDENT
        return tok, lit

    def _take(self, values: bool = True) -> tuple[str, str]:
        item = self._look(values)
        self.pos += 1
        return item

    def parse(self) -> list[Requirement]:
        reqs: list[Requirement] = []
        while True:
            tok, lit = self._look()
            if tok in (_IDENT, "!"):
                try:
                    reqs.append(self._requirement())
                except SelectorError as e:
                    raise SelectorError(f"unable to parse requirement: {e}") from None
                t, l = self._take()
                if t == _END:
                    return reqs
                if t == ",":
                    t2, l2 = self._look()
                    if t2 not in (_IDENT, "!"):
                        raise SelectorError(f"found '{l2}', expected: identifier after ','")
                    continue
                raise SelectorError(f"found '{l}', expected: ',' or 'end of string'")
            if tok == _END:
                return reqs
            raise SelectorError(f"found '{lit}', expected: !, identifier, or 'end of string'")

    def _requirement(self) -> Requirement:
        op = ""
        tok, lit = self._take()
        if tok == "!":
            op = DOES_NOT_EXIST
            tok, lit = self._take()
        if tok != _IDENT:
            raise SelectorError(f"found '{lit}', expected: identifier")
        key = lit
        errs = label_key_problems(key)
        if errs:
            raise SelectorError(f'Invalid value: "{key}": ' + "; ".join(errs))
        if op == DOES_NOT_EXIST or self._look()[0] in (_END, ","):  # `!key` takes nothing after it
            return _requirement(key, op or EXISTS, [])
        t, l = self._take(values=False)
        binop = {IN: IN, NOT_IN: NOT_IN, "=": EQUALS, "==": DOUBLE_EQUALS, "!=": NOT_EQUALS, ">": GREATER_THAN,
                 "<": LESS_THAN}.get(t)
        if binop is None:
            raise SelectorError(f"found '{l}', expected: {', '.join(_BINARY)}")
        values = self._set() if binop in (IN, NOT_IN) else self._exact()
        return _requirement(key, binop, values)

    def _set(self) -> list[str]:
        tok, lit = self._take()
        if tok != "(":
            raise SelectorError(f"found '{lit}' expected: '('")
        tok, lit = self._look()
        if tok == ")":
            self._take()
            return [""]
        if tok not in (_IDENT, ","):
            raise SelectorError(f"found '{lit}', expected: ',', ')' or identifier")
        vals: list[str] = []
        while True:
            t, l = self._take()
            if t == _IDENT:
                vals.append(l)
                t2, l2 = self._look()
                if t2 == ",":
                    continue
                if t2 == ")":
                    break
                raise SelectorError(f"found '{l2}', expected: ',' or ')'")
            if t == ",":
                if not vals:
                    vals.append("")
                t2, _ = self._look()
                if t2 == ")":
                    vals.append("")
                    break
                if t2 == ",":
                    vals.append("")
                continue
            raise SelectorError(f"found '{l}', expected: ',', or identifier")
        t, _ = self._take()
        if t != ")":
            raise SelectorError(f"found '{lit}', expected: ')'")
        return vals

    def _exact(self) -> list[str]:
        tok, lit = self._look()
        if tok in (_END, ","):
            return [""]
        tok, lit = self._take()
        if tok == _IDENT:
            return [lit]
        raise SelectorError(f"found '{lit}', expected: identifier")


def _requirement(key: str, op: str, values: list[str]) -> Requirement:
    """apimachinery's NewRequirement: the value count per operator and every value's validity."""
    errs: list[str] = []
    if op in (GREATER_THAN, LESS_THAN):
        for v in values:
            try:
                int(v)
            except ValueError:
                errs.append(f'Invalid value: "{v}": ' + "for 'Gt', 'Lt' operators, the value must be an integer")
    for v in values:
        problems = label_value_problems(v)
        if problems:
            errs.append(f'Invalid value: "{v}": ' + "; ".join(problems))
    if errs:
        raise SelectorError(", ".join(errs) if len(errs) == 1 else "[" + ", ".join(errs) + "]")
    return Requirement(key, op, frozenset(values))


def parse_label_selector(text: str | None) -> LabelSelector:
    """Parse `a=b,c!=d,e in (f,g),!h,i` (requirements sorted by key, as apimachinery keeps them).

    Raises SelectorError (a ValueError) with apimachinery's message for anything the apiserver would refuse.
    """
    if text is None or not text.strip():
        return LabelSelector()
    reqs = _Parser(text).parse()
    return LabelSelector(sorted(reqs, key=lambda r: r.key))


_MATCH_OPS = {"In": IN, "NotIn": NOT_IN, "Exists": EXISTS, "DoesNotExist": DOES_NOT_EXIST}


def selector_from_match(sel: dict[str, Any] | None) -> LabelSelector:
    """A `metav1.LabelSelector` (matchLabels / matchExpressions) as a LabelSelector."""
    reqs: list[Requirement] = []
    if not sel:
        return LabelSelector(reqs)
    for k, v in (sel.get("matchLabels") or {}).items():
        reqs.append(Requirement(k, EQUALS, frozenset({str(v)})))
    for e in sel.get("matchExpressions") or []:
        op = _MATCH_OPS.get(e.get("operator", ""))
        if op is None:
            raise SelectorError(f"unknown matchExpressions operator {e.get('operator')!r}")
        reqs.append(Requirement(e["key"], op, frozenset(e.get("values") or ())))
    return LabelSelector(reqs)
