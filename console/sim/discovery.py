"""Discovery documents and the minimal OpenAPI the simulated apiserver serves.

kubectl maps `kubectl get po` to a URL through discovery (short names, categories like `all`, which
versions a group serves), so these documents come straight from `resources.py`. kubectl 1.32 also asks
for aggregated discovery (`as=APIGroupDiscoveryList`); answering with the legacy documents as plain
`application/json` makes it fall back. For `create`/`apply` with default (strict) validation kubectl
checks, in `/openapi/v3`, whether the server supports the `fieldValidation` query parameter; the
per-group documents here declare it on every PATCH operation, so kubectl leaves validation to the
server and never needs schemas. Without schemas, kubectl builds strategic merge patches from its own
compiled-in types, which is what keeps `apply` correct.
"""

from __future__ import annotations

import hashlib
from typing import Any

from .resources import RESOURCES, ResourceType, groups

SERVER_VERSION = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.0-gpuconsole-sim",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2025-01-01T00:00:00Z",
    "goVersion": "go1.23.0",
    "compiler": "gc",
    "platform": "linux/amd64",
}

# Subresource facts: (kind, group, version, verbs); group/version None means the parent's.
SUBRESOURCES: dict[str, tuple[str | None, str | None, str | None, tuple[str, ...]]] = {
    "status": (None, None, None, ("get", "patch", "update")),
    "scale": ("Scale", "autoscaling", "v1", ("get", "patch", "update")),
    "eviction": ("Eviction", "policy", "v1", ("create",)),
    "binding": ("Binding", "", "v1", ("create",)),
    "log": ("Pod", None, None, ("get",)),
    "proxy": (None, None, None, ("create", "delete", "get", "patch", "update")),
}
PROXY_KINDS = {"pods": "PodProxyOptions", "services": "ServiceProxyOptions", "nodes": "NodeProxyOptions"}


def version() -> dict[str, Any]:
    return dict(SERVER_VERSION)


def api_versions(server_address: str) -> dict[str, Any]:
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]}


def _group_entry(name: str, versions: list[str]) -> dict[str, Any]:
    vs = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"name": name, "versions": vs, "preferredVersion": vs[0]}


Hidden = frozenset[str]
NONE_HIDDEN: Hidden = frozenset()


# The custom metrics API the simulated HPA controller reads (an aggregated API on a real cluster, served by
# an adapter such as prometheus-adapter): per-pod metrics of inference pods, from the load model.
CUSTOM_METRICS_GROUP = "custom.metrics.k8s.io"
CUSTOM_METRICS_VERSION = "v1beta2"
CUSTOM_METRICS = ("rps", "concurrency", "latency")


def _all_groups(hidden: Hidden) -> dict[str, list[str]]:
    out = groups(hidden)
    if CUSTOM_METRICS_GROUP not in hidden:
        out[CUSTOM_METRICS_GROUP] = [CUSTOM_METRICS_VERSION]
    return out


def api_group_list(hidden: Hidden = NONE_HIDDEN) -> dict[str, Any]:
    return {"kind": "APIGroupList", "apiVersion": "v1",
            "groups": [_group_entry(g, vs) for g, vs in _all_groups(hidden).items()]}


def custom_metrics_resources() -> dict[str, Any]:
    return {"kind": "APIResourceList", "apiVersion": "v1",
            "groupVersion": f"{CUSTOM_METRICS_GROUP}/{CUSTOM_METRICS_VERSION}",
            "resources": [{"name": f"pods/{m}", "singularName": "", "namespaced": True, "kind": "MetricValueList",
                           "verbs": ["get"]} for m in CUSTOM_METRICS]}


def api_group(name: str, hidden: Hidden = NONE_HIDDEN) -> dict[str, Any] | None:
    vs = _all_groups(hidden).get(name)
    if vs is None:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group_entry(name, vs)}


def served(group: str, version: str, hidden: Hidden = NONE_HIDDEN) -> list[ResourceType]:
    if group in hidden:
        return []
    return [r for r in RESOURCES if r.group == group and r.version == version]


def _storage_hash(rt: ResourceType) -> str:
    return hashlib.sha256(rt.key.encode()).hexdigest()[:11]


