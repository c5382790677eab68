"""Render a cluster snapshot dict as plain text tables, JSON or YAML for `gpuconsole snapshot`.

The table form is meant to be pasted into an incident ticket: fixed-width columns, no colour, no box drawing.
Its first line names the gpuconsole version and the cluster; `-o wide` adds the GPUs' telemetry columns.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import orjson

VIEWS = ("projects", "gpus", "workloads", "nodes")


def _num(x: Any) -> str:
    if x is None:
        return "-"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, float):
        if x == -1:
            return "unlimited"
        return f"{x:g}" if abs(x - round(x)) > 1e-9 else str(int(round(x)))
    return str(x)


def _table(headers: Sequence[str], rows: list[Sequence[str]]) -> str:
    widths = [len(h) for h in headers]
    for r in rows:
        for i, c in enumerate(r):
            widths[i] = max(widths[i], len(c))
    lines = ["  ".join(h.ljust(widths[i]) for i, h in enumerate(headers)).rstrip()]
    for r in rows:
        lines.append("  ".join(c.ljust(widths[i]) for i, c in enumerate(r)).rstrip())
    return "\n".join(lines)


def _saturation(p: dict[str, Any]) -> str:
    if p.get("fair_share_gpu") is None:
        return "-"
    sat = p.get("saturation")
    return "inf" if sat is None else f"{float(sat):.2f}"


def _projects(items: list[dict[str, Any]]) -> str:
    rows = [[p.get("name", "") + (" <reclaim next" if p.get("reclaim_next") else ""), p.get("parent") or "-",
             _num(p.get("quota_gpu")), _num(p.get("limit_gpu")), _num(p.get("over_quota_weight")),
             _num(p.get("priority")), _num(p.get("allocated_gpu")), _fair(p.get("fair_share_gpu")),
             _saturation(p), _num(p.get("allocated_nonpreemptible_gpu")), _num(p.get("requested_gpu")),
             _num(p.get("pending_workloads"))] for p in items]
    return _table(["PROJECT", "PARENT", "QUOTA", "LIMIT", "WEIGHT", "PRIORITY", "ALLOCATED", "FAIR", "SATURATION",
                   "NON-PREEMPT", "REQUESTED", "PENDING"], rows)


def _fair(x: Any) -> str:
    return "-" if x is None else f"{float(x):.2f}".rstrip("0").rstrip(".")


def _fair_share_lines(fs: dict[str, Any]) -> list[str]:
    src = "KAI metrics" if fs.get("source") == "kai-scheduler" else "computed"
    lines = [f"fair share: {src}" + (f" ({fs['detail']})" if fs.get("detail") else "")]
    nxt = fs.get("reclaim_next")
    if nxt:
        lines.append(f"{nxt.get('project')}: {nxt.get('reason')}")
    return lines


def _terminating(n: Any, for_s: Any) -> str:
    """`⌛terminating 12s` for a pod (n True) or `⌛2 terminating 12s` for a workload's pods; '' for none."""
    if not n:
        return ""
    count = "" if n is True else f"{n} "
    return f"⌛{count}terminating" + (f" {_num(for_s)}s" if for_s is not None else "")


def _holders(g: dict[str, Any]) -> str:
    hs = g.get("holders") or []
    if not hs:
        return "-"
    return ", ".join(" ".join(filter(None, (f"{h.get('namespace')}/{h.get('pod')}={_num(h.get('share'))}",
                                            _terminating(h.get("terminating"), h.get("terminating_for_s")))))
                     for h in hs)


def _status(w: dict[str, Any]) -> str:
    going = _terminating(w.get("terminating"), w.get("terminating_for_s"))
    if w.get("status") == "Terminating":
        return "Terminating" + (f" {_num(w.get('terminating_for_s'))}s" if w.get("terminating_for_s") is not None
                                else "")
    return f"{w.get('status', '')} ({going})" if going else w.get("status", "")


def _round(x: Any, digits: int = 0) -> str:
    return "-" if x is None else _num(round(float(x), digits) if digits else float(round(float(x))))


def health_text(h: dict[str, Any] | None) -> str:
    """A GPU's `health` object in a few words: `ok`, or `XID 48,thermal,ECC 1` (`-` when not reported)."""
    if not h:
        return "-"
    if h.get("ok"):
        return "ok"
    parts = ["lost"] if h.get("lost") else []
    if h.get("xid_last"):
        parts.append(f"XID {h['xid_last']}")
    if h.get("row_remap_failed"):
        parts.append("row-remap-failed")
    if h.get("ecc_uncorrected"):
        parts.append(f"ECC {h['ecc_uncorrected']}")
    parts.extend(h.get("throttle") or [])
    return ",".join(parts) or "not ok"


