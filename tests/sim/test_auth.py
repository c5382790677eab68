"""Users, tokens, RBAC decisions, self-subject reviews and the kubeconfig writer."""

from __future__ import annotations

import os

import pytest
import yaml

from console.sim.auth import Attributes, Users, decode_review_protobuf, write_kubeconfig
from console.sim.resources import NAMESPACES, QUEUES
from tests.conftest import PROJECT_NS


def test_users_are_admin_viewer_and_leaf_queues(sim_cluster) -> None:
    users = Users(sim_cluster)
    # dept-1 is a parent, not a project; each project also has a confined researcher
    assert users.names() == ["admin", "viewer", "team-a", "researcher-team-a"]


def test_tokens_are_stable_per_seed_and_forgeries_fail(sim_cluster) -> None:
    a, b = Users(sim_cluster), Users(sim_cluster)
    assert a.token("viewer") == b.token("viewer")
    assert a.authenticate(a.token("viewer")).kind == "viewer"
    tok = a.token("admin")
    assert a.authenticate(tok[:-1] + ("0" if tok[-1] != "0" else "1")) is None
    assert a.authenticate("sim.admin.") is None
    assert a.authenticate(None) is None
    assert a.authenticate(a.token("ghost")) is None  # well-formed, but no such user


def test_projects_appear_and_vanish_at_request_time(sim_cluster) -> None:
    users = Users(sim_cluster)
    tok = users.token("team-b")
    assert users.authenticate(tok) is None
    sim_cluster.store.create(QUEUES, {"metadata": {"name": "team-b"},
                                      "spec": {"parentQueue": "dept-1", "resources": {"gpu": {"quota": 1}}}})
    assert users.authenticate(tok).project == "team-b"
    sim_cluster.store.delete(QUEUES, None, "team-b")
    assert users.authenticate(tok) is None


def test_project_namespace_by_label_then_fallback(sim_cluster) -> None:
    users = Users(sim_cluster)
    assert users.project_namespaces("team-a") == {PROJECT_NS}
    assert users.project_namespaces("team-z") == {"runai-team-z"}
    sim_cluster.store.create(NAMESPACES, {"metadata": {"name": "adopted", "labels": {"runai/queue": "team-a"}}})
    assert users.project_namespaces("team-a") == {PROJECT_NS, "adopted"}


@pytest.mark.parametrize("user,attrs,ok", [
    ("admin", Attributes("delete", "", "nodes"), True),
    ("viewer", Attributes("list", "", "pods"), True),
    ("viewer", Attributes("get", "", "pods", "log", PROJECT_NS, "p1"), True),
    ("viewer", Attributes("create", "", "pods", namespace=PROJECT_NS), False),
    ("viewer", Attributes("create", "authorization.k8s.io", "selfsubjectaccessreviews"), True),
    ("team-a", Attributes("create", "", "pods", namespace=PROJECT_NS), True),
    ("team-a", Attributes("patch", "apps", "deployments", "scale", PROJECT_NS, "d"), True),
    ("team-a", Attributes("create", "", "pods", "eviction", PROJECT_NS, "p1"), True),
    ("team-a", Attributes("create", "", "pods", namespace="default"), False),
    ("team-a", Attributes("list", "", "pods", namespace="default"), True),
    ("team-a", Attributes("create", "scheduling.run.ai", "queues"), False),
    ("team-a", Attributes("get", path="/version"), True),
])
def test_rbac_decisions(sim_cluster, user, attrs, ok) -> None:
    users = Users(sim_cluster)
    assert users.allowed(users.user(user), attrs)[0] is ok


def test_access_review_answers_truthfully(sim_cluster) -> None:
    users = Users(sim_cluster)
    body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": {"verb": "create", "resource": "pods", "namespace": "default"}}}
    assert users.access_review(users.user("viewer"), body)["status"] == {"allowed": False}
    assert users.access_review(users.user("admin"), body)["status"]["allowed"] is True
    body["spec"]["resourceAttributes"]["namespace"] = PROJECT_NS
    assert users.access_review(users.user("team-a"), body)["status"]["allowed"] is True
    with pytest.raises(ValueError):
        users.access_review(users.user("admin"), {"spec": {}})


