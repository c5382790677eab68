"""Label and field selectors with the apiserver's grammar (`=`, `==`, `!=`, `in`, `notin`, exists, `!`)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_SET_RE = re.compile(r"^\s*(!?)\s*([A-Za-z0-9_./-]+)\s*(?:(notin|in)\s*\(([^)]*)\))?\s*$")


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!"
    values: frozenset[str] = frozenset()

    def matches(self, labels: dict[str, str]) -> bool:
        if self.op == "exists":
            return self.key in labels
        if self.op == "!":
            return self.key not in labels
        if self.op in ("=", "in"):
            return self.key in labels and labels[self.key] in self.values
        # "!=" and "notin" match objects without the key, as Kubernetes does.
        return self.key not in labels or labels[self.key] not in self.values


def _split_top(s: str) -> list[str]:
    """Split on commas that are not inside parentheses."""
    out, depth, cur = [], 0, []
    for ch in s:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if depth != 0:
        raise ValueError(f"unbalanced parentheses in selector {s!r}")
    out.append("".join(cur))
    return out


class LabelSelector:
    """A parsed label selector; an empty selector matches everything."""

    def __init__(self, requirements: list[Requirement]) -> None:
        self.requirements = requirements

    def matches(self, labels: dict[str, str] | None) -> bool:
        labels = labels or {}
        return all(r.matches(labels) for r in self.requirements)

    def __bool__(self) -> bool:
        return bool(self.requirements)


def parse_label_selector(text: str | None) -> LabelSelector:
    """Parse `a=b,c!=d,e in (f,g),!h,i`; raises ValueError with the offending term."""
    reqs: list[Requirement] = []
    if not text or not text.strip():
        return LabelSelector(reqs)
    for term in _split_top(text):
        term = term.strip()
        if not term:
            raise ValueError(f"empty term in label selector {text!r}")
        m = re.match(r"^([A-Za-z0-9_./-]+)\s*(==|=|!=)\s*([A-Za-z0-9_.-]*)$", term)
        if m:
            op = "!=" if m.group(2) == "!=" else "="
            reqs.append(Requirement(m.group(1), op, frozenset({m.group(3)})))
            continue
        m = _SET_RE.match(term)
        if not m:
            raise ValueError(f"unable to parse requirement {term!r} in label selector {text!r}")
        neg, key, setop, vals = m.groups()
        if setop:
            if neg:
                raise ValueError(f"unable to parse requirement {term!r}: '!' cannot be combined with {setop}")
            values = frozenset(v.strip() for v in vals.split(",") if v.strip())
            if not values:
                raise ValueError(f"for '{setop}' operator, the values set can't be empty: {term!r}")
            reqs.append(Requirement(key, setop, values))
        else:
            reqs.append(Requirement(key, "!" if neg else "exists"))
    return LabelSelector(reqs)


def selector_from_match(sel: dict[str, Any] | None) -> LabelSelector:
    """A `metav1.LabelSelector` dict (matchLabels / matchExpressions) as a LabelSelector."""
    reqs: list[Requirement] = []
    if not sel:
        return LabelSelector(reqs)
    for k, v in (sel.get("matchLabels") or {}).items():
        reqs.append(Requirement(k, "=", frozenset({str(v)})))
    for e in sel.get("matchExpressions") or []:
        op = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}.get(e.get("operator", ""))
        if op is None:
            raise ValueError(f"unknown matchExpressions operator {e.get('operator')!r}")
        reqs.append(Requirement(e["key"], op, frozenset(e.get("values") or ())))
    return LabelSelector(reqs)


def get_path(obj: dict[str, Any], path: str) -> Any:
    cur: Any = obj
    for part in path.split("."):
        if not isinstance(cur, dict):
            return None
        cur = cur.get(part)
    return cur


class FieldSelector:
    """Field selector over dotted paths; missing fields compare as the empty string."""

    def __init__(self, terms: list[tuple[str, bool, str]]) -> None:
        self.terms = terms  # (path, equal, value)

    def matches(self, obj: dict[str, Any]) -> bool:
        for path, equal, value in self.terms:
            got = get_path(obj, path)
            got_s = "" if got is None else (str(got).lower() if isinstance(got, bool) else str(got))
            if (got_s == value) != equal:
                return False
        return True

    def __bool__(self) -> bool:
        return bool(self.terms)


SUPPORTED_FIELDS: dict[str, tuple[str, ...]] = {
    "*": ("metadata.name", "metadata.namespace"),
    "pods": ("spec.nodeName", "status.phase", "spec.schedulerName", "spec.restartPolicy",
             "spec.serviceAccountName", "status.podIP", "status.nominatedNodeName"),
    "events": ("involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
               "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath",
               "reason", "reportingComponent", "source", "type"),
    "nodes": ("spec.unschedulable",),
    "namespaces": ("status.phase",),
}


def parse_field_selector(text: str | None, resource: str = "*") -> FieldSelector:
    """Parse `a=b,c!=d`; a field the resource does not index gives ValueError, as the apiserver does."""
    terms: list[tuple[str, bool, str]] = []
    if not text or not text.strip():
        return FieldSelector(terms)
    allowed = SUPPORTED_FIELDS["*"] + SUPPORTED_FIELDS.get(resource, ())
    for term in text.split(","):
        term = term.strip()
        m = re.match(r"^([A-Za-z0-9_.]+)\s*(==|=|!=)\s*(.*)$", term)
        if not m:
            raise ValueError(f"invalid field selector term {term!r}")
        path, op, value = m.groups()
        if path not in allowed and resource != "*":
            raise ValueError(f'field label not supported: {path}')
        if path == "source" and resource == "events":
            path = "source.component"
        terms.append((path, op != "!=", value))
    return FieldSelector(terms)


Matcher = Callable[[dict[str, Any]], bool]
