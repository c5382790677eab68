"""Kubernetes protobuf request bodies: the wire reader, the envelope, the field tables, the HTTP path.

Bodies are built by hand with a tiny encoder below and the field numbers of upstream's generated.proto
written out literally, so a wrong number in a table fails here. When kubectl is on PATH, the tables are
also checked entry by entry against the protobuf descriptors compiled into that kubectl.
"""

from __future__ import annotations

import base64
import re
import shutil
import zlib
from pathlib import Path
from typing import Any

import pytest

from console.sim import protobuf as pb
from console.sim.protobuf import ProtobufError, UnsupportedKind, decode, decode_message, iter_fields
from console.sim.resources import DEPLOYMENTS, PODS
from tests.conftest import PROJECT_NS

PROTOBUF = {"Content-Type": "application/vnd.kubernetes.protobuf"}


# ------------------------------------------------------------------------------------------ a tiny encoder
def varint(n: int) -> bytes:
    n &= (1 << 64) - 1  # negative int32/int64 go out as ten-byte two's complement
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def vi(num: int, n: int) -> bytes:
    return varint(num << 3) + varint(n)


def ld(num: int, payload: bytes | str) -> bytes:
    data = payload.encode() if isinstance(payload, str) else payload
    return varint(num << 3 | 2) + varint(len(data)) + data


def entry(num: int, key: str, value: bytes | str) -> bytes:
    """One map entry (maps are repeated {1: key, 2: value} messages)."""
    return ld(num, ld(1, key) + ld(2, value))


def qty(s: str) -> bytes:
    return ld(1, s)


def ios(v: int | str) -> bytes:
    return vi(1, 1) + ld(3, v) if isinstance(v, str) else vi(1, 0) + vi(2, v)


def envelope(api_version: str, kind: str, obj: bytes, encoding: str = "", ctype: str = "") -> bytes:
    out = ld(1, ld(1, api_version) + ld(2, kind)) + ld(2, obj)
    if encoding:
        out += ld(3, encoding)
    if ctype:
        out += ld(4, ctype)
    return pb.PROTOBUF_MAGIC + out


def meta(name: str, namespace: str = "", **labels: str) -> bytes:
    """ObjectMeta as Go writes it: every non-pointer field present, zero or not."""
    out = ld(1, name) + ld(2, "") + ld(3, namespace) + ld(4, "") + ld(5, "") + ld(6, "") + vi(7, 0) + ld(8, b"")
    return out + b"".join(entry(11, k, v) for k, v in labels.items())


# ------------------------------------------------------------------------------------------ wire format
def test_wire_reader_reads_every_wire_type() -> None:
    buf = vi(1, 300) + ld(2, b"ab") + varint(3 << 3 | 1) + (7).to_bytes(8, "little") \
        + varint(4 << 3 | 5) + (9).to_bytes(4, "little") + vi(5, -2)
    got = [(n, wt, bytes(v) if isinstance(v, memoryview) else v) for n, wt, v in iter_fields(buf)]
    assert got == [(1, 0, 300), (2, 2, b"ab"), (3, 1, 7), (4, 5, 9), (5, 0, (1 << 64) - 2)]


def test_negative_and_packed_ints() -> None:
    spec = vi(1, -1) + ld(4, b"") + vi(3, 5)  # ScaleSpec replicas -1 then an unknown field 3
    assert decode_message(spec, "ScaleSpec") == {"replicas": -1}
    codes = ld(3, varint(1) + varint(42) + varint(-3 & 0xFFFFFFFFFFFFFFFF)) + vi(3, 7)  # packed, then one plain
    req = ld(1, "main") + ld(2, "In") + codes
    assert decode_message(req, "PodFailurePolicyOnExitCodesRequirement") == {
        "containerName": "main", "operator": "In", "values": [1, 42, -3, 7]}


