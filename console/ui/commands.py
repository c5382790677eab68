"""`:` commands (k9s grammar) and the command palette's entries."""

from __future__ import annotations

from dataclasses import dataclass

from textual.command import DiscoveryHit, Hit, Hits, Provider

from .host import PaletteEntry, PaletteSource

VIEW_ALIASES = {
    "projects": "projects", "project": "projects", "pj": "projects", "queues": "projects",
    "gpus": "gpus", "gpu": "gpus",
    "workloads": "workloads", "workload": "workloads", "wl": "workloads", "pods": "workloads", "po": "workloads",
    "nodes": "nodes", "node": "nodes", "no": "nodes",
    "events": "events", "event": "events", "ev": "events",
    "local": "local", "lo": "local", "host": "local", "nvml": "local", "smi": "local",
    "inference": "inference", "inf": "inference", "serving": "inference", "slo": "inference",
}
COMMANDS = ("projects", "gpus", "workloads", "nodes", "events", "local", "inference", "ns", "project", "ctx", "theme",
            "help", "quit")
ALL = "all"  # `:ns all`, `:project all`: the scope is lifted


@dataclass(frozen=True)
class Command:
    verb: str          # view | ns | project | ctx | theme | help | quit
    arg: str = ""


class CommandError(ValueError):
    pass


def parse_command(text: str) -> Command:
    """`gpus`, `:nodes`, `ns runai-a`, `ns all`, `project vision`, `ctx prod`, `theme gpuconsole-light`, `q`.
    Raises CommandError saying what is wrong."""
    words = text.strip().lstrip(":").split()
    if not words:
        raise CommandError("empty command; try :projects, :gpus, :workloads, :nodes, :events, :local, :inference or :ctx")
    head, rest = words[0].lower(), words[1:]
    if head in ("q", "q!", "quit", "exit"):
        return Command("quit")
    if head in ("help", "?", "h"):
        return Command("help")
    if head in ("ctx", "context", "contexts"):
        return Command("ctx", rest[0] if rest else "")
    if head in ("theme", "themes"):
        return Command("theme", rest[0] if rest else "")
    if head in ("ns", "namespace", "namespaces"):  # k9s: `:ns NAME` narrows every pane, `:ns all` lifts it
        if len(rest) > 1:
            raise CommandError(f":{head} takes one namespace (or all), got {' '.join(rest)!r}")
        return Command("ns", rest[0] if rest else "")
    if head == "project" and rest:  # `:project NAME` narrows; a bare `:project` is the Projects view
        if len(rest) > 1:
            raise CommandError(f":project takes one project (or all), got {' '.join(rest)!r}")
        return Command("project", rest[0])
    view = VIEW_ALIASES.get(head)
    if view is None:
        raise CommandError(f"unknown command {head!r}; try :projects, :gpus, :workloads, :nodes, :events, :local, "
                           ":inference, :ctx")
    if rest:
        return Command("view", view + " " + " ".join(rest))
    return Command("view", view)


def completions(prefix: str, contexts: list[str], themes: list[str], namespaces: list[str] | None = None,
                projects: list[str] | None = None) -> list[str]:
    """Whole commands that start with what is typed (context, theme, namespace and project names after
    `ctx `, `theme `, `ns ` and `project `)."""
    p = prefix.lstrip(":")
    low = p.lower()
    for verb, names in (("ctx", contexts), ("theme", themes), ("ns", [ALL, *(namespaces or [])]),
                        ("project", [ALL, *(projects or [])])):
        if low.startswith(verb + " "):
            return [f"{verb} {n}" for n in names if n.startswith(p[len(verb) + 1:])]
    return [c for c in COMMANDS if c.startswith(low)]


class ConsoleCommands(Provider):
    """Every view and action of the console, for ctrl+p (the App says what they are)."""

    def _entries(self) -> list[PaletteEntry]:
        source: PaletteSource = self.app  # type: ignore[assignment]
        return source.palette_entries()

    async def discover(self) -> Hits:
        for name, desc, action in self._entries():
            yield DiscoveryHit(name, action, help=desc)  # type: ignore[arg-type]

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, desc, action in self._entries():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), action, help=desc)  # type: ignore[arg-type]
