"""What an action will do, shown before it is sent, and what it did.

An `ActionPlan` is everything a confirmation dialog or the CLI prints: the manifest or diff, the problems
that block it, the permission verdict, the server's dry-run answer and the preemption preview. It is
plain data, so the keyboard dialogs and the command line render the same facts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from .permissions import ALLOWED, Verdict
from .preview import Preview

Obj = dict[str, Any]


@dataclass
class ActionPlan:
    action: str                           # submit | scale | preempt | delete
    target: str                           # "Deployment runai-team-a/llm-serve", or several, comma-separated
    namespace: str | None = None
    problems: list[str] = field(default_factory=list)    # each blocks the action; says what and why
    permission: Verdict = ALLOWED
    manifests: list[Obj] = field(default_factory=list)   # what submit creates
    diff: dict[str, Any] | None = None                    # what scale changes: {"field": [old, new]}
    dry_run: str | None = None                            # the server's dry-run verdict, in words
    preview: Preview | None = None
    destructive: bool = False
    confirm_phrase: str | None = None                     # text the operator must type to go ahead
    notes: list[str] = field(default_factory=list)        # worth knowing, does not block
    data: dict[str, Any] = field(default_factory=dict)    # what apply needs (targets, pods, resources)

    @property
    def ok(self) -> bool:
        """Nothing blocks it (a typed confirmation may still be needed)."""
        return not self.problems and self.permission.allowed

    def blockers(self) -> list[str]:
        return ([] if self.permission.allowed else [self.permission.reason]) + list(self.problems)

    def lines(self, with_manifests: bool = True) -> list[str]:
        out = [f"{self.action}: {self.target}"]
        if with_manifests and self.manifests:
            out.append("Manifests:")
            text = yaml.safe_dump_all(self.manifests, sort_keys=False, default_flow_style=False)
            out += ["  " + ln for ln in text.rstrip().splitlines()]
        if self.diff:
            out.append("Changes:")
            out += [f"  {k}: {old} -> {new}" for k, (old, new) in self.diff.items()]
        for n in self.notes:
            out.append(f"Note: {n}")
        if self.dry_run:
            out.append(f"Server dry run: {self.dry_run}")
        if self.preview is not None:
            out += self.preview.lines()
        for b in self.blockers():
            out.append(f"Refused: {b}")
        if self.confirm_phrase and self.ok:
            out.append(f"To go ahead, type: {self.confirm_phrase}")
        return out


@dataclass
class Outcome:
    """The result of applying a plan: ok or not, one line to show, the details behind it."""

    ok: bool
    message: str
    details: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)  # objects created, patched or deleted
