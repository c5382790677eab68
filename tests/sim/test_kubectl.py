"""Real kubectl against the simulated apiserver: every verb the console's users reach for.

The server runs on the test's event loop and kubectl runs as a subprocess
(`asyncio.create_subprocess_exec`), so the server keeps answering while kubectl waits.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil

import pytest

from console.sim.resources import DEPLOYMENTS, PODS
from tests.conftest import PROJECT_NS

KUBECTL = shutil.which("kubectl")
pytestmark = [pytest.mark.kubectl,
              pytest.mark.skipif(KUBECTL is None, reason="kubectl is not on PATH")]

DEPLOYMENT_YAML = f"""
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: {PROJECT_NS}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers:
      - name: main
        image: nginx:1.25
        env: [{{name: A, value: "1"}}, {{name: B, value: "2"}}]
      - name: side
        image: busybox:1.36
---
apiVersion: scheduling.run.ai/v2
kind: Queue
metadata: {{name: team-b}}
spec:
  parentQueue: dept-1
  resources: {{gpu: {{quota: 1, limit: -1, overQuotaWeight: 1}}}}
"""


async def kubectl(srv, *args: str, context: str = "sim-admin", stdin: str | None = None,
                  timeout: float = 30) -> tuple[int, str, str]:
    env = {**os.environ, "KUBECONFIG": str(srv.kubeconfig), "KUBECACHEDIR": str(srv.kubeconfig.parent / "cache")}
    proc = await asyncio.create_subprocess_exec(
        KUBECTL, "--context", context, *args, env=env, stdin=asyncio.subprocess.PIPE if stdin else None,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(stdin.encode() if stdin else None), timeout)
    return proc.returncode, out.decode(), err.decode()


async def until(cond, limit: float = 20) -> None:
    """Await a state of the server (kubectl's watch being open), checking between loop turns."""
    loop = asyncio.get_running_loop()
    end = loop.time() + limit
    while not cond():
        assert loop.time() < end, "condition not reached"
        await asyncio.sleep(0.01)


async def ok(srv, *args: str, **kw) -> str:
    rc, out, err = await kubectl(srv, *args, **kw)
    assert rc == 0, f"kubectl {' '.join(args)} failed ({rc}): {err}"
    return out


async def test_get_in_every_output_format(sim_server) -> None:
    out = await ok(sim_server, "get", "pods", "-A")
    assert out.split("\n")[0].split() == ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert PROJECT_NS in out and "p1" in out and "Pending" in out
    wide = await ok(sim_server, "get", "pods", "-n", PROJECT_NS, "-o", "wide")
    assert "NOMINATED NODE" in wide and "IP" in wide.split("\n")[0]
    assert (await ok(sim_server, "get", "po", "-A", "-o", "name")).split() == ["pod/p1"]
    doc = json.loads(await ok(sim_server, "get", "pod", "p1", "-n", PROJECT_NS, "-o", "json"))
    assert doc["metadata"]["name"] == "p1" and doc["kind"] == "Pod"
    assert "name: p1" in await ok(sim_server, "get", "pod/p1", "-n", PROJECT_NS, "-o", "yaml")
    q = await ok(sim_server, "get", "queues")
    assert q.split("\n")[0].split()[:4] == ["NAME", "PRIORITY", "PARENT", "CHILDREN"] and "team-a" in q
    assert "node-1" in await ok(sim_server, "get", "nodes")
    assert "p1" in await ok(sim_server, "get", "all", "-n", PROJECT_NS)


async def test_get_with_selectors(sim_server) -> None:
    s = sim_server.cluster.store
    s.create(PODS, {"metadata": {"name": "p2", "labels": {"app": "other"}},
                    "spec": {"containers": [{"name": "c", "image": "i:1"}]}}, PROJECT_NS)
    names = lambda out: sorted(line.split("/")[1] for line in out.split())  # noqa: E731
    assert names(await ok(sim_server, "get", "pods", "-A", "-l", "app=p1", "-o", "name")) == ["p1"]
    assert names(await ok(sim_server, "get", "pods", "-A", "-l", "app in (p1,other)", "-o", "name")) == ["p1", "p2"]
    assert names(await ok(sim_server, "get", "pods", "-A", "-l", "app!=p1", "-o", "name")) == ["p2"]
    out = await ok(sim_server, "get", "pods", "-A", "--field-selector", "metadata.name=p2", "-o", "name")
    assert names(out) == ["p2"]
    rc, _, err = await kubectl(sim_server, "get", "pods", "-A", "--field-selector", "spec.bogus=1")
    assert rc != 0 and "field label not supported" in err


async def test_create_apply_scale_delete_with_default_validation(sim_server) -> None:
    s = sim_server.cluster.store
    out = await ok(sim_server, "create", "-f", "-", stdin=DEPLOYMENT_YAML)
    assert "deployment.apps/web created" in out and "queue.scheduling.run.ai/team-b created" in out
    rc, _, err = await kubectl(sim_server, "create", "-f", "-", stdin=DEPLOYMENT_YAML)
    assert rc != 0 and "AlreadyExists" in err
    changed = DEPLOYMENT_YAML.replace("replicas: 2", "replicas: 3").replace('value: "2"', 'value: "3"') \
        .replace("quota: 1,", "quota: 2,")
    out = await ok(sim_server, "apply", "-f", "-", stdin=changed)
    assert "deployment.apps/web configured" in out
    d = s.get(DEPLOYMENTS, PROJECT_NS, "web")
    assert d["spec"]["replicas"] == 3
    assert d["spec"]["template"]["spec"]["containers"][0]["env"] == [{"name": "A", "value": "1"},
                                                                      {"name": "B", "value": "3"}]
    assert [c["name"] for c in d["spec"]["template"]["spec"]["containers"]] == ["main", "side"]
    assert "kubectl.kubernetes.io/last-applied-configuration" in d["metadata"]["annotations"]
    # dropping a container from the manifest removes it (three-way strategic merge)
    one = changed.replace("      - name: side\n        image: busybox:1.36\n", "")
    await ok(sim_server, "apply", "-f", "-", stdin=one)
    assert [c["name"] for c in s.get(DEPLOYMENTS, PROJECT_NS, "web")["spec"]["template"]["spec"]["containers"]] \
        == ["main"]
    assert "unchanged" in await ok(sim_server, "apply", "-f", "-", stdin=one)
    assert "scaled" in await ok(sim_server, "scale", "deployment/web", "-n", PROJECT_NS, "--replicas=5")
    assert s.get(DEPLOYMENTS, PROJECT_NS, "web")["spec"]["replicas"] == 5
    assert "deleted" in await ok(sim_server, "delete", "deployment", "web", "-n", PROJECT_NS)
    assert s.try_get(DEPLOYMENTS, PROJECT_NS, "web") is None
    rc, _, err = await kubectl(sim_server, "delete", "deployment", "web", "-n", PROJECT_NS)
    assert rc != 0 and "NotFound" in err


async def test_create_rejects_invalid_with_the_servers_message(sim_server) -> None:
    bad = "apiVersion: v1\nkind: Pod\nmetadata: {name: Bad}\nspec: {containers: [{name: c}]}\n"
    rc, _, err = await kubectl(sim_server, "create", "-n", PROJECT_NS, "-f", "-", stdin=bad)
    assert rc != 0
    assert 'Pod "Bad" is invalid' in err and "spec.containers[0].image: Required value" in err


async def test_describe_pod_shows_its_events(sim_server) -> None:
    from console.sim.resources import EVENTS
    s = sim_server.cluster.store
    pod = s.get(PODS, PROJECT_NS, "p1")
    s.create(EVENTS, {"metadata": {"name": "p1.1"}, "type": "Warning", "reason": "Unschedulable",
                      "message": "queue team-a is over quota",
                      "involvedObject": {"kind": "Pod", "namespace": PROJECT_NS, "name": "p1",
                                         "uid": pod["metadata"]["uid"], "apiVersion": "v1"},
                      "source": {"component": "kai-scheduler"}, "count": 1}, PROJECT_NS)
    out = await ok(sim_server, "describe", "pod", "p1", "-n", PROJECT_NS)
    assert "Name:" in out and "p1" in out and "busybox:1.36" in out
    assert "Unschedulable" in out and "queue team-a is over quota" in out


async def test_wait_for_condition_and_delete(sim_server) -> None:
    s = sim_server.cluster.store
    proc = asyncio.ensure_future(kubectl(sim_server, "wait", "--for=condition=Ready", "pod/p1", "-n", PROJECT_NS,
                                         "--timeout=20s"))
    await until(lambda: s.open_watches > 0)  # kubectl is watching; the condition arrives afterwards
    s.mutate(PODS, PROJECT_NS, "p1", lambda o: o.setdefault("status", {}).__setitem__(
        "conditions", [{"type": "Ready", "status": "True"}]), subresource="status")
    rc, out, err = await proc
    assert rc == 0 and "condition met" in out, err
    proc = asyncio.ensure_future(kubectl(sim_server, "wait", "--for=delete", "pod/p1", "-n", PROJECT_NS,
                                         "--timeout=20s"))
    await until(lambda: s.open_watches > 0)
    s.delete(PODS, PROJECT_NS, "p1")
    rc, out, err = await proc
    assert rc == 0, err


async def test_get_watch_prints_new_rows(sim_server) -> None:
    env = {**os.environ, "KUBECONFIG": str(sim_server.kubeconfig)}
    proc = await asyncio.create_subprocess_exec(KUBECTL, "get", "pods", "-n", PROJECT_NS, "-w", env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        header = await asyncio.wait_for(proc.stdout.readline(), 20)
        assert header.split()[:3] == [b"NAME", b"READY", b"STATUS"]
        assert (await asyncio.wait_for(proc.stdout.readline(), 20)).split()[0] == b"p1"
        sim_server.cluster.store.create(PODS, {"metadata": {"name": "late"}, "spec": {"containers": [
            {"name": "c", "image": "i:1"}]}}, PROJECT_NS)
        line = await asyncio.wait_for(proc.stdout.readline(), 20)
        assert line.split()[:3] == [b"late", b"0/1", b"Pending"]
    finally:
        proc.terminate()
        await proc.wait()


async def test_logs_and_follow(sim_server) -> None:
    lines = ["hello", "world"]
    sim_server.cluster.log_source = lambda pod, c, tail: list(lines)
    assert await ok(sim_server, "logs", "p1", "-n", PROJECT_NS) == "hello\nworld\n"
    assert await ok(sim_server, "logs", "p1", "-n", PROJECT_NS, "--tail=1") == "world\n"
    env = {**os.environ, "KUBECONFIG": str(sim_server.kubeconfig)}
    proc = await asyncio.create_subprocess_exec(KUBECTL, "logs", "-f", "p1", "-n", PROJECT_NS, env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        assert await asyncio.wait_for(proc.stdout.readline(), 20) == b"hello\n"
        assert await asyncio.wait_for(proc.stdout.readline(), 20) == b"world\n"
        lines.append("again")
        assert await asyncio.wait_for(proc.stdout.readline(), 20) == b"again\n"
        sim_server.cluster.store.delete(PODS, PROJECT_NS, "p1")
        assert await asyncio.wait_for(proc.wait(), 20) == 0
    finally:
        if proc.returncode is None:
            proc.terminate()
            await proc.wait()


async def test_auth_can_i_per_user(sim_server) -> None:
    rc, out, _ = await kubectl(sim_server, "auth", "can-i", "create", "pods", context="sim-viewer")
    assert (rc, out.strip()) == (1, "no")
    rc, out, _ = await kubectl(sim_server, "auth", "can-i", "list", "pods", context="sim-viewer")
    assert (rc, out.strip()) == (0, "yes")
    rc, out, _ = await kubectl(sim_server, "auth", "can-i", "create", "pods", context="sim-team-a")
    assert out.strip() == "yes"  # its context's namespace is the project's
    rc, out, _ = await kubectl(sim_server, "auth", "can-i", "create", "pods", "-n", "default", context="sim-team-a")
    assert out.strip() == "no"
    rc, _, err = await kubectl(sim_server, "run", "x", "--image=busybox", "-n", PROJECT_NS, context="sim-viewer")
    assert rc != 0 and 'User "viewer" cannot create resource "pods"' in err


async def test_deployment_pods_get_scheduled(sim_server) -> None:
    try:
        from console.sim import controllers, scheduler
    except ImportError as e:  # pragma: no cover - depends on the simulator's controllers being present
        pytest.skip(f"workload controllers or scheduler not available: {e}")
    cluster = sim_server.cluster
    scheduler.install(cluster)
    controllers.install(cluster)
    await ok(sim_server, "create", "-f", "-", stdin=DEPLOYMENT_YAML.split("---")[0])
    cluster.settle()
    out = await ok(sim_server, "get", "pods", "-n", PROJECT_NS, "-l", "app=web", "-o", "wide")
    rows = [line.split() for line in out.strip().split("\n")[1:]]
    assert len(rows) == 2
    assert all(r[6] == "node-1" for r in rows), out


async def test_drain_evicts_through_the_eviction_subresource(sim_server) -> None:
    from console.sim.resources import NODES
    s = sim_server.cluster.store
    s.create(PODS, {"metadata": {"name": "gpu-job"}, "spec": {"nodeName": "node-1", "containers": [
        {"name": "c", "image": "i:1"}]}, "status": {"phase": "Running", "conditions": [
            {"type": "Ready", "status": "True"}]}}, PROJECT_NS)
    drain = asyncio.ensure_future(kubectl(sim_server, "drain", "node-1", "--force", "--timeout=20s"))
    # kubectl waits while the evicted pod terminates for its grace period on the simulation clock
    await until(lambda: terminating(s, "gpu-job"))
    assert not drain.done()
    sim_server.cluster.clock.advance(30)
    sim_server.cluster.settle()
    rc, out, err = await drain
    assert rc == 0, err
    assert "pod/gpu-job evicted" in out and "drained" in out
    assert s.try_get(PODS, PROJECT_NS, "gpu-job") is None
    assert s.get(NODES, None, "node-1")["spec"]["unschedulable"] is True


def terminating(store, name: str) -> bool:
    pod = store.try_get(PODS, PROJECT_NS, name)
    return pod is not None and bool(pod["metadata"].get("deletionTimestamp"))


def _running_pod(store, name: str, **spec) -> None:
    store.create(PODS, {"metadata": {"name": name}, "spec": {"nodeName": "node-1", "containers": [
        {"name": "c", "image": "i:1"}], **spec}, "status": {"phase": "Running", "conditions": [
            {"type": "Ready", "status": "True"}]}}, PROJECT_NS)


async def test_delete_without_waiting_leaves_the_pod_terminating(sim_server) -> None:
    s = sim_server.cluster.store
    _running_pod(s, "gpu-job")
    out = await ok(sim_server, "delete", "pod", "gpu-job", "-n", PROJECT_NS, "--wait=false")
    assert 'pod "gpu-job" deleted' in out
    rows = {r.split()[0]: r.split() for r in (await ok(sim_server, "get", "pods", "-n", PROJECT_NS)).splitlines()[1:]}
    assert rows["gpu-job"][2] == "Terminating"
    meta = json.loads(await ok(sim_server, "get", "pod", "gpu-job", "-n", PROJECT_NS, "-o", "json"))["metadata"]
    assert meta["deletionTimestamp"] and meta["deletionGracePeriodSeconds"] == 30
    # a second delete with a longer period changes nothing; only a shorter one counts
    await ok(sim_server, "delete", "pod", "gpu-job", "-n", PROJECT_NS, "--wait=false", "--grace-period=60")
    assert s.get(PODS, PROJECT_NS, "gpu-job")["metadata"]["deletionGracePeriodSeconds"] == 30
    sim_server.cluster.clock.advance(29)
    sim_server.cluster.settle()
    assert terminating(s, "gpu-job")
    sim_server.cluster.clock.advance(1)
    sim_server.cluster.settle()
    rc, _, err = await kubectl(sim_server, "get", "pod", "gpu-job", "-n", PROJECT_NS)
    assert rc != 0 and "NotFound" in err


async def test_delete_waits_for_the_grace_period_and_force_deletes_at_once(sim_server) -> None:
    s = sim_server.cluster.store
    _running_pod(s, "slow", terminationGracePeriodSeconds=120)
    _running_pod(s, "stuck")
    waiting = asyncio.ensure_future(kubectl(sim_server, "delete", "pod", "slow", "-n", PROJECT_NS,
                                            "--timeout=20s"))
    await until(lambda: terminating(s, "slow"))
    assert s.get(PODS, PROJECT_NS, "slow")["metadata"]["deletionGracePeriodSeconds"] == 120
    await until(lambda: s.open_watches > 0)  # kubectl waits for the pod to be gone
    assert not waiting.done()
    sim_server.cluster.clock.advance(120)
    sim_server.cluster.settle()
    rc, out, err = await waiting
    assert rc == 0 and 'pod "slow" deleted' in out, err
    out = await ok(sim_server, "delete", "pod", "stuck", "-n", PROJECT_NS, "--grace-period=0", "--force")
    assert 'pod "stuck" force deleted' in out
    assert s.try_get(PODS, PROJECT_NS, "stuck") is None


async def test_finalizers_hold_a_deleted_object_until_removed(sim_server) -> None:
    s = sim_server.cluster.store
    await ok(sim_server, "create", "-f", "-", stdin=DEPLOYMENT_YAML.split("---")[0])
    await ok(sim_server, "patch", "deployment", "web", "-n", PROJECT_NS, "--type=merge",
             "-p", '{"metadata":{"finalizers":["example.com/hold"]}}')
    await ok(sim_server, "delete", "deployment", "web", "-n", PROJECT_NS, "--wait=false")
    d = s.get(DEPLOYMENTS, PROJECT_NS, "web")
    assert d["metadata"]["deletionTimestamp"] and d["metadata"]["deletionGracePeriodSeconds"] == 0
    # no new finalizer may be added to an object being deleted, and the deletionTimestamp stays
    rc, _, err = await kubectl(sim_server, "patch", "deployment", "web", "-n", PROJECT_NS, "--type=merge",
                               "-p", '{"metadata":{"finalizers":["example.com/hold","example.com/more"]}}')
    assert rc != 0 and "no new finalizers can be added if the object is being deleted" in err
    await ok(sim_server, "patch", "deployment", "web", "-n", PROJECT_NS, "--type=json",
             "-p", '[{"op":"remove","path":"/metadata/deletionTimestamp"}]')
    assert s.get(DEPLOYMENTS, PROJECT_NS, "web")["metadata"]["deletionTimestamp"] == d["metadata"]["deletionTimestamp"]
    await ok(sim_server, "patch", "deployment", "web", "-n", PROJECT_NS, "--type=json",
             "-p", '[{"op":"remove","path":"/metadata/finalizers"}]')
    assert s.try_get(DEPLOYMENTS, PROJECT_NS, "web") is None
