"""The three patch formats the apiserver accepts: JSON merge patch, strategic merge patch, JSON patch.

Strategic merge needs to know which lists merge by key. The apiserver reads that from Go struct tags;
here a table of field names carries the same facts for the kinds we serve (field names mean the same
thing wherever they appear in core/apps/batch objects). Every function returns a new object and leaves
its inputs untouched, so a failed patch never half-applies.
"""

from __future__ import annotations

import copy
from typing import Any

from .errors import ApiError

MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"

# field name -> merge key of its list items (patchStrategy "merge" in the Kubernetes types)
MERGE_KEYS: dict[str, str] = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "conditions": "type",
    "ownerReferences": "uid",
    "imagePullSecrets": "name",
    "hostAliases": "ip",
    "taints": "key",
    "addresses": "type",
    "resourceClaims": "name",
    "topologySpreadConstraints": "topologyKey",
    "schedulingGates": "name",
    "ports": "containerPort",  # container ports; service ports are told apart by their items
}
# lists of scalars that merge as sets (patchStrategy "merge" on []string)
MERGE_PRIMITIVE_LISTS = frozenset({"finalizers"})


def _bad(msg: str) -> ApiError:
    return ApiError(400, msg, "BadRequest")


# ---------------------------------------------------------------------------------------- merge patch
def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: maps merge recursively, null deletes, everything else (lists too) replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        elif isinstance(v, dict):
            out[k] = merge_patch(out.get(k), v)
        else:
            out[k] = copy.deepcopy(v)
    return out


# ---------------------------------------------------------------------------------------- strategic merge
def _merge_key(field: str, items: list[Any]) -> str | None:
    key = MERGE_KEYS.get(field)
    if field == "ports":
        sample = next((i for i in items if isinstance(i, dict) and "$patch" not in i), None)
        if sample is not None and "containerPort" not in sample and "port" in sample:
            return "port"
    return key


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    """Kubernetes strategic merge: keyed lists merge by key; `$patch`, `$retainKeys`,
    `$deleteFromPrimitiveList/…` and `$setElementOrder/…` directives are honoured."""
    if not isinstance(patch, dict):
        raise _bad("strategic merge patch: the patch must be a JSON object")
    return _smp_map(target if isinstance(target, dict) else {}, patch)


def _smp_map(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any] | None:
    directive = patch.get("$patch")
    if directive == "delete":
        return None
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if directive not in (None, "merge"):
        raise _bad(f"strategic merge patch: unknown patch type {directive!r} in map")
    out = copy.deepcopy(target)
    retain = patch.get("$retainKeys")
    orders: dict[str, list[Any]] = {}
    for k, v in patch.items():
        if k in ("$patch", "$retainKeys"):
            continue
        if k.startswith("$setElementOrder/"):
            if not isinstance(v, list):
                raise _bad(f"strategic merge patch: {k} must be a list")
            orders[k.split("/", 1)[1]] = v
            continue
        if k.startswith("$deleteFromPrimitiveList/"):
            field = k.split("/", 1)[1]
            if not isinstance(v, list):
                raise _bad(f"strategic merge patch: {k} must be a list")
            if isinstance(out.get(field), list):
                out[field] = [x for x in out[field] if x not in v]
            continue
        if k.startswith("$"):
            raise _bad(f"strategic merge patch: unknown directive {k!r}")
        if v is None:
            out.pop(k, None)
        elif isinstance(v, dict):
            merged = _smp_map(out.get(k) if isinstance(out.get(k), dict) else {}, v)
            if merged is None:
                out.pop(k, None)
            else:
                out[k] = merged
        elif isinstance(v, list):
            out[k] = _smp_list(k, out.get(k), v)
        else:
            out[k] = copy.deepcopy(v)
    for field, order in orders.items():
        if isinstance(out.get(field), list):
            out[field] = _apply_order(field, out[field], order)
    if retain is not None:
        if not isinstance(retain, list):
            raise _bad("strategic merge patch: $retainKeys must be a list")
        out = {k: v for k, v in out.items() if k in retain}
    return out