# ------------------------------------------------------------------------------------------ kinds
def _deployment() -> bytes:
    container = ld(1, "main") + ld(2, "nginx:1.25") + ld(3, "sleep") + ld(4, "10") \
        + ld(6, ld(1, "http") + vi(2, 0) + vi(3, 8080) + ld(4, "TCP")) \
        + ld(7, ld(1, "A") + ld(2, "1")) + ld(7, ld(1, "EMPTY") + ld(2, "")) \
        + ld(8, entry(1, "nvidia.com/gpu", qty("1")) + entry(2, "cpu", qty("500m"))) \
        + ld(9, ld(1, "data") + vi(2, 1) + ld(3, "/data")) + vi(16, 0) + vi(18, 0)
    pod_spec = ld(2, container) + ld(3, "Always") + vi(4, 30) + ld(6, "ClusterFirst") + ld(19, "kai-scheduler")
    template = ld(1, meta("", "", app="web", tier="a")) + ld(2, pod_spec)
    selector = entry(1, "app", "web") + ld(2, ld(1, "tier") + ld(2, "In") + ld(3, "a") + ld(3, "b"))
    strategy = ld(1, "RollingUpdate") + ld(2, ld(1, ios(1)) + ld(2, ios("25%")))
    spec = vi(1, 0) + ld(2, selector) + ld(3, template) + ld(4, strategy) + vi(5, 0) + vi(7, 0)
    return envelope("apps/v1", "Deployment", ld(1, meta("web", PROJECT_NS, app="web", empty="")) + ld(2, spec)
                    + ld(3, vi(2, 5)))


def test_deployment_decodes_to_the_json_object() -> None:
    d = decode(_deployment())
    assert d["apiVersion"] == "apps/v1" and d["kind"] == "Deployment"
    # zero strings, zero ints and Go's zero time are dropped; empty label values are values
    assert d["metadata"] == {"name": "web", "namespace": PROJECT_NS, "labels": {"app": "web", "empty": ""}}
    spec = d["spec"]
    assert spec["replicas"] == 0  # a pointer: zero is kept
    assert "minReadySeconds" not in spec and "paused" not in spec
    assert spec["selector"] == {"matchLabels": {"app": "web"},
                                "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}]}
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": "25%"}}
    assert spec["template"]["metadata"] == {"labels": {"app": "web", "tier": "a"}}
    ps = spec["template"]["spec"]
    assert ps["restartPolicy"] == "Always" and ps["terminationGracePeriodSeconds"] == 30
    assert ps["schedulerName"] == "kai-scheduler" and ps["dnsPolicy"] == "ClusterFirst"
    assert ps["containers"] == [{
        "name": "main", "image": "nginx:1.25", "command": ["sleep"], "args": ["10"],
        "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
        "env": [{"name": "A", "value": "1"}, {"name": "EMPTY"}],
        "resources": {"limits": {"nvidia.com/gpu": "1"}, "requests": {"cpu": "500m"}},
        "volumeMounts": [{"name": "data", "readOnly": True, "mountPath": "/data"}]}]
    assert "status" not in d  # a client's status is not read


def test_pod_spec_volumes_env_from_tolerations_affinity() -> None:
    volumes = ld(1, ld(1, "scratch") + ld(2, ld(2, ld(1, "Memory") + ld(2, qty("1Gi"))))) \
        + ld(1, ld(1, "cfg") + ld(2, ld(19, ld(1, ld(1, "app-config")) + ld(2, ld(1, "k") + ld(2, "p")) + vi(3, 420)
                                        + vi(4, 0)))) \
        + ld(1, ld(1, "creds") + ld(2, ld(6, ld(1, "app-secret") + vi(4, 1))))
    env_from = ld(19, ld(1, "CFG_") + ld(2, ld(1, ld(1, "app-config")))) + ld(19, ld(3, ld(1, ld(1, "app-secret"))))
    value_from = ld(7, ld(1, "TOKEN") + ld(3, ld(4, ld(1, ld(1, "app-secret")) + ld(2, "token"))))
    security = ld(15, vi(4, 0) + vi(7, 0))  # runAsUser 0 (root) and allowPrivilegeEscalation false are values
    init = ld(20, ld(1, "init") + ld(2, "busybox"))
    main = ld(2, ld(1, "main") + ld(2, "trainer:1") + env_from + value_from + security)
    toleration = ld(22, ld(1, "nvidia.com/gpu") + ld(2, "Exists") + ld(4, "NoExecute") + vi(5, 0))
    term = ld(1, ld(1, "nvidia.com/gpu.product") + ld(2, "In") + ld(3, "H100"))
    affinity = ld(18, ld(1, ld(1, ld(1, term))))
    spec = volumes + main + init + entry(7, "pool", "a") + toleration + affinity + ld(8, "trainer") \
        + ld(24, "train") + vi(4, 0) + vi(21, 0) + ld(3, "Never")
    pod = decode(envelope("v1", "Pod", ld(1, meta("p", PROJECT_NS)) + ld(2, spec)))["spec"]
    assert pod["volumes"] == [
        {"name": "scratch", "emptyDir": {"medium": "Memory", "sizeLimit": "1Gi"}},
        {"name": "cfg", "configMap": {"name": "app-config", "items": [{"key": "k", "path": "p"}], "defaultMode": 420,
                                      "optional": False}},
        {"name": "creds", "secret": {"secretName": "app-secret", "optional": True}}]
    c = pod["containers"][0]
    assert c["envFrom"] == [{"prefix": "CFG_", "configMapRef": {"name": "app-config"}},
                            {"secretRef": {"name": "app-secret"}}]
    assert c["env"] == [{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "app-secret", "key": "token"}}}]
    assert c["securityContext"] == {"runAsUser": 0, "allowPrivilegeEscalation": False}
    assert pod["initContainers"] == [{"name": "init", "image": "busybox"}]
    assert pod["nodeSelector"] == {"pool": "a"} and pod["serviceAccountName"] == "trainer"
    assert pod["priorityClassName"] == "train" and pod["restartPolicy"] == "Never"
    assert pod["terminationGracePeriodSeconds"] == 0 and pod["automountServiceAccountToken"] is False
    assert pod["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoExecute",
                                   "tolerationSeconds": 0}]
    assert pod["affinity"] == {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [{"key": "nvidia.com/gpu.product", "operator": "In",
                                                     "values": ["H100"]}]}]}}}


