"""Text for `d` (describe) and `y` (YAML) of an object fetched fresh from the API."""

from __future__ import annotations

from typing import Any

import yaml

from console.model.events import EventRow

from .panes.base import age


def clean(obj: dict[str, Any]) -> dict[str, Any]:
    """The object without managedFields, which nobody reads in a terminal."""
    out = dict(obj)
    md = dict(out.get("metadata") or {})
    md.pop("managedFields", None)
    out["metadata"] = md
    return out


def yaml_text(obj: dict[str, Any]) -> str:
    return yaml.safe_dump(clean(obj), sort_keys=False, default_flow_style=False, allow_unicode=True)


def _kv(d: Any, indent: str = "  ") -> list[str]:
    if not d:
        return [f"{indent}<none>"]
    return [f"{indent}{k}={v}" for k, v in sorted(d.items())]


def describe_text(obj: dict[str, Any], events: list[EventRow], now: float) -> str:
    """A kubectl-describe-like summary: identity, labels, owners, spec and status, conditions, events."""
    md = obj.get("metadata") or {}
    lines = [f"Name:         {md.get('name', '')}"]
    if md.get("namespace"):
        lines.append(f"Namespace:    {md['namespace']}")
    lines.append(f"Kind:         {obj.get('kind', '')} ({obj.get('apiVersion', '')})")
    lines.append(f"Created:      {md.get('creationTimestamp', '-')}")
    lines.append("Labels:")
    lines += _kv(md.get("labels"), "  ")
    lines.append("Annotations:")
    lines += _kv(md.get("annotations"), "  ")
    owners = md.get("ownerReferences") or []
    if owners:
        lines.append("Controlled by: " + ", ".join(f"{o.get('kind')}/{o.get('name')}" for o in owners))
    for part in ("spec", "status"):
        body = obj.get(part)
        if not body:
            continue
        body = dict(body)
        conds = body.pop("conditions", None) if part == "status" else None
        lines.append(f"{part.capitalize()}:")
        dumped = yaml.safe_dump(body, sort_keys=False, default_flow_style=False, allow_unicode=True).rstrip()
        lines += ["  " + ln for ln in dumped.splitlines()]
        if conds:
            lines.append("Conditions:")
            lines.append(f"  {'TYPE':<24} {'STATUS':<7} {'REASON':<24} MESSAGE")
            for c in conds:
                lines.append(f"  {str(c.get('type', '')):<24} {str(c.get('status', '')):<7} "
                             f"{str(c.get('reason', '')):<24} {c.get('message', '')}")
    lines.append("Events:")
    if not events:
        lines.append("  <none in the console's buffer>")
    for e in events[:50]:
        lines.append(f"  {age(e.last, now):>5}  {e.type:<8} {e.reason:<18} {e.message}")
    return "\n".join(lines)
