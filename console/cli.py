"""The `gpuconsole` command: the console, the simulated cluster, and one-shot verbs.

Subcommands import their layers lazily so `gpuconsole sim` never loads Textual and `--help` is instant.
Exit codes: 0 ok, 1 refused or failed (reason on stderr), 2 usage error.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence


def _add_sim_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1", help="address to bind (loopback only by default)")
    p.add_argument("--port", type=int, default=0, help="port to serve on; 0 picks a free one")
    p.add_argument("--scenario", default="demo", help="demo, large, or a path to a scenario YAML file")
    p.add_argument("--seed", type=int, default=42, help="random seed; the same seed gives the same cluster")
    p.add_argument("--kubeconfig-out", metavar="FILE", help="write a kubeconfig with sim-admin, sim-viewer, "
                   "one sim-<project> and sim-researcher-<project> context per project, and sim-cert (a client "
                   "certificate user)")
    p.add_argument("--plain-http", action="store_true", help="serve plain HTTP instead of HTTPS, for debugging "
                   "(tokens then ride in the kubeconfig's server URLs, since kubectl sends none over HTTP)")
    p.add_argument("--exit-with-parent", action="store_true", help="stop when the process that started the "
                   "simulator exits (used by --demo, so no simulator outlives its console)")
    p.add_argument("--static", action="store_true", help="do not run the demo's moving load (jobs arriving, "
                   "inference scaling)")
    knobs = p.add_argument_group("large scenario knobs")
    knobs.add_argument("--nodes", type=int, help="GPU nodes (large: 2000)")
    knobs.add_argument("--gpus-per-node", type=int, help="GPUs per node (large: 8)")
    knobs.add_argument("--pods", type=int, help="pods (large: 60000)")
    knobs.add_argument("--queues", type=int, help="queues (large: 500)")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="gpuconsole",
        description="Terminal console for GPU Kubernetes clusters run the Run:ai / KAI Scheduler way.",
    )
    from console.version import version

    p.add_argument("--version", action="version", version=f"gpuconsole {version()}")
    p.add_argument("--context", help="kubeconfig context (default: the current one)")
    p.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
    p.add_argument("--readonly", action="store_true", help="disable every action that changes the cluster")
    p.add_argument("--theme", help="colour theme")
    p.add_argument("--demo", action="store_true", help="run on the built-in simulated cluster")
    p.add_argument("--local", action="store_true", help="no cluster: only this machine's GPUs through NVML "
                   "(the Local pane)")
    p.add_argument("--demo-scenario", default="demo", metavar="NAME",
                   help="scenario for --demo: demo (default), large, or a scenario YAML file")
    p.add_argument("--config", metavar="FILE", help="config file (default: $XDG_CONFIG_HOME/gpuconsole/config.yaml)")
    p.add_argument("--log-file", metavar="FILE", help="log file (default: $XDG_STATE_HOME/gpuconsole/gpuconsole.log; "
                   "level from GPUCONSOLE_LOG: debug, info, warning, error)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sim = sub.add_parser("sim", help="serve the simulated GPU cluster (a Kubernetes API on 127.0.0.1)")
    _add_sim_args(sim)
    snap = sub.add_parser("snapshot", help="sync once and print projects, GPUs, workloads and nodes")
    from console.actions.cli import add_parsers as add_action_parsers, add_scope_args
    from console.snapshot_format import OUTPUTS, VIEWS

    snap.add_argument("-o", "--output", choices=OUTPUTS, default="table",
                      help="table (plain text), wide (with GPU telemetry columns), json or yaml")
    snap.add_argument("--view", choices=(*VIEWS, "local", "all"), default="all",
                      help="local: this machine's GPUs and their processes through NVML, mapped to pods "
                           "(works without a cluster)")
    add_scope_args(snap, namespace_default="every namespace")
    snap.add_argument("-w", "--watch", nargs="?", type=float, const=2.0, metavar="SECONDS",
                      help="print again every SECONDS (2 when not given), in place on a terminal; the informers "
                           "stay open between prints; JSON is one document per line")
    snap.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for the first sync")
    snap.add_argument("--page-size", type=int, default=1000, metavar="N",
                      help="items per list request (kubectl's --chunk-size); default 1000")
    snap.add_argument("--serving-interval", type=float, default=5.0, metavar="S",
                      help="seconds between the two scrapes of inference pods that serving rates need "
                           "(default 5; 0: no serving figures)")
    for a in ("--context", "--kubeconfig", "--log-file"):
        snap.add_argument(a, dest=a[2:].replace("-", "_"), default=argparse.SUPPRESS, help=argparse.SUPPRESS)

    add_action_parsers(sub)
    from console.completion import SHELLS

    comp = sub.add_parser("completion", help="print the shell completion script: bash, zsh or fish",
                          description="Print the completion script for SHELL. bash: "
                          "`source <(gpuconsole completion bash)` in ~/.bashrc; zsh: `source <(gpuconsole completion "
                          "zsh)` in ~/.zshrc; fish: `gpuconsole completion fish > "
                          "~/.config/fish/completions/gpuconsole.fish`.")
    comp.add_argument("shell", choices=SHELLS, metavar="SHELL", help="bash, zsh or fish")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    if "_ARGCOMPLETE" in os.environ:  # the shell asks for completions: answer and exit
        from console.completion import complete

        complete(parser)
    args = parser.parse_args(argv)
    if args.command == "completion":
        from console.completion import script

        print(script(args.shell), end="")
        return 0
    if args.command != "sim":  # the simulator logs to stderr (the demo keeps that in demo-sim.log)
        from console import logs

        try:
            path = logs.setup(args.log_file)
        except logs.LogLevelError as e:
            print(f"gpuconsole: {e}", file=sys.stderr)
            return 2
        from console.version import version

        logging.getLogger("gpuconsole").info("gpuconsole %s: %s (log %s)", version(),
                                             args.command or ("--demo" if args.demo else "console"), path)
    if args.command == "sim":
        from console.sim.main import run_sim

        return run_sim(args)
    if args.command == "snapshot":
        from console.snapshot_cmd import run

        return run(args)
    if args.command in ("submit", "scale", "preempt", "delete"):
        from console.actions.cli import run as run_action

        return run_action(args)
    if args.demo:
        from console.demo import run as run_demo  # starts the simulator as a child, then the console

        return run_demo(args)
    from console.launch import run_console

    return run_console(args, kubeconfig=args.kubeconfig, context=args.context)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
