"""Shell completion for bash, zsh and fish, through argcomplete.

`gpuconsole completion SHELL` prints argcomplete's script for that shell; the script calls `gpuconsole` back
with `_ARGCOMPLETE` set, and `main` answers from the very parser it runs with (subcommands, flags, choices),
plus the completers below for values only a kubeconfig or the cluster knows: contexts (from the kubeconfig),
namespaces and projects (a quick list from the cluster, two seconds at most, nothing when it does not answer).
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable, Iterable
from typing import Any

SHELLS = ("bash", "zsh", "fish")
CLUSTER_TIMEOUT_S = 2.0


def script(shell: str) -> str:
    """The completion script for `shell` (argcomplete's own shellcode, registered for `gpuconsole`)."""
    import argcomplete

    return argcomplete.shellcode(["gpuconsole"], shell=shell)


def _kube_args(parsed: argparse.Namespace) -> tuple[str | None, str | None]:
    return getattr(parsed, "kubeconfig", None), getattr(parsed, "context", None)


def contexts(prefix: str, parsed_args: argparse.Namespace, **_: Any) -> list[str]:
    from console.kube import config

    try:
        names, _current = config.list_contexts(_kube_args(parsed_args)[0])
    except Exception:  # no kubeconfig, a broken one: nothing to offer, never a traceback on the prompt
        return []
    return [n for n in names if n.startswith(prefix)]


def _names_from_cluster(parsed: argparse.Namespace, what: str) -> list[str]:
    """Names of namespaces or queues, listed with the context's credentials; [] on any failure or delay."""
    from console.kube import client as k, config
    from console.kube.client import KubeClient

    res = {"namespaces": k.NAMESPACES, "projects": k.QUEUES}[what]

    async def names() -> list[str]:
        kubeconfig, context = _kube_args(parsed)
        creds = await asyncio.to_thread(config.load, kubeconfig, context)
        async with KubeClient(creds, timeout=CLUSTER_TIMEOUT_S, max_retries=0) as client:
            items, _ = await client.list(res)
        return sorted(str((o.get("metadata") or {}).get("name", "")) for o in items)

    async def bounded() -> list[str]:
        return await asyncio.wait_for(names(), CLUSTER_TIMEOUT_S)

    try:
        return asyncio.run(bounded())
    except BaseException:  # unreachable, forbidden, slow, no credentials: complete nothing, silently
        return []


def namespaces(prefix: str, parsed_args: argparse.Namespace, **_: Any) -> list[str]:
    return [n for n in _names_from_cluster(parsed_args, "namespaces") if n.startswith(prefix)]


def projects(prefix: str, parsed_args: argparse.Namespace, **_: Any) -> list[str]:
    return [n for n in _names_from_cluster(parsed_args, "projects") if n.startswith(prefix)]


def themes(prefix: str, **_: Any) -> list[str]:
    import themes as console_themes
    from textual.theme import BUILTIN_THEMES

    return [t for t in (*console_themes.THEME_NAMES, *sorted(BUILTIN_THEMES)) if t.startswith(prefix)]


COMPLETERS: dict[str, Callable[..., list[str]]] = {
    "context": contexts, "namespace": namespaces, "project": projects, "theme": themes,
}


def _parsers(parser: argparse.ArgumentParser) -> Iterable[argparse.ArgumentParser]:
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                yield from _parsers(sub)


def attach(parser: argparse.ArgumentParser) -> None:
    """Give every `--context`, `-n/--namespace`, `--project`/`-p` and `--theme` its completer."""
    for p in _parsers(parser):
        for action in p._actions:
            fn = COMPLETERS.get(action.dest)
            if fn is not None and action.option_strings:
                action.completer = fn  # type: ignore[attr-defined]


def complete(parser: argparse.ArgumentParser) -> None:
    """When the shell asks (`_ARGCOMPLETE` set), print the completions and exit; otherwise return."""
    import argcomplete

    attach(parser)
    argcomplete.autocomplete(parser)
