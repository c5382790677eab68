"""Where an inference pod publishes its metrics, read from the pod spec once when the pod is projected.

In order, the first that applies gives the server's page:

1. the `prometheus.io/scrape: "true"` convention (Prometheus' example kubernetes-pods job in
   prometheus/prometheus documentation/examples/prometheus-kubernetes.yml): `prometheus.io/port`,
   `prometheus.io/path` (default `/metrics`), `prometheus.io/scheme`;
2. a container port named `metrics` or `http-metrics`, path `/metrics`;
3. the server's own default, when the image or the command says which server it is: vLLM's API port
   (`--port`, default 8000; vllm/entrypoints/openai/cli_args.py), Triton's metrics port (`--metrics-port`,
   default 8002; server docs/user_guide/metrics.md), TGI's port (`--port`, else env `PORT`, which its image
   sets to 80; text-generation-inference Dockerfile and launcher/src/main.rs).

A Knative pod also has its queue-proxy sidecar's page: container `queue-proxy`, port `http-usermetric`
(9091; knative/serving pkg/networking/constants.go `UserQueueMetricsPort`, pkg/apis/serving/v1/
revision_helpers.go `UserQueueMetricsPortName`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .serving_servers import TGI, TRITON, VLLM

SCRAPE_ANN, PORT_ANN, PATH_ANN, SCHEME_ANN = ("prometheus.io/scrape", "prometheus.io/port", "prometheus.io/path",
                                              "prometheus.io/scheme")
METRICS_PORT_NAMES = ("metrics", "http-metrics")
QUEUE_PROXY = "queue-proxy"
USER_METRICS_PORT_NAME, USER_METRICS_PORT = "http-usermetric", 9091
DEFAULT_PORTS = {VLLM: 8000, TRITON: 8002, TGI: 80}


PodKey = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Endpoint:
    port: int
    path: str = "/metrics"
    scheme: str = "http"
    how: str = ""          # how it was found, for the detail line


@dataclass(frozen=True, slots=True)
class ScrapeHint:
    """A pod's metrics pages: the server's own, and Knative's queue-proxy's; the server the spec names."""

    ip: str | None
    server: str | None
    endpoint: Endpoint | None
    proxy: Endpoint | None = None


def _d(x: Any) -> dict[str, Any]:
    return x if isinstance(x, dict) else {}


def _l(x: Any) -> list[Any]:
    return x if isinstance(x, list) else []


def _args(c: dict[str, Any]) -> list[str]:
    return [str(a) for a in _l(c.get("command")) + _l(c.get("args"))]


@dataclass(frozen=True, slots=True)
class Target:
    """A pod to scrape and where (None: its spec names no metrics page)."""

    namespace: str
    pod: str
    hint: ScrapeHint | None

    @property
    def key(self) -> PodKey:
        return (self.namespace, self.pod)


def server_of(container: dict[str, Any]) -> str | None:
    """vllm | triton | tgi from a container's image and command, else None."""
    image = str(container.get("image") or "").lower()
    words = " ".join(_args(container)).lower()
    if "vllm" in image or "vllm serve" in words or "vllm.entrypoints" in words:
        return VLLM
    if "tritonserver" in image or "tritonserver" in words:
        return TRITON
    if "text-generation-inference" in image or "text-generation-launcher" in words:
        return TGI
    return None


def _flag(args: list[str], *flags: str) -> str | None:
    for i, a in enumerate(args):
        for f in flags:
            if a == f and i + 1 < len(args):
                return args[i + 1]
            if a.startswith(f + "="):
                return a.split("=", 1)[1]
    return None


def _int(v: Any) -> int | None:
    try:
        n = int(str(v).strip())
    except (TypeError, ValueError):
        return None
    return n if 0 < n < 65536 else None


def _default_endpoint(c: dict[str, Any], server: str) -> Endpoint:
    args = _args(c)
    if server == TRITON:
        port = _int(_flag(args, "--metrics-port"))
        return Endpoint(port or DEFAULT_PORTS[TRITON], how="Triton's metrics port" + ("" if port else " (default)"))
    port = _int(_flag(args, "--port", "-p"))
    if port is None and server == TGI:
        port = next((_int(e.get("value")) for e in _l(c.get("env")) if isinstance(e, dict) and e.get("name") == "PORT"),
                    None)
    name = {VLLM: "vLLM", TGI: "TGI"}[server]
    return Endpoint(port or DEFAULT_PORTS[server], how=f"{name}'s port" + ("" if port else " (default)"))


def scrape_hint(pod: dict[str, Any]) -> ScrapeHint | None:
    """The pod's metrics pages, or None when its spec names none (most pods: not a server)."""
    md, spec = _d(pod.get("metadata")), _d(pod.get("spec"))
    containers = [c for c in _l(spec.get("containers")) if isinstance(c, dict)]
    if not containers:
        return None
    ann = _d(md.get("annotations"))
    endpoint: Endpoint | None = None
    proxy: Endpoint | None = None
    server: str | None = None
    for c in containers:
        if c.get("name") == QUEUE_PROXY:
            port = next((_int(p.get("containerPort")) for p in _l(c.get("ports"))
                         if isinstance(p, dict) and p.get("name") == USER_METRICS_PORT_NAME), None)
            proxy = Endpoint(port or USER_METRICS_PORT, how="Knative queue-proxy")
            continue
        server = server or server_of(c)
    if str(ann.get(SCRAPE_ANN, "")).lower() == "true" and _int(ann.get(PORT_ANN)):
        path = str(ann.get(PATH_ANN) or "/metrics")
        scheme = str(ann.get(SCHEME_ANN) or "http")
        endpoint = Endpoint(_int(ann.get(PORT_ANN)) or 0, path if path.startswith("/") else "/" + path,
                            scheme if scheme in ("http", "https") else "http", "prometheus.io annotations")
    if endpoint is None:
        for c in containers:
            if c.get("name") == QUEUE_PROXY:
                continue
            for p in _l(c.get("ports")):
                if isinstance(p, dict) and p.get("name") in METRICS_PORT_NAMES and _int(p.get("containerPort")):
                    endpoint = Endpoint(_int(p.get("containerPort")) or 0, how=f"port named {p.get('name')}")
                    break
            if endpoint is not None:
                break
    if endpoint is None and server is not None:
        c = next(c for c in containers if c.get("name") != QUEUE_PROXY and server_of(c) == server)
        endpoint = _default_endpoint(c, server)
    if endpoint is None and proxy is None:
        return None
    ip = _d(pod.get("status")).get("podIP")
    return ScrapeHint(ip if isinstance(ip, str) and ip else None, server, endpoint, proxy)