def test_service_ports_with_int_or_string_target() -> None:
    ports = ld(1, ld(1, "http") + ld(2, "TCP") + vi(3, 80) + ld(4, ios(8080)) + vi(5, 0)) \
        + ld(1, ld(1, "https") + ld(2, "TCP") + vi(3, 443) + ld(4, ios("https")))
    spec = ports + entry(2, "app", "web") + ld(4, "ClusterIP") + ld(7, "None")
    svc = decode(envelope("v1", "Service", ld(1, meta("web")) + ld(2, spec)))
    assert svc["spec"] == {"ports": [{"name": "http", "protocol": "TCP", "port": 80, "targetPort": 8080},
                                     {"name": "https", "protocol": "TCP", "port": 443, "targetPort": "https"}],
                           "selector": {"app": "web"}, "type": "ClusterIP", "sessionAffinity": "None"}


def test_configmap_secret_quota_priorityclass_pdb_namespace() -> None:
    cm = decode(envelope("v1", "ConfigMap", ld(1, meta("c")) + entry(2, "a", "b") + entry(3, "bin", b"\x00\xff")))
    assert cm["data"] == {"a": "b"} and cm["binaryData"] == {"bin": base64.b64encode(b"\x00\xff").decode()}
    sec = decode(envelope("v1", "Secret", ld(1, meta("s")) + entry(2, "pw", b"hunter2") + ld(3, "Opaque")))
    assert sec["data"] == {"pw": base64.b64encode(b"hunter2").decode()} and sec["type"] == "Opaque"
    quota = decode(envelope("v1", "ResourceQuota", ld(1, meta("q")) + ld(2, entry(1, "requests.nvidia.com/gpu",
                                                                              qty("4")))))
    assert quota["spec"] == {"hard": {"requests.nvidia.com/gpu": "4"}}
    pc = decode(envelope("scheduling.k8s.io/v1", "PriorityClass", ld(1, meta("zero")) + vi(2, 0) + vi(3, 0)
                         + ld(4, "d")))
    assert pc["value"] == 0 and "globalDefault" not in pc and pc["description"] == "d"
    pdb = decode(envelope("policy/v1", "PodDisruptionBudget", ld(1, meta("b")) + ld(2, ld(1, ios(0))
                                                                                  + ld(2, entry(1, "app", "x")))))
    assert pdb["spec"] == {"minAvailable": 0, "selector": {"matchLabels": {"app": "x"}}}
    ns = decode(envelope("v1", "Namespace", ld(1, meta("team")) + ld(2, ld(1, "kubernetes"))))
    assert ns == {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"},
                  "spec": {"finalizers": ["kubernetes"]}}


