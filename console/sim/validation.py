"""Admission for the simulated apiserver: the defaulting and validation clients rely on.

Defaulting fills what a real apiserver fills (pod phase and restart policy, deployment replicas and
strategy, job completions, service cluster IPs...), so objects read back look like a real cluster's.
Validation collects every bad field as one cause of a single 422, so a bad manifest is rejected whole
with messages that say which field and why. KAI-specific rules (GPU-sharing annotations) are added by
their own hook on the same `store.admission` list.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Any

from .errors import invalid
from .resources import (
    DAEMONSETS, DEPLOYMENTS, JOBS, NAMESPACES, PODS, PRIORITYCLASSES, QUEUES, REPLICASETS, SERVICES,
    STATEFULSETS, ResourceType,
)
from .selectors import selector_from_match

Obj = dict[str, Any]
Cause = dict[str, str]

DNS1123_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS1123_SUBDOMAIN = DNS1123_LABEL + r"(\." + DNS1123_LABEL + r")*"
DNS1035_LABEL = r"[a-z]([-a-z0-9]*[a-z0-9])?"
QUALIFIED_NAME = r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
LABEL_VALUE = r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?"

_LABEL_RE = re.compile(DNS1123_LABEL + r"\Z")
_SUBDOMAIN_RE = re.compile(DNS1123_SUBDOMAIN + r"\Z")
_DNS1035_RE = re.compile(DNS1035_LABEL + r"\Z")
_QNAME_RE = re.compile(QUALIFIED_NAME + r"\Z")
_LVALUE_RE = re.compile(LABEL_VALUE + r"\Z")

MSG_SUBDOMAIN = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
                 "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
                 f"validation is '{DNS1123_SUBDOMAIN}')")
MSG_LABEL = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
             f"start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
             f"validation is '{DNS1123_LABEL}')")
MSG_DNS1035 = ("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
               f"alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', "
               f"regex used for validation is '{DNS1035_LABEL}')")
MSG_QNAME = ("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with "
             f"an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
             f"validation is '{QUALIFIED_NAME}')")
MSG_LVALUE = ("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
              "and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or "
              f"'12345', regex used for validation is '{LABEL_VALUE}')")

SERVICE_CIDR = ipaddress.ip_network("10.96.0.0/12")


def _q(v: Any) -> str:
    """A value quoted the way Go's field errors print it."""
    if isinstance(v, str):
        return '"' + v.replace('"', '\\"') + '"'
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "null"
    return str(v)


def required(field: str, detail: str = "") -> Cause:
    return {"reason": "FieldValueRequired", "message": "Required value" + (f": {detail}" if detail else ""),
            "field": field}


def bad_value(field: str, value: Any, detail: str) -> Cause:
    return {"reason": "FieldValueInvalid", "message": f"Invalid value: {_q(value)}: {detail}", "field": field}


def not_supported(field: str, value: Any, allowed: list[str]) -> Cause:
    opts = ", ".join(_q(a) for a in allowed)
    return {"reason": "FieldValueNotSupported", "message": f"Unsupported value: {_q(value)}: supported values: "
            f"{opts}", "field": field}


def too_long(field: str, value: Any, limit: int) -> Cause:
    return {"reason": "FieldValueTooLong", "message": f"Too long: may not be more than {limit} bytes",
            "field": field}


# ------------------------------------------------------------------------------------------ names
def check_subdomain(field: str, value: Any) -> list[Cause]:
    if not isinstance(value, str) or not _SUBDOMAIN_RE.match(value):
        return [bad_value(field, value, MSG_SUBDOMAIN)]
    if len(value) > 253:
        return [bad_value(field, value, "must be no more than 253 characters")]
    return []


def check_label_name(field: str, value: Any) -> list[Cause]:
    if not isinstance(value, str) or not _LABEL_RE.match(value):
        return [bad_value(field, value, MSG_LABEL)]
    if len(value) > 63:
        return [bad_value(field, value, "must be no more than 63 characters")]
    return []


def check_dns1035(field: str, value: Any) -> list[Cause]:
    if not isinstance(value, str) or not _DNS1035_RE.match(value):
        return [bad_value(field, value, MSG_DNS1035)]
    if len(value) > 63:
        return [bad_value(field, value, "must be no more than 63 characters")]
    return []


