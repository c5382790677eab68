"""Workloads: one row per top owner (expandable to its pods) with replicas, GPU, status and why it waits."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.style import Style
from rich.text import Text

from console.model.records import OWNER_BY_GROUP_KIND, PodRec
from console.model.workload_row import PENDING, RUNNING, TERMINATING, AutoscalingRow, WorkloadRow, request_text
from widgets.bars import fmt_gpu
from widgets.glyphs import current as G
from widgets.vtable import Column

from .base import (
    UNKNOWN, Key, ObjRef, PaneContext, PaneModel, age, created_at, idle_text, num, sorted_by, terminating_text,
)
from .inference import fmt_ms, fmt_rate

STATUS_ORDER = {PENDING: 0, "Partially running": 1, TERMINATING: 2, "Failed": 3, RUNNING: 4}
REVISION_LABEL = "serving.knative.dev/revision"
METRIC_WORDS = {"concurrency": "conc", "throughput": "tput", "latency": "lat"}


def scale_text(a: AutoscalingRow) -> str:
    """The metric and its target, short: `conc 4`, `rps 1`, `cpu 70%`, `lat 200ms`."""
    if not a.metric:
        return ""
    word = METRIC_WORDS.get(a.metric, a.metric)
    if a.target is None:
        return word
    unit = "%" if a.metric in ("cpu", "memory", "cpu-utilization", "gpu-utilization") else (
        "ms" if a.metric == "latency" else "")
    return f"{word} {a.target:g}{unit}"


class WorkloadsPane(PaneModel):
    name = "workloads"
    title = "Workloads"
    ages = True
    default_sort = "name"
    fields = ("project", "namespace", "type", "status", "kind", "workload", "node")
    resources = ("pods", "deployments.apps", "jobs.batch")
    own_columns = frozenset({"name", "age"})
    _pod_columns = frozenset(c for c in ("name", "project", "type", "ready", "scaling", "gpu_per_replica", "gpu",
                                         "status", "rps", "p95", "service", "age", "reason"))
    columns = [
        Column("name", "WORKLOAD", 30, priority=0),
        Column("project", "PROJECT", 14, priority=1),
        Column("type", "TYPE", 11, priority=3),
        Column("ready", "REPLICAS", 14, "right", priority=0),
        Column("scaling", "SCALE ON", 11, priority=3),
        Column("gpu_per_replica", "GPU/R", 8, "right", priority=2),
        Column("gpu", "GPU", 6, "right", priority=1),
        Column("status", "STATUS", 17, priority=0),
        Column("rps", "RPS", 6, "right", priority=2),
        Column("p95", "P95", 6, "right", priority=2),
        Column("service", "SERVICE", 18, priority=4),
        Column("age", "AGE", 5, "right", priority=4),
        Column("reason", "PENDING REASON", 30, priority=2, flex=True, sortable=False),
    ]

    def __init__(self, ctx: PaneContext) -> None:
        super().__init__(ctx)
        self.expanded: set[tuple[str, str, str]] = set()

    def _value(self, k: tuple[str, str, str]) -> Any:
        r = self.ctx.store.workloads.rows[k]
        s = self.sort
        if s == "project":
            return (r.project or "", k)
        if s == "type":
            return (r.type, k)
        if s == "ready":
            return (r.replicas_ready, k)
        if s == "scaling":
            a = r.autoscaling
            return ((a.source, a.metric or "") if a else ("", ""), k)
        if s == "gpu_per_replica":
            return (num(r.gpu_per_replica), k)
        if s == "gpu":
            return (r.gpu_total, k)
        if s == "status":
            return (STATUS_ORDER.get(r.status, 4), r.status, k)
        if s in ("rps", "p95"):
            w = self.ctx.serving.workloads.get(k)
            f = w.figures if w is not None else None
            v = (f.rps if s == "rps" else (f.p95.value if f.p95 else None)) if f is not None else None
            return (num(v), k)
        if s == "service":
            return (r.service or "", k)
        if s == "age":
            return (r.created or "", k)
        return (k[2], k[0], k[1])

    def _labels(self, k: tuple[str, str, str]) -> dict[str, str]:
        store = self.ctx.store
        labels: dict[str, str] = {}
        owner = store.owner_of_workload(k)
        if owner is not None:
            labels.update(owner.template_labels)
            labels.update(owner.labels)
        for pk in list(store.pods_by_workload.get(k, ()))[:1]:
            pr = store.pods.get(pk)
            if pr is not None:
                labels.update(pr.labels)
        return labels

    def _row_matches(self, k: tuple[str, str, str], r: WorkloadRow) -> bool:
        f = self.filter
        text = f"{r.namespace}/{r.name} {r.kind} {r.project or ''} {r.status} {r.service or ''} {r.pending_reason or ''}"
        nodes: list[str] = []
        if any(name == "node" for name, _ in f.fields):
            nodes = [p.node for p in self.ctx.store.pods_of(self.ctx.store.pods_by_workload.get(k, ())) if p.node]
        return f.matches(text, self._labels(k) if f.needs_labels else None,
                         {"project": r.project or "", "namespace": r.namespace, "type": r.type,
                          "status": r.status, "kind": r.kind, "workload": r.name, "node": nodes})

    def _matches(self, key: Key) -> bool:
        if isinstance(key, tuple) and len(key) == 4:
            return True
        r = self.ctx.store.workloads.rows.get(key)  # type: ignore[arg-type]
        return r is not None and self._row_matches(key, r)  # type: ignore[arg-type]

    def pods(self, k: tuple[str, str, str]) -> list[PodRec]:
        """The workload's pods by name; walks the pod index, so only with the model's lock held."""
        keys = tuple(self.ctx.store.pods_by_workload.get(k, ()))
        return sorted(self.ctx.store.pods_of(keys), key=lambda p: p.name)

    def key_order(self) -> Any:
        """Sorted by name (`_value`'s default) with no filter and no group open: from the key alone."""
        if self.sort == "name" and not self.reverse and not self.filter and not self.expanded:
            return _by_name
        return None

    def flat_rows(self) -> Any:
        return self.ctx.store.workloads.rows

    def _order(self) -> list[Key]:
        rows = self.ctx.store.workloads.rows
        keys = list(rows)
        if self.filter:
            keys = [k for k in keys if self._row_matches(k, rows[k])]
        keys = sorted_by(keys, self._value, self.reverse)
        if not self.expanded:
            return keys  # type: ignore[return-value]
        out: list[Key] = []
        for k in keys:
            out.append(k)
            if k in self.expanded:
                out.extend(self._children(k))  # type: ignore[arg-type]
        return out

    def _children(self, k: tuple[str, str, str]) -> list[Key]:
        """A group's revisions (each followed by its pods), then the pods no revision claims."""
        pods = self.pods(k)
        row = self.ctx.store.workloads.rows.get(k)
        out: list[Key] = []
        if row is not None and row.revisions:
            for rev in row.revisions:
                out.append(("rev", k[0], k[2], rev.name))
                out.extend(("pod", p.namespace, p.name, "") for p in pods
                           if p.labels.get(REVISION_LABEL) == rev.name)
            named = {rev.name for rev in row.revisions}
            pods = [p for p in pods if p.labels.get(REVISION_LABEL) not in named]
        out.extend(("pod", p.namespace, p.name, "") for p in pods)
        return out

    def absorb(self, upserts: Iterable[Key], removed: Iterable[Key]) -> tuple[set[Key], bool]:
        ups = set(upserts)
        changed, reorder = super().absorb(ups, removed)
        if ups & self.expanded:
            reorder = True  # an expanded group's pods may have come or gone
            for k in ups & self.expanded:
                changed |= set(self._children(k))  # type: ignore[arg-type]
        return changed, reorder

    def own(self, key: Key) -> frozenset[str]:
        if isinstance(key, tuple) and len(key) == 4:
            return self._pod_columns   # a pod's or a revision's row: every cell is that object's own
        return self.own_columns

    def toggle(self, key: Key) -> bool:
        if isinstance(key, tuple) and len(key) == 3 and key in self.ctx.store.workloads.rows:
            if key in self.expanded:
                self.expanded.discard(key)  # type: ignore[arg-type]
            else:
                self.expanded.add(key)  # type: ignore[arg-type]
            return True
        return False

    def _rev_cells(self, key: tuple) -> list[Text | str]:
        p = self.ctx.palette
        rev = self._revision(key)
        name = Text(f"  {G().revision} ", p.muted)
        name.append(key[3])
        if rev is None:
            return [name, "", Text("revision", p.muted), "", "", "", "", "", "", "", "", "", ""]
        traffic = f"{rev.percent}% traffic" if rev.percent is not None else "no traffic"
        reps = f"{'-' if rev.actual is None else rev.actual}/{'-' if rev.desired is None else rev.desired}"
        return [name, "", Text("revision", p.muted), reps, "", "", "", "", "", "", Text(traffic, p.info), "", ""]

    def _revision(self, key: tuple) -> Any:
        for wk in (k for k in self.expanded if k[0] == key[1] and k[2] == key[2]):
            row = self.ctx.store.workloads.rows.get(wk)
            for rev in row.revisions if row else ():
                if rev.name == key[3]:
                    return rev
        return None

    def _pod_cells(self, key: tuple) -> list[Text | str]:
        p = self.ctx.palette
        pr = self.ctx.store.pods.get((key[1], key[2]))
        if pr is None:
            return [Text(f"   {G().child} {key[2]} (gone)", p.muted)]
        phase_style = p.ok if pr.phase == "Running" and pr.ready else (p.warn if pr.phase == "Pending" else Style())
        status = pr.phase + ("" if pr.ready or pr.phase != "Running" else " not ready")
        if pr.terminating:  # being deleted, still running on its node for its grace period (kubectl: Terminating)
            status, phase_style = f"{TERMINATING} {age(pr.deleting_since, self.ctx.now())}", p.warn
        name = Text(f"   {G().child} ", p.muted)
        name.append(pr.name)
        rps, p95 = self._serving_cells(pr.workload, (pr.namespace, pr.name))
        return [name, Text(pr.node or "(unscheduled)", p.muted if not pr.node else Style()), "pod",
                "1/1" if pr.ready else "0/1", "", request_text(pr.gpu), "", Text(status, phase_style), rps, p95, "",
                "", Text(pr.sched_message or "", p.warn)]

    def _serving_cells(self, wkey: Any, pod: tuple[str, str] | None = None) -> tuple[Text, Text]:
        """RPS and P95 of an inference workload (or of one of its pods); `—` where unknown, blank elsewhere."""
        p = self.ctx.palette
        w = self.ctx.serving.workloads.get(wkey) if wkey is not None else None
        if w is None:
            return Text(""), Text("")
        f = w.figures
        if pod is not None:
            x = next((x for x in w.replicas if (x.namespace, x.pod) == pod), None)
            f = x.figures if x is not None else None
        style = p.bad if w.breached and pod is None else Style()
        return Text(fmt_rate(f.rps if f else None), p.muted if f is None else Style()), \
            Text(fmt_ms(f.p95 if f else None), p.muted if f is None or f.p95 is None else style)

    def cells(self, key: Key) -> list[Text | str]:
        if isinstance(key, tuple) and len(key) == 4:
            return self._rev_cells(key) if key[0] == "rev" else self._pod_cells(key)
        p = self.ctx.palette
        r = self.ctx.store.workloads.rows.get(key)  # type: ignore[arg-type]
        if r is None:   # gone since this pane was last ordered (the next flush re-orders it)
            return [""] * len(self.columns)
        mark = f"{G().expanded} " if key in self.expanded else f"{G().collapsed} "
        name = Text(mark, p.muted)
        name.append(f"{r.name}")
        known = self.figures_known()
        if r.preemptible and known:
            name.append(f" {G().reclaim}", p.muted)
        tel = self.ctx.telemetry
        if tel is not None and known:
            name.append(idle_text(tel.idle_workloads.get((r.namespace, r.name), 0), p.warn))
        status_style = {RUNNING: p.ok, PENDING: p.warn, "Partially running": p.warn, "Failed": p.bad}.get(
            r.status, p.muted)
        ready_style = p.ok if r.replicas_desired and r.replicas_ready >= r.replicas_desired else (
            p.warn if r.replicas_desired else Style())
        gpu = Text(fmt_gpu(r.gpu_allocated) + ("" if abs(r.gpu_allocated - r.gpu_total) < 1e-6
                                                else f"/{fmt_gpu(r.gpu_total)}"))
        per = r.gpu_request if r.gpu_per_replica is None else fmt_gpu(r.gpu_per_replica)
        if r.gpu_request and r.gpu_request != per and r.gpu_per_replica is not None and "MiB" in r.gpu_request:
            per = r.gpu_request
        created = created_at(r.created) if r.created else None
        now = self.ctx.now()
        replicas, scale_on = self._replica_cells(r, ready_style)
        status = Text(r.status, status_style)
        if r.status == TERMINATING:
            status = Text(f"{TERMINATING} {age(r.terminating_since, now)}", p.warn)
        problems = r.autoscaling.problems if r.autoscaling is not None else ()
        reason = Text(r.pending_reason or "", p.warn)
        if problems:
            reason = Text("; ".join(problems) + ("; " if r.pending_reason else ""), p.bad) + reason
        if r.terminating and r.status != TERMINATING:
            # replaced already, the old pods still hold their GPUs: say so before the reason
            held = f", {fmt_gpu(r.gpu_terminating)} GPU held" if r.gpu_terminating else ""
            reason = Text(terminating_text(r.terminating_since, now, r.terminating) + held +
                          (" · " if reason.plain else ""), p.warn) + reason
        if known and self.ctx.serving.workloads.get(key) is not None and self.ctx.serving.workloads[key].breached:
            name.append(" ⚠SLO", p.bad)
        rps, p95 = self._serving_cells(key)
        return [name, r.project or "-", Text(r.type, p.muted), replicas, scale_on, per or "-", gpu, status, rps, p95,
                Text(r.service or "", p.info), age(created, now), reason]

    def _replica_cells(self, r: WorkloadRow, ready_style: Style) -> tuple[Text, Text]:
        """REPLICAS as `cur/desired (min–max)` with `⤒` at the max and `⚠` short of desired; SCALE ON."""
        p = self.ctx.palette
        a = r.autoscaling
        desired = "?" if r.replicas_desired is None else str(r.replicas_desired)
        if a is None:
            return Text(f"{r.replicas_ready}/{desired}", ready_style), Text("")
        t = Text(f"{r.replicas_ready}/{'?' if a.desired is None else a.desired}", ready_style)
        lo = "?" if a.min is None else str(a.min)
        hi = G().infinity if a.max is None and not a.problems else ("?" if a.max is None else str(a.max))
        t.append(f" ({lo}–{hi})", p.muted)
        if a.problems:
            t.append(" !", p.bad)
        elif a.at_max:
            t.append(f" {G().at_max}", p.warn)
        elif a.desired is not None and r.replicas_ready < a.desired and r.replicas_pending:
            t.append(f" {G().warn}", p.warn)
        elif a.scaled_to_zero:
            t.append(f" {G().scaled_to_zero}", p.muted)
        return t, Text(scale_text(a), p.muted)

    def detail(self, key: Key | None) -> Text:
        if key is None:
            return Text("")
        p = self.ctx.palette
        if isinstance(key, tuple) and len(key) == 4 and key[0] == "rev":
            rev = self._revision(key)
            t = Text(f"revision {key[1]}/{key[3]}", p.bold)
            if rev is not None:
                t.append(f" · {rev.actual if rev.actual is not None else '?'} ready of "
                         f"{rev.desired if rev.desired is not None else '?'} desired · "
                         + (f"{rev.percent}% of the traffic" if rev.percent is not None else "no traffic"))
            return t
        if isinstance(key, tuple) and len(key) == 4:
            pr = self.ctx.store.pods.get((key[1], key[2]))
            if pr is None:
                return Text("")
            t = Text(f"pod {pr.namespace}/{pr.name}", p.bold)
            t.append(f" · {pr.phase} on {pr.node or '(unscheduled)'} · GPU {request_text(pr.gpu) or 'none'}"
                     f" · queue {pr.queue or '-'} · priority {pr.pclass or '-'}"
                     f" · {'preemptible' if pr.preemptible else 'non-preemptible'}")
            if pr.gpu_error:
                t.append(f" · bad GPU request: {pr.gpu_error}", p.bad)
            if pr.terminating:
                t.append(f" · {terminating_text(pr.deleting_since, self.ctx.now())}, still holding its node and GPU",
                         p.warn)
            return t
        r = self.ctx.store.workloads.rows.get(key)  # type: ignore[arg-type]
        if r is None:
            return Text("")
        t = Text(f"{r.kind} {r.namespace}/{r.name}", p.bold)
        a = r.autoscaling
        if a is not None:
            t.append(f" · autoscaled by {a.source} {scale_text(a) or '?'}: {r.replicas_ready} ready of "
                     f"{'?' if a.desired is None else a.desired} desired, {a.min if a.min is not None else '?'}–"
                     f"{a.max if a.max is not None else '∞'}")
            if a.at_max:
                t.append(" · at its max", p.warn)
            if a.scaled_to_zero:
                t.append(" · scaled to zero (the next request activates it)", p.muted)
            for prob in a.problems:
                t.append(f" · {prob}", p.bad)
        t.append(f" · {r.type} · priority {r.priority_class or '-'} · "
                 f"{'preemptible' if r.preemptible else 'non-preemptible'} · {r.pods} pods "
                 f"({r.replicas_running} running, {r.replicas_pending} pending)")
        if r.terminating:
            t.append(f" · {terminating_text(r.terminating_since, self.ctx.now(), r.terminating)}"
                     f" ({r.terminating} pod(s) being deleted, holding {fmt_gpu(r.gpu_terminating)} GPU)", p.warn)
        t.append(f" · GPU request {r.gpu_request or 'none'}")
        if r.service:
            t.append(f" · Service {r.service}", p.info)
        if r.pending_reason:
            t.append(f" · {r.pending_reason}", p.warn)
        return t

    def target(self, key: Key) -> ObjRef | None:
        if isinstance(key, tuple) and len(key) == 4 and key[0] == "rev":
            return ObjRef("serving.knative.dev", "revisions", "Revision", key[1], key[3])
        if isinstance(key, tuple) and len(key) == 4:
            return ObjRef("", "pods", "Pod", key[1], key[2])
        r = self.ctx.store.workloads.rows.get(key)  # type: ignore[arg-type]
        if r is None:
            return None
        if r.kind == "Pod":
            return ObjRef("", "pods", "Pod", r.namespace, r.name)
        if r.kind == "HorizontalPodAutoscaler":
            return ObjRef("autoscaling", "horizontalpodautoscalers", "HorizontalPodAutoscaler", r.namespace, r.name)
        ok = OWNER_BY_GROUP_KIND.get((r.api_group, r.kind))
        if ok is None:
            return None
        return ObjRef(ok.group, ok.key.split(".", 1)[0], ok.kind, r.namespace, r.name)

    def log_pod(self, key: Key) -> tuple[str, str] | None:
        if isinstance(key, tuple) and len(key) == 4 and key[0] == "rev":
            return None
        if isinstance(key, tuple) and len(key) == 4:
            return (key[1], key[2])
        if key not in self.ctx.store.workloads.rows:
            return None
        pods = self.pods(key)  # type: ignore[arg-type]
        live = [p for p in pods if p.node] or pods
        return (live[0].namespace, live[0].name) if live else None

    def summary(self) -> str:
        if not self.figures_known():
            return f"{UNKNOWN} workloads · {UNKNOWN} inference · {UNKNOWN} pending · ⇣ preemptible"
        rows = self.ctx.store.workloads.rows.values()
        n = pend = inf = 0
        for r in rows:
            n += 1
            pend += r.status == PENDING
            inf += r.type == "inference"
        return f"{n} workloads · {inf} inference · {pend} pending · ⇣ preemptible · ⤒ at max · ⚠ short of desired"


def _by_name(k: Any) -> Any:
    """`WorkloadsPane._value` for the name order."""
    return (k[2], k[0], k[1])
