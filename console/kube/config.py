"""Credentials: kubectl's kubeconfig rules, then the official `kubernetes` package's loader for one context.

Which files count and how several merge follow client-go exactly (`kubeconfig_merge`); the official
`KubeConfigLoader` then reads the chosen context from the merged dict: exec plugins, OIDC, token files,
client certificates, the in-cluster service account. The loaders are imported lazily (about 0.3 s) and run
in a thread by callers, since exec plugins block. A Credentials remembers where it came from (context,
file, where the CA and client certificate came from) so every later error can say so.
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import redact

from .kubeconfig_merge import KubeconfigError, Merged, default_path, merge, show_path


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
    kubeconfig: str | None = None   # the file named with --kubeconfig; None: $KUBECONFIG or ~/.kube/config
    source: str = ""                # the kubeconfig file that defined the context ("" when built by hand)
    ca_from: str = ""               # where the trusted certificate authority came from, in words
    cert_from: str = ""             # where the client certificate came from, in words
    key_from: str = ""              # where the client key came from, in words
    in_cluster: bool = False
    _ssl: Any = field(default=None, repr=False, compare=False)

    # ------------------------------------------------------------ where, in words
    @property
    def where(self) -> str:
        """`context prod from ~/.kube/prod.yaml`: what every error about this connection names."""
        if self.in_cluster:
            return "in-cluster service account"
        if self.context and self.source:
            return f"context {self.context} from {show_path(self.source)}"
        return f"context {self.context}" if self.context else ""

    @property
    def auth_kind(self) -> str:
        if self.token:
            return "bearer token"
        if self.cert_file:
            return "client certificate"
        if self.username is not None:
            return "username and password"
        return "no credentials"

    @property
    def tls(self) -> str:
        """`verified`, `unverified` (insecure-skip-tls-verify) or `plain` (http, nothing encrypted)."""
        if not self.server.startswith("https"):
            return "plain"
        return "verified" if self.verify else "unverified"

    def same_auth(self, other: "Credentials") -> bool:
        """Whether `other` would send exactly what this sends (a reload that changed nothing)."""
        return (self.token, self.username, self.password, self.cert_file, self.key_file) == \
               (other.token, other.username, other.password, other.cert_file, other.key_file)

    # ------------------------------------------------------------ HTTP
    def headers(self) -> dict[str, str]:
        if self.token:
            return {"Authorization": f"Bearer {self.token}"}
        if self.username is not None:
            import base64
            pair = f"{self.username}:{self.password or ''}".encode()
            return {"Authorization": "Basic " + base64.b64encode(pair).decode()}
        return {}

    def ssl_context(self) -> ssl.SSLContext | bool:
        """The TLS settings for this server (False for plain http); ConfigError when they cannot be used."""
        if not self.server.startswith("https"):
            return False
        if self._ssl is None:
            self._ssl = self._build_ssl()
        return self._ssl

    def _build_ssl(self) -> ssl.SSLContext:
        if not self.verify:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        else:
            try:
                ctx = ssl.create_default_context(cafile=self.ca_file) if self.ca_file else \
                    ssl.create_default_context()
            except OSError as e:
                if isinstance(e, ssl.SSLError):
                    raise ConfigError(f"the certificate authority ({self.ca_from or self.ca_file}) holds no usable "
                                      f"PEM certificate{self._for()}") from None
                raise ConfigError(f"cannot read the certificate authority {self.ca_from or self.ca_file}"
                                  f"{self._for()}: {e.strerror or e}") from None
        if self.cert_file or self.key_file:
            self._load_client_cert(ctx)
        return ctx

    def _for(self) -> str:
        return f" ({self.where})" if self.where else ""

    def _load_client_cert(self, ctx: ssl.SSLContext) -> None:
        ctx_words = f", context {self.context}" if self.context else ""
        origin = {"certificate": self.cert_from or str(self.cert_file), "key": self.key_from or str(self.key_file)}
        texts: dict[str, str] = {}
        for role, path in (("certificate", self.cert_file), ("key", self.key_file)):
            if not path:
                other = "key" if role == "certificate" else "certificate"
                raise ConfigError(f"user {self.user} has a client {other} but no client {role}{self._for()}")
            try:
                texts[role] = Path(path).read_text(encoding="utf-8", errors="replace")
            except OSError as e:
                raise ConfigError(f"cannot read the client {role} of user {self.user} ({origin[role]}{ctx_words}): "
                                  f"{e.strerror or e}") from None
        if "PRIVATE KEY-----" not in texts["key"]:
            raise ConfigError(f"the client key of user {self.user} ({origin['key']}{ctx_words}) is not a PEM "
                              "private key")
        if "CERTIFICATE-----" not in texts["certificate"]:
            raise ConfigError(f"the client certificate of user {self.user} ({origin['certificate']}{ctx_words}) "
                              "is not a PEM certificate")
        try:
            ctx.load_cert_chain(self.cert_file, self.key_file)  # type: ignore[arg-type]
        except ssl.SSLError as e:
            why = "the key does not belong to the certificate" if "KEY_VALUES_MISMATCH" in str(e) else \
                f"the certificate or the key cannot be read ({(e.reason or str(e)).lower().replace('_', ' ')})"
            raise ConfigError(f"cannot use the client certificate of user {self.user} ({origin['key']}{ctx_words}):"
                              f" {why}") from None

    def reload(self) -> "Credentials":
        """Load again from the same source: exec plugins and OIDC hand out fresh tokens."""
        if self.in_cluster:
            return load_in_cluster()
        if not self.source:
            return self  # built by hand: there is nothing to reload from
        return load_kubeconfig(self.kubeconfig, self.context or None)


def _from_configuration(cfg: Any, **meta: Any) -> Credentials:
    token = None
    auth = (cfg.api_key or {}).get("authorization") or (cfg.api_key or {}).get("BearerToken")
    basic = None
    if auth:
        prefix = (cfg.api_key_prefix or {}).get("authorization", "")
        value = f"{prefix} {auth}".strip() if prefix else auth
        if value.lower().startswith("basic "):
            basic = value  # username and password: the loader hands them over as a ready header
        else:
            token = (value.split(" ", 1)[1] if value.lower().startswith("bearer ") else value).strip()  # client-go trims a tokenFile
    creds = Credentials(
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
    if basic and creds.username is None:
        import base64
        user, _, password = base64.b64decode(basic.split(" ", 1)[1]).decode().partition(":")
        creds.username, creds.password = user, password
    # Whatever is written down from now on (the log above all) masks this session's secrets.
    redact.remember(creds.token, creds.password, *(h.split(" ", 1)[-1] for h in creds.headers().values()))
    return creds


def default_kubeconfig() -> str:
    env = os.environ.get("KUBECONFIG")
    if env:
        return env.split(os.pathsep)[0]
    return default_path()


def _merged(kubeconfig: str | None) -> Merged:
    try:
        m = merge(kubeconfig)
    except KubeconfigError as e:
        raise ConfigError(str(e)) from None
    if not m.read:
        names = os.pathsep.join(show_path(f) for f in m.files)
        raise ConfigError(f"kubeconfig {names} not found (set KUBECONFIG or pass --kubeconfig, or use --demo)")
    return m


def _files(m: Merged) -> str:
    return os.pathsep.join(show_path(f) for f in m.read)


def list_contexts(kubeconfig: str | None = None) -> tuple[list[str], str | None]:
    """Context names in `kubectl config get-contexts` order (sorted), and the current one."""
    m = _merged(kubeconfig)
    return m.context_names(), m.doc["current-context"] or None


def _ca_words(cluster: str, body: dict[str, Any], src: str) -> str:
    if body.get("certificate-authority-data"):
        return f"certificate-authority-data of cluster {cluster} in {show_path(src)}"
    if body.get("certificate-authority"):
        return f"certificate-authority {show_path(str(body['certificate-authority']))} of cluster {cluster}"
    return "the system's trusted certificate authorities"


def _file_words(what: str, body: dict[str, Any], src: str) -> str:
    """`client-key-data in ~/k.yaml` or `client-key /path/key.pem`: where one credential came from."""
    if body.get(f"{what}-data"):
        return f"{what}-data in {show_path(src)}"
    if body.get(what):
        return f"{what} {show_path(str(body[what]))}"
    return "from the exec plugin" if body.get("exec") else ""


def _check_files(name: str, cluster: str, cl_body: dict[str, Any], user: str, u_body: dict[str, Any]) -> None:
    """Every file the chosen cluster and user name must be a readable file: one sentence each, not the
    loader's `File does not exist`. The loader reads TLS files only for an https server."""
    https = str(cl_body.get("server", "")).startswith("https")
    refs: list[tuple[str, str, Any]] = []
    if https and not cl_body.get("certificate-authority-data"):
        refs.append((f"the certificate authority of cluster {cluster}", "certificate-authority",
                     cl_body.get("certificate-authority")))
    if https and not u_body.get("client-certificate-data"):
        refs.append((f"the client certificate of user {user}", "client-certificate", u_body.get("client-certificate")))
    if https and not u_body.get("client-key-data"):
        refs.append((f"the client key of user {user}", "client-key", u_body.get("client-key")))
    if not u_body.get("token"):
        refs.append((f"the token file of user {user}", "tokenFile", u_body.get("tokenFile")))
    for words, key, path in refs:
        if not isinstance(path, str) or not path:
            continue
        why = ""
        if not os.path.exists(path):
            why = "no such file"
        elif os.path.isdir(path):
            why = "it is a folder"
        else:
            try:
                with open(path, "rb"):
                    pass
            except OSError as e:
                why = str(e.strerror or e).lower()
        if why:
            raise ConfigError(f"cannot read {words} ({key} {show_path(path)}, context {name}): {why}")


