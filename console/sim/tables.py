"""Server-side printing: the `meta.k8s.io/v1` Table that `kubectl get` asks for.

kubectl prints whatever columns the server sends, so these columns are what an operator sees; they
follow the apiserver's built-in printers (and KAI's CRD printer columns for queues). Columns with
priority 1 appear only with `-o wide`.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Iterable
from typing import Any

from .resources import ResourceType

Obj = dict[str, Any]
Cell = Callable[[Obj], Any]
# (name, type, priority, cell)
Column = tuple[str, str, int, Cell]

TABLE_KIND = {"kind": "Table", "apiVersion": "meta.k8s.io/v1"}


def _parse_ts(ts: Any) -> _dt.datetime | None:
    if not isinstance(ts, str) or not ts:
        return None
    try:
        return _dt.datetime.fromisoformat(ts.replace("Z", "+00:00"))
    except ValueError:
        return None


def human_duration(seconds: float) -> str:
    """kubectl's short age: 45s, 3m20s, 5h, 2d3h, 400d, 3y20d."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    m = s // 60
    if m < 10:
        return f"{m}m{s % 60}s" if s % 60 else f"{m}m"
    if m < 180:
        return f"{m}m"
    h = s // 3600
    if h < 8:
        return f"{h}h{m % 60}m" if m % 60 else f"{h}h"
    if h < 48:
        return f"{h}h"
    d = h // 24
    if d < 8:
        return f"{d}d{h % 24}h" if h % 24 else f"{d}d"
    if d < 365 * 2:
        return f"{d}d"
    y = d // 365
    if y < 8:
        return f"{y}y{d % 365}d" if d % 365 else f"{y}y"
    return f"{y}y"


def age(ts: Any, now: _dt.datetime | None = None) -> str:
    t = _parse_ts(ts)
    if t is None:
        return "<unknown>"
    now = now or _dt.datetime.now(_dt.timezone.utc)
    return human_duration((now - t).total_seconds())


def _md(o: Obj) -> Obj:
    return o.get("metadata") or {}


def _spec(o: Obj) -> Obj:
    return o.get("spec") or {}


def _status(o: Obj) -> Obj:
    return o.get("status") or {}


def _name(o: Obj) -> str:
    return _md(o).get("name", "")


def _age(o: Obj) -> str:
    return age(_md(o).get("creationTimestamp"))


def _none(v: Any) -> Any:
    return "<none>" if v in (None, "", []) else v


def _selector_str(sel: Any) -> str:
    if not isinstance(sel, dict):
        return "<none>"
    parts = [f"{k}={v}" for k, v in (sel.get("matchLabels") or {}).items()]
    for e in sel.get("matchExpressions") or []:
        op = e.get("operator")
        vals = ",".join(e.get("values") or [])
        parts.append({"In": f"{e.get('key')} in ({vals})", "NotIn": f"{e.get('key')} notin ({vals})",
                      "Exists": str(e.get("key")), "DoesNotExist": f"!{e.get('key')}"}.get(op, ""))
    return ",".join(parts) or "<none>"


def _containers(o: Obj) -> tuple[str, str]:
    cs = (((_spec(o).get("template") or {}).get("spec")) or {}).get("containers") or []
    return ",".join(c.get("name", "") for c in cs), ",".join(c.get("image", "") for c in cs)


# ------------------------------------------------------------------------------------------ pods
def pod_status(o: Obj) -> str:
    """The STATUS column: a waiting/terminated reason beats the phase, as kubectl shows it."""
    st = _status(o)
    reason = st.get("reason") or st.get("phase") or "Unknown"
    for cs in st.get("initContainerStatuses") or []:
        state = cs.get("state") or {}
        if state.get("terminated", {}).get("exitCode", 0) != 0:
            return "Init:" + (state["terminated"].get("reason") or "Error")
        if state.get("waiting", {}).get("reason") not in (None, "PodInitializing"):
            return "Init:" + state["waiting"]["reason"]
    for cs in reversed(st.get("containerStatuses") or []):
        state = cs.get("state") or {}
        if state.get("waiting", {}).get("reason"):
            reason = state["waiting"]["reason"]
        elif state.get("terminated", {}).get("reason"):
            reason = state["terminated"]["reason"]
    # pkg/printers/internalversion/printers.go printPod: a pod being deleted shows Terminating until it has
    # finished (Unknown when its node was lost)
    if _md(o).get("deletionTimestamp") and st.get("reason") == "NodeLost":
        reason = "Unknown"
    elif _md(o).get("deletionTimestamp") and st.get("phase") not in ("Succeeded", "Failed"):
        reason = "Terminating"
    return reason


