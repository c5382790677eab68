"""Real kubectl's typed verbs against the simulated apiserver.

`kubectl create <kind>`, `auth can-i` and `drain --disable-eviction` send their bodies as Kubernetes
protobuf; the other verbs here send JSON patches. Each verb must succeed, or, where the simulator does
not serve the resource, fail with the server's clear NotFound rather than an unknown-media-type error.
Where a verb is expected to send protobuf, the test reads kubectl's own request log (-v=8) to be sure.
"""

from __future__ import annotations

import json

import pytest

from console.sim.resources import (
    CONFIGMAPS, DEPLOYMENTS, NAMESPACES, NODES, PODS, RESOURCEQUOTAS, SERVICES, for_key, lookup,
)
from tests.conftest import PROJECT_NS
from tests.sim.test_kubectl import KUBECTL, kubectl, ok

pytestmark = [pytest.mark.kubectl, pytest.mark.skipif(KUBECTL is None, reason="kubectl is not on PATH")]

SENT_PROTOBUF = "Content-Type: application/vnd.kubernetes.protobuf"
NS = ("-n", PROJECT_NS)


async def ok_protobuf(srv, *args: str, **kw) -> str:
    """Run a verb that must succeed, and check kubectl sent its body as protobuf."""
    rc, out, err = await kubectl(srv, "-v=8", *args, **kw)
    assert rc == 0, f"kubectl {' '.join(args)} failed ({rc}): {err[-2000:]}"
    assert SENT_PROTOBUF in err, f"kubectl {' '.join(args)} sent no protobuf body"
    return out


async def not_served(srv, *args: str) -> None:
    """A typed create of a kind the simulator does not serve fails with the server's NotFound."""
    rc, _, err = await kubectl(srv, *args)
    assert rc != 0 and "could not find the requested resource" in err, err
    assert "unknown format" not in err and "415" not in err


async def test_create_family_decodes_every_kind(sim_server) -> None:
    s = sim_server.cluster.store
    assert "namespace/team-x created" in await ok_protobuf(sim_server, "create", "namespace", "team-x")
    assert s.get(NAMESPACES, None, "team-x")["metadata"]["name"] == "team-x"

    await ok_protobuf(sim_server, "create", "configmap", "cfg", "--from-literal=a=b", "--from-literal=empty=", *NS)
    assert s.get(CONFIGMAPS, PROJECT_NS, "cfg")["data"] == {"a": "b", "empty": ""}

    await ok_protobuf(sim_server, "create", "service", "clusterip", "svc", "--tcp=80:8080", "--tcp=443:https", *NS)
    svc = s.get(SERVICES, PROJECT_NS, "svc")["spec"]
    assert [(p["port"], p["targetPort"]) for p in svc["ports"]] == [(80, 8080), (443, "https")]
    assert svc["selector"] == {"app": "svc"} and svc["type"] == "ClusterIP"

    await ok_protobuf(sim_server, "create", "serviceaccount", "runner", *NS)
    assert s.get(for_key("serviceaccounts"), PROJECT_NS, "runner")["metadata"]["namespace"] == PROJECT_NS

    await ok_protobuf(sim_server, "create", "priorityclass", "batch-low", "--value=0", "--description=zero is a value")
    pc = s.get(for_key("priorityclasses.scheduling.k8s.io"), None, "batch-low")
    assert pc["value"] == 0 and pc["description"] == "zero is a value"

    await ok_protobuf(sim_server, "create", "quota", "gpus", "--hard=requests.nvidia.com/gpu=4,pods=10", *NS)
    assert s.get(RESOURCEQUOTAS, PROJECT_NS, "gpus")["spec"]["hard"] == {"requests.nvidia.com/gpu": "4", "pods": "10"}

    await ok_protobuf(sim_server, "create", "pdb", "keep", "--selector=app=web", "--min-available=50%", *NS)
    pdb = s.get(for_key("poddisruptionbudgets.policy"), PROJECT_NS, "keep")["spec"]
    assert pdb["minAvailable"] == "50%" and pdb["selector"] == {"matchLabels": {"app": "web"}}

    await ok_protobuf(sim_server, "create", "job", "once", "--image=busybox:1.36", *NS, "--", "sh", "-c", "echo hi")
    job = s.get(for_key("jobs.batch"), PROJECT_NS, "once")
    assert job["spec"]["template"]["spec"]["containers"][0]["command"] == ["sh", "-c", "echo hi"]
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"


async def test_create_kinds_the_simulator_does_not_serve(sim_server) -> None:
    if lookup("", "v1", "secrets") is None:
        await not_served(sim_server, "create", "secret", "generic", "creds", "--from-literal=pw=hunter2", *NS)
    else:  # served: the protobuf body must land with its bytes intact
        await ok_protobuf(sim_server, "create", "secret", "generic", "creds", "--from-literal=pw=hunter2", *NS)
        assert sim_server.cluster.store.get(lookup("", "v1", "secrets"), PROJECT_NS, "creds")["data"] == {
            "pw": "aHVudGVyMg=="}
    if lookup("batch", "v1", "cronjobs") is None:
        await not_served(sim_server, "create", "cronjob", "nightly", "--image=busybox", "--schedule=0 3 * * *", *NS)


