"""Service → Endpoints and EndpointSlice, from the pods its selector matches.

The console finds what fronts an inference workload (and dcgm-exporter pods) through these objects,
so they carry what kube-controller-manager writes: ready and not-ready addresses with their pods as
`targetRef`, node names, resolved target ports, and the slice's `kubernetes.io/service-name` label.
"""

from __future__ import annotations

from .cluster import SimCluster
from .errors import ApiError
from .resources import ENDPOINTS, ENDPOINTSLICES, PODS, SERVICES
from .store import DELETED, Change, Key, Obj, rand_suffix
from .workloads import owner_ref, pod_ready

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
MANAGED_BY = "endpointslice-controller.k8s.io"


def _selector(svc: Obj) -> dict[str, str] | None:
    sel = (svc.get("spec") or {}).get("selector")
    return dict(sel) if sel else None


def _matches(sel: dict[str, str], pod: Obj | None) -> bool:
    if pod is None:
        return False
    labels = pod["metadata"].get("labels") or {}
    return all(labels.get(k) == v for k, v in sel.items())


def _target_port(port: Obj, pod: Obj) -> int | None:
    tp = port.get("targetPort", port.get("port"))
    if isinstance(tp, int):
        return tp
    if isinstance(tp, str) and tp.isdigit():
        return int(tp)
    for c in (pod.get("spec") or {}).get("containers") or ():
        for p in c.get("ports") or ():
            if p.get("name") == tp:
                return p.get("containerPort")
    return None


