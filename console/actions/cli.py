"""`gpuconsole submit | scale | preempt | delete`: the actions as one-shot verbs.

Each prints what it will do (manifests, changes, dry-run answer, preview) before sending, asks on a
terminal unless `--yes` (destructive verbs default to No; bulk and forced ones want the typed phrase),
and exits 0 when done, 1 when refused or failed (the reason on stderr), 2 on a usage error.

Targets are read as kubectl reads them (see selection.py): `-n NS` (default: the context's namespace),
`--project P` (its namespace), `-l SELECTOR` with `-A` for every namespace.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from typing import Any, TextIO

VERBS = ("submit", "scale", "preempt", "delete")
log = logging.getLogger("gpuconsole.actions")


def _ask(prompt: str) -> str:
    """Read one answer from the terminal (replaced in tests)."""
    return input(prompt)


def _isatty() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    p.add_argument("--dry-run", action="store_true", help="validate, dry-run on the server and preview; send nothing")
    for a in ("--context", "--kubeconfig", "--log-file"):
        p.add_argument(a, dest=a[2:].replace("-", "_"), default=argparse.SUPPRESS, help=f"as the global {a}")
    p.add_argument("--readonly", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)


def add_scope_args(p: argparse.ArgumentParser, *, namespace_default: str, selector: bool = True,
                   all_namespaces: bool = True, project: bool = True) -> None:
    """`-n/--namespace`, `-A/--all-namespaces`, `-l/--selector` and `--project`, as kubectl and runai spell them."""
    p.add_argument("-n", "--namespace", metavar="NS", help=f"namespace (default: {namespace_default})")
    if all_namespaces:
        p.add_argument("-A", "--all-namespaces", action="store_true",
                       help="every namespace (wins over -n, as in kubectl)")
    if selector:
        p.add_argument("-l", "--selector", metavar="SELECTOR",
                       help="label selector, kubectl's grammar: k=v, k==v, k!=v, 'k in (a,b)', 'k notin (a)', k, !k")
    if project:
        p.add_argument("--project", metavar="PROJECT", help="a project (a KAI queue, as `runai -p` names it; a "
                       "department takes its projects)")


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
    add_scope_args(p, namespace_default="the project's, else the context's", selector=False,
                   all_namespaces=False, project=False)
    _common(p)
    target = "NAME, KIND/NAME, NS/NAME or NS/KIND/NAME"
    p = sub.add_parser("scale", help="set replicas of a Deployment, ReplicaSet or StatefulSet: N, +N or -N; "
                                     "on an autoscaled workload, its --min / --max instead")
    p.add_argument("target", nargs="?", metavar="TARGET", help=f"{target} (or select one with -l)")
    p.add_argument("count", metavar="N|+N|-N", nargs="?")
    p.add_argument("--min-replicas", "--min", dest="min_replicas", help="autoscaled: new minimum replicas")
    p.add_argument("--max-replicas", "--max", dest="max_replicas", help="autoscaled: new maximum replicas")
    add_scope_args(p, namespace_default="the context's")
    _common(p)
    p = sub.add_parser("preempt", help="evict a workload's running pods through the Eviction API")
    p.add_argument("target", nargs="?", metavar="TARGET", help=f"{target} (or select one with -l)")
    p.add_argument("--force", action="store_true", help="also a non-preemptible workload (asks for the typed phrase)")
    p.add_argument("--confirm", metavar="TEXT", help="the typed confirmation, for use without a terminal")
    add_scope_args(p, namespace_default="the context's")
    _common(p)
    p = sub.add_parser("delete", help="delete workloads with their dependents")
    p.add_argument("targets", nargs="*", metavar="TARGET", help=f"{target} (or select them with -l)")
    p.add_argument("--confirm", metavar="TEXT", help="the typed confirmation (several targets), without a terminal")
    add_scope_args(p, namespace_default="the context's")
    _common(p)


def run(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = _Logged(err or sys.stderr, args.command)
    verb = args.command
    from .errors import ActionError
    from .targets import UsageError
    from console.kube import config
    from console.kube.errors import ApiError

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
    except ApiError as e:
        from .errors import explain_api_error

        print(f"gpuconsole {verb}: {explain_api_error(e, verb)}", file=err)
        return 1
    except KeyboardInterrupt:
        print(f"gpuconsole {verb}: interrupted; nothing more was sent", file=err)
        return 1


class _Logged:
    """The verb's stderr, each line also written to the log: every refusal and failure stays on record."""

    def __init__(self, stream: TextIO, verb: str) -> None:
        self.stream, self.verb, self._buf = stream, verb, ""

    def write(self, text: str) -> int:
        self._buf += text
        while "\n" in self._buf:
            line, self._buf = self._buf.split("\n", 1)
            if line.strip():
                log.warning("%s", line)
        return self.stream.write(text)

    def flush(self) -> None:
        self.stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