def _smp_list(field: str, current: Any, patch: list[Any]) -> list[Any]:
    cur = current if isinstance(current, list) else []
    if any(isinstance(i, dict) and i.get("$patch") == "replace" for i in patch):
        return [copy.deepcopy(i) for i in patch if not (isinstance(i, dict) and i.get("$patch") == "replace")]
    if field in MERGE_PRIMITIVE_LISTS and all(not isinstance(i, (dict, list)) for i in patch):
        out = list(cur)
        for i in patch:
            if i not in out:
                out.append(i)
        return out
    key = _merge_key(field, patch) or _merge_key(field, cur)
    if key is None or not all(isinstance(i, dict) for i in patch):
        if any(isinstance(i, dict) and "$patch" in i for i in patch):
            raise _bad(f"strategic merge patch: field {field!r} does not merge by key, so $patch is not allowed")
        return copy.deepcopy(patch)  # atomic list: replaced as a whole
    out = [copy.deepcopy(i) for i in cur]
    index = {i.get(key): n for n, i in enumerate(out) if isinstance(i, dict)}
    deleted: set[Any] = set()
    for item in patch:
        if key not in item:
            raise _bad(f"strategic merge patch: an item of {field!r} lacks its merge key {key!r}")
        kv = item[key]
        if item.get("$patch") == "delete":
            deleted.add(kv)
            continue
        if kv in index:
            merged = _smp_map(out[index[kv]], item)
            out[index[kv]] = merged if merged is not None else out[index[kv]]
        else:
            new = _smp_map({}, item) or {}
            index[kv] = len(out)
            out.append(new)
    return [i for i in out if not (isinstance(i, dict) and i.get(key) in deleted)]


def _apply_order(field: str, items: list[Any], order: list[Any]) -> list[Any]:
    """`$setElementOrder`: items named in the order list come first, in that order; the rest keep theirs."""
    key = _merge_key(field, items)
    if key is None:
        if all(not isinstance(i, (dict, list)) for i in items):
            ranked = {v: n for n, v in enumerate(order)}
            return sorted(items, key=lambda v: ranked.get(v, len(order)))
        return items
    ranked = {o.get(key) if isinstance(o, dict) else o: n for n, o in enumerate(order)}
    return sorted(items, key=lambda i: ranked.get(i.get(key) if isinstance(i, dict) else None, len(order)))


# ---------------------------------------------------------------------------------------- JSON patch
def _pointer(path: Any) -> list[str]:
    if not isinstance(path, str) or (path and not path.startswith("/")):
        raise ApiError(422, f"json patch: invalid path {path!r}: must be empty or start with '/'", "Invalid")
    if path == "":
        return []
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _walk(doc: Any, parts: list[str], path: str) -> Any:
    cur = doc
    for p in parts:
        if isinstance(cur, dict):
            if p not in cur:
                raise ApiError(422, f"json patch: path {path!r} does not exist (no {p!r})", "Invalid")
            cur = cur[p]
        elif isinstance(cur, list):
            cur = cur[_index(cur, p, path, allow_end=False)]
        else:
            raise ApiError(422, f"json patch: path {path!r} goes through a value that is not a container",
                           "Invalid")
    return cur


def _index(lst: list[Any], p: str, path: str, allow_end: bool) -> int:
    if p == "-" and allow_end:
        return len(lst)
    if not p.isdigit() or (len(p) > 1 and p.startswith("0")):
        raise ApiError(422, f"json patch: {p!r} in {path!r} is not a valid array index", "Invalid")
    i = int(p)
    if i > len(lst) or (i == len(lst) and not allow_end):
        raise ApiError(422, f"json patch: index {i} in {path!r} is out of range", "Invalid")
    return i