def test_job_cronjob_and_owner_references() -> None:
    owner = ld(13, ld(5, "apps/v1") + ld(1, "ReplicaSet") + ld(3, "rs") + ld(4, "u-1") + vi(6, 1) + vi(7, 0))
    md = meta("j", PROJECT_NS) + owner + ld(14, "example.com/guard") + ld(9, vi(1, 1700000000))
    job_spec = vi(1, 2) + vi(2, 4) + vi(7, 0) + vi(10, 0) + ld(6, ld(2, ld(2, ld(1, "c") + ld(2, "i"))))
    job = decode(envelope("batch/v1", "Job", ld(1, md) + ld(2, job_spec)))
    assert job["metadata"]["ownerReferences"] == [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs",
                                                   "uid": "u-1", "controller": True, "blockOwnerDeletion": False}]
    assert job["metadata"]["finalizers"] == ["example.com/guard"]
    assert job["metadata"]["deletionTimestamp"] == "2023-11-14T22:13:20Z"
    assert job["spec"] == {"parallelism": 2, "completions": 4, "backoffLimit": 0, "suspend": False,
                           "template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}}
    cron = decode(envelope("batch/v1", "CronJob", ld(1, meta("cj")) + ld(2, ld(1, "*/5 * * * *")
                                                                         + ld(5, ld(2, job_spec)))))
    assert cron["spec"]["schedule"] == "*/5 * * * *" and cron["spec"]["jobTemplate"]["spec"]["completions"] == 4


def test_reviews_eviction_delete_options_scale() -> None:
    ra = ld(1, "ns1") + ld(2, "create") + ld(3, "") + ld(5, "pods") + ld(6, "log")
    review = pb.decode_review_protobuf(envelope("authorization.k8s.io/v1", "SelfSubjectAccessReview",
                                                ld(1, b"") + ld(2, ld(1, ra))))
    assert review["spec"] == {"resourceAttributes": {"namespace": "ns1", "verb": "create", "resource": "pods",
                                                     "subresource": "log"}}
    rules = pb.decode_review_protobuf(envelope("authorization.k8s.io/v1", "SelfSubjectRulesReview",
                                               ld(2, ld(1, "ns1"))))
    assert rules["spec"] == {"namespace": "ns1"} and rules["metadata"] == {}
    opts = vi(1, 0) + ld(2, ld(1, "u-1")) + ld(4, "Foreground") + ld(5, "All")
    ev = pb.decode_eviction_protobuf(envelope("policy/v1", "Eviction", ld(1, meta("p", "ns")) + ld(2, opts)))
    assert ev["metadata"] == {"name": "p", "namespace": "ns"}
    assert ev["deleteOptions"] == {"gracePeriodSeconds": 0, "preconditions": {"uid": "u-1"},
                                   "propagationPolicy": "Foreground", "dryRun": ["All"]}
    with pytest.raises(ProtobufError, match="expected Eviction, got Scale"):
        pb.decode_eviction_protobuf(envelope("autoscaling/v1", "Scale", ld(2, vi(1, 3))))
    assert decode(envelope("apps/v1", "DeleteOptions", vi(3, 1)))["orphanDependents"] is True
    assert decode(envelope("autoscaling/v1", "Scale", ld(1, meta("web")) + ld(2, vi(1, 0))))["spec"] == {"replicas": 0}


def test_old_import_location_still_works() -> None:
    from console.sim import auth
    assert auth.decode_review_protobuf is pb.decode_review_protobuf
    assert auth.decode_eviction_protobuf is pb.decode_eviction_protobuf


# ------------------------------------------------------------------------------------------ robustness
def _junk_fields() -> bytes:
    """Fields no table knows, one of every wire type, nested junk included."""
    return vi(900, 5) + ld(901, ld(1, "x") + vi(2, 3)) + varint(902 << 3 | 1) + bytes(8) + varint(903 << 3 | 5) \
        + bytes(4)


def test_unknown_fields_are_skipped_at_every_level() -> None:
    junk = _junk_fields()
    container = ld(1, "c") + junk + ld(2, "i")
    spec = junk + ld(3, ld(2, ld(2, container) + junk)) + vi(1, 2)
    raw = envelope("apps/v1", "Deployment", ld(1, meta("web") + junk) + junk + ld(2, spec)) + junk
    d = decode(raw)
    assert d["metadata"] == {"name": "web"}
    assert d["spec"] == {"replicas": 2, "template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}}


@pytest.mark.parametrize("raw, why", [
    (b"{}", "prefix"),
    (b"", "prefix"),
    (pb.PROTOBUF_MAGIC + b"\x0a\x50abc", "says 80 bytes but only 3 remain"),
    (pb.PROTOBUF_MAGIC + b"\x0a", "truncated varint"),
    (pb.PROTOBUF_MAGIC + b"\x08" + b"\xff" * 11, "longer than 10 bytes"),
    (pb.PROTOBUF_MAGIC + b"\x0b", "wire type 3"),
    (pb.PROTOBUF_MAGIC + b"\x02\x00", "field number 0"),
    (pb.PROTOBUF_MAGIC + varint(3 << 3 | 1) + b"\x00", "truncated fixed64"),
    (envelope("v1", "", b""), "apiVersion and kind"),
    (envelope("apps/v1", "Deployment", ld(1, ld(1, b"\xff\xfe"))), r"metadata\.name: not valid UTF-8"),
    (envelope("apps/v1", "Deployment", ld(2, ld(1, "three"))), r"spec\.replicas: wire type 2 where a varint"),
    (envelope("apps/v1", "Deployment", ld(2, ld(3, ld(2, ld(2, vi(1, 5)))))),
     r"spec\.template\.spec\.containers\[0\]\.name: wire type 0"),
    (envelope("apps/v1", "Deployment", ld(2, ld(2, ld(1, b"\x0a\x05ab")))), r"spec\.selector\.matchLabels"),
    (envelope("apps/v1", "Deployment", b"", encoding="gzip"), "content encoding 'gzip'"),
    (envelope("v1", "Pod", ld(1, ld(9, vi(1, 1 << 62)))), "out of range"),
])
def test_malformed_bodies_say_where_and_why(raw: bytes, why: str) -> None:
    with pytest.raises(ProtobufError, match=why):
        decode(raw)


def test_unsupported_kind_and_embedded_json() -> None:
    with pytest.raises(UnsupportedKind, match=r"cannot read Queue \(scheduling.run.ai/v2\) as protobuf"):
        decode(envelope("scheduling.run.ai/v2", "Queue", b""))
    with pytest.raises(UnsupportedKind):
        decode(envelope("v1", "Deployment", b""))  # a known kind under the wrong group
    obj = decode(envelope("v1", "ConfigMap", b'{"data": {"a": "b"}}', ctype="application/json"))
    assert obj == {"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "b"}}
    with pytest.raises(ProtobufError, match="not an object"):
        decode(envelope("v1", "ConfigMap", b"[1]", ctype="application/json"))


def test_random_bytes_never_crash() -> None:
    import random
    rng = random.Random(11)
    good = _deployment()
    for _ in range(400):
        raw = bytearray(good)
        for _ in range(rng.randint(1, 6)):
            raw[rng.randrange(len(pb.PROTOBUF_MAGIC), len(raw))] = rng.randrange(256)
        try:
            decode(bytes(raw))
        except ProtobufError:
            pass  # a clear error is fine; anything else fails the test


# ------------------------------------------------------------------------------------------ every table
def _sample(table: str, depth: int = 0) -> tuple[bytes, dict[str, Any]]:
    """A message with every field of `table` set to a non-zero value, and the JSON it must decode to."""
    buf, want = b"", {}
    for num, f in sorted(pb.TABLES[table].items()):
        if f.kind not in pb.SCALARS and depth > 8:
            continue
        if f.kind in pb.SCALARS:
            val = {"str": (f.name + "-v", f.name + "-v"), "bytes": (b"\x01\x02", "AQI="), "int": (-7, -7),
                   "bool": (True, True), "time": (vi(1, 1700000000) + vi(2, 5), "2023-11-14T22:13:20Z"),
                   "qty": (qty("1500m"), "1500m"), "ios": (ios("50%"), "50%")}[f.kind]
            enc, js = val
        else:
            enc, js = _sample(f.kind, depth + 1)
        if f.is_map:  # every map in the tables has string keys and length-delimited values
            buf += entry(num, "k1", enc) + entry(num, "k2", enc)
            want[f.name] = {"k1": js, "k2": js}
            continue
        one = vi(num, enc) if isinstance(enc, int) else ld(num, enc)
        if f.repeated:
            buf += one + one
            want[f.name] = [js, js]
        elif f.inline:
            buf += one
            want.update(js)
        else:
            buf += one
            want[f.name] = js
    return buf, want


@pytest.mark.parametrize("table", sorted(pb.TABLES))
def test_every_table_round_trips(table: str) -> None:
    buf, want = _sample(table)
    assert decode_message(buf, table) == want


def test_table_sources_are_checked() -> None:
    with pytest.raises(ValueError, match="bad field table entry"):
        pb.parse_table("1 name, 1 again")
    with pytest.raises(ValueError, match="unknown table Nope"):
        pb._build({"A": "1 x:Nope"})


def test_every_served_kind_has_a_table() -> None:
    for (api_version, kind), table in pb.KINDS.items():
        assert table in pb.TABLES and pb.TABLES[table][1].name == "metadata", (api_version, kind)


# ------------------------------------------------------------------------------------------ against upstream
KUBECTL = shutil.which("kubectl")
_PROTO_TYPES = {3: "int", 5: "int", 8: "bool", 9: "str", 12: "bytes"}
_SPECIAL = {".k8s.io.apimachinery.pkg.apis.meta.v1.Time": "time",
            ".k8s.io.apimachinery.pkg.api.resource.Quantity": "qty",
            ".k8s.io.apimachinery.pkg.util.intstr.IntOrString": "ios"}


def _descriptors(binary: Path) -> dict[str, tuple[list[dict], bool]]:
    """Messages of the gzipped FileDescriptorProtos a Go binary built with gogo-protobuf carries."""
    data = binary.read_bytes()
    messages: dict[str, tuple[list[dict], bool]] = {}

    def walk(buf: memoryview, prefix: str) -> None:
        name, fields, nested, is_map = "", [], [], False
        for num, wt, v in iter_fields(buf):
            if num == 1 and wt == 2:
                name = str(v, "utf-8")
            elif num == 2 and wt == 2:
                f: dict[str, Any] = {}
                for a, _, b in iter_fields(v):
                    key = {1: "name", 3: "number", 4: "label", 5: "type", 6: "type_name"}.get(a)
                    if key:
                        f[key] = str(b, "utf-8") if isinstance(b, memoryview) else b
                fields.append(f)
            elif num == 3 and wt == 2:
                nested.append(v)
            elif num == 7 and wt == 2:
                is_map = any(a == 7 and b == 1 for a, _, b in iter_fields(v))
        messages[f"{prefix}.{name}"] = (fields, is_map)
        for n in nested:
            walk(n, f"{prefix}.{name}")

    for m in re.finditer(rb"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff", data):
        try:
            fd = zlib.decompressobj(31).decompress(data[m.start():m.start() + 4_000_000])
        except zlib.error:
            continue
        if b"generated.proto" not in fd[:200]:
            continue
        pkg = ""
        for num, wt, v in iter_fields(fd):
            if num == 2 and wt == 2:
                pkg = str(v, "utf-8")
        for num, wt, v in iter_fields(fd):
            if num == 4 and wt == 2:
                walk(v, "." + pkg)
    return messages


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not on PATH")
def test_tables_match_the_descriptors_compiled_into_kubectl() -> None:
    messages = _descriptors(Path(KUBECTL).resolve())
    if not messages:
        pytest.skip("this kubectl carries no protobuf descriptors")
    by_short: dict[str, list[str]] = {}
    for full in messages:
        by_short.setdefault(full.rsplit(".", 1)[1], []).append(full)
    wrong = []
    for table, fields in pb.TABLES.items():
        candidates = [m for m in by_short.get(table, []) if ".v1." in m]
        assert candidates, f"no upstream message {table}"
        wrong += min((_compare(table, fields, messages, m) for m in candidates), key=len)
    assert not wrong, "\n".join(wrong)


def _compare(table: str, fields: dict, messages: dict, full: str) -> list[str]:
    """How our table differs from one upstream message (several share a short name, e.g. Preconditions)."""
    wrong = []
    upstream = {f["number"]: f for f in messages[full][0]}
    for num, f in fields.items():
        u = upstream.get(num)
        if u is None or u["name"] != f.name:
            wrong.append(f"{table}.{num}: ours {f.name}, upstream {u and u['name']}")
            continue
        tn = u.get("type_name", "")
        entry_msg = messages.get(tn)
        if entry_msg and entry_msg[1]:  # a map: compare the value type
            val = next(x for x in entry_msg[0] if x["number"] == 2)
            kind = _SPECIAL.get(val.get("type_name", ""), _PROTO_TYPES.get(val["type"]))
            ok = f.is_map and kind == f.kind
        else:
            kind = _SPECIAL.get(tn) or (tn.rsplit(".", 1)[1] if tn else _PROTO_TYPES.get(u["type"]))
            ok = not f.is_map and kind == f.kind and (u["label"] == 3) == f.repeated
        if not ok:
            wrong.append(f"{table}.{f.name}: ours {f}, upstream {u}")
    return wrong


# ------------------------------------------------------------------------------------------ over HTTP
async def test_server_creates_from_protobuf_and_answers_json(sim_server) -> None:
    url = f"/apis/apps/v1/namespaces/{PROJECT_NS}/deployments"
    async with sim_server.client() as c:
        r = await c.post(url, content=_deployment(), headers=PROTOBUF)
        assert r.status_code == 201, r.text
        assert r.headers["content-type"].startswith("application/json") and r.json()["metadata"]["name"] == "web"
    d = sim_server.cluster.store.get(DEPLOYMENTS, PROJECT_NS, "web")
    assert d["spec"]["replicas"] == 0 and d["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.25"


async def test_server_rejects_bad_protobuf_with_a_status(sim_server) -> None:
    url = f"/api/v1/namespaces/{PROJECT_NS}/pods"
    async with sim_server.client() as c:
        r = await c.post(url, content=pb.PROTOBUF_MAGIC + b"\x0a\x50abc", headers=PROTOBUF)
        body = r.json()
        assert r.status_code == 400 and body["kind"] == "Status" and body["reason"] == "BadRequest"
        assert "not valid Kubernetes protobuf" in body["message"] and "only 3 remain" in body["message"]
        r = await c.post(url, content=envelope("apps/v1", "Deployment", ld(1, meta("web"))), headers=PROTOBUF)
        assert r.status_code == 400 and "does not match the expected API version (v1)" in r.json()["message"]
        r = await c.post("/apis/scheduling.run.ai/v2/queues", content=envelope("scheduling.run.ai/v2", "Queue", b""),
                         headers=PROTOBUF)
        assert r.status_code == 415 and r.json()["reason"] == "UnsupportedMediaType"
        assert "send it as application/json" in r.json()["message"]
    assert sim_server.cluster.store.try_get(DEPLOYMENTS, PROJECT_NS, "web") is None


async def test_server_reads_protobuf_delete_options_and_eviction(sim_server) -> None:
    url = f"/api/v1/namespaces/{PROJECT_NS}/pods/p1"
    s = sim_server.cluster.store
    async with sim_server.client() as c:
        dry = envelope("v1", "DeleteOptions", vi(1, 0) + ld(5, "All"))
        r = await c.request("DELETE", url, content=dry, headers=PROTOBUF)
        assert r.status_code == 200 and s.try_get(PODS, PROJECT_NS, "p1") is not None
        bad = envelope("v1", "DeleteOptions", ld(4, "Sideways"))
        r = await c.request("DELETE", url, content=bad, headers=PROTOBUF)
        assert r.status_code == 400 and "Sideways" in r.json()["message"]
        ev = envelope("policy/v1", "Eviction", ld(1, meta("p1", PROJECT_NS)) + ld(2, vi(1, 0)))
        r = await c.post(f"{url}/eviction", content=ev, headers=PROTOBUF)
        assert r.status_code == 201, r.text
    assert s.try_get(PODS, PROJECT_NS, "p1") is None