def check_qualified_key(field: str, key: Any) -> list[Cause]:
    """A label or annotation key: optional DNS-subdomain prefix and '/', then a 63-character name."""
    if not isinstance(key, str) or not key:
        return [bad_value(field, key, MSG_QNAME)]
    prefix, _, name = key.rpartition("/")
    out: list[Cause] = []
    if "/" in key and (not prefix or not _SUBDOMAIN_RE.match(prefix) or len(prefix) > 253):
        out.append(bad_value(field, key, "prefix part " + MSG_SUBDOMAIN))
    if not _QNAME_RE.match(name):
        out.append(bad_value(field, key, MSG_QNAME))
    elif len(name) > 63:
        out.append(bad_value(field, key, "name part must be no more than 63 characters"))
    return out


def check_labels(field: str, labels: Any) -> list[Cause]:
    if labels is None:
        return []
    if not isinstance(labels, dict):
        return [bad_value(field, labels, "must be a map of string keys to string values")]
    out: list[Cause] = []
    for k, v in labels.items():
        out += check_qualified_key(field, k)
        if not isinstance(v, str):
            out.append(bad_value(f"{field}", v, f"label {k!r} must have a string value"))
        elif len(v) > 63:
            out.append(bad_value(field, v, "must be no more than 63 characters"))
        elif not _LVALUE_RE.match(v):
            out.append(bad_value(field, v, MSG_LVALUE))
    return out


def check_annotations(field: str, ann: Any) -> list[Cause]:
    if ann is None:
        return []
    if not isinstance(ann, dict):
        return [bad_value(field, ann, "must be a map of string keys to string values")]
    out: list[Cause] = []
    total = 0
    for k, v in ann.items():
        out += check_qualified_key(field, k)
        if not isinstance(v, str):
            out.append(bad_value(field, v, f"annotation {k!r} must have a string value"))
        else:
            total += len(k) + len(v)
    if total > 256 * 1024:
        out.append(too_long(field, "", 256 * 1024))
    return out


def _name_check(rt: ResourceType) -> Callable[[str, Any], list[Cause]]:
    if rt is NAMESPACES:
        return check_label_name
    if rt is SERVICES:
        return check_dns1035
    return check_subdomain


def check_metadata(rt: ResourceType, obj: Obj) -> list[Cause]:
    md = obj.get("metadata")
    if not isinstance(md, dict):
        return [required("metadata")]
    out = _name_check(rt)("metadata.name", md.get("name"))
    out += check_labels("metadata.labels", md.get("labels"))
    out += check_annotations("metadata.annotations", md.get("annotations"))
    return out


# ------------------------------------------------------------------------------------------ int helpers
def _int_ge(field: str, v: Any, low: int = 0) -> list[Cause]:
    if isinstance(v, bool) or not isinstance(v, int):
        return [bad_value(field, v, "must be an integer")]
    if v < low:
        return [bad_value(field, v, f"must be greater than or equal to {low}")]
    return []


# ------------------------------------------------------------------------------------------ pods
RESTART_POLICIES = ["Always", "OnFailure", "Never"]


def default_container(c: Obj) -> None:
    image = c.get("image")
    if "imagePullPolicy" not in c and isinstance(image, str):
        tail = image.rsplit("/", 1)[-1]
        c["imagePullPolicy"] = "Always" if (":" not in tail or tail.endswith(":latest")) and "@" not in tail \
            else "IfNotPresent"
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    c.setdefault("resources", {})
    for p in c.get("ports") or []:
        if isinstance(p, dict):
            p.setdefault("protocol", "TCP")


def default_pod_spec(spec: Obj) -> None:
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("securityContext", {})
    if "serviceAccountName" not in spec:
        spec["serviceAccountName"] = spec.get("serviceAccount") or "default"
    for key in ("containers", "initContainers"):
        for c in spec.get(key) or []:
            if isinstance(c, dict):
                default_container(c)