def _pod_ready(o: Obj) -> str:
    cs = _status(o).get("containerStatuses") or []
    total = len(_spec(o).get("containers") or [])
    return f"{sum(1 for c in cs if c.get('ready'))}/{total}"


def _pod_restarts(o: Obj) -> str:
    return str(sum(int(c.get("restartCount") or 0) for c in _status(o).get("containerStatuses") or []))


def _readiness_gates(o: Obj) -> str:
    gates = _spec(o).get("readinessGates") or []
    if not gates:
        return "<none>"
    conds = {c.get("type"): c.get("status") for c in _status(o).get("conditions") or []}
    return f"{sum(1 for g in gates if conds.get(g.get('conditionType')) == 'True')}/{len(gates)}"


# ------------------------------------------------------------------------------------------ nodes
def _node_status(o: Obj) -> str:
    ready = next((c for c in _status(o).get("conditions") or [] if c.get("type") == "Ready"), None)
    s = "Ready" if ready and ready.get("status") == "True" else ("NotReady" if ready else "Unknown")
    if _spec(o).get("unschedulable"):
        s += ",SchedulingDisabled"
    return s


def _node_roles(o: Obj) -> str:
    roles = sorted(k.split("/", 1)[1] for k in (_md(o).get("labels") or {})
                   if k.startswith("node-role.kubernetes.io/") and "/" in k)
    return ",".join(r for r in roles if r) or "<none>"


def _node_addr(kind: str) -> Cell:
    def cell(o: Obj) -> str:
        for a in _status(o).get("addresses") or []:
            if a.get("type") == kind:
                return a.get("address", "<none>")
        return "<none>"
    return cell


def _ni(field: str) -> Cell:
    return lambda o: (_status(o).get("nodeInfo") or {}).get(field, "")


# ------------------------------------------------------------------------------------------ services
def _svc_ports(o: Obj) -> str:
    out = []
    for p in _spec(o).get("ports") or []:
        s = f"{p.get('port')}"
        if p.get("nodePort"):
            s += f":{p['nodePort']}"
        out.append(f"{s}/{p.get('protocol', 'TCP')}")
    return ",".join(out) or "<none>"


def _svc_external(o: Obj) -> str:
    spec = _spec(o)
    if spec.get("type") == "ExternalName":
        return spec.get("externalName", "<none>")
    ing = [i.get("ip") or i.get("hostname") for i in (_status(o).get("loadBalancer") or {}).get("ingress") or []]
    ips = (spec.get("externalIPs") or []) + [i for i in ing if i]
    if ips:
        return ",".join(ips)
    return "<pending>" if spec.get("type") == "LoadBalancer" else "<none>"


# ------------------------------------------------------------------------------------------ jobs
def _job_status(o: Obj) -> str:
    conds = {c.get("type"): c.get("status") for c in _status(o).get("conditions") or []}
    for t, label in (("Complete", "Complete"), ("Failed", "Failed"), ("FailureTarget", "FailureTarget"),
                     ("SuccessCriteriaMet", "SuccessCriteriaMet"), ("Suspended", "Suspended")):
        if conds.get(t) == "True":
            return label
    return "Running"


def _job_duration(o: Obj) -> str:
    start = _parse_ts(_status(o).get("startTime"))
    if start is None:
        return ""
    end = _parse_ts(_status(o).get("completionTime")) or _dt.datetime.now(_dt.timezone.utc)
    return human_duration((end - start).total_seconds())


def _event_object(o: Obj) -> str:
    io = o.get("involvedObject") or {}
    return f"{str(io.get('kind', '')).lower()}/{io.get('name', '')}"


def _event_last_seen(o: Obj) -> str:
    ts = o.get("lastTimestamp") or o.get("eventTime") or _md(o).get("creationTimestamp")
    return age(ts)