def test_rules_review_lists_write_rules_only_in_own_namespace(sim_cluster) -> None:
    users = Users(sim_cluster)
    team = users.user("team-a")
    verbs = lambda ns: {v for r in users.rules(team, ns)["resourceRules"] for v in r["verbs"]}  # noqa: E731
    assert "create" in verbs(PROJECT_NS)
    assert verbs("default") == {"get", "list", "watch", "create"}  # create only for the review kinds


def test_kubeconfig_has_every_context_and_is_private(sim_cluster, tmp_path) -> None:
    users = Users(sim_cluster)
    path = tmp_path / "sub" / "kc.yaml"
    names = write_kubeconfig(path, "http://127.0.0.1:1234", users)
    assert names == ["sim-admin", "sim-viewer", "sim-team-a", "sim-researcher-team-a"]
    doc = yaml.safe_load(path.read_text())
    assert doc["current-context"] == "sim-admin"
    ctx = {c["name"]: c["context"] for c in doc["contexts"]}
    assert ctx["sim-team-a"]["namespace"] == PROJECT_NS
    assert ctx["sim-researcher-team-a"]["namespace"] == PROJECT_NS
    tokens = {u["name"]: u["user"]["token"] for u in doc["users"]}
    assert users.authenticate(tokens["sim-viewer"]).name == "viewer"
    servers = {c["name"]: c["cluster"]["server"] for c in doc["clusters"]}
    assert servers["sim-viewer"] == f"http://127.0.0.1:1234/sim/auth/{tokens['sim-viewer']}"
    assert os.stat(path).st_mode & 0o777 == 0o600


def test_kubeconfig_for_tls_server_has_one_cluster(sim_cluster, tmp_path) -> None:
    write_kubeconfig(tmp_path / "kc", "https://127.0.0.1:6443", Users(sim_cluster))
    doc = yaml.safe_load((tmp_path / "kc").read_text())
    assert [c["cluster"]["server"] for c in doc["clusters"]] == ["https://127.0.0.1:6443"]


# -- protobuf: the body kubectl's typed client sends for `kubectl auth can-i`
def _varint(n: int) -> bytes:
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out


def _ld(num: int, payload: bytes) -> bytes:
    return _varint(num << 3 | 2) + _varint(len(payload)) + payload


def test_decode_access_review_protobuf() -> None:
    ra = _ld(1, b"ns1") + _ld(2, b"create") + _ld(5, b"pods") + _ld(6, b"log")
    obj = _ld(1, b"") + _ld(2, _ld(1, ra))
    raw = b"k8s\x00" + _ld(1, _ld(1, b"authorization.k8s.io/v1") + _ld(2, b"SelfSubjectAccessReview")) + _ld(2, obj)
    body = decode_review_protobuf(raw)
    assert body["kind"] == "SelfSubjectAccessReview"
    assert body["spec"]["resourceAttributes"] == {"namespace": "ns1", "verb": "create", "resource": "pods",
                                                  "subresource": "log"}


def test_decode_rejects_garbage() -> None:
    with pytest.raises(ValueError):
        decode_review_protobuf(b"{}")
    with pytest.raises(ValueError):
        decode_review_protobuf(b"k8s\x00" + b"\x0a\x50abc")  # length beyond the end


def test_researcher_is_confined_to_its_project(sim_cluster) -> None:
    users = Users(sim_cluster)
    r = users.user("researcher-team-a")
    assert r.kind == "researcher" and r.project == "team-a"
    assert users.allowed(r, Attributes("list", resource="pods", namespace=PROJECT_NS))[0]
    assert users.allowed(r, Attributes("create", resource="pods", namespace=PROJECT_NS))[0]
    ok, why = users.allowed(r, Attributes("list", resource="pods"))
    assert not ok and "only in its project's namespaces" in why
    assert not users.allowed(r, Attributes("get", resource="pods", namespace="default"))[0]
    assert users.allowed(r, Attributes("list", resource="nodes"))[0]
    assert users.allowed(r, Attributes("list", group="scheduling.run.ai", resource="queues"))[0]
    assert not users.allowed(r, Attributes("list", resource="namespaces"))[0]
    rules = users.rules(r, "default")["resourceRules"]
    assert all("pods" not in rule["resources"] and "*" not in rule["resources"] for rule in rules
               if "list" in rule["verbs"])