def check_pod_spec(prefix: str, spec: Any, restart_allowed: list[str] | None = None) -> list[Cause]:
    if not isinstance(spec, dict):
        return [required(prefix)]
    out: list[Cause] = []
    containers = spec.get("containers")
    if not isinstance(containers, list) or not containers:
        out.append(required(f"{prefix}.containers"))
        containers = []
    names: set[str] = set()
    for key, items in (("containers", containers), ("initContainers", spec.get("initContainers") or [])):
        if not isinstance(items, list):
            out.append(bad_value(f"{prefix}.{key}", items, "must be a list"))
            continue
        for i, c in enumerate(items):
            f = f"{prefix}.{key}[{i}]"
            if not isinstance(c, dict):
                out.append(bad_value(f, c, "must be an object"))
                continue
            name = c.get("name")
            if not name:
                out.append(required(f"{f}.name"))
            else:
                out += check_label_name(f"{f}.name", name)
                if name in names:
                    out.append({"reason": "FieldValueDuplicate", "message": f"Duplicate value: {_q(name)}",
                                "field": f"{f}.name"})
                names.add(name)
            if not c.get("image"):
                out.append(required(f"{f}.image"))
            for j, p in enumerate(c.get("ports") or []):
                cp = p.get("containerPort") if isinstance(p, dict) else None
                if isinstance(cp, bool) or not isinstance(cp, int) or not 0 < cp < 65536:
                    out.append(bad_value(f"{f}.ports[{j}].containerPort", cp,
                                         "must be between 1 and 65535, inclusive"))
            for j, e in enumerate(c.get("env") or []):
                if not isinstance(e, dict) or not e.get("name"):
                    out.append(required(f"{f}.env[{j}].name"))
    rp = spec.get("restartPolicy")
    allowed = restart_allowed or RESTART_POLICIES
    if rp is None and restart_allowed:
        out.append(required(f"{prefix}.restartPolicy"))
    elif rp is not None and rp not in allowed:
        out.append(not_supported(f"{prefix}.restartPolicy", rp, allowed))
    return out


def _pod(obj: Obj, old: Obj | None, op: str) -> list[Cause]:
    spec = obj.get("spec")
    if isinstance(spec, dict):
        default_pod_spec(spec)
    if op == "CREATE":
        status = obj.setdefault("status", {})
        if isinstance(status, dict):
            status.setdefault("phase", "Pending")
            status.setdefault("qosClass", _qos(spec if isinstance(spec, dict) else {}))
    return check_pod_spec("spec", spec)


def _qos(spec: Obj) -> str:
    reqs = lims = 0
    guaranteed = True
    for c in spec.get("containers") or []:
        if not isinstance(c, dict):
            continue
        res = c.get("resources") or {}
        r, lim = res.get("requests") or {}, res.get("limits") or {}
        reqs += len(r)
        lims += len(lim)
        for k in ("cpu", "memory"):
            if k not in lim or (k in r and r[k] != lim[k]):
                guaranteed = False
    if not reqs and not lims:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


# ------------------------------------------------------------------------------------------ workloads
def _template(obj: Obj, restart_allowed: list[str] | None = None) -> list[Cause]:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return [required("spec")]
    tpl = spec.get("template")
    if not isinstance(tpl, dict):
        return [required("spec.template")]
    tspec = tpl.get("spec")
    if isinstance(tspec, dict):
        default_pod_spec(tspec)
    out = check_labels("spec.template.metadata.labels", (tpl.get("metadata") or {}).get("labels"))
    out += check_pod_spec("spec.template.spec", tspec, restart_allowed)
    return out


def _selector_matches_template(obj: Obj) -> list[Cause]:
    spec = obj.get("spec") or {}
    sel = spec.get("selector")
    if not isinstance(sel, dict) or not (sel.get("matchLabels") or sel.get("matchExpressions")):
        return [required("spec.selector")]
    try:
        ls = selector_from_match(sel)
    except (ValueError, KeyError, TypeError) as e:
        return [bad_value("spec.selector", sel, str(e))]
    labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    if not ls.matches(labels):
        return [bad_value("spec.template.metadata.labels", labels, "`selector` does not match template `labels`")]
    return []


def _replicated(obj: Obj, old: Obj | None, op: str) -> list[Cause]:
    spec = obj.get("spec")
    if isinstance(spec, dict):
        spec.setdefault("replicas", 1)
        spec.setdefault("revisionHistoryLimit", 10)
    out = _template(obj)
    if isinstance(spec, dict):
        out += _int_ge("spec.replicas", spec.get("replicas"))
        out += _selector_matches_template(obj)
    return out


