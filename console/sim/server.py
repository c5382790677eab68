"""The simulated kube-apiserver's HTTP layer (aiohttp), good enough for real `kubectl` and our own client.

One catch-all route parses Kubernetes REST paths itself (core `/api/v1`, groups `/apis/<g>/<v>`,
namespaced or cluster-scoped, subresources), because the apiserver's URL grammar is easier to read as
code than as a route table. Every request goes: faults → authentication → authorization → handler;
every failure is a `Status` body. It serves HTTPS by default, with a CA and certificate made at start
(`tls`); a client certificate signed by that CA authenticates as kube-apiserver's x509 authenticator
does (before any bearer token). Plain HTTP is kept for debugging, and only there may a token ride in
the URL path (`/sim/auth/<token>/...`), because kubectl sends bearer tokens only over TLS. Large lists and watches are streamed in chunks so the controllers,
which share this event loop, keep running while a 60,000-pod list is being written.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import inspect
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import yaml
from aiohttp import web

from . import discovery, graceful, patch as patching, pdb as pdbs, protobuf, tables
from .auth import Attributes, User, Users
from .cluster import SimCluster
from .errors import ApiError, bad_request, conflict, forbidden, method_not_allowed, unauthorized
from .resources import PODS, ResourceType, is_custom, lookup
from .selectors import parse_field_selector, parse_label_selector
from .store import BOOKMARK, ERROR, Watch
from .tls import ServerTLS, server_tls

log = logging.getLogger("gpuconsole.sim.server")
Obj = dict[str, Any]

JSON = "application/json"
PUBLIC_PATHS = ("/version", "/healthz", "/readyz", "/livez")
CHUNK = 2000  # objects per written chunk of a large list
SCALABLE = {"deployments.apps", "replicasets.apps", "statefulsets.apps"}
SUCCESS_201 = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}


def _json(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=orjson.dumps(obj), status=status, content_type=JSON, headers=headers)


def status_response(e: ApiError) -> web.Response:
    headers = {}
    if e.retry_after is not None:
        headers["Retry-After"] = str(int(max(1, round(e.retry_after))))
    return _json(e.status(), e.code, headers)


def _not_served() -> ApiError:
    return ApiError(404, "the server could not find the requested resource", "NotFound")


@dataclass
class Route:
    """A parsed resource request."""

    rt: ResourceType
    namespace: str | None
    name: str | None
    sub: str | None
    rest: list[str]  # path after the subresource (proxy)
    trailing_slash: bool = False


class ApiServer:
    """Request handling for one cluster; `start_server` wires it into an aiohttp app."""

    def __init__(self, cluster: SimCluster, users: Users, bookmark_interval: float = 5.0,
                 log_poll_interval: float = 0.2, tls: bool = False) -> None:
        self.cluster = cluster
        self.tls = tls
        self.store = cluster.store
        self.users = users
        self.bookmark_interval = bookmark_interval
        self.log_poll_interval = log_poll_interval
        self.address = ""
        self.stopping = False
        self._watches: set[Watch] = set()
        self.requests = 0
        # The last requests' (method, path, status): what tests read to see that nothing more was sent.
        self.trail: deque[tuple[str, str, int]] = deque(maxlen=256)

    # ================================================================== entry
    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        resp = await self._handle(request)
        self.trail.append((request.method, request.path, resp.status))
        return resp

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path, path_token = (request.path, None) if self.tls else split_token_prefix(request.path)
        try:
            if path.rstrip("/") == "/sim/faults":
                return await self._faults_endpoint(request, path_token)
            if path.rstrip("/") == "/sim/churn":
                return await self._churn_endpoint(request, path_token)
            if path.rstrip("/") == "/sim/load":
                return await self._load_endpoint(request, path_token)
            faults = self.cluster.extras.get("faults")
            if faults is not None:
                await faults.before_request()
            if path.rstrip("/") in PUBLIC_PATHS or path.startswith(("/healthz/", "/livez/", "/readyz/")):
                return self._public(request, path.rstrip("/"))
            user = self._authenticate(request, path_token)
            prefix = request.path[:len(request.path) - len(path)]
            return await self._dispatch(request, user, path, prefix)
        except ApiError as e:
            return status_response(e)
        except (ConnectionResetError, asyncio.CancelledError):
            raise
        except Exception as e:  # a handler bug is a 500 Status, never a traceback to the client
            log.exception("request failed: %s %s", request.method, request.path_qs)
            return status_response(ApiError(500, f"Internal error occurred: {type(e).__name__}: {e}",
                                            "InternalError"))

    def _public(self, request: web.Request, path: str) -> web.Response:
        if request.method not in ("GET", "HEAD"):
            raise method_not_allowed()
        if path == "/version":
            return _json(discovery.version())
        return web.Response(text="ok", content_type="text/plain")

    def _authenticate(self, request: web.Request, path_token: str | None = None) -> User:
        """A client certificate signed by our CA, else the bearer token of the Authorization header (or, over
        plain HTTP, the one in a `/sim/auth/<token>` URL prefix)."""
        peer = request.transport.get_extra_info("peercert") if self.tls and request.transport else None
        if peer:  # verified by the TLS layer against our CA (a certificate from elsewhere fails the handshake)
            user = self.users.authenticate_cert(peer)
            if user is None:
                raise unauthorized()
            return user
        if path_token is not None:
            token = path_token
        else:
            scheme, _, token = request.headers.get("Authorization", "").partition(" ")
            if scheme.lower() != "bearer":
                token = ""
        user = self.users.authenticate(token.strip())
        if user is None:
            raise unauthorized()
        return user

    async def _faults_endpoint(self, request: web.Request, path_token: str | None) -> web.Response:
        user = self._authenticate(request, path_token)
        if user.kind != "admin":
            raise ApiError(403, f'User "{user.name}" cannot use the fault endpoint: it is admin-only', "Forbidden")
        faults = self.cluster.extras.get("faults")
        if faults is None:
            raise ApiError(404, "fault injection is not installed on this cluster", "NotFound")
        if request.method == "GET":
            return _json(faults.state())
        if request.method != "POST":
            raise method_not_allowed()
        body = await self._body(request)
        return _json(faults.apply_json(body))

    async def _churn_endpoint(self, request: web.Request, path_token: str | None) -> web.Response:
        """Pod changes made inside the simulator at a steady rate (see `console.sim.churn`); admin-only."""
        from . import churn

        user = self._authenticate(request, path_token)
        if user.kind != "admin":
            raise ApiError(403, f'User "{user.name}" cannot use the churn endpoint: it is admin-only', "Forbidden")
        if request.method == "GET":
            running = self.cluster.extras.get("churn")
            if running is None:
                raise ApiError(404, "no churn has been started", "NotFound")
            return _json(running.state())
        if request.method != "POST":
            raise method_not_allowed()
        return _json(churn.apply_json(self.cluster, await self._body(request)))

    async def _load_endpoint(self, request: web.Request, path_token: str | None) -> web.Response:
        """`POST /sim/load {"namespace", "name", "rps"}` sets a service's offered load; GET lists them.

        Admin-only, like the fault endpoint; `kubectl create --raw /sim/load -f body.json` sends it."""
        user = self._authenticate(request, path_token)
        if user.kind != "admin":
            raise ApiError(403, f'User "{user.name}" cannot use the load endpoint: it is admin-only', "Forbidden")
        from . import serving_load
        model = serving_load.of(self.cluster)
        now = self.cluster.clock.now()
        if request.method == "GET":
            return _json({"services": [{"namespace": k[0], "name": k[1], "rps": round(model.offered(k, now), 3),
                                        "set": sv.set_rps is not None}
                                       for k, sv in sorted(model.services.items())]})
        if request.method != "POST":
            raise method_not_allowed()
        body = _as_object(await self._body(request), "load setting")
        ns, name, rps = body.get("namespace"), body.get("name"), body.get("rps")
        problems = []
        if not isinstance(ns, str) or not ns:
            problems.append("namespace: required (a string)")
        if not isinstance(name, str) or not name:
            problems.append("name: required (a string)")
        if isinstance(rps, bool) or not isinstance(rps, (int, float)) or not rps >= 0 or rps == float("inf"):
            problems.append(f"rps: must be a number 0 or more, got {rps!r}")
        if problems:
            raise ApiError(422, "invalid load setting: " + "; ".join(problems), "Invalid")
        found = serving_load.find_service(self.store, ns, name)
        if found is None:
            raise ApiError(404, f"no inference service named {name!r} in namespace {ns!r} (a Knative Service, "
                                "InferenceService, InferenceWorkload or Deployment)", "NotFound")
        sv = model.declare(ns, name, (found.get("metadata") or {}).get("annotations"))
        model.set_rps(ns, name, float(rps), now)
        return _json({"namespace": ns, "name": name, "rps": sv.set_rps, "kind": found.get("kind")}, 201)

    # ================================================================== routing
    async def _dispatch(self, request: web.Request, user: User, path: str, prefix: str) -> web.StreamResponse:
        trailing = path.endswith("/") and len(path) > 1
        parts = [p for p in path.split("/") if p]
        if not parts:
            return _json({"paths": ["/api", "/api/v1", "/apis", "/healthz", "/livez", "/openapi/v2",
                                    "/openapi/v3", "/readyz", "/version"]})
        if parts[0] == "openapi":
            return self._openapi(request, parts, prefix)
        if parts[0] == "api":
            if len(parts) == 1:
                self._get_only(request)
                return _json(discovery.api_versions(self.address))
            group, version, rest = "", parts[1], parts[2:]
        elif parts[0] == "apis":
            if len(parts) == 1:
                self._get_only(request)
                return _json(discovery.api_group_list(self.cluster.without))
            if len(parts) == 2:
                self._get_only(request)
                doc = discovery.api_group(parts[1], self.cluster.without)
                if doc is None:
                    raise _not_served()
                return _json(doc)
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise _not_served()
        if group == discovery.CUSTOM_METRICS_GROUP and group not in self.cluster.without:
            return self._custom_metrics(request, version, rest)
        if not rest:
            self._get_only(request)
            doc = discovery.api_resource_list(group, version, self.cluster.without)
            if doc is None:
                raise _not_served()
            return _json(doc)
        if group in self.cluster.without:
            raise _not_served()
        route = self._route(group, version, rest, trailing)
        return await self._resource(request, user, route)

    def _custom_metrics(self, request: web.Request, version: str, rest: list[str]) -> web.Response:
        """`/apis/custom.metrics.k8s.io/v1beta2[/namespaces/NS/pods/NAME|*/METRIC]`: per-pod serving metrics."""
        self._get_only(request)
        if version != discovery.CUSTOM_METRICS_VERSION:
            raise _not_served()
        if not rest:
            return _json(discovery.custom_metrics_resources())
        if len(rest) != 5 or rest[0] != "namespaces" or rest[2] != "pods" or rest[4] not in discovery.CUSTOM_METRICS:
            raise ApiError(404, f"the server could not find the metric {'/'.join(rest)}: the simulator serves pods/"
                                f"{{{','.join(discovery.CUSTOM_METRICS)}}}", "NotFound")
        from . import hpa, serving_load
        ns, pod_name, metric = rest[1], rest[3], rest[4]
        labels, _ = _selectors(request.query, PODS)
        model = serving_load.of(self.cluster)
        items = []
        for p in self.store.items(PODS, ns):
            md = p["metadata"]
            if pod_name != "*" and md["name"] != pod_name:
                continue
            if not labels.matches(md.get("labels")):
                continue
            pl = model.pod((ns, md["name"]))
            v = hpa.pod_metric(pl, metric) if pl is not None else None
            if v is None:
                continue
            items.append({"describedObject": {"kind": "Pod", "namespace": ns, "name": md["name"], "apiVersion": "/v1"},
                          "metric": {"name": metric}, "timestamp": self.store.clock(), "value": hpa.quantity(v)})
        if pod_name != "*" and not items:
            raise ApiError(404, f'the server could not find the metric {metric} for pods {pod_name}', "NotFound")
        return _json({"kind": "MetricValueList", "apiVersion": f"{discovery.CUSTOM_METRICS_GROUP}/"
                                                              f"{discovery.CUSTOM_METRICS_VERSION}",
                      "metadata": {}, "items": items})

    @staticmethod
    def _get_only(request: web.Request) -> None:
        if request.method not in ("GET", "HEAD"):
            raise method_not_allowed()

    def _openapi(self, request: web.Request, parts: list[str], prefix: str) -> web.Response:
        self._get_only(request)
        if parts[1:2] == ["v3"]:
            if len(parts) == 2:
                return _json(discovery.openapi_v3_root(prefix, self.cluster.without))
            doc = discovery.openapi_v3_group("/".join(parts[2:]), self.cluster.without)
            if doc is not None:
                return _json(doc)
        raise _not_served()

    @staticmethod
    def _route(group: str, version: str, rest: list[str], trailing: bool) -> Route:
        ns = None
        if len(rest) >= 3 and rest[0] == "namespaces":
            cand = lookup(group, version, rest[2])
            if cand is not None and cand.namespaced:
                ns, rest = rest[1], rest[2:]
        rt = lookup(group, version, rest[0])
        if rt is None:
            raise _not_served()
        if rt.namespaced and ns is None and len(rest) > 1:
            raise _not_served()  # a namespaced object is only addressable inside its namespace
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        if sub is not None and sub not in rt.subresources:
            raise _not_served()
        if sub != "proxy" and len(rest) > 3:
            raise _not_served()
        return Route(rt, ns, name, sub, rest[3:], trailing)

    # ================================================================== resources
    async def _resource(self, request: web.Request, user: User, r: Route) -> web.StreamResponse:
        m = request.method
        q = request.query
        is_watch = q.get("watch", "").lower() in ("1", "true")
        if r.sub is not None:
            verb = {"GET": "get", "HEAD": "get", "PUT": "update", "PATCH": "patch", "POST": "create",
                    "DELETE": "delete"}.get(m)
        elif r.name is not None:
            verb = {"GET": "watch" if is_watch else "get", "PUT": "update", "PATCH": "patch",
                    "DELETE": "delete"}.get(m)
        else:
            verb = {"GET": "watch" if is_watch else "list", "POST": "create", "DELETE": "deletecollection"}.get(m)
        if verb is None:
            raise method_not_allowed()
        if r.sub is None and verb not in r.rt.verbs:
            raise method_not_allowed(f"{r.rt.plural}.{r.rt.group or 'core'} does not support {verb}")
        attrs = Attributes(verb, r.rt.group, r.rt.plural, r.sub or "", r.namespace or "", r.name or "")
        ok, _ = self.users.allowed(user, attrs)
        if not ok:
            raise forbidden(user.name, verb, r.rt.plural, r.rt.group, r.namespace, r.name or "", r.sub or "")
        _check_params(q)
        if r.sub is not None:
            return await self._subresource(request, user, r, verb)
        if verb == "list":
            return await self._list(request, r)
        if verb == "watch":
            return await self._watch(request, r)
        if verb == "get":
            obj = self._get(r)
            return self._object(request, r.rt, obj)
        if verb == "create":
            return await self._create(request, user, r)
        if verb == "update":
            body = _as_object(await self._body(request))
            _check_kind(r.rt, body)
            obj = self.store.update(r.rt, body, r.namespace, r.name, dry_run=_dry_run(q))
            return _json(obj)
        if verb == "patch":
            return _json(await self._patch(request, r, None))
        if verb == "delete":
            return await self._delete(request, r)
        return await self._delete_collection(request, r)

    def _get(self, r: Route) -> Obj:
        if r.rt.verbs == ("create",):
            raise method_not_allowed()
        return self.store.get(r.rt, r.namespace, r.name or "")

    def _object(self, request: web.Request, rt: ResourceType, obj: Obj) -> web.Response:
        if tables.wants_table(request.headers.get("Accept")):
            return _json(tables.table(rt, [obj], {"resourceVersion": obj["metadata"].get("resourceVersion", "")},
                                      request.query.get("includeObject", "Metadata")))
        return _json(obj)

    # ------------------------------------------------------------------ list
    async def _list(self, request: web.Request, r: Route) -> web.StreamResponse:
        q = request.query
        labels, fields = _selectors(q, r.rt)
        limit = _int_param(q, "limit", 0)
        if q.get("resourceVersion") == "0" and not q.get("continue"):
            # kube-apiserver serves `resourceVersion=0` lists from its watch cache, which does not page:
            # the limit is ignored and the whole list comes at once, with no continue token and so no
            # remainingItemCount (staging/src/k8s.io/apiserver/pkg/storage/cacher/cacher.go,
            # shouldDelegateList: `hasLimit := pred.Limit > 0 && resourceVersion != "0"`).
            limit = 0
        items, rv, token, remaining = self.store.list(r.rt, r.namespace, labels, fields, limit,
                                                      q.get("continue") or None)
        meta: Obj = {"resourceVersion": str(rv)}
        if token:
            meta["continue"] = token
            if remaining is not None:
                meta["remainingItemCount"] = remaining
        if tables.wants_table(request.headers.get("Accept")):
            return await self._send_table(request, r.rt, items, meta, q.get("includeObject", "Metadata"))
        head = orjson.dumps({"kind": r.rt.list_kind_name, "apiVersion": r.rt.api_version, "metadata": meta})
        return await self._send_items(request, head[:-1] + b',"items":[', items, b"]}")

    async def _send_items(self, request: web.Request, head: bytes, items: list[Obj], tail: bytes,
                          encode: Callable[[list[Obj]], bytes] | None = None) -> web.StreamResponse:
        """Write `head`, the items comma-separated, `tail`; in chunks when the list is large."""
        enc = encode or (lambda batch: orjson.dumps(batch)[1:-1])
        if len(items) <= CHUNK:
            body = head + (enc(items) if items else b"") + tail
            return web.Response(body=body, content_type=JSON)
        resp = web.StreamResponse(status=200, headers={"Content-Type": JSON})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        await resp.write(head)
        for i in range(0, len(items), CHUNK):
            chunk = enc(items[i:i + CHUNK])
            await resp.write((b"," if i else b"") + chunk)
            await asyncio.sleep(0)
        await resp.write(tail)
        await resp.write_eof()
        return resp

    async def _send_table(self, request: web.Request, rt: ResourceType, items: list[Obj], meta: Obj,
                          include: str) -> web.StreamResponse:
        head = orjson.dumps({**tables.TABLE_KIND, "metadata": meta,
                             "columnDefinitions": tables.column_definitions(rt)})
        return await self._send_items(request, head[:-1] + b',"rows":[', items, b"]}",
                                      lambda batch: orjson.dumps([tables.row(rt, o, include) for o in batch])[1:-1])

    # ------------------------------------------------------------------ watch
    async def _watch(self, request: web.Request, r: Route) -> web.StreamResponse:
        q = request.query
        labels, fields = _selectors(q, r.rt)
        if r.name is not None:
            fields.terms.append(("metadata.name", True, r.name))
        timeout = _int_param(q, "timeoutSeconds", 0)
        bookmarks = q.get("allowWatchBookmarks", "").lower() in ("1", "true")
        as_table = tables.wants_table(request.headers.get("Accept"))
        include = q.get("includeObject", "Metadata")
        resp = web.StreamResponse(status=200, headers={"Content-Type": JSON})
        resp.enable_chunked_encoding()
        try:
            w = self.store.watch(r.rt, r.namespace, labels, fields, q.get("resourceVersion") or None)
        except ApiError as e:
            if e.code != 410:
                raise
            # What the apiserver does: a 200 stream carrying one ERROR event with the 410 Status.
            await resp.prepare(request)
            await resp.write(orjson.dumps({"type": ERROR, "object": e.status()}) + b"\n")
            await resp.write_eof()
            return resp
        self._watches.add(w)
        await resp.prepare(request)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout if timeout else None
        last_bookmark = loop.time()
        first = True
        try:
            while not self.stopping:
                wait = self.bookmark_interval if bookmarks else 1.0
                if deadline is not None:
                    left = deadline - loop.time()
                    if left <= 0:
                        break
                    wait = min(wait, left)
                try:
                    ev = await asyncio.wait_for(w.queue.get(), max(0.01, wait))
                except TimeoutError:
                    if request.transport is None or request.transport.is_closing():
                        break
                    if bookmarks and loop.time() - last_bookmark >= self.bookmark_interval and w.queue.empty():
                        mark = {"kind": r.rt.kind, "apiVersion": r.rt.api_version,
                                "metadata": {"resourceVersion": str(self.store.resource_version)}}
                        await resp.write(orjson.dumps({"type": BOOKMARK, "object": mark}) + b"\n")
                        last_bookmark = loop.time()
                    continue
                if ev is None:
                    break  # the watch was closed: dropped by a fault, a backlog cut-off, or shutdown
                batch = [ev]
                while len(batch) < 500 and not w.queue.empty():
                    nxt = w.queue.get_nowait()
                    if nxt is None:
                        w.closed = True
                        break
                    batch.append(nxt)
                lines = []
                for typ, obj in batch:
                    if as_table:
                        obj = tables.table(r.rt, [obj], {"resourceVersion": obj["metadata"].get("resourceVersion",
                                                                                                "")},
                                           include, with_columns=first)
                        first = False
                    lines.append(orjson.dumps({"type": typ, "object": obj}))
                await resp.write(b"\n".join(lines) + b"\n")
                if w.closed and w.queue.empty():
                    break
        except (ConnectionResetError, ConnectionError):
            pass
        finally:
            self.store.stop_watch(w)
            self._watches.discard(w)
        with contextlib.suppress(ConnectionError, RuntimeError):
            await resp.write_eof()
        return resp

    # ------------------------------------------------------------------ writes
    async def _create(self, request: web.Request, user: User, r: Route) -> web.Response:
        rt = r.rt
        body = _as_object(await self._body(request))
        if rt.key == "selfsubjectaccessreviews.authorization.k8s.io":
            try:
                return _json(self.users.access_review(user, body), 201)
            except ValueError as e:
                raise ApiError(422, f'SelfSubjectAccessReview.authorization.k8s.io "" is invalid: {e}',
                               "Invalid") from None
        if rt.key == "selfsubjectreviews.authentication.k8s.io":
            out = {"apiVersion": rt.api_version, "kind": rt.kind, "metadata": body.get("metadata") or {},
                   "status": {"userInfo": user.info()}}
            return _json(out, 201)
        if rt.key == "selfsubjectrulesreviews.authorization.k8s.io":
            ns = str((body.get("spec") or {}).get("namespace") or "")
            out = {**body, "apiVersion": rt.api_version, "kind": rt.kind, "status": self.users.rules(user, ns)}
            out.setdefault("metadata", {})
            return _json(out, 201)
        _check_kind(rt, body)
        obj = self.store.create(rt, body, r.namespace, dry_run=_dry_run(request.query))
        return _json(obj, 201)

    async def _patch(self, request: web.Request, r: Route, sub: str | None) -> Obj:
        ctype = request.headers.get("Content-Type", "")
        if patching.APPLY_PATCH in ctype or not ctype:
            patching.apply(ctype or "none", {}, {})  # raises the 415 that says what to use
        body = await self._body(request, raw_json=True)
        cur = self.store.get(r.rt, r.namespace, r.name or "")
        new = patching.apply(ctype, cur, body, custom_resource=is_custom(r.rt))
        if not isinstance(new, dict):
            raise ApiError(422, "the patch turned the object into something that is not an object", "Invalid")
        md = new.setdefault("metadata", {}) if isinstance(new.get("metadata", {}), dict) else None
        if md is None:
            raise ApiError(422, "metadata: Invalid value: must be an object", "Invalid")
        if md.get("name", r.name) != r.name:
            raise bad_request(f"the name of the object ({md.get('name')}) does not match the name on the URL "
                              f"({r.name})")
        md["name"] = r.name
        if not md.get("resourceVersion"):
            md["resourceVersion"] = cur["metadata"].get("resourceVersion")
        return self.store.update(r.rt, new, r.namespace, r.name, subresource=sub, dry_run=_dry_run(request.query))

    async def _delete(self, request: web.Request, r: Route) -> web.Response:
        opts = await self._delete_options(request)
        obj = self.store.delete(r.rt, r.namespace, r.name or "", propagation=opts["propagation"],
                                dry_run=opts["dry_run"], preconditions=opts["preconditions"],
                                grace_period=opts["grace"])
        return _json(obj)

    async def _delete_collection(self, request: web.Request, r: Route) -> web.Response:
        opts = await self._delete_options(request)
        labels, fields = _selectors(request.query, r.rt)
        items = self.store.list(r.rt, r.namespace, labels, fields)[0]
        gone = []
        for o in items:
            md = o["metadata"]
            with contextlib.suppress(ApiError):  # already collected as a dependent of an earlier item
                gone.append(self.store.delete(r.rt, md.get("namespace"), md["name"],
                                              propagation=opts["propagation"], dry_run=opts["dry_run"],
                                              grace_period=opts["grace"]))
        return _json({"kind": r.rt.list_kind_name, "apiVersion": r.rt.api_version,
                      "metadata": {"resourceVersion": str(self.store.resource_version)}, "items": gone})

    async def _delete_options(self, request: web.Request) -> dict[str, Any]:
        q = request.query
        body: Obj = {}
        if request.can_read_body:
            raw = await request.read()
            if raw.strip():
                body = _as_object(_decode(raw, request.content_type), "DeleteOptions")
        policy = body.get("propagationPolicy") or q.get("propagationPolicy")
        if body.get("orphanDependents") is True or q.get("orphanDependents", "").lower() == "true":
            policy = policy or "Orphan"
        if policy not in (None, "Orphan", "Background", "Foreground"):
            raise bad_request(f'propagationPolicy: Unsupported value: "{policy}": supported values: '
                              '"Orphan", "Background", "Foreground"')
        dry = _dry_run(q) or body.get("dryRun") == ["All"]
        if body.get("dryRun") not in (None, [], ["All"]):
            raise bad_request(f"dryRun: Unsupported value: {body.get('dryRun')!r}: supported values: All")
        pre = body.get("preconditions") or {}
        if not isinstance(pre, dict):
            raise bad_request("preconditions must be an object")
        raw_grace = body.get("gracePeriodSeconds")
        if raw_grace is None:
            raw_grace = q.get("gracePeriodSeconds") or None
        try:
            grace = graceful.requested_grace(raw_grace)
        except ValueError as e:
            raise bad_request(str(e)) from None
        return {"propagation": policy, "dry_run": dry, "preconditions": pre, "grace": grace}

    # ================================================================== subresources
    async def _subresource(self, request: web.Request, user: User, r: Route, verb: str) -> web.StreamResponse:
        sub = r.sub
        if sub == "status":
            if verb == "get":
                return self._object(request, r.rt, self._get(r))
            if verb == "update":
                body = _as_object(await self._body(request))
                _check_kind(r.rt, body)
                return _json(self.store.update(r.rt, body, r.namespace, r.name, subresource="status",
                                               dry_run=_dry_run(request.query)))
            if verb == "patch":
                return _json(await self._patch(request, r, "status"))
        elif sub == "scale" and r.rt.key in SCALABLE:
            return await self._scale(request, r, verb)
        elif r.rt is PODS and sub == "log" and verb == "get":
            return await self._logs(request, r)
        elif r.rt is PODS and sub == "eviction" and verb == "create":
            return await self._evict(request, r)
        elif r.rt is PODS and sub == "binding" and verb == "create":
            return await self._bind(request, r)
        elif r.rt is PODS and sub == "proxy":
            return await self._proxy(request, r)
        elif sub == "proxy":
            raise ApiError(404, f"proxying to {r.rt.plural} is not supported by the simulator", "NotFound")
        raise method_not_allowed(f"{r.rt.plural}/{sub} does not support {verb}")

    # ------------------------------------------------------------------ scale
    def _scale_of(self, rt: ResourceType, obj: Obj) -> Obj:
        md = obj["metadata"]
        return {"kind": "Scale", "apiVersion": "autoscaling/v1",
                "metadata": {k: md[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                             if k in md},
                "spec": {"replicas": (obj.get("spec") or {}).get("replicas", 0)},
                "status": {"replicas": (obj.get("status") or {}).get("replicas", 0),
                           "selector": tables._selector_str((obj.get("spec") or {}).get("selector"))
                           .replace("<none>", "")}}

    async def _scale(self, request: web.Request, r: Route, verb: str) -> web.Response:
        obj = self.store.get(r.rt, r.namespace, r.name or "")
        scale = self._scale_of(r.rt, obj)
        if verb == "get":
            return _json(scale)
        if verb == "update":
            new = _as_object(await self._body(request), "Scale")
        elif verb == "patch":
            ctype = request.headers.get("Content-Type", "")
            new = patching.apply(ctype, scale, await self._body(request, raw_json=True))
        else:
            raise method_not_allowed()
        if not isinstance(new, dict):
            raise ApiError(422, "the patched Scale is not an object", "Invalid")
        rv = (new.get("metadata") or {}).get("resourceVersion")
        if rv and rv != obj["metadata"]["resourceVersion"]:
            raise conflict(r.rt.plural, r.name or "", r.rt.group)
        replicas = (new.get("spec") or {}).get("replicas")
        if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 0:
            detail = "must be greater than or equal to 0" if isinstance(replicas, int) and not isinstance(
                replicas, bool) else "must be an integer"
            raise ApiError(422, f'Scale.autoscaling "{r.name}" is invalid: spec.replicas: Invalid value: '
                                f'{replicas!r}: {detail}', "Invalid",
                           {"name": r.name, "group": "autoscaling", "kind": "Scale", "causes": [
                               {"reason": "FieldValueInvalid", "message": f"Invalid value: {replicas!r}: {detail}",
                                "field": "spec.replicas"}]})
        updated = copy.deepcopy(obj)
        updated.setdefault("spec", {})["replicas"] = replicas
        result = self.store.update(r.rt, updated, r.namespace, r.name, dry_run=_dry_run(request.query))
        return _json(self._scale_of(r.rt, result))

    # ------------------------------------------------------------------ logs
    async def _logs(self, request: web.Request, r: Route) -> web.StreamResponse:
        q = request.query
        pod = self.store.get(PODS, r.namespace, r.name or "")
        spec = pod.get("spec") or {}
        names = [c.get("name") for c in spec.get("containers") or []]
        init = [c.get("name") for c in spec.get("initContainers") or []]
        container = q.get("container") or None
        if container is not None and container not in names + init:
            raise bad_request(f"container {container} is not valid for pod {r.name}")
        if container is None:
            if len(names) > 1:
                raise bad_request(f"a container name must be specified for pod {r.name}, choose one of: "
                                  f"[{' '.join(names)}]" + (f" or one of the init containers: [{' '.join(init)}]"
                                                            if init else ""))
            container = names[0] if names else None
        tail = _int_param(q, "tailLines", -1)
        tail_n = tail if tail >= 0 else None
        follow = q.get("follow", "").lower() in ("1", "true")
        lines = self.cluster.log_source(pod, container, None)
        first = lines[-tail_n:] if tail_n else ([] if tail_n == 0 else lines)
        text = "".join(line + "\n" for line in first)
        if not follow:
            return web.Response(text=text, content_type="text/plain")
        resp = web.StreamResponse(status=200, headers={"Content-Type": "text/plain"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        uid = pod["metadata"].get("uid")
        sent = len(lines)
        try:
            if text:
                await resp.write(text.encode())
            while not self.stopping:
                await asyncio.sleep(self.log_poll_interval)
                if request.transport is None or request.transport.is_closing():
                    break
                cur = self.store.try_get(PODS, r.namespace, r.name or "")
                if cur is None or cur["metadata"].get("uid") != uid:
                    break
                lines = self.cluster.log_source(cur, container, None)
                if len(lines) > sent:
                    await resp.write("".join(line + "\n" for line in lines[sent:]).encode())
                sent = len(lines)
        except (ConnectionResetError, ConnectionError):
            return resp
        with contextlib.suppress(ConnectionError, RuntimeError):
            await resp.write_eof()
        return resp

    # ------------------------------------------------------------------ eviction, binding
    async def _evict(self, request: web.Request, r: Route) -> web.Response:
        body = _as_object(await self._body(request), "Eviction")
        bname = (body.get("metadata") or {}).get("name")
        if bname and bname != r.name:
            raise bad_request(f"name in URL does not match name in Eviction object ({r.name} != {bname})")
        pod = self.store.get(PODS, r.namespace, r.name or "")
        opts = body.get("deleteOptions") or {}
        dry = _dry_run(request.query) or opts.get("dryRun") == ["All"]
        budgets = pdbs.check_eviction(self.store, pod)
        if dry:
            return _json(SUCCESS_201, 201)
        try:
            grace = graceful.requested_grace(opts.get("gracePeriodSeconds"))
        except ValueError as e:
            raise bad_request(str(e)) from None
        for b in budgets:
            pdbs.spend(self.store, b, r.name or "")
        pod = self.store.mutate(PODS, r.namespace, r.name or "", _disruption_target(self.store.clock()),
                                subresource="status")
        # The eviction deletes the pod with its own DeleteOptions: gracefully, it stays Terminating for its
        # grace period (pkg/registry/core/pod/storage/eviction.go addConditionAndDeletePod).
        self.store.delete(PODS, r.namespace, r.name or "", propagation=opts.get("propagationPolicy"),
                          preconditions=opts.get("preconditions"), grace_period=grace)
        return _json(SUCCESS_201, 201)

    async def _bind(self, request: web.Request, r: Route) -> web.Response:
        body = _as_object(await self._body(request), "Binding")
        target = (body.get("target") or {}).get("name")
        if not target:
            raise ApiError(422, f'Binding "{r.name}" is invalid: target.name: Required value', "Invalid",
                           {"name": r.name, "kind": "Binding", "causes": [
                               {"reason": "FieldValueRequired", "message": "Required value", "field": "target.name"}]})
        pod = self.store.get(PODS, r.namespace, r.name or "")
        node = (pod.get("spec") or {}).get("nodeName")
        if node:
            raise ApiError(409, f'Operation cannot be fulfilled on pods/binding "{r.name}": pod {r.name} is '
                                f'already assigned to node "{node}"', "Conflict",
                           {"name": r.name, "kind": "pods/binding"})
        if _dry_run(request.query):
            return _json(SUCCESS_201, 201)

        def assign(o: Obj) -> None:
            o.setdefault("spec", {})["nodeName"] = target

        def scheduled(o: Obj) -> None:
            _set_condition(o, {"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                               "lastTransitionTime": self.store.clock()})
        self.store.mutate(PODS, r.namespace, r.name or "", assign)
        self.store.mutate(PODS, r.namespace, r.name or "", scheduled, subresource="status")
        return _json(SUCCESS_201, 201)

    # ------------------------------------------------------------------ proxy
    async def _proxy(self, request: web.Request, r: Route) -> web.Response:
        raw = r.name or ""
        bits = raw.split(":")
        if len(bits) == 3:
            _, name, port_s = bits
        elif len(bits) == 2:
            name, port_s = bits
        else:
            name, port_s = raw, ""
        pod = self.store.get(PODS, r.namespace, name)
        ports = [p for c in (pod.get("spec") or {}).get("containers") or [] for p in c.get("ports") or []]
        if port_s.isdigit():
            port = int(port_s)
        elif port_s:
            named = [p.get("containerPort") for p in ports if p.get("name") == port_s]
            if not named:
                raise bad_request(f"pod {name} has no port named {port_s}")
            port = int(named[0])
        else:
            port = int(ports[0].get("containerPort", 80)) if ports else 80
        handler = self.cluster.proxies.get(port)
        if handler is None:
            raise ApiError(404, f"no proxy handler on port {port} for pod {r.namespace}/{name}", "NotFound")
        sub = "/".join(r.rest) + ("/" if r.trailing_slash and r.rest else "")
        try:
            result: Any = handler(pod, sub, dict(request.query))
            if inspect.isawaitable(result):
                result = await result
            ctype, body = result
        except ApiError:
            raise
        except Exception as e:
            raise ApiError(503, f"error trying to reach service: {type(e).__name__}: {e}",
                           "ServiceUnavailable") from None
        resp = web.Response(body=body if isinstance(body, bytes) else str(body).encode())
        resp.headers["Content-Type"] = ctype or "application/octet-stream"
        return resp

    # ================================================================== bodies
    async def _body(self, request: web.Request, raw_json: bool = False) -> Any:
        raw = await request.read()
        if not raw.strip():
            raise bad_request("the request body is empty")
        ctype = request.content_type
        if raw_json:  # patch bodies: the media type names the patch format, the bytes are JSON (or YAML)
            ctype = "application/yaml" if "yaml" in ctype else JSON
        return _decode(raw, ctype)

    def close_streams(self) -> None:
        self.stopping = True
        for w in list(self._watches):
            w.close()


# ====================================================================== helpers
TOKEN_PREFIX = "/sim/auth/"


def split_token_prefix(path: str) -> tuple[str, str | None]:
    """`/sim/auth/<token>/api/v1/pods` -> (`/api/v1/pods`, token); other paths are returned as they are.

    kubectl (client-go) sends credentials only over TLS, so for the plain-HTTP loopback server the
    kubeconfig carries each user's token in the server URL's path, which kubectl keeps on every request.
    """
    if not path.startswith(TOKEN_PREFIX):
        return path, None
    token, _, rest = path[len(TOKEN_PREFIX):].partition("/")
    return "/" + rest, token


def _decode(raw: bytes, ctype: str) -> Any:
    ct = (ctype or JSON).split(";")[0].strip().lower()
    if "protobuf" in ct:  # kubectl's typed clients; answers stay JSON, which they accept
        try:
            return protobuf.decode(raw)
        except protobuf.UnsupportedKind as e:
            raise ApiError(415, str(e), "UnsupportedMediaType") from None
        except protobuf.ProtobufError as e:
            raise bad_request(f"the body of the request is not valid Kubernetes protobuf: {e}") from None
    if "yaml" in ct:
        try:
            return yaml.safe_load(raw)
        except yaml.YAMLError as e:
            raise bad_request(f"the body of the request is not valid YAML: {str(e).splitlines()[0]}") from None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise bad_request(f"the body of the request is not valid JSON: {e}") from None


def _as_object(body: Any, what: str = "object") -> Obj:
    if not isinstance(body, dict):
        raise bad_request(f"the body of the request must be a JSON {what}, not {type(body).__name__}")
    return body


def _check_kind(rt: ResourceType, body: Obj) -> None:
    av, kind = body.get("apiVersion"), body.get("kind")
    if av and av != rt.api_version:
        raise bad_request(f"the API version in the data ({av}) does not match the expected API version "
                          f"({rt.api_version})")
    if kind and kind != rt.kind:
        raise bad_request(f"the kind in the data ({kind}) does not match the expected kind ({rt.kind})")


def _check_params(q: Any) -> None:
    fv = q.get("fieldValidation")
    if fv and fv not in ("Ignore", "Warn", "Strict"):
        raise bad_request(f'fieldValidation: Unsupported value: "{fv}": supported values: "Ignore", "Strict", '
                          '"Warn"')


def _dry_run(q: Any) -> bool:
    vals = q.getall("dryRun", [])
    for v in vals:
        if v != "All":
            raise bad_request(f'dryRun: Unsupported value: "{v}": supported values: "All"')
    return bool(vals)


def _int_param(q: Any, name: str, default: int) -> int:
    v = q.get(name)
    if v is None or v == "":
        return default
    try:
        n = int(v)
    except ValueError:
        raise bad_request(f"{name}: Invalid value: {v!r}: must be an integer") from None
    if n < 0 and default >= 0:
        raise bad_request(f"{name}: Invalid value: {n}: must be >= 0")
    return n


def _selectors(q: Any, rt: ResourceType) -> tuple[Any, Any]:
    try:
        labels = parse_label_selector(q.get("labelSelector"))
    except ValueError as e:
        raise bad_request(str(e)) from None
    try:
        fields = parse_field_selector(q.get("fieldSelector"), rt.plural)
    except ValueError as e:
        raise bad_request(f'{e} for {rt.plural}' if "not supported" in str(e) else f"invalid field selector: {e}") \
            from None
    return labels, fields


def _set_condition(o: Obj, cond: Obj) -> None:
    st = o.setdefault("status", {})
    conds = [c for c in st.get("conditions") or [] if c.get("type") != cond["type"]]
    conds.append(cond)
    st["conditions"] = conds


def _disruption_target(now: str) -> Callable[[Obj], None]:
    def fn(o: Obj) -> None:
        _set_condition(o, {"type": "DisruptionTarget", "status": "True", "reason": "EvictionByEvictionAPI",
                           "message": "Eviction API: evicting", "lastProbeTime": None, "lastTransitionTime": now})
    return fn


# ====================================================================== running it
@dataclass
class RunningServer:
    url: str
    port: int
    api: ApiServer
    runner: web.AppRunner
    users: Users
    tls: ServerTLS | None = None   # the CA and certificate served; None for plain HTTP
    _stopped: bool = field(default=False, repr=False)

    async def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        churn = self.api.cluster.extras.get("churn")
        if churn is not None:
            await churn.stop()
        self.api.close_streams()
        await self.runner.cleanup()


async def start_server(cluster: SimCluster, host: str = "127.0.0.1", port: int = 0, *,
                       bookmark_interval: float = 5.0, users: Users | None = None,
                       log_poll_interval: float = 0.2, tls: ServerTLS | bool = True) -> RunningServer:
    """Serve `cluster` on `host:port` (port 0 picks a free one) until `stop()`: HTTPS with a CA and server
    certificate made now (or the `ServerTLS` given, which tests make wrong on purpose), or plain HTTP with
    `tls=False`."""
    users = users or Users(cluster)
    server_tls_ = (tls if isinstance(tls, ServerTLS) else server_tls(host)) if tls else None
    api = ApiServer(cluster, users, bookmark_interval, log_poll_interval, tls=server_tls_ is not None)
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", api.handle)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, ssl_context=server_tls_.ssl_context() if server_tls_ else None)
    await site.start()
    sockets = site._server.sockets if site._server is not None else []  # type: ignore[union-attr]
    bound = sockets[0].getsockname()[1] if sockets else port
    api.address = f"{host}:{bound}"
    reach = "127.0.0.1" if host in ("", "0.0.0.0") else f"[{host}]" if ":" in host else host
    scheme = "https" if server_tls_ else "http"
    return RunningServer(url=f"{scheme}://{reach}:{bound}", port=bound, api=api, runner=runner, users=users,
                         tls=server_tls_)

