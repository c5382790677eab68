"""Credentials through the official `kubernetes` package's loaders; we only keep what HTTP needs.

The loaders handle kubeconfig contexts, exec plugins, OIDC, token files, client certificates and the in-cluster
service account. They are imported lazily (about 0.3 s) and run in a thread by callers, since exec plugins block.
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class ConfigError(Exception):
    """No usable credentials: the message says which file or context and why."""


@dataclass
class Credentials:
    server: str
    context: str = ""
    cluster: str = ""
    user: str = ""
    namespace: str = "default"
    token: str | None = None
    username: str | None = None
    password: str | None = None
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    verify: bool = True
    tls_server_name: str | None = None
    kubeconfig: str | None = None
    in_cluster: bool = False
    _refresh: Any = field(default=None, repr=False)

    def headers(self) -> dict[str, str]:
        if self.token:
            return {"Authorization": f"Bearer {self.token}"}
        if self.username is not None:
            import base64
            pair = f"{self.username}:{self.password or ''}".encode()
            return {"Authorization": "Basic " + base64.b64encode(pair).decode()}
        return {}

    def ssl_context(self) -> ssl.SSLContext | bool:
        if not self.server.startswith("https"):
            return False
        if not self.verify:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        else:
            ctx = ssl.create_default_context(cafile=self.ca_file) if self.ca_file else ssl.create_default_context()
        if self.cert_file:
            ctx.load_cert_chain(self.cert_file, self.key_file)
        return ctx

    def reload(self) -> "Credentials":
        """Load again from the same source: exec plugins and OIDC hand out fresh tokens."""
        if self.in_cluster:
            return load_in_cluster()
        if not self.kubeconfig:
            return self  # built by hand: there is nothing to reload from
        return load_kubeconfig(self.kubeconfig, self.context or None)


def _from_configuration(cfg: Any, **meta: Any) -> Credentials:
    token = None
    auth = (cfg.api_key or {}).get("authorization") or (cfg.api_key or {}).get("BearerToken")
    if auth:
        prefix = (cfg.api_key_prefix or {}).get("authorization", "")
        value = f"{prefix} {auth}".strip() if prefix else auth
        token = value.split(" ", 1)[1] if value.lower().startswith("bearer ") else value
    return Credentials(
        server=cfg.host.rstrip("/"),
        token=token,
        username=cfg.username or None,
        password=cfg.password or None,
        ca_file=cfg.ssl_ca_cert,
        cert_file=cfg.cert_file,
        key_file=cfg.key_file,
        verify=bool(cfg.verify_ssl),
        tls_server_name=getattr(cfg, "tls_server_name", None),
        **meta,
    )


def default_kubeconfig() -> str:
    env = os.environ.get("KUBECONFIG")
    if env:
        return env.split(os.pathsep)[0]
    return str(Path.home() / ".kube" / "config")


def _read_yaml(path: str) -> dict[str, Any]:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with open(path, encoding="utf-8") as f:
        doc = yaml.load(f, Loader=loader)  # noqa: S506 - a safe loader
    if not isinstance(doc, dict):
        raise ConfigError(f"kubeconfig {path}: not a kubeconfig (expected a mapping)")
    return doc


def list_contexts(kubeconfig: str | None = None) -> tuple[list[str], str | None]:
    """Context names and the current one, for `:ctx` completion."""
    from kubernetes.config import kube_config

    path = kubeconfig or default_kubeconfig()
    try:
        contexts, current = kube_config.list_kube_config_contexts(config_file=path)
    except Exception as e:  # the loader raises several types for a bad file
        raise ConfigError(f"cannot read kubeconfig {path}: {e}") from None
    return [c["name"] for c in contexts], (current or {}).get("name")


def load_kubeconfig(kubeconfig: str | None = None, context: str | None = None) -> Credentials:
    from kubernetes.client import Configuration
    from kubernetes.config import kube_config
    from kubernetes.config.config_exception import ConfigException

    path = kubeconfig or os.environ.get("KUBECONFIG") or default_kubeconfig()
    files = [p for p in path.split(os.pathsep) if p]
    if not any(Path(p).exists() for p in files):
        raise ConfigError(f"kubeconfig {path} not found (set KUBECONFIG or pass --kubeconfig, or use --demo)")
    cfg = Configuration()
    try:
        if len(files) == 1:
            # One file: parse it with libyaml when present (the loaders' pure-Python parse takes seconds on
            # a kubeconfig with hundreds of contexts); relative paths resolve against the file's folder.
            loader = kube_config.KubeConfigLoader(
                config_dict=_read_yaml(files[0]), active_context=context,
                config_base_path=os.path.dirname(os.path.abspath(files[0])))
        else:  # KUBECONFIG with several files: the official merger decides precedence
            loader = kube_config._get_kube_config_loader(filename=path, active_context=context,
                                                         persist_config=False)
        loader.load_and_set(cfg)
        ctx = loader.current_context
    except ConfigException as e:
        raise ConfigError(f"kubeconfig {path}: {e}") from None
    except Exception as e:
        raise ConfigError(f"kubeconfig {path}: {type(e).__name__}: {e}") from None
    ctx_body = (ctx or {}).get("context") or {}
    return _from_configuration(
        cfg,
        context=(ctx or {}).get("name", ""),
        cluster=ctx_body.get("cluster", ""),
        user=ctx_body.get("user", ""),
        namespace=ctx_body.get("namespace") or "default",
        kubeconfig=path,
    )


def load_in_cluster() -> Credentials:
    from kubernetes.client import Configuration
    from kubernetes.config import incluster_config
    from kubernetes.config.config_exception import ConfigException

    cfg = Configuration()
    try:
        incluster_config.load_incluster_config(client_configuration=cfg)
    except ConfigException as e:
        raise ConfigError(f"in-cluster config: {e}") from None
    ns_file = Path(incluster_config.SERVICE_TOKEN_FILENAME).parent / "namespace"
    ns = ns_file.read_text().strip() if ns_file.exists() else "default"
    return _from_configuration(cfg, context="in-cluster", cluster="in-cluster", user="serviceaccount",
                               namespace=ns, in_cluster=True)


def load(kubeconfig: str | None = None, context: str | None = None) -> Credentials:
    """kubeconfig when there is one (or one was named), else the in-cluster service account."""
    if kubeconfig or os.environ.get("KUBECONFIG") or Path(default_kubeconfig()).exists():
        return load_kubeconfig(kubeconfig, context)
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        return load_in_cluster()
    raise ConfigError(f"no kubeconfig at {default_kubeconfig()} and not running in a cluster "
                      "(set KUBECONFIG, pass --kubeconfig, or use --demo)")