class EndpointsController:
    name = "endpoints-controller"

    def __init__(self, cluster: SimCluster) -> None:
        self.cluster = cluster
        self.store = cluster.store
        self.services: dict[str, set[str]] = {}   # namespace → services with a selector
        self.pods: dict[str, set[str]] = {}       # namespace → pod names
        self.dirty: set[Key] = set()
        self._full = True
        self.store.subscribe(self._on_change)

    def resync(self) -> None:
        self._full = True

    def _full_sync(self) -> None:
        self._full = False
        self.services.clear()
        self.pods.clear()
        for p in self.store.items(PODS):
            self.pods.setdefault(p["metadata"]["namespace"], set()).add(p["metadata"]["name"])
        for s in self.store.items(SERVICES):
            md = s["metadata"]
            if _selector(s):
                self.services.setdefault(md["namespace"], set()).add(md["name"])
            self.dirty.add((md["namespace"], md["name"]))

    def _on_change(self, ch: Change) -> None:
        if self._full:
            return
        md = ch.obj["metadata"]
        ns = md.get("namespace", "")
        if ch.rkey == SERVICES.key:
            names = self.services.setdefault(ns, set())
            if ch.type != DELETED and _selector(ch.obj):
                names.add(md["name"])
            else:
                names.discard(md["name"])
            self.dirty.add((ns, md["name"]))
        elif ch.rkey == PODS.key:
            names = self.pods.setdefault(ns, set())
            if ch.type == DELETED:
                names.discard(md["name"])
            else:
                names.add(md["name"])
            if ch.type != DELETED and ch.old is not None and not _endpoint_relevant_change(ch.old, ch.obj):
                return
            for svc_name in self.services.get(ns, ()):
                svc = self.store.try_get(SERVICES, ns, svc_name)
                sel = _selector(svc) if svc else None
                if sel and (_matches(sel, ch.obj) or _matches(sel, ch.old)):
                    self.dirty.add((ns, svc_name))

    def reconcile(self) -> bool:
        if self._full:
            self._full_sync()
        if not self.dirty:
            return False
        batch, self.dirty = self.dirty, set()
        wrote = False
        for ns, name in sorted(batch):
            try:
                wrote |= self._sync(ns, name)
            except ApiError as e:
                if e.code in (404, 409):
                    self.dirty.add((ns, name))
                else:
                    raise
        return wrote

    def _sync(self, ns: str, name: str) -> bool:
        svc = self.store.try_get(SERVICES, ns, name)
        sel = _selector(svc) if svc else None
        if svc is None or sel is None:
            wrote = False
            if svc is None and self.store.try_get(ENDPOINTS, ns, name) is not None:
                self.store.delete(ENDPOINTS, ns, name)
                wrote = True
            return wrote
        pods = []
        for pname in sorted(self.pods.get(ns, ())):
            p = self.store.try_get(PODS, ns, pname)
            if p is None or not _matches(sel, p):
                continue
            st = p.get("status") or {}
            if st.get("phase") in ("Succeeded", "Failed") or not st.get("podIP"):
                continue
            pods.append(p)
        ports = (svc.get("spec") or {}).get("ports") or []
        return self._write_endpoints(svc, pods, ports) | self._write_slice(svc, pods, ports)

    def _write_endpoints(self, svc: Obj, pods: list[Obj], ports: list[Obj]) -> bool:
        md = svc["metadata"]
        ready, not_ready = [], []
        for p in pods:
            if p["metadata"].get("deletionTimestamp") and not (svc.get("spec") or {}).get("publishNotReadyAddresses"):
                continue  # endpointslice util ShouldPodBeInEndpoints: Endpoints leave terminating pods out
            addr = {"ip": p["status"]["podIP"], "nodeName": p["spec"].get("nodeName"),
                    "targetRef": {"kind": "Pod", "namespace": md["namespace"], "name": p["metadata"]["name"],
                                  "uid": p["metadata"]["uid"]}}
            (ready if pod_ready(p) else not_ready).append(addr)
        subset: Obj = {}
        if ready:
            subset["addresses"] = ready
        if not_ready:
            subset["notReadyAddresses"] = not_ready
        ep_ports = []
        for sp in ports:
            tp = _target_port(sp, pods[0]) if pods else None
            if tp is None:
                continue
            e = {"port": tp, "protocol": sp.get("protocol", "TCP")}
            if sp.get("name"):
                e["name"] = sp["name"]
            ep_ports.append(e)
        if subset and ep_ports:
            subset["ports"] = ep_ports
        labels = dict(md.get("labels") or {})
        body: Obj = {"apiVersion": "v1", "kind": "Endpoints",
                     "metadata": {"name": md["name"], "namespace": md["namespace"], **({"labels": labels}
                                                                                        if labels else {})}}
        if subset:
            body["subsets"] = [subset]
        cur = self.store.try_get(ENDPOINTS, md["namespace"], md["name"])
        if cur is None:
            self.store.create(ENDPOINTS, body)
            return True
        if cur.get("subsets") == body.get("subsets") and (cur["metadata"].get("labels") or {}) == labels:
            return False

        def put(o: Obj) -> None:
            if "subsets" in body:
                o["subsets"] = body["subsets"]
            else:
                o.pop("subsets", None)
            if labels:
                o["metadata"]["labels"] = labels
        self.store.mutate(ENDPOINTS, md["namespace"], md["name"], put)
        return True

    def _write_slice(self, svc: Obj, pods: list[Obj], ports: list[Obj]) -> bool:
        md = svc["metadata"]
        endpoints = []
        for p in pods:
            serving = pod_ready(p)
            terminating = bool(p["metadata"].get("deletionTimestamp"))
            # EndpointSlices keep terminating pods: ready false, serving as its readiness, terminating true
            endpoints.append({"addresses": [p["status"]["podIP"]],
                              "conditions": {"ready": serving and not terminating, "serving": serving,
                                             "terminating": terminating},
                              "nodeName": p["spec"].get("nodeName"),
                              "targetRef": {"kind": "Pod", "namespace": md["namespace"],
                                            "name": p["metadata"]["name"], "uid": p["metadata"]["uid"]}})
        slice_ports = []
        for sp in ports:
            tp = _target_port(sp, pods[0]) if pods else None
            e: Obj = {"name": sp.get("name", ""), "protocol": sp.get("protocol", "TCP")}
            if tp is not None:
                e["port"] = tp
            slice_ports.append(e)
        labels = {**(md.get("labels") or {}), SERVICE_NAME_LABEL: md["name"], MANAGED_BY_LABEL: MANAGED_BY}
        mine = self._slices_of(svc)
        if not mine:
            name = f"{md['name']}-{rand_suffix(5, self.store.rng)}"
            self.store.create(ENDPOINTSLICES, {
                "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                "metadata": {"name": name, "namespace": md["namespace"], "labels": labels,
                             "generateName": f"{md['name']}-", "ownerReferences": [owner_ref(svc)]},
                "addressType": "IPv4", "endpoints": endpoints, "ports": slice_ports})
            return True
        wrote = False
        first, rest = mine[0], mine[1:]
        for extra in rest:
            self.store.delete(ENDPOINTSLICES, md["namespace"], extra["metadata"]["name"])
            wrote = True
        if first.get("endpoints") == endpoints and first.get("ports") == slice_ports and \
                first["metadata"].get("labels") == labels:
            return wrote

        def put(o: Obj) -> None:
            o["endpoints"] = endpoints
            o["ports"] = slice_ports
            o["metadata"]["labels"] = labels
        self.store.mutate(ENDPOINTSLICES, md["namespace"], first["metadata"]["name"], put)
        return True

    def _slices_of(self, svc: Obj) -> list[Obj]:
        out = []
        for rkey, ns, name in self.store.children_of(svc["metadata"]["uid"]):
            if rkey == ENDPOINTSLICES.key:
                s = self.store.try_get(ENDPOINTSLICES, ns, name)
                if s is not None:
                    out.append(s)
        return sorted(out, key=lambda s: s["metadata"]["name"])


def _endpoint_relevant_change(old: Obj, new: Obj) -> bool:
    """Only labels, IP, phase, node, readiness and deletion matter to endpoints; skip other pod writes."""
    def view(p: Obj) -> tuple:
        st = p.get("status") or {}
        return (p["metadata"].get("labels"), st.get("podIP"), st.get("phase"), (p.get("spec") or {}).get("nodeName"),
                pod_ready(p), bool(p["metadata"].get("deletionTimestamp")))
    return view(old) != view(new)


def install(cluster: SimCluster) -> EndpointsController:
    c = EndpointsController(cluster)
    cluster.add(c)
    cluster.extras[c.name] = c
    return c