async def test_create_deployment_and_its_pods_are_scheduled(sim_server) -> None:
    from console.sim import controllers, scheduler
    cluster = sim_server.cluster
    scheduler.install(cluster)
    controllers.install(cluster)
    out = await ok_protobuf(sim_server, "create", "deployment", "web", "--image=nginx:1.25", "--replicas=2",
                            "--port=8080", *NS)
    assert "deployment.apps/web created" in out
    d = cluster.store.get(DEPLOYMENTS, PROJECT_NS, "web")
    assert d["spec"]["replicas"] == 2 and d["spec"]["selector"] == {"matchLabels": {"app": "web"}}
    c = d["spec"]["template"]["spec"]["containers"][0]
    assert (c["name"], c["image"], c["ports"]) == ("nginx", "nginx:1.25", [{"containerPort": 8080, "protocol": "TCP"}])
    assert "creationTimestamp" not in d["spec"]["template"]["metadata"]  # Go's zero time is not a time
    cluster.settle()
    out = await ok(sim_server, "get", "pods", *NS, "-l", "app=web", "-o", "wide")
    rows = [line.split() for line in out.strip().split("\n")[1:]]
    assert len(rows) == 2 and all(r[6] == "node-1" for r in rows), out


async def test_run_expose_and_the_patch_verbs(sim_server) -> None:
    s = sim_server.cluster.store
    await ok_protobuf(sim_server, "create", "deployment", "web", "--image=nginx:1.25", *NS)
    assert "pod/bare created" in await ok(sim_server, "run", "bare", "--image=busybox:1.36", *NS)
    assert s.get(PODS, PROJECT_NS, "bare")["spec"]["containers"][0]["image"] == "busybox:1.36"
    assert "service/web exposed" in await ok(sim_server, "expose", "deployment", "web", "--port=80",
                                             "--target-port=8080", *NS)
    assert s.get(SERVICES, PROJECT_NS, "web")["spec"]["ports"][0]["targetPort"] == 8080
    await ok(sim_server, "set", "image", "deployment/web", "nginx=nginx:1.27", *NS)
    await ok(sim_server, "label", "deployment", "web", "tier=front", *NS)
    await ok(sim_server, "annotate", "deployment", "web", "owner=ml-platform", *NS)
    await ok(sim_server, "scale", "deployment", "web", "--replicas=3", *NS)
    assert "restarted" in await ok(sim_server, "rollout", "restart", "deployment/web", *NS)
    d = s.get(DEPLOYMENTS, PROJECT_NS, "web")
    assert d["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"
    assert d["metadata"]["labels"]["tier"] == "front" and d["metadata"]["annotations"]["owner"] == "ml-platform"
    assert d["spec"]["replicas"] == 3
    assert "kubectl.kubernetes.io/restartedAt" in d["spec"]["template"]["metadata"]["annotations"]
    await ok(sim_server, "delete", "deployment/web", "service/web", "pod/bare", *NS)
    assert s.try_get(DEPLOYMENTS, PROJECT_NS, "web") is None and s.try_get(SERVICES, PROJECT_NS, "web") is None
    assert s.try_get(PODS, PROJECT_NS, "bare") is None


async def test_cordon_uncordon_and_drain_without_eviction(sim_server) -> None:
    s = sim_server.cluster.store
    assert "cordoned" in await ok(sim_server, "cordon", "node-1")
    assert s.get(NODES, None, "node-1")["spec"]["unschedulable"] is True
    assert "uncordoned" in await ok(sim_server, "uncordon", "node-1")
    assert not s.get(NODES, None, "node-1")["spec"].get("unschedulable")
    s.create(PODS, {"metadata": {"name": "gpu-job"}, "spec": {"nodeName": "node-1", "containers": [
        {"name": "c", "image": "i:1"}]}, "status": {"phase": "Running"}}, PROJECT_NS)
    # without eviction, drain deletes each pod with a protobuf DeleteOptions body
    out = await ok_protobuf(sim_server, "drain", "node-1", "--force", "--disable-eviction", "--grace-period=0",
                            "--timeout=20s")
    assert "pod/gpu-job deleted" in out and "drained" in out
    assert s.try_get(PODS, PROJECT_NS, "gpu-job") is None
    assert s.get(NODES, None, "node-1")["spec"]["unschedulable"] is True


async def test_auth_can_i_sends_a_protobuf_review(sim_server) -> None:
    assert (await ok_protobuf(sim_server, "auth", "can-i", "create", "deployments", *NS,
                              context="sim-team-a")).strip() == "yes"
    rc, out, err = await kubectl(sim_server, "-v=8", "auth", "can-i", "delete", "pods", "-n", "default",
                                 context="sim-team-a")
    assert (rc, out.strip()) == (1, "no") and SENT_PROTOBUF in err
    rules = await ok(sim_server, "auth", "can-i", "--list", *NS, context="sim-viewer")
    assert "selfsubjectaccessreviews.authorization.k8s.io" in rules


async def test_dry_run_server_create_leaves_nothing(sim_server) -> None:
    out = await ok_protobuf(sim_server, "create", "deployment", "ghost", "--image=nginx", "--dry-run=server",
                            "-o", "json", *NS)
    assert json.loads(out)["metadata"]["name"] == "ghost"
    assert sim_server.cluster.store.try_get(DEPLOYMENTS, PROJECT_NS, "ghost") is None
