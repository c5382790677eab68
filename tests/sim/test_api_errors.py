"""Every failure is a Status body with the apiserver's code, reason and wording."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import PROJECT_NS

PODS_URL = f"/api/v1/namespaces/{PROJECT_NS}/pods"
POD = {"metadata": {"name": "e1"}, "spec": {"containers": [{"name": "c", "image": "i:1"}]}}


def _status(r: httpx.Response, code: int, reason: str) -> dict:
    assert r.status_code == code, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert (body["kind"], body["status"], body["code"], body["reason"]) == ("Status", "Failure", code, reason)
    return body


async def test_missing_and_unknown_tokens_are_401(sim_server) -> None:
    async with sim_server.client(None) as c:
        _status(await c.get("/api/v1/pods"), 401, "Unauthorized")
        _status(await c.get("/api/v1/pods", headers={"Authorization": "Bearer sim.admin.0000"}), 401,
                "Unauthorized")
        _status(await c.get("/api/v1/pods", headers={"Authorization": "Basic YWRtaW46eA=="}), 401, "Unauthorized")
        # over TLS a token is never read from the URL: that is the plain-HTTP debugging mode's alone
        path = f"/sim/auth/{sim_server.tokens['viewer']}/api/v1/pods"
        assert (await c.get(path)).status_code == 401


async def test_plain_http_accepts_the_url_path_token(sim_server_plain) -> None:
    async with sim_server_plain.client(None) as c:
        ok = await c.get(f"/sim/auth/{sim_server_plain.tokens['viewer']}/api/v1/pods")
        assert ok.status_code == 200
        _status(await c.get("/api/v1/pods"), 401, "Unauthorized")


async def test_forbidden_wording_matches_the_apiserver(sim_server) -> None:
    async with sim_server.client("viewer") as c:
        body = _status(await c.post("/api/v1/namespaces/x/pods", json=POD), 403, "Forbidden")
        assert body["message"] == ('pods is forbidden: User "viewer" cannot create resource "pods" in API group "" '
                                   'in the namespace "x"')
        body = _status(await c.delete("/apis/scheduling.run.ai/v2/queues/team-a"), 403, "Forbidden")
        assert body["message"] == ('queues.scheduling.run.ai "team-a" is forbidden: User "viewer" cannot delete '
                                   'resource "queues" in API group "scheduling.run.ai" at the cluster scope')
    async with sim_server.client("team-a") as c:
        assert (await c.post(PODS_URL, json=POD)).status_code == 201
        body = _status(await c.post("/api/v1/namespaces/default/pods", json=POD), 403, "Forbidden")
        assert 'User "team-a" cannot create resource "pods"' in body["message"]
        r = await c.patch(f"/apis/apps/v1/namespaces/default/deployments/d/scale", json={},
                          headers={"Content-Type": "application/merge-patch+json"})
        assert 'cannot patch resource "deployments/scale" in API group "apps"' in r.json()["message"]


async def test_not_found_and_already_exists(sim_server) -> None:
    async with sim_server.client() as c:
        body = _status(await c.get(f"{PODS_URL}/ghost"), 404, "NotFound")
        assert body["message"] == 'pods "ghost" not found' and body["details"]["name"] == "ghost"
        body = _status(await c.get("/apis/apps/v1/namespaces/x/deployments/ghost"), 404, "NotFound")
        assert body["message"] == 'deployments.apps "ghost" not found'
        _status(await c.get("/api/v1/bogus"), 404, "NotFound")
        _status(await c.get("/nothing/here"), 404, "NotFound")
        _status(await c.post("/api/v1/namespaces/nope/pods", json=POD), 404, "NotFound")
        assert (await c.post(PODS_URL, json=POD)).status_code == 201
        body = _status(await c.post(PODS_URL, json=POD), 409, "AlreadyExists")
        assert body["message"] == 'pods "e1" already exists'


async def test_method_not_allowed(sim_server) -> None:
    async with sim_server.client() as c:
        _status(await c.put(PODS_URL, json=POD), 405, "MethodNotAllowed")
        _status(await c.post(f"{PODS_URL}/p1", json=POD), 405, "MethodNotAllowed")
        _status(await c.get("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"), 405, "MethodNotAllowed")
        _status(await c.post("/api", json={}), 405, "MethodNotAllowed")


@pytest.mark.parametrize("content,ctype", [
    (b"{not json", "application/json"),
    (b"a: [unclosed", "application/yaml"),
    (b"", "application/json"),
    (b"[1, 2]", "application/json"),
    (b"\xff\xfe", "application/json"),
])
async def test_malformed_bodies_are_400_never_500(sim_server, content, ctype) -> None:
    async with sim_server.client() as c:
        body = _status(await c.post(PODS_URL, content=content, headers={"Content-Type": ctype}), 400, "BadRequest")
        assert "Traceback" not in body["message"]
        r = await c.patch(f"{PODS_URL}/p1", content=content, headers={"Content-Type": "application/merge-patch+json"})
        assert r.status_code == 400


async def test_unsupported_or_malformed_body_types(sim_server) -> None:
    async with sim_server.client() as c:
        body = _status(await c.post(PODS_URL, content=b"\x00\x01",
                                    headers={"Content-Type": "application/vnd.kubernetes.protobuf"}),
                       400, "BadRequest")
        assert "k8s" in body["message"]  # says the protobuf prefix is missing
        _status(await c.patch(f"{PODS_URL}/p1", content=b"{}", headers={"Content-Type": "text/plain"}), 415,
                "UnsupportedMediaType")


async def test_kind_and_namespace_mismatches_are_400(sim_server) -> None:
    async with sim_server.client() as c:
        body = _status(await c.post(PODS_URL, json={**POD, "apiVersion": "apps/v1"}), 400, "BadRequest")
        assert "does not match the expected API version" in body["message"]
        wrong_ns = {**POD, "metadata": {"name": "e2", "namespace": "default"}}
        _status(await c.post(PODS_URL, json=wrong_ns), 400, "BadRequest")


async def test_invalid_has_causes(sim_server) -> None:
    async with sim_server.client() as c:
        bad = {"metadata": {"name": "e3"}, "spec": {"containers": [{"name": "c"}]}}
        body = _status(await c.post(PODS_URL, json=bad), 422, "Invalid")
        assert body["details"]["causes"] == [{"reason": "FieldValueRequired", "message": "Required value",
                                              "field": "spec.containers[0].image"}]
        assert body["message"] == 'Pod "e3" is invalid: spec.containers[0].image: Required value'


async def test_handler_bugs_are_500_status(sim_server, monkeypatch) -> None:
    from console.sim import tables

    def boom(*a, **kw):
        raise RuntimeError("printer broke")
    monkeypatch.setattr(tables, "table", boom)
    async with sim_server.client() as c:
        r = await c.get(f"{PODS_URL}/p1", headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"})
        body = _status(r, 500, "InternalError")
        assert "printer broke" in body["message"]