def _deployment(obj: Obj, old: Obj | None, op: str) -> list[Cause]:
    spec = obj.get("spec")
    if isinstance(spec, dict):
        spec.setdefault("progressDeadlineSeconds", 600)
        strategy = spec.setdefault("strategy", {})
        if isinstance(strategy, dict):
            strategy.setdefault("type", "RollingUpdate")
            if strategy["type"] == "RollingUpdate":
                ru = strategy.setdefault("rollingUpdate", {})
                if isinstance(ru, dict):
                    ru.setdefault("maxUnavailable", "25%")
                    ru.setdefault("maxSurge", "25%")
    out = _replicated(obj, old, op)
    st = (spec or {}).get("strategy") if isinstance(spec, dict) else None
    if isinstance(st, dict) and st.get("type") not in ("RollingUpdate", "Recreate"):
        out.append(not_supported("spec.strategy.type", st.get("type"), ["Recreate", "RollingUpdate"]))
    return out


def _daemonset(obj: Obj, old: Obj | None, op: str) -> list[Cause]:
    spec = obj.get("spec")
    if isinstance(spec, dict):
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("updateStrategy", {"type": "RollingUpdate",
                                           "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}})
    return _template(obj) + (_selector_matches_template(obj) if isinstance(spec, dict) else [])


def _job(obj: Obj, old: Obj | None, op: str) -> list[Cause]:
    spec = obj.get("spec")
    out: list[Cause] = []
    if isinstance(spec, dict):
        if spec.get("completions") is None and spec.get("parallelism") is None:
            spec["completions"] = 1
            spec["parallelism"] = 1
        spec.setdefault("parallelism", 1)
        spec.setdefault("backoffLimit", 6)
        spec.setdefault("completionMode", "NonIndexed")
        spec.setdefault("suspend", False)
        spec.setdefault("manualSelector", False)
        name = (obj.get("metadata") or {}).get("name") or ""
        tpl = spec.get("template")
        if op == "CREATE" and isinstance(tpl, dict) and not spec.get("selector") and name:
            if not isinstance(tpl.get("metadata"), dict):
                tpl["metadata"] = {}
            if not isinstance(tpl["metadata"].get("labels"), dict):
                tpl["metadata"]["labels"] = {}
            labels = tpl["metadata"]["labels"]
            if isinstance(labels, dict):
                labels.setdefault("batch.kubernetes.io/job-name", name)
                labels.setdefault("job-name", name)
                spec["selector"] = {"matchLabels": {"batch.kubernetes.io/job-name": name}}
        for f in ("parallelism", "completions", "backoffLimit"):
            if spec.get(f) is not None:
                out += _int_ge(f"spec.{f}", spec.get(f))
    out += _template(obj, restart_allowed=["OnFailure", "Never"])
    return out


# ------------------------------------------------------------------------------------------ services
def _next_cluster_ip(used: set[str], seed: int) -> str:
    hosts = SERVICE_CIDR.num_addresses - 2
    n = seed % hosts
    for _ in range(hosts):
        ip = str(SERVICE_CIDR.network_address + 1 + n)
        if ip not in used and ip != "10.96.0.1":
            return ip
        n = (n + 1) % hosts
    raise RuntimeError("service CIDR exhausted")


def _service_checker(store: Any) -> Callable[[Obj, Obj | None, str], list[Cause]]:
    used: set[str] = set()
    scanned = [False]

    def check(obj: Obj, old: Obj | None, op: str) -> list[Cause]:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return [required("spec")]
        out: list[Cause] = []
        stype = spec.setdefault("type", "ClusterIP")
        if stype not in ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName"):
            out.append(not_supported("spec.type", stype, ["ClusterIP", "ExternalName", "LoadBalancer",
                                                          "NodePort"]))
        spec.setdefault("sessionAffinity", "None")
        if stype != "ExternalName":
            spec.setdefault("internalTrafficPolicy", "Cluster")
            spec.setdefault("ipFamilies", ["IPv4"])
            spec.setdefault("ipFamilyPolicy", "SingleStack")
            if old is not None and (old.get("spec") or {}).get("clusterIP"):
                spec["clusterIP"] = old["spec"]["clusterIP"]
                spec["clusterIPs"] = old["spec"].get("clusterIPs") or [old["spec"]["clusterIP"]]
            elif not spec.get("clusterIP"):
                if not scanned[0]:
                    used.update((s.get("spec") or {}).get("clusterIP") or "" for s in store.items(SERVICES))
                    scanned[0] = True
                ip = _next_cluster_ip(used, len(used) * 7919 + 10)
                used.add(ip)
                spec["clusterIP"] = ip
                spec["clusterIPs"] = [ip]
            elif spec["clusterIP"] != "None":
                try:
                    ipaddress.ip_address(spec["clusterIP"])
                    used.add(spec["clusterIP"])
                except ValueError:
                    out.append(bad_value("spec.clusterIP", spec["clusterIP"], "must be a valid IP address"))
                spec.setdefault("clusterIPs", [spec["clusterIP"]])
            else:
                spec.setdefault("clusterIPs", ["None"])
        ports = spec.get("ports")
        if stype != "ExternalName" and spec.get("clusterIP") != "None" and not ports:
            out.append(required("spec.ports"))
        for i, p in enumerate(ports or []):
            if not isinstance(p, dict):
                out.append(bad_value(f"spec.ports[{i}]", p, "must be an object"))
                continue
            p.setdefault("protocol", "TCP")
            port = p.get("port")
            if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
                out.append(bad_value(f"spec.ports[{i}].port", port, "must be between 1 and 65535, inclusive"))
            else:
                p.setdefault("targetPort", port)
            if len(ports) > 1 and not p.get("name"):
                out.append(required(f"spec.ports[{i}].name"))
        if stype in ("NodePort", "LoadBalancer"):
            for n, p in enumerate(ports or []):
                if isinstance(p, dict) and not p.get("nodePort"):
                    p["nodePort"] = 30000 + (len(used) * 131 + n) % 2768
        return out

    return check


# ------------------------------------------------------------------------------------------ others
def _namespace(obj: Obj, old: Obj | None, op: str) -> list[Cause]:
    name = (obj.get("metadata") or {}).get("name")
    if isinstance(name, str):
        labels = obj["metadata"].setdefault("labels", {}) or {}
        if isinstance(labels, dict):
            labels.setdefault("kubernetes.io/metadata.name", name)
            obj["metadata"]["labels"] = labels
    spec = obj.setdefault("spec", {})
    if isinstance(spec, dict):
        spec.setdefault("finalizers", ["kubernetes"])
    status = obj.setdefault("status", {})
    if isinstance(status, dict):
        status.setdefault("phase", "Active")
    return []


def _priorityclass(obj: Obj, old: Obj | None, op: str) -> list[Cause]:
    obj.setdefault("globalDefault", False)
    obj.setdefault("preemptionPolicy", "PreemptLowerPriority")
    v = obj.get("value")
    if v is None:
        return [required("value")]
    if isinstance(v, bool) or not isinstance(v, int):
        return [bad_value("value", v, "must be an integer")]
    if v > 1_000_000_000:
        return [bad_value("value", v, "maximum allowed value of a user defined priority is 1000000000")]
    return []


def _queue(obj: Obj, old: Obj | None, op: str) -> list[Cause]:
    spec = obj.get("spec")
    if not isinstance(spec, dict) or not isinstance(spec.get("resources"), dict):
        return [required("spec.resources", "a Queue must set spec.resources (gpu, cpu, memory quotas)")]
    return []


Checker = Callable[[Obj, Obj | None, str], list[Cause]]


def checkers(store: Any) -> dict[str, Checker]:
    return {
        PODS.key: _pod,
        DEPLOYMENTS.key: _deployment,
        REPLICASETS.key: _replicated,
        STATEFULSETS.key: _replicated,
        DAEMONSETS.key: _daemonset,
        JOBS.key: _job,
        SERVICES.key: _service_checker(store),
        NAMESPACES.key: _namespace,
        PRIORITYCLASSES.key: _priorityclass,
        QUEUES.key: _queue,
    }


def make_hook(store: Any) -> Callable[[ResourceType, Obj, Obj | None, str], None]:
    """The admission function for `store.admission`: default, then raise one 422 listing every bad field."""
    table = checkers(store)

    def admit(rt: ResourceType, obj: Obj, old: Obj | None, op: str) -> None:
        if op == "DELETE":
            return
        causes: list[Cause] = []
        if op == "CREATE":
            causes += check_metadata(rt, obj)
        else:
            md = obj.get("metadata") or {}
            causes += check_labels("metadata.labels", md.get("labels"))
            causes += check_annotations("metadata.annotations", md.get("annotations"))
        fn = table.get(rt.key)
        if fn is not None:
            causes += fn(obj, old, op)
        if causes:
            name = (obj.get("metadata") or {}).get("name") or ""
            raise invalid(rt.kind, str(name), causes, rt.group)

    return admit


def install(cluster: Any) -> None:
    """Register defaulting and validation on the cluster's store (idempotent)."""
    if cluster.extras.get("validation_installed"):
        return
    cluster.store.admission.append(make_hook(cluster.store))
    cluster.extras["validation_installed"] = True
