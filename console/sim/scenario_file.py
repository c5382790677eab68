"""Scenario files: a small YAML schema (departments, projects, node pools, workloads), validated in full.

Every problem is reported with the path of the bad field (`projects[2].quota: must be a number >= -1`),
all of them at once, before anything is written to the store, so a bad file never half-applies.

    departments: [{name, quota, limit, overQuotaWeight, priority, displayName}]
    projects:    [{name, department, quota, limit, overQuotaWeight, priority, namespace, queueLabel: kai|runai}]
    nodePools:   [{name, product, count, gpus, cpu, memoryGi}]
    workloads:   [{name, project, kind: inference|training|interactive, replicas, gpu, gpuMemory, parallelism,
                   completions, runSeconds, priority, utilization: "lo-hi", image, count,
                   serving: deployment|hpa|knative|kserve|kserve-raw|runai, peakRps, latencyMs, replicaRps, idleBelow,
                   autoscale: {min, max, metric, target}}]
    An inference workload with `autoscale` and no `serving` is a Deployment with an HPA.
    gpuFaults:   [{node, gpu, xid, clockEvents: [sw_thermal, power_cap, …], eccUncorrected, rowRemapFailure}]
                 what each GPU's dcgm-exporter reports as wrong (node annotations the exporter reads)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import scenario_build as b
from .gpus import GPU_MODELS

_DNS = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
PRIORITY_NAMES = frozenset(n for n, _, _ in b.PRIORITY_CLASSES)
KINDS = ("inference", "training", "interactive")

TOP_KEYS = {"name", "description", "departments", "projects", "nodePools", "workloads", "gpuFaults"}
DEPT_KEYS = {"name", "quota", "limit", "overQuotaWeight", "priority", "displayName"}
PROJECT_KEYS = DEPT_KEYS | {"department", "namespace", "queueLabel"}
POOL_KEYS = {"name", "product", "count", "gpus", "cpu", "memoryGi"}
WORKLOAD_KEYS = {"name", "project", "kind", "replicas", "gpu", "gpuMemory", "parallelism", "completions",
                 "runSeconds", "priority", "utilization", "image", "autoscale", "count", "model", "serving",
                 "peakRps", "latencyMs", "replicaRps", "idleBelow", "slo"}
AUTOSCALE_KEYS = {"min", "max", "metric", "target"}
SLO_KEYS = {"p95Ms", "errorRatio"}
FAULT_KEYS = {"node", "gpu", "xid", "clockEvents", "eccUncorrected", "rowRemapFailure"}
# dcgm-exporter's clock_event names (internal/pkg/collector/clock_events_collector.go)
CLOCK_EVENTS = ("gpu_idle", "clocks_setting", "power_cap", "hw_slowdown", "sync_boost", "sw_thermal", "hw_thermal",
                "hw_power_brake", "display_clocks")


class ScenarioError(ValueError):
    """A scenario that cannot be built; the message names every bad field."""


@dataclass
class Spec:
    """A validated scenario, ready to build."""

    name: str = "custom"
    departments: list[dict[str, Any]] = field(default_factory=list)
    projects: list[dict[str, Any]] = field(default_factory=list)
    pools: list[dict[str, Any]] = field(default_factory=list)
    workloads: list[dict[str, Any]] = field(default_factory=list)
    faults: list[dict[str, Any]] = field(default_factory=list)


class _Checker:
    def __init__(self) -> None:
        self.errors: list[str] = []

    def err(self, path: str, msg: str) -> None:
        self.errors.append(f"{path}: {msg}")

    def number(self, d: dict, key: str, path: str, default: Any, minimum: float | None = None,
               strict: bool = False, integer: bool = False) -> Any:
        if key not in d or d[key] is None:
            return default
        v = d[key]
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and v == v and v not in (float("inf"),
                                                                                            float("-inf"))
        if ok and integer and not float(v).is_integer():
            ok = False
        if ok and minimum is not None and (v <= minimum if strict else v < minimum):
            ok = False
        if not ok:
            what = "an integer" if integer else "a number"
            bound = "" if minimum is None else f" {'>' if strict else '>='} {minimum:g}"
            self.err(f"{path}.{key}", f"must be {what}{bound}, got {v!r}")
            return default
        return int(v) if integer else v

    def name(self, d: dict, path: str, max_len: int = 63) -> str | None:
        v = d.get("name")
        if v is None:
            self.err(f"{path}.name", "required")
            return None
        if not isinstance(v, str) or not _DNS.match(v) or len(v) > max_len:
            self.err(f"{path}.name", f"must be a DNS label (lower-case letters, digits and '-', at most "
                                     f"{max_len} characters), got {v!r}")
            return None
        return v

    def keys(self, d: Any, allowed: set[str], path: str) -> bool:
        if not isinstance(d, dict):
            self.err(path, f"must be a mapping, got {type(d).__name__}")
            return False
        for k in sorted(set(d) - allowed, key=str):
            self.err(f"{path}.{k}", f"unknown field (allowed: {', '.join(sorted(allowed))})")
        return True

    def items(self, doc: dict, key: str) -> list[Any]:
        v = doc.get(key)
        if v is None:
            return []
        if not isinstance(v, list):
            self.err(key, f"must be a list, got {type(v).__name__}")
            return []
        return v


def validate(doc: Any) -> Spec:
    """Check a parsed scenario document; raises ScenarioError listing every problem."""
    c = _Checker()
    if not isinstance(doc, dict):
        raise ScenarioError(f"scenario: must be a mapping with departments, projects, nodePools and workloads, "
                            f"got {type(doc).__name__}")
    c.keys(doc, TOP_KEYS, "scenario")
    spec = Spec(name=str(doc.get("name") or "custom"))

    dept_names: set[str] = set()
    for i, d in enumerate(c.items(doc, "departments")):
        p = f"departments[{i}]"
        if not c.keys(d, DEPT_KEYS, p):
            continue
        name = c.name(d, p)
        if name in dept_names:
            c.err(f"{p}.name", f"duplicate department {name!r}")
        elif name:
            dept_names.add(name)
        spec.departments.append(_queue_fields(c, d, p, name))

    project_names: set[str] = set()
    for i, d in enumerate(c.items(doc, "projects")):
        p = f"projects[{i}]"
        if not c.keys(d, PROJECT_KEYS, p):
            continue
        name = c.name(d, p, max_len=57)
        if name and (name in project_names or name in dept_names):
            c.err(f"{p}.name", f"duplicate queue name {name!r}")
        elif name:
            project_names.add(name)
        q = _queue_fields(c, d, p, name)
        dept = d.get("department")
        if dept is not None and dept not in dept_names:
            c.err(f"{p}.department", f"no department named {dept!r}"
                  + (f" (departments: {', '.join(sorted(dept_names))})" if dept_names else ""))
        q["department"] = dept
        ns = d.get("namespace", f"runai-{name}" if name else None)
        if ns is not None and (not isinstance(ns, str) or not _DNS.match(ns)):
            c.err(f"{p}.namespace", f"must be a DNS label, got {ns!r}")
        q["namespace"] = ns
        style = d.get("queueLabel", "kai")
        if style not in ("kai", "runai"):
            c.err(f"{p}.queueLabel", f"must be kai or runai, got {style!r}")
        q["runai_style"] = style == "runai"
        spec.projects.append(q)

    pool_names: set[str] = set()
    for i, d in enumerate(c.items(doc, "nodePools")):
        p = f"nodePools[{i}]"
        if not c.keys(d, POOL_KEYS, p):
            continue
        name = c.name(d, p, max_len=50)
        if name in pool_names:
            c.err(f"{p}.name", f"duplicate node pool {name!r}")
        elif name:
            pool_names.add(name)
        product = d.get("product")
        if not isinstance(product, str) or not product:
            c.err(f"{p}.product", f"required: a GPU product label such as {', '.join(sorted(GPU_MODELS))}")
        spec.pools.append({
            "name": name, "product": product,
            "count": c.number(d, "count", p, None, 0, integer=True) if "count" in d else _required(c, p, "count"),
            "gpus": c.number(d, "gpus", p, 8, 0, integer=True),
            "cpu": c.number(d, "cpu", p, None, 0, strict=True, integer=True),
            "memoryGi": c.number(d, "memoryGi", p, None, 0, strict=True, integer=True),
        })

    seen: set[tuple[str, str]] = set()
    projects = {q["name"]: q for q in spec.projects if q.get("name")}
    for i, d in enumerate(c.items(doc, "workloads")):
        p = f"workloads[{i}]"
        if not c.keys(d, WORKLOAD_KEYS, p):
            continue
        name = c.name(d, p, max_len=40)
        proj = d.get("project")
        if proj is None:
            c.err(f"{p}.project", "required")
        elif proj not in projects:
            c.err(f"{p}.project", f"no project named {proj!r}")
        if name and proj and (proj, name) in seen:
            c.err(f"{p}.name", f"duplicate workload {name!r} in project {proj!r}")
        seen.add((proj, name))
        kind = d.get("kind", "training")
        if kind not in KINDS:
            c.err(f"{p}.kind", f"must be one of {', '.join(KINDS)}, got {kind!r}")
        gpu = c.number(d, "gpu", p, None, 0, strict=True)
        gmem = c.number(d, "gpuMemory", p, None, 0, strict=True, integer=True)
        if gpu is not None and gpu > 1 and not float(gpu).is_integer():
            c.err(f"{p}.gpu", f"must be a fraction below 1 or a whole number of GPUs, got {gpu!r}")
        if gpu is not None and gmem is not None:
            c.err(f"{p}.gpuMemory", "cannot be combined with gpu (KAI takes gpu-fraction or gpu-memory, not both)")
        pr = d.get("priority")
        if pr is not None and pr not in PRIORITY_NAMES:
            c.err(f"{p}.priority", f"unknown priority class {pr!r} (known: {', '.join(sorted(PRIORITY_NAMES))})")
        util = d.get("utilization")
        if util is not None and (not isinstance(util, str) or not re.fullmatch(r"\d{1,3}(-\d{1,3})?", util)
                                 or any(int(x) > 100 for x in util.split("-"))):
            c.err(f"{p}.utilization", f"must be a percent range like \"10-30\", got {util!r}")
        auto = d.get("autoscale")
        autoscale = None
        if auto is not None:
            if not isinstance(auto, dict) or set(auto) - AUTOSCALE_KEYS:
                c.err(f"{p}.autoscale", "must be a mapping of min, max, metric, target")
            else:
                lo = c.number(auto, "min", f"{p}.autoscale", 1, 0, integer=True)
                hi = c.number(auto, "max", f"{p}.autoscale", lo, 0, integer=True)
                if hi < lo:
                    c.err(f"{p}.autoscale.max", f"must be >= min ({lo}), got {hi}")
                target = c.number(auto, "target", f"{p}.autoscale", None, 0, strict=True)
                metric = auto.get("metric")
                if metric is not None and not isinstance(metric, str):
                    c.err(f"{p}.autoscale.metric", f"must be a metric name, got {metric!r}")
                autoscale = {"min": lo, "max": hi, "metric": metric, "target": target}
        serving = d.get("serving", "hpa" if autoscale and kind == "inference" else "deployment")
        if serving not in b.SERVINGS:
            c.err(f"{p}.serving", f"must be one of {', '.join(b.SERVINGS)}, got {serving!r}")
        elif serving != "deployment" and kind != "inference":
            c.err(f"{p}.serving", f"applies to inference workloads only, not {kind}")
        image = d.get("image")
        if image is not None and not isinstance(image, str):
            c.err(f"{p}.image", f"must be a string, got {image!r}")
        slo = d.get("slo")
        slo_ann: dict[str, str] = {}
        if slo is not None:
            if not isinstance(slo, dict) or set(slo) - SLO_KEYS or kind != "inference":
                c.err(f"{p}.slo", "must be a mapping of p95Ms, errorRatio, on an inference workload")
            else:
                p95 = c.number(slo, "p95Ms", f"{p}.slo", None, 0, strict=True)
                er = c.number(slo, "errorRatio", f"{p}.slo", None, 0, strict=True)
                if p95 is not None:
                    slo_ann["gpuconsole.io/slo-p95-ms"] = f"{p95:g}"
                if er is not None:
                    slo_ann["gpuconsole.io/slo-error-ratio"] = f"{er:g}"
        spec.workloads.append({
            "name": name, "project": proj, "kind": kind, "gpu": gpu, "gpuMemory": gmem,
            "replicas": c.number(d, "replicas", p, 1, 0, integer=True),
            "parallelism": c.number(d, "parallelism", p, 1, 1, integer=True),
            "completions": c.number(d, "completions", p, None, 1, integer=True),
            "runSeconds": c.number(d, "runSeconds", p, None, 0, strict=True),
            "priority": pr, "utilization": util, "image": image, "autoscale": autoscale,
            "count": c.number(d, "count", p, 1, 1, integer=True), "model": d.get("model"),
            "serving": serving, "peakRps": c.number(d, "peakRps", p, None, 0),
            "latencyMs": c.number(d, "latencyMs", p, None, 0, strict=True),
            "replicaRps": c.number(d, "replicaRps", p, None, 0, strict=True),
            "idleBelow": c.number(d, "idleBelow", p, None, 0), "slo": slo_ann,
        })
    gpus_of = {f"{pool['name']}-{i + 1:02d}": pool["gpus"] for pool in spec.pools if pool.get("name")
               for i in range(pool["count"] or 0)}
    for i, d in enumerate(c.items(doc, "gpuFaults")):
        p = f"gpuFaults[{i}]"
        if not c.keys(d, FAULT_KEYS, p):
            continue
        node = d.get("node")
        if node not in gpus_of:
            c.err(f"{p}.node", f"no node named {node!r} (nodes are <pool>-01, <pool>-02, …)")
        gpu = c.number(d, "gpu", p, 0, 0, integer=True)
        if node in gpus_of and gpu >= (gpus_of[node] or 0):
            c.err(f"{p}.gpu", f"{node} has {gpus_of[node]} GPUs, no GPU {gpu}")
        events = d.get("clockEvents") or []
        if not isinstance(events, list) or any(e not in CLOCK_EVENTS for e in events):
            c.err(f"{p}.clockEvents", f"must be a list of {', '.join(CLOCK_EVENTS)}")
            events = []
        spec.faults.append({"node": node, "gpu": gpu, "xid": c.number(d, "xid", p, 0, 0, integer=True),
                            "clockEvents": list(events),
                            "eccUncorrected": c.number(d, "eccUncorrected", p, 0, 0, integer=True),
                            "rowRemapFailure": bool(d.get("rowRemapFailure", False))})
    if c.errors:
        raise ScenarioError("; ".join(c.errors))
    return spec


def _required(c: _Checker, path: str, key: str) -> None:
    c.err(f"{path}.{key}", "required")
    return None


def _queue_fields(c: _Checker, d: dict, p: str, name: str | None) -> dict[str, Any]:
    return {
        "name": name,
        "quota": c.number(d, "quota", p, 0, -1),
        "limit": c.number(d, "limit", p, -1, -1),
        "overQuotaWeight": c.number(d, "overQuotaWeight", p, 1, 0),
        "priority": c.number(d, "priority", p, None, integer=True),
        "displayName": d.get("displayName"),
    }


def load(path: str | Path) -> Spec:
    """Read and validate a scenario file; every failure is a ScenarioError that says what and where."""
    import yaml

    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError(f"{p}: no such scenario file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ScenarioError(f"{p}: cannot read: {e}") from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ScenarioError(f"{p}: not valid YAML{where}: {getattr(e, 'problem', None) or e}") from None
    try:
        return validate(doc)
    except ScenarioError as e:
        raise ScenarioError(f"{p}: {e}") from None


def objects(spec: Spec) -> list[tuple[str, dict[str, Any]]]:
    """The manifests a validated spec describes, as (resource key, object), in creation order."""
    out: list[tuple[str, dict[str, Any]]] = []
    for d in spec.departments:
        out.append(("queues.scheduling.run.ai", b.queue(d["name"], None, d["quota"], d["limit"],
                                                        d["overQuotaWeight"], d["priority"], d["displayName"])))
    projects = {}
    for q in spec.projects:
        projects[q["name"]] = q
        out.append(("queues.scheduling.run.ai", b.queue(q["name"], q["department"], q["quota"], q["limit"],
                                                        q["overQuotaWeight"], q["priority"], q["displayName"])))
        out.append(("namespaces", b.namespace(q["namespace"], {"runai/queue": q["name"]})))
    index = 0
    for pool in spec.pools:
        for i in range(pool["count"] or 0):
            index += 1
            node = b.node(f"{pool['name']}-{i + 1:02d}", pool["product"], pool["gpus"], index, pool["name"],
                          pool["cpu"], pool["memoryGi"])
            _add_faults(node, [f for f in spec.faults if f["node"] == node["metadata"]["name"]])
            out.append(("nodes", node))
    for w in spec.workloads:
        q = projects[w["project"]]
        for n in range(w["count"]):
            name = w["name"] if w["count"] == 1 else f"{w['name']}-{n + 1}"
            out.extend(_workload(w, name, q))
    return out


def _add_faults(node: dict[str, Any], faults: list[dict[str, Any]]) -> None:
    """The node annotations the simulated dcgm-exporter reads its injected GPU faults from."""
    ann = node["metadata"].setdefault("annotations", {})
    parts: dict[str, list[str]] = {}
    for f in sorted(faults, key=lambda f: f["gpu"]):
        g = f["gpu"]
        if f["xid"]:
            parts.setdefault("sim.gpuconsole.io/xid-errors", []).append(f"{g}={f['xid']}")
        if f["clockEvents"]:
            parts.setdefault("sim.gpuconsole.io/clock-events", []).append(f"{g}={'+'.join(f['clockEvents'])}")
        if f["eccUncorrected"]:
            parts.setdefault("sim.gpuconsole.io/ecc-dbe", []).append(f"{g}={f['eccUncorrected']}")
        if f["rowRemapFailure"]:
            parts.setdefault("sim.gpuconsole.io/row-remap-failure", []).append(str(g))
    for key, values in parts.items():
        ann[key] = ",".join(values)


def _workload(w: dict[str, Any], name: str, q: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    out = _workload_objects(w, name, q)
    if w.get("slo") and out:   # the SLO annotations go on the top object, where the console reads them
        out[0][1]["metadata"].setdefault("annotations", {}).update(w["slo"])
    return out


def _workload_objects(w: dict[str, Any], name: str, q: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    ns, queue_name, style = q["namespace"], q["name"], q["runai_style"]
    if w["kind"] == "inference":
        serving = w.get("serving") or "deployment"
        auto = w.get("autoscale") or {}
        load = b._load_annotations(w.get("peakRps"), w.get("latencyMs"), w.get("replicaRps"), w.get("idleBelow"))
        prio = w["priority"] or "inference"
        if serving == "knative":
            return [("services.serving.knative.dev", b.knative_service(
                name, ns, queue_name, w["gpu"], w["gpuMemory"], prio, w["image"], w.get("model"), auto, style,
                load))]
        if serving in ("kserve", "kserve-raw"):
            return [("inferenceservices.serving.kserve.io", b.inference_service(
                name, ns, queue_name, w["gpu"], prio, autoscale=auto, raw=serving == "kserve-raw",
                runai_style=style, load=load))]
        if serving == "runai":
            return [("inferenceworkloads.run.ai", b.inference_workload(name, ns, w["gpu"], w["image"], auto,
                                                                       load=load))]
        replicas = auto.get("min", w["replicas"]) if serving == "hpa" else w["replicas"]
        dep = b.inference_deployment(name, ns, queue_name, max(1, replicas or 1) if serving == "hpa" else replicas,
                                     w["gpu"], w["gpuMemory"], prio, w["image"], w["utilization"], None, style,
                                     w.get("model"))
        if load:
            dep["metadata"].setdefault("annotations", {}).update(load)
        out = [("deployments.apps", dep), ("services", b.service_for(name, ns))]
        if serving == "hpa":
            out.append(("horizontalpodautoscalers.autoscaling",
                        b.hpa_for(name, ns, auto.get("min", 1), auto.get("max", 1), auto.get("metric") or "cpu",
                                  auto.get("target") or 70)))
        return out
    if w["kind"] == "interactive":
        return [("deployments.apps", b.interactive_deployment(name, ns, queue_name, w["gpu"] or 1,
                                                              w["priority"] or "build",
                                                              w["utilization"] or "0-2", style))]
    job = b.training_job(name, ns, queue_name, w["gpu"] if w["gpu"] is not None else (0 if w["gpuMemory"] else 1),
                         w["parallelism"], w["completions"], w["runSeconds"], w["priority"] or "train",
                         w["gpuMemory"], w["image"], w["utilization"], style)
    return [("jobs.batch", job)]
