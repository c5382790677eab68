"""Async Kubernetes client: httpx + orjson, raw dicts in and out, never the generated model classes.

Retries with jittered backoff on connection errors, 429 (honouring Retry-After) and 5xx; a 401 reloads
credentials once and sends again only when they changed; a 403 is reported at once. A TLS failure is
final: no retry can mend a certificate, so nothing more is sent. Every failure to reach the server is an
ApiError whose message names the server, the context and its file (`reach`). Watches are separate
(`watch()`), since a dropped watch is resumed by the informer from its last resourceVersion rather than
retried here.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import orjson

from . import reach
from .config import Credentials
from .errors import ApiError

Obj = dict[str, Any]

PATCH_TYPES = {
    "merge": "application/merge-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "json": "application/json-patch+json",
}


@dataclass(frozen=True)
class Res:
    """An API resource: where it lives, not what it holds."""

    group: str
    version: str
    plural: str
    namespaced: bool = True
    kind: str = ""

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def key(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def path(self, namespace: str | None = None, name: str | None = None, sub: str | None = None) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{quote(namespace, safe='')}"
        base += f"/{self.plural}"
        if name:
            base += f"/{quote(name, safe='')}"
        if sub:
            base += f"/{sub}"
        return base


# The resources the console reads and writes.
NAMESPACES = Res("", "v1", "namespaces", False, "Namespace")
NODES = Res("", "v1", "nodes", False, "Node")
PODS = Res("", "v1", "pods", True, "Pod")
SERVICES = Res("", "v1", "services", True, "Service")
EVENTS = Res("", "v1", "events", True, "Event")
CONFIGMAPS = Res("", "v1", "configmaps", True, "ConfigMap")
RESOURCEQUOTAS = Res("", "v1", "resourcequotas", True, "ResourceQuota")
DEPLOYMENTS = Res("apps", "v1", "deployments", True, "Deployment")
REPLICASETS = Res("apps", "v1", "replicasets", True, "ReplicaSet")
STATEFULSETS = Res("apps", "v1", "statefulsets", True, "StatefulSet")
JOBS = Res("batch", "v1", "jobs", True, "Job")
PRIORITYCLASSES = Res("scheduling.k8s.io", "v1", "priorityclasses", False, "PriorityClass")
PDBS = Res("policy", "v1", "poddisruptionbudgets", True, "PodDisruptionBudget")
QUEUES = Res("scheduling.run.ai", "v2", "queues", False, "Queue")
PODGROUPS = Res("scheduling.run.ai", "v2alpha2", "podgroups", True, "PodGroup")
BINDREQUESTS = Res("scheduling.run.ai", "v1alpha2", "bindrequests", True, "BindRequest")
SSAR = Res("authorization.k8s.io", "v1", "selfsubjectaccessreviews", False, "SelfSubjectAccessReview")
# Inference as it is deployed: HPAs, Knative Serving, KServe, Run:ai's inference workloads.
HPAS = Res("autoscaling", "v2", "horizontalpodautoscalers", True, "HorizontalPodAutoscaler")
KSERVICES = Res("serving.knative.dev", "v1", "services", True, "Service")
KCONFIGURATIONS = Res("serving.knative.dev", "v1", "configurations", True, "Configuration")
KREVISIONS = Res("serving.knative.dev", "v1", "revisions", True, "Revision")
INFERENCESERVICES = Res("serving.kserve.io", "v1beta1", "inferenceservices", True, "InferenceService")
INFERENCEWORKLOADS = Res("run.ai", "v2alpha1", "inferenceworkloads", True, "InferenceWorkload")


class Stats:
    """What the console's header shows about its own load on the API server.

    Written by the loop that uses the client; read by the UI from its own thread. The counters are ints
    (rebinding one is atomic: a reader sees the old value or the new one); the request times sit behind a
    lock the writer holds for one append and the reader only tries (`rate_per_min`).
    """

    __slots__ = ("requests", "errors", "retries", "open_watches", "_times", "_lock", "_rate")

    def __init__(self) -> None:
        self.requests = 0
        self.errors = 0
        self.retries = 0
        self.open_watches = 0
        self._times: deque[float] = deque(maxlen=4096)
        self._lock = threading.Lock()
        self._rate = 0.0

    def record(self) -> None:
        now = time.monotonic()
        with self._lock:
            self.requests += 1
            self._times.append(now)

    def rate_per_min(self, window: float = 60.0) -> float:
        """Requests in the last `window` seconds, per minute. Never waits: while the writer holds the
        lock (a few microseconds), the figure of the previous call is returned."""
        if not self._lock.acquire(blocking=False):
            return self._rate
        try:
            times = tuple(self._times)
        finally:
            self._lock.release()
        cutoff = time.monotonic() - window
        self._rate = sum(1 for t in times if t >= cutoff) * 60.0 / window
        return self._rate


def _retry_after(resp: httpx.Response, body: Any) -> float | None:
    h = resp.headers.get("Retry-After")
    if h:
        try:
            return max(0.0, float(h))
        except ValueError:
            pass
    if isinstance(body, dict):
        ra = (body.get("details") or {}).get("retryAfterSeconds")
        if isinstance(ra, (int, float)):
            return float(ra)
    return None


def _decode(resp: httpx.Response) -> Any:
    raw = resp.content
    if not raw:
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw.decode("utf-8", "replace")


class KubeClient:
    """One connection pool per cluster; safe to share between informers and actions."""

    def __init__(
        self,
        creds: Credentials,
        *,
        timeout: float = 30.0,
        max_retries: int = 5,
        backoff_base: float = 0.2,
        backoff_max: float = 8.0,
        transport: httpx.AsyncBaseTransport | None = None,
        reload: Callable[[], Credentials] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.creds = creds
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.stats = Stats()
        self._reload = reload or creds.reload
        self._rng = rng or random.Random()
        self._transport = transport
        self._answered = False  # whether the server ever answered: a first failure may be our certificate
        self._http = self._make_http()

    def _make_http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.creds.server,
            headers={"Accept": "application/json", "User-Agent": "gpuconsole/0.1", **self.creds.headers()},
            verify=self.creds.ssl_context(),
            timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, 10.0)),
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
            transport=self._transport,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> "KubeClient":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ core request loop
    def _backoff(self, attempt: int, hint: float | None = None) -> float:
        if hint is not None:
            return min(hint, 60.0) + self._rng.uniform(0, 0.1)
        cap = min(self.backoff_max, self.backoff_base * (2 ** attempt))
        return self._rng.uniform(cap / 2, cap)  # jitter keeps a fleet of consoles from retrying in step

    async def _reauth(self) -> bool:
        """Reload credentials; False when they are the same (sending again would be refused again)."""
        creds = await asyncio.to_thread(self._reload)
        if creds is self.creds or creds.same_auth(self.creds):
            return False
        old = self._http
        self.creds = creds
        self._http = self._make_http()
        await old.aclose()
        return True

    def _status_error(self, code: int, body: Any, method: str, path: str,
                      retry_after: float | None = None) -> ApiError:
        e = ApiError.from_status(code, body, method=method, path=path, retry_after=retry_after)
        return reach.unauthorized(e, self.creds) if e.code == 401 else e

    def _unreachable(self, e: BaseException, method: str, path: str, read_timeout: float | None = None,
                     watch: bool = False) -> ApiError:
        timeout = self.timeout if isinstance(e, (httpx.ReadTimeout, httpx.WriteTimeout)) else \
            min(self.timeout, 10.0)
        return reach.unreachable(e, self.creds, method=method, path=path, first=not self._answered, watch=watch,
                                 timeout=read_timeout if read_timeout is not None else timeout)

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        raw: bool = False,
        retry: bool = True,
    ) -> Any:
        """One API call with the retry policy; returns the parsed body (or bytes with `raw`)."""
        params = {k: v for k, v in (params or {}).items() if v is not None}
        content = orjson.dumps(body) if body is not None and not isinstance(body, (bytes, str)) else body
        headers = {"Content-Type": content_type} if content is not None else None
        reauthed = False
        attempt = 0
        while True:
            self.stats.record()
            try:
                resp = await self._http.request(method, path, params=params, content=content, headers=headers)
            except (httpx.TransportError, OSError) as e:
                self.stats.errors += 1
                err = self._unreachable(e, method, path)
                if retry and attempt < self.max_retries and err.transport not in reach.FINAL:
                    attempt += 1
                    self.stats.retries += 1
                    await asyncio.sleep(self._backoff(attempt))
                    continue
                raise err from None
            self._answered = True
            if resp.status_code < 400:
                return resp.content if raw else _decode(resp)
            self.stats.errors += 1
            body_out = _decode(resp)
            hint = _retry_after(resp, body_out)
            if resp.status_code == 401:
                if not reauthed:
                    reauthed = True
                    try:
                        if await self._reauth():
                            continue
                    except Exception:
                        pass
                raise self._status_error(401, body_out, method, path)
            if retry and attempt < self.max_retries and (resp.status_code == 429 or resp.status_code >= 500):
                attempt += 1
                self.stats.retries += 1
                await asyncio.sleep(self._backoff(attempt, hint))
                continue
            raise ApiError.from_status(resp.status_code, body_out, method=method, path=path, retry_after=hint)

    # ------------------------------------------------------------------ verbs
    async def version(self) -> Obj:
        return await self.request("GET", "/version")

    async def get(self, res: Res, name: str, namespace: str | None = None, sub: str | None = None) -> Obj:
        return await self.request("GET", res.path(namespace, name, sub))

    async def list_page(self, res: Res, namespace: str | None = None, *, label_selector: str | None = None,
                        field_selector: str | None = None, limit: int | None = None,
                        continue_token: str | None = None, resource_version: str | None = None) -> Obj:
        return await self.request("GET", res.path(namespace), params={
            "labelSelector": label_selector, "fieldSelector": field_selector, "limit": limit,
            "continue": continue_token, "resourceVersion": resource_version})

    async def list(self, res: Res, namespace: str | None = None, *, label_selector: str | None = None,
                   field_selector: str | None = None, page_size: int = 5000) -> tuple[list[Obj], str]:
        """Every item, page by page; returns the items and the list's resourceVersion."""
        items: list[Obj] = []
        token: str | None = None
        rv = ""
        while True:
            page = await self.list_page(res, namespace, label_selector=label_selector,
                                        field_selector=field_selector, limit=page_size, continue_token=token)
            items.extend(page.get("items") or [])
            md = page.get("metadata") or {}
            rv = md.get("resourceVersion") or rv
            token = md.get("continue") or None
            if not token:
                return items, rv

    async def create(self, res: Res, obj: Obj, namespace: str | None = None, *, dry_run: bool = False) -> Obj:
        return await self.request("POST", res.path(namespace), body=obj,
                                  params={"dryRun": "All" if dry_run else None}, retry=False)

    async def replace(self, res: Res, obj: Obj, namespace: str | None = None, *, dry_run: bool = False) -> Obj:
        name = obj["metadata"]["name"]
        return await self.request("PUT", res.path(namespace, name), body=obj,
                                  params={"dryRun": "All" if dry_run else None}, retry=False)

    async def patch(self, res: Res, name: str, patch: Any, namespace: str | None = None, *,
                    kind: str = "merge", sub: str | None = None, dry_run: bool = False) -> Obj:
        if kind not in PATCH_TYPES:
            raise ValueError(f"patch kind must be one of {sorted(PATCH_TYPES)}, not {kind!r}")
        return await self.request("PATCH", res.path(namespace, name, sub), body=patch,
                                  content_type=PATCH_TYPES[kind],
                                  params={"dryRun": "All" if dry_run else None}, retry=False)

    async def delete(self, res: Res, name: str, namespace: str | None = None, *,
                     propagation: str | None = "Background", dry_run: bool = False,
                     grace_period: int | None = None) -> Obj:
        body: Obj = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if propagation:
            body["propagationPolicy"] = propagation
        if dry_run:
            body["dryRun"] = ["All"]
        if grace_period is not None:
            body["gracePeriodSeconds"] = grace_period
        return await self.request("DELETE", res.path(namespace, name), body=body, retry=False)

    async def get_scale(self, res: Res, name: str, namespace: str) -> Obj:
        return await self.get(res, name, namespace, sub="scale")

    async def scale(self, res: Res, name: str, namespace: str, replicas: int, *, dry_run: bool = False) -> Obj:
        return await self.patch(res, name, {"spec": {"replicas": replicas}}, namespace, sub="scale",
                                dry_run=dry_run)

    async def evict(self, name: str, namespace: str, *, dry_run: bool = False) -> Obj:
        body: Obj = {"apiVersion": "policy/v1", "kind": "Eviction",
                     "metadata": {"name": name, "namespace": namespace}}
        if dry_run:
            body["deleteOptions"] = {"dryRun": ["All"]}
        return await self.request("POST", PODS.path(namespace, name, "eviction"), body=body, retry=False)

    async def can_i(self, verb: str, res: Res, namespace: str | None = None, *, name: str | None = None,
                    subresource: str | None = None) -> tuple[bool, str]:
        """SelfSubjectAccessReview: whether this user may, and the server's reason."""
        attrs = {"verb": verb, "group": res.group, "resource": res.plural}
        if namespace:
            attrs["namespace"] = namespace
        if name:
            attrs["name"] = name
        if subresource:
            attrs["subresource"] = subresource
        review = await self.request("POST", SSAR.path(), body={
            "apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": attrs}})
        st = (review or {}).get("status") or {}
        return bool(st.get("allowed")), str(st.get("reason") or st.get("evaluationError") or "")

    async def default_container(self, name: str, namespace: str) -> str | None:
        """The container `kubectl logs` would pick: the pod's `kubectl.kubernetes.io/default-container`
        annotation (Knative sets it to the user's container beside queue-proxy), else None (the server's
        choice, which is the only container)."""
        pod = await self.get(PODS, name, namespace)
        ann = ((pod.get("metadata") or {}).get("annotations") or {}).get("kubectl.kubernetes.io/default-container")
        names = [c.get("name") for c in (pod.get("spec") or {}).get("containers") or []]
        if isinstance(ann, str) and ann in names:
            return ann
        return names[0] if len(names) > 1 else None

    async def logs(self, name: str, namespace: str, *, container: str | None = None,
                   tail_lines: int | None = None, follow: bool = False) -> AsyncIterator[str]:
        """Log lines; with `follow`, keeps yielding until the pod ends or the caller stops iterating."""
        params = {"container": container, "tailLines": tail_lines, "follow": "true" if follow else None}
        params = {k: v for k, v in params.items() if v is not None}
        path = PODS.path(namespace, name, "log")
        self.stats.record()
        try:
            async with self._http.stream("GET", path, params=params,
                                         timeout=httpx.Timeout(self.timeout, read=None if follow else self.timeout)
                                         ) as resp:
                if resp.status_code >= 400:
                    await resp.aread()
                    raise self._status_error(resp.status_code, _decode(resp), "GET", path)
                async for line in resp.aiter_lines():
                    yield line
        except httpx.TransportError as e:
            raise self._unreachable(e, "GET", path) from None

    async def watch(self, res: Res, namespace: str | None = None, *, resource_version: str | None = None,
                    label_selector: str | None = None, field_selector: str | None = None,
                    timeout_seconds: int | None = 300, bookmarks: bool = True,
                    on_open: Callable[[], None] | None = None) -> AsyncIterator[tuple[str, Obj]]:
        """Yield (type, object) events. A 410 arrives as ApiError(410), in-stream or as the response.

        `on_open` is called once the server has accepted the watch, so callers can show "connected"
        before the first event, which on a quiet cluster may be minutes away.
        """
        params = {"watch": "true", "resourceVersion": resource_version, "labelSelector": label_selector,
                  "fieldSelector": field_selector, "timeoutSeconds": timeout_seconds,
                  "allowWatchBookmarks": "true" if bookmarks else None}
        params = {k: v for k, v in params.items() if v is not None}
        path = res.path(namespace)
        read_timeout = (timeout_seconds + 30) if timeout_seconds else None
        self.stats.record()
        self.stats.open_watches += 1
        try:
            async with self._http.stream("GET", path, params=params,
                                         timeout=httpx.Timeout(self.timeout, read=read_timeout)) as resp:
                if resp.status_code >= 400:
                    await resp.aread()
                    raise self._status_error(resp.status_code, _decode(resp), "GET", path, _retry_after(resp, None))
                self._answered = True
                if on_open is not None:
                    on_open()
                async for line in resp.aiter_lines():
                    if not line.strip():
                        continue
                    try:
                        ev = orjson.loads(line)
                    except orjson.JSONDecodeError:
                        raise ApiError(500, "InternalError", f"malformed watch event: {line[:200]}",
                                       method="GET", path=path) from None
                    etype = ev.get("type")
                    obj = ev.get("object") or {}
                    if etype == "ERROR":
                        raise ApiError.from_status(int(obj.get("code") or 500), obj, method="GET", path=path)
                    yield etype, obj
        except httpx.TransportError as e:
            raise self._unreachable(e, "GET", path, read_timeout, watch=True) from None
        finally:
            self.stats.open_watches -= 1