def _names(args: argparse.Namespace) -> list[str]:
    if args.command == "delete":
        return list(args.targets)
    return [args.target] if args.target else []


def _usage_problem(args: argparse.Namespace) -> str | None:
    """What is wrong with how the verb was written (exit 2), before anything is read from the cluster."""
    from console.kube.selectors import SelectorError, parse_label_selector

    from .scale import COUNT
    from .selection import expand
    from .targets import UsageError, parse_ref

    if args.command != "submit":
        selector = getattr(args, "selector", None)
        if args.command == "scale" and selector is not None and args.target and args.count is None:
            args.target, args.count = None, args.target  # `scale -l app=x 3`: the one positional is the count
        names = _names(args)
        if selector is not None:
            try:
                parse_label_selector(selector)
            except SelectorError as e:
                return f"-l {selector!r}: {e}"
            if names:
                return "name workloads or select them with -l, not both (kubectl: name cannot be provided " \
                       "when a selector is specified)"
        elif not names:
            return "name a workload (NAME, KIND/NAME, NS/NAME or NS/KIND/NAME) or select with -l SELECTOR"
        if names and getattr(args, "all_namespaces", False):
            return "a workload cannot be named across all namespaces (-A): give -n NS, or select with -l"
        explicit = bool(getattr(args, "namespace", None))
        try:
            for t in names:
                parse_ref(expand(t, args.namespace or "default", explicit))
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


async def _read(client: Any, what: str, namespace: str | None = None, selector: str | None = None) -> list[dict]:
    """A list the target resolution reads; a resource this user may not list (or the cluster lacks) reads as
    empty, and the check that needed it is skipped."""
    from console.kube.errors import ApiError

    from .facts import READS

    try:
        items, _ = await client.list(READS[what], namespace, label_selector=selector)
        return items
    except ApiError as e:
        if e.code in (403, 404):
            return []
        raise


async def _check_namespace(client: Any, namespace: str) -> None:
    """ActionError when the namespace does not exist; a user who may not read it gets the benefit of doubt."""
    from console.kube import client as k
    from console.kube.errors import ApiError

    from .errors import ActionError

    try:
        await client.get(k.NAMESPACES, namespace)
    except ApiError as e:
        if e.code == 404:
            raise ActionError(f"namespace {namespace!r} not found") from None
        if e.code != 403:
            raise


async def _project_namespace(client: Any, project: str) -> str:
    """The project's namespace (Run:ai's `runai/queue` label, else `runai-<project>`); ActionError for a
    project the cluster does not have."""
    from console.model.podspec import RUNAI_QUEUE_LABEL

    from .errors import ActionError
    from .facts import ClusterFacts

    facts = ClusterFacts({"queues": await _read(client, "queues"),
                          "namespaces": await _read(client, "namespaces", selector=f"{RUNAI_QUEUE_LABEL}={project}")})
    if facts.items("queues") and project not in facts.queues():
        known = ", ".join(facts.projects()) or "none"
        raise ActionError(f"project {project!r} not found (projects: {known})")
    return facts.project_namespace(project)


