"""The views as one JSON-able dict: what `gpuconsole snapshot` prints and what tests compare.

Keys are a contract (scripts parse them): more may be added, none renamed. Rows are sorted so two
snapshots of the same cluster are equal.
"""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING, Any

from .fair_share import FairShareTable
from .kai_queues import INF
from .scope import Scope, apply as apply_scope

if TYPE_CHECKING:
    from .cluster_store import ClusterStore

VIEWS = ("projects", "gpus", "workloads", "nodes")


def to_dict(row: Any) -> dict[str, Any]:
    """A view row (or holder) as plain JSON types: tuples become lists, nested rows become dicts."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(row):
        out[f.name] = _plain(getattr(row, f.name))
    return out


def _plain(v: Any) -> Any:
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return to_dict(v)
    if isinstance(v, (tuple, list)):
        return [_plain(x) for x in v]
    return v


def _depth_order(rows: dict[str, Any]) -> list[Any]:
    """Projects as a tree walk: each department followed by its projects, names sorted at each level."""
    out: list[Any] = []
    seen: set[str] = set()

    def walk(name: str) -> None:
        if name in seen or name not in rows:
            return
        seen.add(name)
        out.append(rows[name])
        for c in rows[name].children:
            walk(c)

    for name in sorted(n for n, r in rows.items() if r.parent is None or r.parent not in rows):
        walk(name)
    for name in sorted(rows):  # members of parent cycles
        walk(name)
    return out


def terminating_for(since: float | None, now: float) -> int | None:
    """Whole seconds a pod has been terminating (since its delete was asked); None when not known."""
    return None if since is None else max(0, int(now - since))


def _with_terminating_for(d: dict[str, Any], now: float) -> dict[str, Any]:
    """A holder or workload dict with `terminating_for_s` beside its `terminating_since`."""
    d["terminating_for_s"] = terminating_for(d.get("terminating_since"), now) if d.get("terminating") else None
    return d


def _with_fair_share(row: dict[str, Any], fs: FairShareTable) -> dict[str, Any]:
    """A project row with KAI's fair share: `fair_share_gpu`, `saturation` (allocated / fair share; null
    when GPUs are held on a zero fair share), `fair_share_source` and `reclaim_next`."""
    s = fs.shares.get(row["name"])
    row["fair_share_gpu"] = s.fair_share_gpu if s else None
    row["saturation"] = (None if s.saturation == INF else s.saturation) if s else None
    row["fair_share_source"] = s.source if s else None
    row["reclaim_next"] = fs.reclaim_next is not None and fs.reclaim_next.queue == row["name"]
    return row


def fair_share_dict(fs: FairShareTable) -> dict[str, Any]:
    """Where the fair shares came from and which project KAI would reclaim from next."""
    nxt = fs.reclaim_next
    return {"source": fs.source, "detail": fs.detail, "capacity_gpu": fs.capacity_gpu,
            "reclaim_next": {"project": nxt.queue, "reason": nxt.reason} if nxt else None}


def build(store: ClusterStore, view: str = "all", now: float | None = None,
          scope: Scope | None = None) -> dict[str, Any]:
    """The current views as a dict: `projects`, `gpus`, `workloads` (each with its `pod_names`), `nodes` (or only
    `view`), plus `health`, `hidden`, `gpu_summary` and `problems` for the whole snapshot; narrowed to `scope`
    (a namespace, a label selector, a project: see scope.py) when one is given.

    GPU holders and workloads carry `terminating` (a bool for a holder, the number of pods for a
    workload) and `terminating_for_s`, counted to `now` (epoch seconds, default the current time)."""
    if view != "all" and view not in VIEWS:
        raise ValueError(f"unknown view {view!r}: choose one of {', '.join(VIEWS)} or all")
    t = time.time() if now is None else now
    store.refresh()
    out: dict[str, Any] = {}
    if view in ("all", "projects"):
        fs = store.fair_share.table
        out["projects"] = [_with_fair_share(to_dict(r), fs) for r in _depth_order(store.projects.rows)]
        out["fair_share"] = fair_share_dict(fs)
    if view in ("all", "gpus"):
        out["gpus"] = [to_dict(store.gpus.rows[k]) for k in sorted(store.gpus.rows)]
        for g in out["gpus"]:
            for h in g["holders"]:
                _with_terminating_for(h, t)
    if view in ("all", "workloads"):
        out["workloads"] = [_with_terminating_for(to_dict(store.workloads.rows[k]), t)
                            for k in sorted(store.workloads.rows)]
    if view in ("all", "nodes"):
        out["nodes"] = [to_dict(store.nodes_view.rows[k]) for k in sorted(store.nodes_view.rows)]
    if view == "all":
        out["gpu_summary"] = store.gpus.summary()
        out["health"] = {k: h.as_dict() for k, h in sorted(store.health.items())}
        hidden: list[str] = []
        for k, h in sorted(store.health.items()):
            if h.state == "forbidden":
                hidden.append(f"{k}: forbidden for this user{': ' + h.message if h.message else ''}")
            if h.hidden_namespaces:
                hidden.append(f"{k}: not readable in namespaces {', '.join(h.hidden_namespaces)}")
        out["hidden"] = hidden
        out["problems"] = list(store.problems)[-20:]
    apply_scope(out, store, scope or Scope())
    return out