def _endpoints(o: Obj) -> str:
    out = []
    for s in o.get("subsets") or []:
        ports = [p.get("port") for p in s.get("ports") or []] or [None]
        for a in s.get("addresses") or []:
            for p in ports:
                out.append(f"{a.get('ip')}:{p}" if p else str(a.get("ip")))
    if not out:
        return "<none>"
    return ",".join(out[:3]) + (f" + {len(out) - 3} more..." if len(out) > 3 else "")


def _quota_used(which: str) -> Cell:
    def cell(o: Obj) -> str:
        hard = _status(o).get("hard") or _spec(o).get("hard") or {}
        used = _status(o).get("used") or {}
        parts = [f"{k}: {used.get(k, '0')}/{v}" for k, v in sorted(hard.items())
                 if (k.startswith("limits.") if which == "limit" else not k.startswith("limits."))]
        return ", ".join(parts)
    return cell


# ------------------------------------------------------------------------------------------ autoscaling, serving
def _ready_cond(field: str) -> Cell:
    def cell(o: Obj) -> str:
        for c in _status(o).get("conditions") or []:
            if c.get("type") == "Ready":
                return str(c.get(field) or "")
        return ""
    return cell


def _hpa_targets(o: Obj) -> str:
    """kubectl's TARGETS cell (kubernetes pkg/printers/internalversion/printers.go `formatHPAMetrics`)."""
    specs = _spec(o).get("metrics") or []
    statuses = _status(o).get("currentMetrics") or []
    if not specs:
        return "<none>"
    out: list[str] = []
    for i, m in enumerate(specs):
        st = statuses[i] if i < len(statuses) and isinstance(statuses[i], dict) else {}
        t = m.get("type")
        if t == "Resource":
            r = m.get("resource") or {}
            target = r.get("target") or {}
            cur = ((st.get("resource") or {}).get("current")) or {}
            if target.get("averageValue") is not None:
                out.append(f"{r.get('name')}: {cur.get('averageValue', '<unknown>')}/{target['averageValue']}")
            else:
                c = f"{cur['averageUtilization']}%" if cur.get("averageUtilization") is not None else "<unknown>"
                tg = f"{target['averageUtilization']}%" if target.get("averageUtilization") is not None else "<auto>"
                out.append(f"{r.get('name')}: {c}/{tg}")
        elif t == "Pods":
            target = ((m.get("pods") or {}).get("target")) or {}
            cur = ((st.get("pods") or {}).get("current")) or {}
            out.append(f"{cur.get('averageValue', '<unknown>')}/{target.get('averageValue')}")
        elif t in ("Object", "External"):
            key = t.lower()
            target = ((m.get(key) or {}).get("target")) or {}
            cur = ((st.get(key) or {}).get("current")) or {}
            if target.get("averageValue") is not None:
                out.append(f"{cur.get('averageValue', '<unknown>')}/{target['averageValue']} (avg)")
            else:
                out.append(f"{cur.get('value', '<unknown>')}/{target.get('value')}")
        else:
            out.append("<unknown type>")
    if len(out) > 2:
        return ", ".join(out[:2]) + f" + {len(out) - 2} more..."
    return ", ".join(out)


def _traffic(o: Obj, tag: str | None, field: str) -> Any:
    for t in ((_status(o).get("components") or {}).get("predictor") or {}).get("traffic") or []:
        if (tag is not None and t.get("tag") == tag) or (tag is None and t.get("latestRevision") is True):
            return t.get(field)
    return None


def _queue_children(o: Obj) -> str:
    kids = _status(o).get("childQueues") or []
    return ",".join(kids) if kids else ""


NAME: Column = ("Name", "string", 0, _name)
AGE: Column = ("Age", "string", 0, _age)

