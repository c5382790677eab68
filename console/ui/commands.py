"""`:` commands (k9s grammar) and the command palette's entries."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Hits, Provider

if TYPE_CHECKING:
    from console.app import ClusterConsole

VIEW_ALIASES = {
    "projects": "projects", "project": "projects", "pj": "projects", "queues": "projects",
    "gpus": "gpus", "gpu": "gpus",
    "workloads": "workloads", "workload": "workloads", "wl": "workloads", "pods": "workloads", "po": "workloads",
    "nodes": "nodes", "node": "nodes", "no": "nodes",
    "events": "events", "event": "events", "ev": "events",
}
COMMANDS = ("projects", "gpus", "workloads", "nodes", "events", "ctx", "theme", "help", "quit")


@dataclass(frozen=True)
class Command:
    verb: str          # view | ctx | theme | help | quit
    arg: str = ""


class CommandError(ValueError):
    pass


def parse_command(text: str) -> Command:
    """`gpus`, `:nodes`, `ctx prod`, `theme gpuconsole-light`, `q`. Raises CommandError saying what is wrong."""
    words = text.strip().lstrip(":").split()
    if not words:
        raise CommandError("empty command; try :projects, :gpus, :workloads, :nodes, :events or :ctx")
    head, rest = words[0].lower(), words[1:]
    if head in ("q", "q!", "quit", "exit"):
        return Command("quit")
    if head in ("help", "?", "h"):
        return Command("help")
    if head in ("ctx", "context", "contexts"):
        return Command("ctx", rest[0] if rest else "")
    if head in ("theme", "themes"):
        return Command("theme", rest[0] if rest else "")
    view = VIEW_ALIASES.get(head)
    if view is None:
        raise CommandError(f"unknown command {head!r}; try :projects, :gpus, :workloads, :nodes, :events, :ctx")
    if rest:
        return Command("view", view + " " + " ".join(rest))
    return Command("view", view)


def completions(prefix: str, contexts: list[str], themes: list[str]) -> list[str]:
    """Whole commands that start with what is typed (context and theme names after `ctx ` / `theme `)."""
    p = prefix.lstrip(":")
    low = p.lower()
    if low.startswith("ctx "):
        return [f"ctx {c}" for c in contexts if c.startswith(p[4:])]
    if low.startswith("theme "):
        return [f"theme {t}" for t in themes if t.startswith(p[6:])]
    return [c for c in COMMANDS if c.startswith(low)]


class ConsoleCommands(Provider):
    """Every view and action of the console, for ctrl+p."""

    def _entries(self) -> list[tuple[str, str, object]]:
        app: ClusterConsole = self.app  # type: ignore[assignment]
        out: list[tuple[str, str, object]] = []
        for v in ("projects", "gpus", "workloads", "nodes", "events"):
            out.append((f"View: {v}", f"show the {v} pane", partial(app.show_view, v)))
        for name, desc, action in (
            ("Describe selected row", "kubectl-describe-like text, fetched fresh", app.action_describe),
            ("YAML of selected row", "the object as YAML, fetched fresh", app.action_yaml),
            ("Logs of selected pod", "follow the pod's log", app.action_logs),
            ("Events of selected row", "the events about this object", app.action_events),
            ("Drill in", "project → workloads, node → GPUs, workload → pods", app.action_drill),
            ("Back", "leave the drill-down", app.action_back),
            ("Filter", "type a filter for this pane", app.action_filter),
            ("Command", "type a : command", app.action_command),
            ("Sort by next column", "cycle the sort column", app.action_sort_next),
            ("Reverse sort", "flip the sort order", app.action_sort_reverse),
            ("Switch context", "choose a kubeconfig context", partial(app.open_prompt, ":", "ctx ")),
            ("Retry connection", "reconnect now", app.action_retry),
            ("Help", "every key", app.action_help),
        ):
            out.append((name, desc, action))
        for name, act, desc, fn in (
            ("Submit a workload", "submit", "form or YAML; shows manifest, dry run and KAI preview", app.action_submit),
            ("Scale selected workload", "scale", "set replicas (+/- step); preview before sending", app.action_scale),
            ("Preempt selected workload", "preempt", "evict its pods through the Eviction API", app.action_preempt),
            ("Delete selected or marked workloads", "delete", "with dependents; marked rows need a typed phrase",
             app.action_delete),
        ):
            why = app.actions.reason(act)
            out.append((name, f"disabled: {why}" if why else desc, fn))
        out.append(("Mark row for bulk delete", "toggle the mark on the workload under the cursor", app.action_mark))
        return out

    async def discover(self) -> Hits:
        for name, desc, action in self._entries():
            yield DiscoveryHit(name, action, help=desc)  # type: ignore[arg-type]

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, desc, action in self._entries():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), action, help=desc)  # type: ignore[arg-type]
