"""Field selectors with the apiserver's grammar; label selectors come from `console.kube.selectors`."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

# Label selectors: the one parser every layer shares (apimachinery's grammar and validation).
from console.kube.selectors import (  # noqa: F401  (re-exported for the simulator's modules)
    LabelSelector, Requirement, SelectorError, parse_label_selector, selector_from_match,
)


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