COLUMNS: dict[str, list[Column]] = {
    "pods": [NAME, ("Ready", "string", 0, _pod_ready), ("Status", "string", 0, pod_status),
             ("Restarts", "string", 0, _pod_restarts), AGE,
             ("IP", "string", 1, lambda o: _none(_status(o).get("podIP"))),
             ("Node", "string", 1, lambda o: _none(_spec(o).get("nodeName"))),
             ("Nominated Node", "string", 1, lambda o: _none(_status(o).get("nominatedNodeName"))),
             ("Readiness Gates", "string", 1, _readiness_gates)],
    "nodes": [NAME, ("Status", "string", 0, _node_status), ("Roles", "string", 0, _node_roles), AGE,
              ("Version", "string", 0, _ni("kubeletVersion")),
              ("Internal-IP", "string", 1, _node_addr("InternalIP")),
              ("External-IP", "string", 1, _node_addr("ExternalIP")),
              ("OS-Image", "string", 1, _ni("osImage")), ("Kernel-Version", "string", 1, _ni("kernelVersion")),
              ("Container-Runtime", "string", 1, _ni("containerRuntimeVersion"))],
    "namespaces": [NAME, ("Status", "string", 0, lambda o: _status(o).get("phase", "")), AGE],
    "services": [NAME, ("Type", "string", 0, lambda o: _spec(o).get("type", "ClusterIP")),
                 ("Cluster-IP", "string", 0, lambda o: _none(_spec(o).get("clusterIP"))),
                 ("External-IP", "string", 0, _svc_external), ("Port(s)", "string", 0, _svc_ports), AGE,
                 ("Selector", "string", 1, lambda o: ",".join(f"{k}={v}" for k, v in
                                                             (_spec(o).get("selector") or {}).items()) or "<none>")],
    "deployments.apps": [
        NAME, ("Ready", "string", 0, lambda o: f"{_status(o).get('readyReplicas', 0)}/{_spec(o).get('replicas', 0)}"),
        ("Up-to-date", "integer", 0, lambda o: _status(o).get("updatedReplicas", 0)),
        ("Available", "integer", 0, lambda o: _status(o).get("availableReplicas", 0)), AGE,
        ("Containers", "string", 1, lambda o: _containers(o)[0]),
        ("Images", "string", 1, lambda o: _containers(o)[1]),
        ("Selector", "string", 1, lambda o: _selector_str(_spec(o).get("selector")))],
    "replicasets.apps": [
        NAME, ("Desired", "integer", 0, lambda o: _spec(o).get("replicas", 0)),
        ("Current", "integer", 0, lambda o: _status(o).get("replicas", 0)),
        ("Ready", "integer", 0, lambda o: _status(o).get("readyReplicas", 0)), AGE,
        ("Containers", "string", 1, lambda o: _containers(o)[0]),
        ("Images", "string", 1, lambda o: _containers(o)[1]),
        ("Selector", "string", 1, lambda o: _selector_str(_spec(o).get("selector")))],
    "statefulsets.apps": [
        NAME, ("Ready", "string", 0, lambda o: f"{_status(o).get('readyReplicas', 0)}/{_spec(o).get('replicas', 0)}"),
        AGE, ("Containers", "string", 1, lambda o: _containers(o)[0]),
        ("Images", "string", 1, lambda o: _containers(o)[1])],
    "daemonsets.apps": [
        NAME, ("Desired", "integer", 0, lambda o: _status(o).get("desiredNumberScheduled", 0)),
        ("Current", "integer", 0, lambda o: _status(o).get("currentNumberScheduled", 0)),
        ("Ready", "integer", 0, lambda o: _status(o).get("numberReady", 0)),
        ("Up-to-date", "integer", 0, lambda o: _status(o).get("updatedNumberScheduled", 0)),
        ("Available", "integer", 0, lambda o: _status(o).get("numberAvailable", 0)),
        ("Node Selector", "string", 0, lambda o: ",".join(
            f"{k}={v}" for k, v in (((_spec(o).get("template") or {}).get("spec") or {}).get("nodeSelector")
                                    or {}).items()) or "<none>"), AGE],
    "jobs.batch": [
        NAME, ("Status", "string", 0, _job_status),
        ("Completions", "string", 0, lambda o: f"{_status(o).get('succeeded', 0)}/{_spec(o).get('completions', 1)}"),
        ("Duration", "string", 0, _job_duration), AGE,
        ("Containers", "string", 1, lambda o: _containers(o)[0]),
        ("Images", "string", 1, lambda o: _containers(o)[1]),
        ("Selector", "string", 1, lambda o: _selector_str(_spec(o).get("selector")))],
    "events": [("Last Seen", "string", 0, _event_last_seen), ("Type", "string", 0, lambda o: o.get("type", "")),
               ("Reason", "string", 0, lambda o: o.get("reason", "")), ("Object", "string", 0, _event_object),
               ("Message", "string", 0, lambda o: o.get("message", "")),
               ("Source", "string", 1, lambda o: (o.get("source") or {}).get("component", "")),
               ("Count", "integer", 1, lambda o: o.get("count", 1)), ("Name", "string", 1, _name)],
    "configmaps": [NAME, ("Data", "integer", 0, lambda o: len(o.get("data") or {}) + len(o.get("binaryData") or {})),
                   AGE],
    "serviceaccounts": [NAME, ("Secrets", "integer", 0, lambda o: len(o.get("secrets") or [])), AGE],
    "endpoints": [NAME, ("Endpoints", "string", 0, _endpoints), AGE],
    "resourcequotas": [NAME, AGE, ("Request", "string", 0, _quota_used("request")),
                       ("Limit", "string", 0, _quota_used("limit"))],
    "priorityclasses.scheduling.k8s.io": [
        NAME, ("Value", "integer", 0, lambda o: o.get("value", 0)),
        ("Global-Default", "boolean", 0, lambda o: bool(o.get("globalDefault", False))), AGE,
        ("PreemptionPolicy", "string", 0, lambda o: o.get("preemptionPolicy", "PreemptLowerPriority"))],
    "poddisruptionbudgets.policy": [
        NAME, ("Min Available", "string", 0, lambda o: str(_spec(o).get("minAvailable", "N/A"))),
        ("Max Unavailable", "string", 0, lambda o: str(_spec(o).get("maxUnavailable", "N/A"))),
        ("Allowed Disruptions", "integer", 0, lambda o: _status(o).get("disruptionsAllowed", 0)), AGE],
    "endpointslices.discovery.k8s.io": [
        NAME, ("AddressType", "string", 0, lambda o: o.get("addressType", "")),
        ("Ports", "string", 0, lambda o: ",".join(str(p.get("port")) for p in o.get("ports") or []) or "<unset>"),
        ("Endpoints", "string", 0, lambda o: ",".join(a for e in o.get("endpoints") or []
                                                      for a in e.get("addresses") or []) or "<unset>"), AGE],
    "queues.scheduling.run.ai": [
        NAME, ("Priority", "integer", 0, lambda o: _spec(o).get("priority", "")),
        ("Parent", "string", 0, lambda o: _spec(o).get("parentQueue", "")),
        ("Children", "string", 0, _queue_children),
        ("DisplayName", "string", 0, lambda o: _spec(o).get("displayName", "")), AGE],
    "podgroups.scheduling.run.ai": [
        NAME, ("Queue", "string", 0, lambda o: _spec(o).get("queue", "")),
        ("MinMember", "integer", 0, lambda o: _spec(o).get("minMember", "")),
        ("Phase", "string", 0, lambda o: _status(o).get("phase", "")), AGE,
        ("PriorityClass", "string", 1, lambda o: _spec(o).get("priorityClassName", ""))],
    "bindrequests.scheduling.run.ai": [
        NAME, ("Pod", "string", 0, lambda o: _spec(o).get("podName", "")),
        ("Node", "string", 0, lambda o: _spec(o).get("selectedNode", "")),
        ("Phase", "string", 0, lambda o: _status(o).get("phase", "")), AGE],
    "horizontalpodautoscalers.autoscaling": [
        NAME, ("Reference", "string", 0, lambda o: f"{(_spec(o).get('scaleTargetRef') or {}).get('kind', '')}/"
                                                   f"{(_spec(o).get('scaleTargetRef') or {}).get('name', '')}"),
        ("Targets", "string", 0, _hpa_targets),
        ("MinPods", "string", 0, lambda o: str(_spec(o)["minReplicas"]) if _spec(o).get("minReplicas") is not None
         else "<unset>"),
        ("MaxPods", "integer", 0, lambda o: _spec(o).get("maxReplicas", 0)),
        ("Replicas", "integer", 0, lambda o: _status(o).get("currentReplicas", 0)), AGE],
    # CRDs: Name, the additionalPrinterColumns, then Age, as the apiserver prints custom resources
    "services.serving.knative.dev": [
        NAME, ("URL", "string", 0, lambda o: _status(o).get("url", "")),
        ("LatestCreated", "string", 0, lambda o: _status(o).get("latestCreatedRevisionName", "")),
        ("LatestReady", "string", 0, lambda o: _status(o).get("latestReadyRevisionName", "")),
        ("Ready", "string", 0, _ready_cond("status")), ("Reason", "string", 0, _ready_cond("reason")), AGE],
    "configurations.serving.knative.dev": [
        NAME, ("LatestCreated", "string", 0, lambda o: _status(o).get("latestCreatedRevisionName", "")),
        ("LatestReady", "string", 0, lambda o: _status(o).get("latestReadyRevisionName", "")),
        ("Ready", "string", 0, _ready_cond("status")), ("Reason", "string", 0, _ready_cond("reason")), AGE],
    "revisions.serving.knative.dev": [
        NAME, ("Config Name", "string", 0, lambda o: (_md(o).get("labels") or {}).get(
            "serving.knative.dev/configuration", "")),
        ("Generation", "string", 0, lambda o: (_md(o).get("labels") or {}).get(
            "serving.knative.dev/configurationGeneration", "")),
        ("Ready", "string", 0, _ready_cond("status")), ("Reason", "string", 0, _ready_cond("reason")),
        ("Actual Replicas", "integer", 0, lambda o: _status(o).get("actualReplicas")),
        ("Desired Replicas", "integer", 0, lambda o: _status(o).get("desiredReplicas")), AGE],
    "routes.serving.knative.dev": [
        NAME, ("URL", "string", 0, lambda o: _status(o).get("url", "")),
        ("Ready", "string", 0, _ready_cond("status")), ("Reason", "string", 0, _ready_cond("reason")), AGE],
    "inferenceservices.serving.kserve.io": [
        NAME, ("URL", "string", 0, lambda o: _status(o).get("url", "")),
        ("Ready", "string", 0, _ready_cond("status")),
        ("Prev", "integer", 0, lambda o: _traffic(o, "prev", "percent")),
        ("Latest", "integer", 0, lambda o: _traffic(o, None, "percent")),
        ("PrevRolledoutRevision", "string", 0, lambda o: _traffic(o, "prev", "revisionName") or ""),
        ("LatestReadyRevision", "string", 0, lambda o: _traffic(o, None, "revisionName") or ""), AGE],
    "customresourcedefinitions.apiextensions.k8s.io": [
        NAME, ("Created At", "date", 0, lambda o: _md(o).get("creationTimestamp", ""))],
}

