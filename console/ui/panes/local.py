"""Local: this machine's GPUs through NVML, and every process on them with its pod and workload.

What an operator on a GPU node asks nvidia-smi or nvitop during an incident (which processes hold which
GPU, how much memory each uses, is the GPU throttling), answered in the cluster's terms: each process's
namespace, pod and workload (`host process` outside any pod). GPUs stay in device index order; the
processes under each GPU sort by the chosen column (`o`/`O`): PID, SM utilisation, memory, pod or
workload. Works with no cluster at all and says in one line why when NVML cannot be used.
"""

from __future__ import annotations

from typing import Any

from rich.style import Style
from rich.text import Text

from console.model.local_view import HOST_PROCESS, LocalGpu, LocalProc, LocalView
from widgets.glyphs import current as G
from widgets.sparkline import sparkline
from widgets.vtable import Column

from .base import SPARK_WIDTH, Drill, Key, ObjRef, PaneModel, fmt_mem


def _mib(v: float | None) -> str:
    if v is None:
        return "?"
    return f"{v / 1024:.1f}G" if v >= 1024 else f"{v:.0f}M"


class LocalPane(PaneModel):
    name = "local"
    title = "Local GPUs"
    default_sort = "index"
    fields = ("namespace", "pod", "workload", "project", "process")
    resources = ()
    needs: frozenset[str] = frozenset()   # NVML, not the cluster's lists: every figure is true as sampled
    columns = [
        Column("index", "GPU / PROCESS", 30, priority=0),
        Column("util", "UTIL", 5, "right", priority=0),
        Column("spark", "UTIL HISTORY", SPARK_WIDTH, priority=2, sortable=False),
        Column("mem", "MEM GiB", 11, "right", priority=0),
        Column("temp", "TEMP", 5, "right", priority=2, sortable=False),
        Column("power", "POWER", 9, "right", priority=2, sortable=False),
        Column("clock", "SM MHz", 6, "right", priority=3, sortable=False),
        Column("health", "HEALTH", 14, priority=1, sortable=False),
        Column("pod", "NAMESPACE/POD", 30, priority=0, flex=True),
        Column("workload", "WORKLOAD", 20, priority=1),
    ]

    def figures_known(self) -> bool:
        return True

    def figures_stale(self) -> bool:
        return False

    def view(self) -> LocalView | None:
        feed = self.ctx.local
        return feed.view if feed is not None else None

    def _gpus(self) -> dict[str, LocalGpu]:
        v = self.view()
        return {g.uuid or f"#{g.index}": g for g in v.gpus} if v is not None else {}

    # --- rows: ("lgpu", uuid), ("lmig", uuid, gi), ("lproc", uuid, pid)
    def _proc_matches(self, g: LocalGpu, p: LocalProc) -> bool:
        text = f"{p.pid} {p.name or ''} {p.owner} {p.workload or ''} {g.name or ''} {g.uuid or ''}"
        return self.filter.matches(text, None, {"namespace": p.namespace or "", "pod": p.pod or "",
                                                "workload": p.workload or "", "project": p.project or "",
                                                "process": p.name or ""})

    def _proc_key(self, p: LocalProc) -> Any:
        if self.sort == "util":
            return (p.sm_pct is None, p.sm_pct or 0.0, p.pid)
        if self.sort == "mem":
            return (p.used_mib is None, p.used_mib or 0.0, p.pid)
        if self.sort == "pod":
            return (p.pod is None, p.owner, p.pid)
        if self.sort == "workload":
            return (p.workload is None, p.workload or "", p.owner, p.pid)
        return p.pid

    def _order(self) -> list[Key]:
        out: list[Key] = []
        for uid, g in self._gpus().items():
            procs = [p for p in g.procs if not self.filter or self._proc_matches(g, p)]
            if self.filter and not procs:
                continue
            out.append(("lgpu", uid))
            out.extend(("lmig", uid, i.gi_id) for i in g.instances)
            procs.sort(key=self._proc_key, reverse=self.reverse)
            out.extend(("lproc", uid, p.pid) for p in procs)
        return out

    def _lookup(self, key: Key) -> tuple[LocalGpu | None, Any]:
        k = key  # type: ignore[assignment]
        g = self._gpus().get(k[1])  # type: ignore[index]
        if g is None or k[0] == "lgpu":  # type: ignore[index]
            return g, None
        if k[0] == "lmig":  # type: ignore[index]
            return g, next((i for i in g.instances if i.gi_id == k[2]), None)  # type: ignore[index]
        return g, next((p for p in g.procs if p.pid == k[2]), None)  # type: ignore[index]

    # --- cells
    def _health(self, g: LocalGpu) -> Text:
        p = self.ctx.palette
        problems = g.problems
        if not problems:
            return Text(G().ok if g.health is not None else "", p.ok)
        bad = problems[0] == "lost" or problems[0].startswith(("XID", "row remap", "ECC"))
        return Text(problems[0] + (f" +{len(problems) - 1}" if len(problems) > 1 else ""), p.bad if bad else p.warn)

    def cells(self, key: Key) -> list[Text | str]:
        p = self.ctx.palette
        g, sub = self._lookup(key)
        if g is None:
            return [""] * len(self.columns)
        k = key  # type: ignore[assignment]
        if k[0] == "lgpu":  # type: ignore[index]
            name = Text(f"#{g.index if g.index is not None else '?'} ", p.bold)
            name.append(g.name or "?")
            if g.lost:
                return [name, Text("lost", p.bad), "", "", "", "", "", self._health(g), Text(g.error or "", p.bad), ""]
            util = Text("?" if g.util_pct is None else f"{g.util_pct:.0f}%", p.muted if g.util_pct is None else Style())
            mem = fmt_mem(g.mem_used_mib, g.mem_total_mib)
            power = "" if g.power_w is None else (f"{g.power_w:.0f}/{g.power_limit_w:.0f}W" if g.power_limit_w
                                                  else f"{g.power_w:.0f}W")
            temp = "" if g.temp_c is None else f"{g.temp_c:.0f}{G().degree}C"
            clock = "" if g.sm_clock_mhz is None else f"{g.sm_clock_mhz:.0f}"
            cluster = Text((g.uuid or "")[:20] + ("…" if g.uuid and len(g.uuid) > 20 else ""), p.muted)
            n = len(g.procs)
            return [name, util, Text(sparkline(list(g.spark), SPARK_WIDTH), p.info), mem, temp, power, clock,
                    self._health(g), cluster, Text(f"{n} process{'es' if n != 1 else ''}", p.muted)]
        if k[0] == "lmig":  # type: ignore[index]
            i = sub
            if i is None:
                return [""] * len(self.columns)
            name = Text(f"  MIG {i.mig_profile or '?'} GI {i.gi_id}", p.muted)
            return [name, "", "", fmt_mem(i.mem_used_mib, i.mem_total_mib), "", "", "", "", Text(i.uuid or "", p.muted),
                    Text(f"{len(i.procs)} process{'es' if len(i.procs) != 1 else ''}", p.muted)]
        pr: LocalProc | None = sub
        if pr is None:
            return [""] * len(self.columns)
        name = Text(f"  {G().child} ", p.muted)
        name.append(f"{pr.pid} ", p.muted)
        name.append(pr.name or "?")
        if pr.gi_id is not None:
            name.append(f" GI{pr.gi_id}", p.muted)
        util = "" if pr.sm_pct is None else f"{pr.sm_pct:.0f}%"
        if pr.pod:
            owner = Text(f"{G().holder} ", p.holder(f"{pr.namespace}/{pr.workload or pr.pod}"))
            owner.append(f"{pr.namespace}/{pr.pod}")
        else:
            owner = Text(pr.owner, p.muted if pr.owner == HOST_PROCESS else p.warn)
        return [name, util, "", Text(_mib(pr.used_mib), p.bold), "", "", "", "", owner,
                Text(pr.workload or "", Style())]

    def detail(self, key: Key | None) -> Text:
        p = self.ctx.palette
        v = self.view()
        if key is None or v is None:
            return Text("")
        g, sub = self._lookup(key)
        if g is None:
            return Text("")
        k = key  # type: ignore[assignment]
        t = Text()
        if k[0] == "lgpu":  # type: ignore[index]
            t.append(f"GPU {g.index} ", p.bold)
            t.append(g.uuid or "no UUID")
            if g.row is not None:
                t.append(f" · cluster GPU {g.row[0]}", p.info)
            if g.problems:
                t.append(" · " + ", ".join(g.problems), p.bad)
            h = g.health
            if h is not None and h.ecc_uncorrected is not None:
                t.append(f" · ECC uncorrected {h.ecc_uncorrected}", p.muted)
            if h is not None and h.remapped_rows is not None:
                t.append(f" · rows remapped {h.remapped_rows}", p.muted)
            if g.error:
                t.append(f" · {g.error}", p.bad)
            return t
        if k[0] == "lmig":  # type: ignore[index]
            return Text(f"MIG instance GI {sub.gi_id} ({sub.mig_profile}) of GPU {g.index} · {sub.uuid}"
                        if sub is not None else "")
        pr: LocalProc | None = sub
        if pr is None:
            return t
        t.append(f"PID {pr.pid} ", p.bold)
        t.append(f"{pr.name or '?'} on GPU {g.index} · {_mib(pr.used_mib)} · SM "
                 f"{'?' if pr.sm_pct is None else f'{pr.sm_pct:.0f}%'}")
        if pr.pod:
            t.append(f" · pod {pr.namespace}/{pr.pod}")
            if pr.project:
                t.append(f" [{pr.project}]")
            t.append(" · enter: its workload · l: its log", p.muted)
        elif pr.pod_uid:
            t.append(f" · pod UID {pr.pod_uid}: no such pod in the cluster model", p.warn)
        else:
            t.append(" · not in a pod (its cgroup names none)", p.muted)
        return t

    def summary(self) -> str:
        v = self.view()
        if v is None:
            return "sampling…"
        if not v.available:
            return v.reason or "NVML unavailable"
        parts = [f"host {v.host}"]
        if v.node:
            parts.append(f"node {v.node}")
        parts.append(v.source + (f" · driver {v.driver}" if v.driver else ""))
        parts.append(f"{len(v.gpus)} GPUs · {sum(len(g.procs) for g in v.gpus)} processes")
        return " · ".join(parts)

    def state(self) -> str:
        """The pane's state line: why NVML cannot be used, or what limits the join."""
        v = self.view()
        if v is None:
            return "sampling this machine's GPUs…"
        if not v.available:
            return v.reason or "NVML unavailable"
        return v.note or ""

    def drill(self, key: Key) -> Drill | None:
        g, sub = self._lookup(key)
        if g is None:
            return None
        if key[0] == "lproc" and sub is not None and sub.pod:  # type: ignore[index]
            return Drill("workloads", "workload", (sub.workload or sub.pod,), f"PID {sub.pid}")
        if key[0] == "lgpu" and g.row is not None:  # type: ignore[index]
            return Drill("gpus", "node", (g.row[0],), g.row[0])
        return None

    def target(self, key: Key) -> ObjRef | None:
        g, sub = self._lookup(key)
        if key[0] == "lproc" and sub is not None and sub.pod:  # type: ignore[index]
            return ObjRef("", "pods", "Pod", sub.namespace, sub.pod)
        if key[0] == "lgpu" and g is not None and g.row is not None:  # type: ignore[index]
            return ObjRef("", "nodes", "Node", None, g.row[0])
        return None

    def log_pod(self, key: Key) -> tuple[str, str] | None:
        _, sub = self._lookup(key)
        if key[0] == "lproc" and sub is not None and sub.pod:  # type: ignore[index]
            return (sub.namespace, sub.pod)
        return None
