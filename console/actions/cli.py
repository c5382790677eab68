"""`gpuconsole submit | scale | preempt | delete`: the actions as one-shot verbs.

Each prints what it will do (manifests, changes, dry-run answer, preview) before sending, asks on a
terminal unless `--yes` (destructive verbs default to No; bulk and forced ones want the typed phrase),
and exits 0 when done, 1 when refused or failed (the reason on stderr), 2 on a usage error.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any, TextIO

VERBS = ("submit", "scale", "preempt", "delete")


def _ask(prompt: str) -> str:
    """Read one answer from the terminal (replaced in tests)."""
    return input(prompt)


def _isatty() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    p.add_argument("--dry-run", action="store_true", help="validate, dry-run on the server and preview; send nothing")
    for a in ("--context", "--kubeconfig"):
        p.add_argument(a, dest=a[2:], default=argparse.SUPPRESS, help=f"as the global {a}")
    p.add_argument("--readonly", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)


def add_parsers(sub: Any) -> None:
    """Register the four verbs on the top-level subparsers."""
    p = sub.add_parser("submit", help="submit an inference, training or build workload (form flags or -f FILE)")
    p.add_argument("type", nargs="?", choices=("inference", "training", "build"), help="workload type")
    p.add_argument("name", nargs="?", help="workload name (DNS-1123 label)")
    p.add_argument("-f", "--file", help="manifest YAML file to submit ('-' reads stdin)")
    p.add_argument("-p", "--project", help="project (leaf queue); its namespace receives the workload")
    p.add_argument("-i", "--image", help="container image")
    p.add_argument("--gpu", help="whole GPUs (2), a fraction (0.5) or GPU memory (20000Mi)")
    p.add_argument("--replicas", help="replicas (training: pods in parallel)")
    p.add_argument("--min-replicas", "--min", dest="min_replicas", help="inference: minimum replicas (autoscaled)")
    p.add_argument("--max-replicas", "--max", dest="max_replicas", help="inference: maximum replicas (autoscaled)")
    p.add_argument("--metric", choices=("concurrency", "throughput", "latency"),
                   help="inference: what the autoscaler scales on (a Knative Service where Knative is installed, "
                        "else a Deployment with an HPA)")
    p.add_argument("--metric-threshold", help="inference: the metric's target per replica (requests in flight, "
                                              "requests per second, or milliseconds)")
    p.add_argument("--port", help="container port; also creates a Service")
    p.add_argument("--priority", help="priority class (default: inference / train / build)")
    p.add_argument("--command", dest="container_command", nargs="+", metavar="ARG", help="container command")
    p.add_argument("--arg", dest="args", action="append", help="container argument (repeatable)")
    p.add_argument("--env", action="append", default=[], metavar="KEY=VALUE", help="environment (repeatable)")
    _common(p)
    p = sub.add_parser("scale", help="set replicas of a Deployment, ReplicaSet or StatefulSet: N, +N or -N; "
                                     "on an autoscaled workload, its --min / --max instead")
    p.add_argument("target", metavar="NS/NAME")
    p.add_argument("count", metavar="N|+N|-N", nargs="?")
    p.add_argument("--min-replicas", "--min", dest="min_replicas", help="autoscaled: new minimum replicas")
    p.add_argument("--max-replicas", "--max", dest="max_replicas", help="autoscaled: new maximum replicas")
    _common(p)
    p = sub.add_parser("preempt", help="evict a workload's running pods through the Eviction API")
    p.add_argument("target", metavar="NS/NAME")
    p.add_argument("--force", action="store_true", help="also a non-preemptible workload (asks for the typed phrase)")
    p.add_argument("--confirm", metavar="TEXT", help="the typed confirmation, for use without a terminal")
    _common(p)
    p = sub.add_parser("delete", help="delete workloads with their dependents")
    p.add_argument("targets", nargs="+", metavar="NS/NAME")
    p.add_argument("--confirm", metavar="TEXT", help="the typed confirmation (several targets), without a terminal")
    _common(p)


def run(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    verb = args.command
    from .errors import ActionError
    from .targets import UsageError
    from console.kube import config

    try:
        usage = _usage_problem(args)
        if usage:
            raise UsageError(usage)
        creds = config.load(getattr(args, "kubeconfig", None), getattr(args, "context", None))
        return asyncio.run(_run(args, creds, out, err))
    except UsageError as e:
        print(f"gpuconsole {verb}: {e}", file=err)
        return 2
    except config.ConfigError as e:
        print(f"gpuconsole {verb}: {e}", file=err)
        return 1
    except ActionError as e:
        for p in e.problems:
            print(f"gpuconsole {verb}: {p}", file=err)
        return 1
    except KeyboardInterrupt:
        print(f"gpuconsole {verb}: interrupted; nothing more was sent", file=err)
        return 1


def _usage_problem(args: argparse.Namespace) -> str | None:
    """What is wrong with how the verb was written (exit 2), before anything is read from the cluster."""
    from .scale import COUNT
    from .targets import UsageError, parse_ref

    if args.command != "submit":
        try:
            for t in ([args.target] if args.command != "delete" else args.targets):
                parse_ref(t)
        except UsageError as e:
            return str(e)
        if args.command == "scale" and args.count is not None and not COUNT.match(args.count):
            return f"replicas must be a whole number N, or a step +N / -N, got {args.count!r}"
        if args.command == "scale" and args.count is None and args.min_replicas is None \
                and args.max_replicas is None:
            return "give the replicas (N, +N or -N), or --min / --max for an autoscaled workload"
        return None
    if args.file and (args.type or args.name):
        return "give either -f FILE or TYPE NAME with flags, not both"
    if not args.file and not (args.type and args.name):
        return "give -f FILE, or TYPE (inference, training, build) and NAME"
    if args.file:
        extra = [f for f in ("image", "gpu", "replicas", "min_replicas", "max_replicas", "port", "priority",
                             "metric", "metric_threshold") if getattr(args, f) is not None]
        if extra:
            flags = ", --".join(e.replace("_replicas", "") for e in extra)
            return f"with -f FILE the manifest says it all; drop --{flags}"
    for item in args.env:
        if "=" not in item:
            return f"--env {item!r}: write KEY=VALUE"
    return None


async def _plan(session: Any, args: argparse.Namespace) -> Any:
    from .manifests import SubmitForm
    from .yaml_input import load_file

    if args.command == "submit":
        if args.file:
            docs = await asyncio.to_thread(load_file, args.file)
            return await session.plan_submit(manifests=docs, project=args.project)
        form = SubmitForm(args.type, args.name, args.project, args.image, args.gpu, args.replicas,
                          args.min_replicas, args.max_replicas, args.port, args.priority, args.container_command,
                          args.args, dict(item.split("=", 1) for item in args.env), metric=args.metric,
                          metric_threshold=args.metric_threshold)
        return await session.plan_submit(form)
    if args.command == "scale":
        return await session.plan_scale(args.target, args.count, args.min_replicas, args.max_replicas)
    if args.command == "preempt":
        return await session.plan_preempt(args.target, args.force)
    return await session.plan_delete(args.targets)


def where(creds: Any) -> str:
    """`context sim-admin (https://127.0.0.1:6443, user sim-admin, from k.yaml)`: what a verb acts on."""
    from console.kube.kubeconfig_merge import show_path

    bits = [creds.server]
    if creds.user:
        bits.append(f"user {creds.user}")
    if creds.source:
        bits.append(f"from {show_path(creds.source)}")
    if creds.tls != "verified":
        bits.append("TLS unverified" if creds.tls == "unverified" else "plain HTTP, unencrypted")
    return f"context {creds.context or '-'} ({', '.join(bits)})"


async def _run(args: argparse.Namespace, creds: Any, out: TextIO, err: TextIO) -> int:
    from console.kube.client import KubeClient

    from .session import ActionSession

    verb = args.command
    on = where(creds)
    print(f"On {on}", file=out)
    async with KubeClient(creds, max_retries=2, timeout=30.0) as client:
        session = ActionSession(client, readonly=bool(getattr(args, "readonly", False)))
        plan = await _plan(session, args)
        for line in plan.lines():
            if not line.startswith("Refused:") and not line.startswith("To go ahead"):
                print(line, file=out)
        if not plan.ok:
            await session.apply(plan)  # recorded as refused
            for b in plan.blockers():
                print(f"gpuconsole {verb}: refused: {b}", file=err)
            return 1
        if args.dry_run:
            await session.apply(plan, dry_run=True)
            print(f"dry run on {on}: nothing was sent", file=out)
            return 0
        confirm = None
        if plan.confirm_phrase:
            confirm = getattr(args, "confirm", None)
            if confirm is None:
                if not _isatty():
                    why = (f"needs the typed confirmation {plan.confirm_phrase!r}: not a terminal, so pass "
                           "--confirm with that text")
                    return await _refuse_async(session, plan, err, why)
                confirm = await asyncio.to_thread(_ask, f"On {on}: type {plan.confirm_phrase!r} to go ahead: ")
            if confirm.strip() != plan.confirm_phrase:
                return await _refused(session, plan, err, confirm)
        elif not args.yes:
            if not _isatty():
                what = "a destructive action" if plan.destructive else "changes to the cluster"
                return await _refuse_async(session, plan, err, f"{what} needs confirmation and this is not a "
                                                               "terminal; pass --yes to go ahead")
            default_yes = not plan.destructive
            answer = await asyncio.to_thread(_ask, f"{verb} {plan.target} on {on}? "
                                                   f"[{'Y/n' if default_yes else 'y/N'}] ")
            answer = answer.strip().lower()
            if not (answer in ("y", "yes") or (default_yes and answer == "")):
                return await _refuse_async(session, plan, err, "not confirmed; nothing was sent")
        outcome = await session.apply(plan, confirm=confirm)
        stream = out if outcome.ok else err
        print(("" if outcome.ok else f"gpuconsole {verb}: ") + outcome.message, file=stream)
        for d in outcome.details:
            if not outcome.ok or d.startswith("the audit log"):
                print(f"  {d}", file=stream)
        return 0 if outcome.ok else 1


async def _refuse_async(session: Any, plan: Any, err: TextIO, why: str) -> int:
    from .plan import Outcome
    print(f"gpuconsole {plan.action}: {why}", file=err)
    session.record(plan, Outcome(False, f"{plan.action} not confirmed: {why}"), False)
    return 1


async def _refused(session: Any, plan: Any, err: TextIO, typed: str) -> int:
    outcome = await session.apply(plan, confirm=typed)
    print(f"gpuconsole {plan.action}: {outcome.message}", file=err)
    return 1