DESCRIPTIONS = {
    "Name": "Name must be unique within a namespace. Cannot be updated. "
            "More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names",
    "Age": "CreationTimestamp is a timestamp representing the server time when this object was created.",
}


def columns_for(rt: ResourceType) -> list[Column]:
    return COLUMNS.get(rt.key, [NAME, AGE])


def column_definitions(rt: ResourceType) -> list[dict[str, Any]]:
    out = []
    for name, typ, prio, _ in columns_for(rt):
        d: dict[str, Any] = {"name": name, "type": typ, "format": "", "description": DESCRIPTIONS.get(name, name),
                             "priority": prio}
        if name == "Name":
            d["format"] = "name"
        out.append(d)
    return out


def partial_metadata(obj: Obj) -> Obj:
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": _md(obj)}


def row(rt: ResourceType, obj: Obj, include_object: str = "Metadata") -> dict[str, Any]:
    cells = []
    for _, _, _, fn in columns_for(rt):
        try:
            cells.append(fn(obj))
        except Exception:  # a malformed object prints as unknown, never fails the whole list
            cells.append("<unknown>")
    r: dict[str, Any] = {"cells": cells}
    if include_object == "Object":
        r["object"] = obj
    elif include_object != "None":
        r["object"] = partial_metadata(obj)
    return r


def table(rt: ResourceType, objs: Iterable[Obj], list_meta: dict[str, Any] | None = None,
          include_object: str = "Metadata", with_columns: bool = True) -> dict[str, Any]:
    """A Table of `objs`; `with_columns=False` for watch events after the first, as the apiserver does."""
    return {**TABLE_KIND, "metadata": list_meta or {},
            "columnDefinitions": column_definitions(rt) if with_columns else [],
            "rows": [row(rt, o, include_object) for o in objs]}


def wants_table(accept: str | None) -> bool:
    """True when the Accept header asks for `as=Table` (kubectl get, in table and wide modes)."""
    if not accept:
        return False
    for part in accept.split(","):
        params = {p.split("=", 1)[0].strip(): p.split("=", 1)[1].strip()
                  for p in part.split(";")[1:] if "=" in p}
        if params.get("as") == "Table" and params.get("g", "meta.k8s.io") == "meta.k8s.io":
            return True
    return False