def _gpus(items: list[dict[str, Any]], wide: bool = False) -> str:
    rows = []
    for g in items:
        row = [g.get("node", ""), _num(g.get("index")), g.get("model") or "-", _num(g.get("memory_mib")),
               g.get("uuid") or "-", _num(g.get("free_share"))]
        if wide:
            row += [_round(g.get("util_pct")), _round(g.get("mem_used_mib")), _round(g.get("temp_c")),
                    _round(g.get("power_w"), 1), _round(g.get("idle_for_s"))]
        rows.append(row + [health_text(g.get("health")), _holders(g)])
    telemetry = ["UTIL%", "MEM_USED_MIB", "TEMP_C", "POWER_W", "IDLE_S"] if wide else []
    return _table(["NODE", "GPU", "MODEL", "MEMORY_MIB", "UUID", "FREE", *telemetry, "HEALTH", "HOLDERS (share)"],
                  rows)


def _local(local: dict[str, Any]) -> str:
    """This machine's GPUs, then every process on them with its pod (like `nvitop -1`, with pods)."""
    head = [f"host {local.get('host')}"]
    if local.get("node"):
        head.append(f"node {local['node']}")
    head.append(str(local.get("source") or "nvml") + (f" · driver {local['driver']}" if local.get("driver") else ""))
    gpus = local.get("gpus") or []
    grows = []
    prows = []
    for g in gpus:
        problems = (g.get("health") or {}).get("problems") or []
        grows.append([_num(g.get("index")), g.get("name") or "-", g.get("uuid") or "-", _round(g.get("util_pct")),
                      f"{_round(g.get('mem_used_mib'))}/{_round(g.get('mem_total_mib'))}", _round(g.get("temp_c")),
                      f"{_round(g.get('power_w'))}/{_round(g.get('power_limit_w'))}", _round(g.get("sm_clock_mhz")),
                      ",".join(problems) or "ok"])
        for p in g.get("processes") or []:
            owner = f"{p.get('namespace')}/{p.get('pod')}" if p.get("pod") else \
                (f"pod {p['pod_uid']} (not in the cluster model)" if p.get("pod_uid") else "host process")
            prows.append([_num(g.get("index")), _num(p.get("pid")), p.get("name") or "-", _round(p.get("used_mib")),
                          _round(p.get("util_pct")), owner, p.get("workload") or "-"])
    parts = ["  ".join(head), f"GPUS ({len(gpus)})\n" + _table(
        ["GPU", "NAME", "UUID", "UTIL%", "MEM_USED/TOTAL_MIB", "TEMP_C", "POWER_W/LIMIT", "SM_MHZ", "HEALTH"], grows),
        f"PROCESSES ({len(prows)})\n" + _table(["GPU", "PID", "NAME", "USED_MIB", "SM%", "NAMESPACE/POD", "WORKLOAD"],
                                               prows)]
    if local.get("note"):
        parts.append(f"note: {local['note']}")
    return "\n\n".join(parts)


def _slo(sv: dict[str, Any]) -> str:
    if sv.get("slo_p95_ms") is None and sv.get("slo_error_ratio") is None:
        return "-"
    b = sv.get("slo_breached")
    return "BREACHED" if b else ("met" if b is False else "unknown")


def _serving(w: dict[str, Any]) -> list[str]:
    sv = w.get("serving")
    if not sv:
        return ["", "", "", ""]
    err = sv.get("error_ratio")
    return [_round(sv.get("rps"), 1) if sv.get("rps") is not None else "-",
            "-" if err is None else f"{err * 100:.2g}", _round(sv.get("p95_ms")), _slo(sv)]


def _workloads(items: list[dict[str, Any]]) -> str:
    rows = [[w.get("namespace", ""), w.get("name", ""), w.get("kind", ""), w.get("type", ""),
             w.get("project") or "-", w.get("priority_class") or "-", _num(w.get("preemptible")),
             f"{_num(w.get('replicas_ready'))}/{_num(w.get('replicas_desired'))}",
             _num(w.get("replicas_pending")), _num(w.get("gpu_per_replica")), _num(w.get("gpu_total")),
             _status(w), *_serving(w), w.get("pending_reason") or ""] for w in items]
    return _table(["NAMESPACE", "WORKLOAD", "KIND", "TYPE", "PROJECT", "PRIORITY", "PREEMPTIBLE", "READY",
                   "PENDING", "GPU/REPLICA", "GPU", "STATUS", "RPS", "ERR%", "P95_MS", "SLO", "PENDING REASON"], rows)