async def _targets(args: argparse.Namespace, session: Any, creds: Any) -> list[str]:
    """The `NS/…` targets the command line names or selects (ActionError when it selects none, or several
    for a verb that takes one; or names an unknown namespace or project)."""
    from .errors import ActionError
    from .selection import expand, select
    from .facts import ClusterFacts

    client = session.client
    explicit = getattr(args, "namespace", None)
    namespace = explicit or creds.namespace or "default"
    project = getattr(args, "project", None)
    if project:
        pns = await _project_namespace(client, project)
        if explicit and explicit != pns:
            raise ActionError(f"namespace {explicit!r} is not the namespace of project {project!r} ({pns!r})")
        namespace = pns
    all_ns = bool(getattr(args, "all_namespaces", False))
    if not all_ns and (explicit or project or args.selector):
        await _check_namespace(client, namespace)
    if not args.selector:
        return [expand(t, namespace, bool(explicit)) for t in _names(args)]
    from console.kube.selectors import parse_label_selector

    scope = None if all_ns else namespace
    from .targets import SEARCH as keys
    # The server selects (`?labelSelector=`), as for kubectl; the same parser checks the answer.
    facts = ClusterFacts({key: await _read(client, key, scope, args.selector) for key in keys})
    found = select(facts, parse_label_selector(args.selector), scope)
    where = "any namespace" if all_ns else namespace
    if not found:
        raise ActionError(f"no workload in {where} matches -l {args.selector!r}")
    if args.command != "delete" and len(found) > 1:
        raise ActionError(f"-l {args.selector!r} matches {len(found)} workloads in {where}; {args.command} takes "
                          "one: " + ", ".join(found))
    return found


async def _submit_namespace(args: argparse.Namespace, session: Any) -> list[dict] | None:
    """`submit -n NS`: the project NS belongs to (form), or NS for manifests that name none (-f), as
    `kubectl apply -n` does; ActionError when they disagree. The manifests, when -f was given."""
    from console.model.podspec import RUNAI_QUEUE_LABEL

    from .errors import ActionError
    from .yaml_input import load_file

    docs = await asyncio.to_thread(load_file, args.file) if args.file else None
    ns = getattr(args, "namespace", None)
    if not ns:
        return docs
    client = session.client
    await _check_namespace(client, ns)
    if args.project:
        pns = await _project_namespace(client, args.project)
        if pns != ns:
            raise ActionError(f"namespace {ns!r} is not the namespace of project {args.project!r} ({pns!r})")
    if docs is not None:
        for d in docs:
            md = d.get("metadata") if isinstance(d, dict) else None
            if isinstance(md, dict):
                have = md.setdefault("namespace", ns)
                if have != ns:
                    raise ActionError(f"the namespace from the provided object {have!r} does not match the namespace "
                                      f"{ns!r}. You must pass '--namespace={have}' to perform this operation.")
        return docs
    if not args.project:
        ns_obj = next((o for o in await _read(client, "namespaces") if o["metadata"].get("name") == ns), None)
        queue = ((ns_obj or {}).get("metadata", {}).get("labels") or {}).get(RUNAI_QUEUE_LABEL)
        if not queue:
            queues = {(q.get("metadata") or {}).get("name") for q in await _read(client, "queues")}
            queue = ns[len("runai-"):] if ns.startswith("runai-") and ns[len("runai-"):] in queues else None
        if not queue:
            raise ActionError(f"namespace {ns!r} belongs to no project (no runai/queue label on it); give -p PROJECT")
        args.project = queue
    return docs


async def _plan(session: Any, args: argparse.Namespace, creds: Any) -> Any:
    from .manifests import SubmitForm

    if args.command == "submit":
        docs = await _submit_namespace(args, session)
        if docs is not None:
            return await session.plan_submit(manifests=docs, project=args.project)
        form = SubmitForm(args.type, args.name, args.project, args.image, args.gpu, args.replicas,
                          args.min_replicas, args.max_replicas, args.port, args.priority, args.container_command,
                          args.args, dict(item.split("=", 1) for item in args.env), metric=args.metric,
                          metric_threshold=args.metric_threshold)
        return await session.plan_submit(form)
    targets = await _targets(args, session, creds)
    if args.command == "scale":
        return await session.plan_scale(targets[0], args.count, args.min_replicas, args.max_replicas)
    if args.command == "preempt":
        return await session.plan_preempt(targets[0], args.force)
    return await session.plan_delete(targets)


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
        plan = await _plan(session, args, creds)
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
