"""Users of the simulated cluster: bearer tokens, RBAC decisions, self-subject reviews, kubeconfig.

Four kinds of user, matching how Run:ai clusters are used: `admin` (cluster-admin), `viewer`
(read-only everywhere), one user per project (write in the project's namespace, read everywhere), and one
`researcher-<project>` per project, confined to the project's namespaces (plus read access to nodes, queues
and priority classes), as researchers are on clusters that keep projects apart. Over HTTPS one more user,
`cert-admin`, authenticates with a client certificate instead of a token: as kube-apiserver reads one,
the subject's CommonName is the user name and its Organizations are the groups, and the group
`system:masters` makes it an admin.
Projects are leaf Queues; they can appear at any time, so rights are computed at request time from
the store rather than fixed at start-up. Tokens are derived from the cluster's seed, so a kubeconfig
written by one process works against a server started from the same seed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import tempfile
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import yaml

# The protobuf body readers live in .protobuf; these names stay importable from here.
from .protobuf import PROTOBUF_MAGIC, decode_eviction_protobuf, decode_review_protobuf  # noqa: F401
from .resources import NAMESPACES, QUEUES

if TYPE_CHECKING:
    from .tls import ServerTLS

ADMIN = "admin"
VIEWER = "viewer"
CERT_USER = "cert-admin"        # the client-certificate user of the kubeconfig's `sim-cert` context
MASTERS = "system:masters"
READ_VERBS = frozenset({"get", "list", "watch"})
WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})
REVIEWS = frozenset({"selfsubjectaccessreviews", "selfsubjectrulesreviews"})
PROJECT_LABEL = "runai/queue"
RESEARCHER_PREFIX = "researcher-"
# Cluster-scoped resources a confined researcher may still read: what the scheduler shows every project.
RESEARCHER_CLUSTER_READS = frozenset({"nodes", "queues", "priorityclasses"})


@dataclass(frozen=True, slots=True)
class User:
    name: str
    kind: str  # "admin", "viewer", "project" or "researcher"
    project: str = ""
    cert_groups: tuple[str, ...] = ()  # a client certificate's Organizations

    @property
    def groups(self) -> list[str]:
        base = ["system:authenticated"]
        if self.cert_groups:
            return [g for g in self.cert_groups if g != base[0]] + base
        return (["system:masters"] + base) if self.kind == "admin" else base

    def info(self) -> dict[str, Any]:
        """The `userInfo` a SelfSubjectReview answers with (authentication.k8s.io/v1)."""
        return {"username": self.name, "groups": self.groups}


@dataclass(frozen=True, slots=True)
class Attributes:
    """What a request wants to do, as the authorizer sees it."""

    verb: str
    group: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    path: str = ""  # for non-resource requests

    @property
    def is_resource(self) -> bool:
        return bool(self.resource)


class Users:
    """Authentication and authorization for one simulated cluster."""

    def __init__(self, cluster: Any, secret: str | None = None) -> None:
        self.cluster = cluster
        self._secret = (secret or f"gpuconsole-sim/{cluster.seed}").encode()

    # -------------------------------------------------------------- identities
    def projects(self) -> list[str]:
        """Leaf queues, sorted: queues that no other queue names as its parent."""
        queues = list(self.cluster.store.items(QUEUES))
        parents = {(q.get("spec") or {}).get("parentQueue") for q in queues}
        return sorted(q["metadata"]["name"] for q in queues if q["metadata"]["name"] not in parents)

    def names(self) -> list[str]:
        projects = [p for p in self.projects() if p not in (ADMIN, VIEWER)]
        return [ADMIN, VIEWER] + projects + [RESEARCHER_PREFIX + p for p in projects]

    def token(self, name: str) -> str:
        mac = hmac.new(self._secret, name.encode(), hashlib.sha256).hexdigest()[:32]
        return f"sim.{name}.{mac}"

    def authenticate(self, token: str | None) -> User | None:
        """The user a bearer token belongs to now, or None (unknown, forged, or a project that went away)."""
        if not token or not token.startswith("sim."):
            return None
        name, _, mac = token[4:].rpartition(".")
        if not name or not hmac.compare_digest(self.token(name), token):
            return None
        if name == ADMIN:
            return User(ADMIN, "admin")
        if name == VIEWER:
            return User(VIEWER, "viewer")
        projects = self.projects()
        if name in projects:
            return User(name, "project", name)
        if name.startswith(RESEARCHER_PREFIX) and name[len(RESEARCHER_PREFIX):] in projects:
            return User(name, "researcher", name[len(RESEARCHER_PREFIX):])
        return None

    def authenticate_cert(self, peercert: dict[str, Any]) -> User | None:
        """The user a verified client certificate names (`ssl.getpeercert()` form): CN is the user, each O a
        group; `system:masters` is admin, other names are the token users of the same name."""
        cn, groups = "", []
        for rdn in peercert.get("subject") or ():
            for key, value in rdn:
                if key == "commonName":
                    cn = value
                elif key == "organizationName":
                    groups.append(value)
        if not cn:
            return None
        if MASTERS in groups:
            return User(cn, "admin", cert_groups=tuple(groups))
        u = self.authenticate(self.token(cn))
        return User(u.name, u.kind, u.project, tuple(groups)) if u is not None and groups else u

    def user(self, name: str) -> User:
        u = self.authenticate(self.token(name))
        if u is None:
            raise KeyError(f"no such user: {name}")
        return u

    def project_namespaces(self, project: str) -> set[str]:
        """Namespaces labelled `runai/queue=<project>`; `runai-<project>` when none is labelled."""
        found = {n["metadata"]["name"] for n in self.cluster.store.items(NAMESPACES)
                 if (n["metadata"].get("labels") or {}).get(PROJECT_LABEL) == project}
        return found or {f"runai-{project}"}

    # -------------------------------------------------------------- authorization
    def allowed(self, user: User, a: Attributes) -> tuple[bool, str]:
        """(allowed, reason) for one request."""
        if user.kind == "admin":
            return True, "admin may do everything"
        if not a.is_resource:
            ok = a.verb in ("get", "head")
            return ok, "authenticated users may read discovery and health paths" if ok else \
                "only admin may write non-resource paths"
        if (a.group, a.resource) == ("authentication.k8s.io", "selfsubjectreviews"):
            ok = a.verb == "create"
            return ok, "every user may ask who it is" if ok else "reviews can only be created"
        if a.group == "authorization.k8s.io" and a.resource in REVIEWS:
            ok = a.verb == "create"
            return ok, "every user may ask what it may do" if ok else "reviews can only be created"
        if user.kind == "researcher" and a.verb in READ_VERBS:
            if a.namespace and a.namespace in self.project_namespaces(user.project):
                return True, f"{user.name} may read in its project's namespace {a.namespace}"
            if not a.namespace and a.resource in RESEARCHER_CLUSTER_READS:
                return True, f"{user.name} may read {a.resource}"
            where = f"namespace {a.namespace}" if a.namespace else "the cluster scope"
            return False, f"{user.name} may read only in its project's namespaces, not in {where}"
        if a.verb in READ_VERBS:
            return True, f"{user.name} may read every resource"
        if user.kind == "viewer":
            return False, "viewer is read-only"
        if a.verb in WRITE_VERBS and a.namespace and a.namespace in self.project_namespaces(user.project):
            return True, f"{user.name} may write in its project's namespace {a.namespace}"
        where = f"namespace {a.namespace}" if a.namespace else "the cluster scope"
        return False, f"{user.name} may write only in its project's namespaces, not in {where}"

    def rules(self, user: User, namespace: str) -> dict[str, Any]:
        """The status of a SelfSubjectRulesReview for `namespace`."""
        read = {"verbs": sorted(READ_VERBS), "apiGroups": ["*"], "resources": ["*"]}
        review = {"verbs": ["create"], "apiGroups": ["authorization.k8s.io"], "resources": sorted(REVIEWS)}
        if user.kind == "admin":
            rules = [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}]
            non = [{"verbs": ["*"], "nonResourceURLs": ["*"]}]
        else:
            own = namespace in self.project_namespaces(user.project) if user.project else False
            if user.kind == "researcher" and not own:
                read = {"verbs": sorted(READ_VERBS), "apiGroups": ["", "scheduling.run.ai", "scheduling.k8s.io"],
                        "resources": sorted(RESEARCHER_CLUSTER_READS)}
            rules = [review, read]
            if user.kind in ("project", "researcher") and own:
                rules.append({"verbs": sorted(WRITE_VERBS), "apiGroups": ["*"], "resources": ["*"]})
            non = [{"verbs": ["get"], "nonResourceURLs": ["/api", "/api/*", "/apis", "/apis/*", "/healthz",
                                                          "/livez", "/readyz", "/version", "/version/",
                                                          "/openapi", "/openapi/*"]}]
        return {"resourceRules": rules, "nonResourceRules": non, "incomplete": False}

    def access_review(self, user: User, body: dict[str, Any]) -> dict[str, Any]:
        """Answer a SelfSubjectAccessReview body truthfully; raises ValueError on a malformed spec."""
        spec = body.get("spec")
        if not isinstance(spec, dict):
            raise ValueError("spec: Required value")
        ra = spec.get("resourceAttributes")
        nra = spec.get("nonResourceAttributes")
        if isinstance(ra, dict):
            a = Attributes(verb=str(ra.get("verb") or ""), group=str(ra.get("group") or ""),
                           resource=str(ra.get("resource") or ""), subresource=str(ra.get("subresource") or ""),
                           namespace=str(ra.get("namespace") or ""), name=str(ra.get("name") or ""))
            if not a.verb:
                raise ValueError("spec.resourceAttributes.verb: Required value")
            if a.verb == "*" and user.kind != "admin":
                ok, reason = False, "only admin may use every verb"
            else:
                ok, reason = self.allowed(user, a if a.resource else Attributes(
                    a.verb, a.group, "*", a.subresource, a.namespace, a.name))
        elif isinstance(nra, dict):
            ok, reason = self.allowed(user, Attributes(verb=str(nra.get("verb") or ""),
                                                       path=str(nra.get("path") or "")))
        else:
            raise ValueError("spec: exactly one of resourceAttributes or nonResourceAttributes must be set")
        out = {k: v for k, v in body.items() if k != "status"}
        out["apiVersion"] = "authorization.k8s.io/v1"
        out["kind"] = "SelfSubjectAccessReview"
        out.setdefault("metadata", {})
        # A denial carries no reason, as with RBAC: kubectl then prints a bare "no".
        out["status"] = {"allowed": True, "reason": reason} if ok else {"allowed": False}
        return out


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def write_kubeconfig(path: str | os.PathLike[str], server_url: str, users: Users,
                     tls: "ServerTLS | None" = None) -> list[str]:
    """Write a kubeconfig with contexts `sim-admin` (current), `sim-viewer`, `sim-<project>` and
    `sim-researcher-<project>`, and over TLS `sim-cert`. Returns the context names written.

    Over HTTPS it is what a real cluster's kubeconfig looks like: one cluster whose server is the bare URL,
    with the CA as `certificate-authority-data`; each user's bearer token in `users[].user.token`; and
    `sim-cert`, whose user `cert-admin` holds a client certificate and key issued now by that CA.
    Over plain HTTP kubectl sends no bearer token, so each context also gets its own cluster entry whose
    server URL carries the token in a `/sim/auth/<token>` path prefix (the plain server accepts either).
    Written atomically with mode 0600, as it holds credentials.
    """
    base = server_url.rstrip("/")
    plain = base.startswith("http://")
    clusters, contexts, auth = [], [], []
    for name in users.names():
        ctx = f"sim-{name}"
        ns = "default"
        project = users.user(name).project
        if project:
            ns = sorted(users.project_namespaces(project))[0]
        token = users.token(name)
        cluster = ctx if plain else "gpuconsole-sim"
        if plain:
            clusters.append({"name": cluster, "cluster": {"server": f"{base}/sim/auth/{token}"}})
        contexts.append({"name": ctx, "context": {"cluster": cluster, "user": ctx, "namespace": ns}})
        auth.append({"name": ctx, "user": {"token": token}})
    if not plain:
        cluster_body: dict[str, Any] = {"server": base}
        if tls is not None:
            cluster_body["certificate-authority-data"] = _b64(tls.ca.cert_pem)
        clusters.append({"name": "gpuconsole-sim", "cluster": cluster_body})
        if tls is not None:
            cert = tls.ca.issue_client(CERT_USER, [MASTERS])
            contexts.append({"name": "sim-cert",
                             "context": {"cluster": "gpuconsole-sim", "user": "sim-cert", "namespace": "default"}})
            auth.append({"name": "sim-cert", "user": {"client-certificate-data": _b64(cert.cert_pem),
                                                      "client-key-data": _b64(cert.key_pem)}})
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": clusters,
        "contexts": contexts,
        "users": auth,
        "current-context": "sim-admin",
    }
    target = os.fspath(path)
    d = os.path.dirname(os.path.abspath(target))
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".kubeconfig-", dir=d)
    try:
        with os.fdopen(fd, "w") as f:
            yaml.safe_dump(doc, f, sort_keys=False)
        os.chmod(tmp, 0o600)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return [c["name"] for c in contexts]