def _add(doc: Any, path: str, value: Any) -> Any:
    parts = _pointer(path)
    if not parts:
        return value
    parent = _walk(doc, parts[:-1], path)
    last = parts[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, last, path, allow_end=True), value)
    else:
        raise ApiError(422, f"json patch: cannot add at {path!r}: parent is not a container", "Invalid")
    return doc


def _remove(doc: Any, path: str) -> tuple[Any, Any]:
    parts = _pointer(path)
    if not parts:
        raise ApiError(422, "json patch: cannot remove the whole document", "Invalid")
    parent = _walk(doc, parts[:-1], path)
    last = parts[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise ApiError(422, f"json patch: cannot remove {path!r}: it does not exist", "Invalid")
        return doc, parent.pop(last)
    if isinstance(parent, list):
        return doc, parent.pop(_index(parent, last, path, allow_end=False))
    raise ApiError(422, f"json patch: cannot remove {path!r}: parent is not a container", "Invalid")


def json_patch(target: Any, ops: Any) -> Any:
    """RFC 6902 add / remove / replace / move / copy / test, applied to a copy, all or nothing."""
    if not isinstance(ops, list):
        raise _bad("json patch: the patch must be a JSON array of operations")
    doc = copy.deepcopy(target)
    for n, op in enumerate(ops):
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise _bad(f"json patch: operation {n} must be an object with 'op' and 'path'")
        kind, path = op["op"], op["path"]
        if kind in ("add", "replace", "test") and "value" not in op:
            raise _bad(f"json patch: operation {n} ({kind}) needs a 'value'")
        if kind in ("move", "copy") and "from" not in op:
            raise _bad(f"json patch: operation {n} ({kind}) needs a 'from'")
        if kind == "add":
            doc = _add(doc, path, copy.deepcopy(op["value"]))
        elif kind == "remove":
            doc, _ = _remove(doc, path)
        elif kind == "replace":
            parts = _pointer(path)
            if parts:
                _walk(doc, parts, path)  # must exist
                doc, _ = _remove(doc, path)
            doc = _add(doc, path, copy.deepcopy(op["value"]))
        elif kind == "move":
            if path.startswith(op["from"] + "/"):
                raise ApiError(422, f"json patch: cannot move {op['from']!r} into its own child {path!r}",
                               "Invalid")
            doc, value = _remove(doc, op["from"])
            doc = _add(doc, path, value)
        elif kind == "copy":
            value = copy.deepcopy(_walk(doc, _pointer(op["from"]), op["from"]))
            doc = _add(doc, path, value)
        elif kind == "test":
            if _walk(doc, _pointer(path), path) != op["value"]:
                raise ApiError(422, f"json patch: test operation failed: {path!r} is not {op['value']!r}",
                               "Invalid")
        else:
            raise _bad(f"json patch: unknown operation {kind!r} (operation {n})")
    return doc


def apply(content_type: str, target: dict[str, Any], patch: Any, custom_resource: bool = False) -> Any:
    """Apply a patch body of the given media type; unsupported types are a 415 that says what to use."""
    ct = content_type.split(";")[0].strip().lower()
    if ct == MERGE_PATCH:
        if not isinstance(patch, dict):
            raise _bad("merge patch: the patch must be a JSON object")
        return merge_patch(target, patch)
    if ct == STRATEGIC_PATCH:
        if custom_resource:
            raise ApiError(415, "strategic merge patch is not supported for custom resources; use "
                                "application/merge-patch+json or application/json-patch+json",
                           "UnsupportedMediaType")
        return strategic_merge_patch(target, patch)
    if ct == JSON_PATCH:
        return json_patch(target, patch)
    if ct == APPLY_PATCH:
        raise ApiError(415, "server-side apply (application/apply-patch+yaml) is not supported by this server; "
                            "use client-side apply (kubectl apply without --server-side) or another patch type",
                       "UnsupportedMediaType")
    raise ApiError(415, f"the body of the request was in an unknown format - accepted media types include: "
                        f"{JSON_PATCH}, {MERGE_PATCH}, {STRATEGIC_PATCH}", "UnsupportedMediaType")