def load_kubeconfig(kubeconfig: str | None = None, context: str | None = None) -> Credentials:
    """Credentials for `context` (default: the merged current-context) from the files kubectl would read."""
    from kubernetes.client import Configuration
    from kubernetes.config import kube_config
    from kubernetes.config.config_exception import ConfigException

    m = _merged(kubeconfig)
    have = ", ".join(m.context_names()) or "none"
    name = context or m.doc["current-context"]
    if not name:
        raise ConfigError(f"no current-context in kubeconfig {_files(m)}; pass --context (contexts: {have})")
    ctx = m.entry("contexts", name)
    if ctx is None:
        raise ConfigError(f"no context {name!r} in kubeconfig {_files(m)} (contexts: {have})")
    src = m.origin[("contexts", name)]
    body = ctx.get("context") or {}
    cluster, user = str(body.get("cluster") or ""), str(body.get("user") or "")
    where = f"context {name} from {show_path(src)}"
    cl = m.entry("clusters", cluster) if cluster else None
    if cl is None:
        raise ConfigError(f"{where} names cluster {cluster!r}, which no kubeconfig file defines" if cluster else
                          f"{where} names no cluster")
    cl_body = cl.get("cluster") or {}
    if not cl_body.get("server"):
        raise ConfigError(f"cluster {cluster} in {show_path(m.origin[('clusters', cluster)])} has no server")
    u = m.entry("users", user) if user else None
    if user and u is None:
        raise ConfigError(f"{where} names user {user!r}, which no kubeconfig file defines")
    user_src = m.origin[("users", user)] if user else src
    _check_files(name, cluster, cl_body, user, (u or {}).get("user") or {})
    cfg = Configuration()
    try:
        loader = kube_config.KubeConfigLoader(config_dict=m.doc, active_context=name,
                                              config_base_path=os.path.dirname(os.path.abspath(user_src)))
        loader.load_and_set(cfg)
    except ConfigException as e:
        raise ConfigError(f"{where}: {e}") from None
    except Exception as e:  # the loader raises several types for a bad entry (base64, exec, files)
        raise ConfigError(f"{where}: {type(e).__name__}: {e}") from None
    creds = _from_configuration(
        cfg, context=name, cluster=cluster, user=user, namespace=body.get("namespace") or "default",
        kubeconfig=kubeconfig, source=src,
        ca_from=_ca_words(cluster, cl_body, m.origin[("clusters", cluster)]),
        cert_from=_file_words("client-certificate", (u or {}).get("user") or {}, user_src),
        key_from=_file_words("client-key", (u or {}).get("user") or {}, user_src))
    if creds.ca_file or creds.cert_file or creds.key_file:
        creds.ssl_context()  # a CA or client key that cannot be used fails here, with words
    return creds


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
                               namespace=ns, in_cluster=True,
                               ca_from=f"the service account's CA {incluster_config.SERVICE_CERT_FILENAME}")


def load(kubeconfig: str | None = None, context: str | None = None) -> Credentials:
    """kubeconfig when there is one (or one was named), else the in-cluster service account."""
    if kubeconfig or os.environ.get("KUBECONFIG") or Path(default_kubeconfig()).exists():
        return load_kubeconfig(kubeconfig, context)
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        return load_in_cluster()
    raise ConfigError(f"no kubeconfig at {show_path(default_kubeconfig())} and not running in a cluster "
                      "(set KUBECONFIG, pass --kubeconfig, or use --demo)")