def _nodes(items: list[dict[str, Any]]) -> str:
    rows = [[n.get("name", ""), n.get("gpu_product") or "-", _num(n.get("gpu_capacity")),
             _num(n.get("gpu_allocated")), _num(n.get("ready")), _num(n.get("cordoned"))] for n in items]
    return _table(["NODE", "GPU PRODUCT", "GPUS", "ALLOCATED", "READY", "CORDONED"], rows)


RENDER: dict[str, Callable[[list[dict[str, Any]]], str]] = {
    "projects": _projects, "gpus": _gpus, "workloads": _workloads, "nodes": _nodes,
}


OUTPUTS = ("table", "wide", "json", "yaml")


def _data(snapshot: dict[str, Any], view: str) -> dict[str, Any]:
    views = VIEWS if view == "all" else (view,)
    data: dict[str, Any] = {"version": snapshot.get("version")} if "version" in snapshot else {}
    data.update({v: snapshot.get(v, []) for v in views})
    for extra in ("cluster", "hidden", "health", "telemetry"):
        if extra in snapshot and view == "all":
            data[extra] = snapshot[extra]
    if "serving" in snapshot and view in ("all", "workloads"):
        data["serving"] = snapshot["serving"]
    if "scope" in snapshot:
        data["scope"] = snapshot["scope"]
    if "fair_share" in snapshot and view in ("all", "projects"):
        data["fair_share"] = snapshot["fair_share"]
    return data


def header_line(snapshot: dict[str, Any]) -> str:
    """`gpuconsole 0.1.0  context: …  cluster: …`, and the scope when one was asked for."""
    parts = [f"gpuconsole {snapshot.get('version') or '?'}"]
    parts += [f"{k}: {v}" for k, v in (snapshot.get("cluster") or {}).items()]
    parts += [f"{k}: {v}" for k, v in (snapshot.get("scope") or {}).items() if v]
    return "  ".join(parts)


def render(snapshot: dict[str, Any], output: str = "table", view: str = "all", *, compact: bool = False) -> str:
    """The snapshot as `output` (table, wide, json, yaml); `compact` JSON is one line (one document per
    line under `--watch`, for `jq`)."""
    if view == "local":  # this machine's GPUs and processes (NVML), like `nvitop -1`
        local = {"local": snapshot.get("local") or {}}
        if "version" in snapshot:
            local["version"] = snapshot["version"]
        if output == "json":
            opt = orjson.OPT_SORT_KEYS if compact else orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS
            return orjson.dumps(local, option=opt).decode()
        if output == "yaml":
            import yaml
            return yaml.safe_dump(local, sort_keys=False, default_flow_style=False).rstrip()
        text = _local(local["local"])
        first, _, rest = text.partition("\n")  # the host line, then the version, as the cluster views start
        return f"{first}  gpuconsole {snapshot.get('version') or '?'}" + (f"\n{rest}" if rest else "")
    views = VIEWS if view == "all" else (view,)
    data = _data(snapshot, view)
    if output == "json":
        opt = orjson.OPT_SORT_KEYS if compact else orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS
        return orjson.dumps(data, option=opt).decode()
    if output == "yaml":
        import yaml
        return yaml.safe_dump(data, sort_keys=False, default_flow_style=False).rstrip()
    wide = output == "wide"
    parts = [header_line(snapshot)]
    for v in views:
        title = f"{v.upper()} ({len(data[v])})"
        body = _gpus(data[v], wide) if v == "gpus" else RENDER[v](data[v])
        parts.append(title + "\n" + body)
        if v == "projects" and data.get("fair_share") and data[v]:
            parts.append("\n".join(_fair_share_lines(data["fair_share"])))
    if snapshot.get("telemetry") and view in ("all", "gpus"):
        parts.append(f"telemetry: {snapshot['telemetry']}")
    if snapshot.get("serving") and view in ("all", "workloads"):
        parts.append(f"serving: {snapshot['serving']}")
    for note in snapshot.get("hidden") or []:
        parts.append(f"hidden: {note}")
    return "\n\n".join(parts)


CLEAR = "\x1b[H\x1b[2J"   # cursor home, clear screen: what `watch` does between frames


def render_watch_frame(snapshot: dict[str, Any], output: str, view: str, *, tty: bool, first: bool,
                       interval_s: float) -> str:
    """One print of `snapshot --watch`: on a terminal the table redrawn in place, else appended frames;
    JSON one document per line, YAML documents separated by `---`."""
    if output == "json":
        return render(snapshot, "json", view, compact=True) + "\n"
    if output == "yaml":
        return "---\n" + render(snapshot, "yaml", view) + "\n"
    text = render(snapshot, output, view)
    stamp = f"every {interval_s:g}s · {time.strftime('%H:%M:%S')}  (ctrl+c ends)"
    if tty:
        return CLEAR + stamp + "\n" + text + "\n"
    return ("" if first else "\n") + text + "\n"