def resource_entries(rt: ResourceType) -> list[dict[str, Any]]:
    main: dict[str, Any] = {"name": rt.plural, "singularName": rt.singular_name, "namespaced": rt.namespaced,
                            "kind": rt.kind, "verbs": list(rt.verbs)}
    if rt.short_names:
        main["shortNames"] = list(rt.short_names)
    if rt.categories:
        main["categories"] = list(rt.categories)
    if "create" not in rt.verbs or len(rt.verbs) > 1:
        main["storageVersionHash"] = _storage_hash(rt)
    out = [main]
    for sub in rt.subresources:
        kind, group, ver, verbs = SUBRESOURCES.get(sub, (None, None, None, ("get",)))
        if sub == "proxy":
            kind = PROXY_KINDS.get(rt.plural, "ProxyOptions")
        e: dict[str, Any] = {"name": f"{rt.plural}/{sub}", "singularName": "", "namespaced": rt.namespaced,
                             "kind": kind or rt.kind, "verbs": list(verbs)}
        if group is not None and (group != rt.group or ver != rt.version):
            e["group"] = group
            e["version"] = ver
        out.append(e)
    return out


def api_resource_list(group: str, version: str, hidden: Hidden = NONE_HIDDEN) -> dict[str, Any] | None:
    rts = served(group, version, hidden)
    if not rts:
        return None
    gv = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv,
            "resources": [e for rt in rts for e in resource_entries(rt)]}


# ------------------------------------------------------------------------------------------ OpenAPI
def _gv_path(group: str, version: str) -> str:
    return f"api/{version}" if not group else f"apis/{group}/{version}"


def _gvs(hidden: Hidden = NONE_HIDDEN) -> list[tuple[str, str]]:
    seen: list[tuple[str, str]] = []
    for r in RESOURCES:
        if (r.group, r.version) not in seen and r.group not in hidden:
            seen.append((r.group, r.version))
    return seen


def openapi_v3_root(prefix: str = "", hidden: Hidden = NONE_HIDDEN) -> dict[str, Any]:
    """The index of per-group documents; `prefix` keeps a URL path prefix the client came through."""
    paths = {}
    for g, v in _gvs(hidden):
        p = _gv_path(g, v)
        h = hashlib.sha256(p.encode()).hexdigest()[:16].upper()
        paths[p] = {"serverRelativeURL": f"{prefix}/openapi/v3/{p}?hash={h}"}
    return {"paths": paths}


_QUERY_PARAMS = ("dryRun", "fieldManager", "fieldValidation", "force", "pretty")


def _operation(rt: ResourceType, verb: str) -> dict[str, Any]:
    gvk = {"group": rt.group, "version": rt.version, "kind": rt.kind}
    params = [{"name": p, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
              for p in _QUERY_PARAMS if verb in ("patch", "post", "put") or p == "pretty"]
    return {"operationId": f"{verb}{rt.kind}", "parameters": params,
            "responses": {"200": {"description": "OK"}},
            "x-kubernetes-action": verb, "x-kubernetes-group-version-kind": gvk}


def openapi_v3_group(path: str, hidden: Hidden = NONE_HIDDEN) -> dict[str, Any] | None:
    """The per-group-version document: each resource's paths and operations, with no schemas."""
    match = next(((g, v) for g, v in _gvs(hidden) if _gv_path(g, v) == path), None)
    if match is None:
        return None
    g, v = match
    paths: dict[str, Any] = {}
    for rt in served(g, v):
        base = "/" + path
        coll = f"{base}/namespaces/{{namespace}}/{rt.plural}" if rt.namespaced else f"{base}/{rt.plural}"
        item = coll + "/{name}"
        if rt.verbs == ("create",):
            paths[coll] = {"post": _operation(rt, "post")}
            continue
        paths[coll] = {"get": _operation(rt, "list"), "post": _operation(rt, "post"),
                       "delete": _operation(rt, "deletecollection")}
        paths[item] = {"get": _operation(rt, "get"), "put": _operation(rt, "put"),
                       "patch": _operation(rt, "patch"), "delete": _operation(rt, "delete")}
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": SERVER_VERSION["gitVersion"]},
            "paths": paths, "components": {"schemas": {}}}
