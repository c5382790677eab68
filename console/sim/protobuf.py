"""Kubernetes protobuf request bodies, read into the JSON-shaped dicts the simulator stores.

kubectl's typed clients (`create deployment`, `run`, `expose`, `drain`, `auth can-i`, ...) send their
bodies as `application/vnd.kubernetes.protobuf`: the magic `k8s\\0`, then a runtime.Unknown envelope
{1: TypeMeta{1: apiVersion, 2: kind}, 2: raw object, 3: contentEncoding, 4: contentType}. The server keeps
answering JSON (clients accept a JSON answer to a protobuf request), so only decoding is needed: a
wire-format reader plus field tables (number -> JSON name and type) for the kinds those verbs send.

The tables are transcribed from the upstream `generated.proto` files (k8s.io/api v1.32). Each entry is
`"<number> <jsonName>[!][:<type>]"`; the type is `str` when left out, else `int`, `bool`, `bytes`
(base64 in JSON), `time` (meta/v1 Time), `qty` (resource.Quantity), `ios` (IntOrString), a table name
(a nested message), `^Table` (an embedded Go struct, inlined into its parent in JSON), `[T]` (repeated)
or `{T}` (map from string to T). Field numbers that are not in a table are skipped; left out on purpose
are the in-tree cloud and network volume plugins (nfs, gcePersistentDisk, ...), ephemeral volumes,
ephemeralContainers, StatefulSet volumeClaimTemplates, managedFields and every status.

Zero values: Go's marshaller writes every non-pointer scalar even when zero, while JSON clients omit
zeros (`omitempty`). So a zero scalar is dropped, except for the pointer fields where zero is a value
of its own (`replicas: 0`, `runAsUser: 0`, `gracePeriodSeconds: 0`, `optional: false`), marked `!`.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson

PROTOBUF_MAGIC = b"k8s\x00"
MEDIA_TYPE = "application/vnd.kubernetes.protobuf"


class ProtobufError(ValueError):
    """A body that is not well-formed Kubernetes protobuf; the message says where and why."""


class UnsupportedKind(ProtobufError):
    """A well-formed envelope holding a kind the simulator has no field table for."""


# ====================================================================================== field tables
TABLES_SRC: dict[str, str] = {
    # meta/v1 (apimachinery)
    "ObjectMeta": (
        "1 name, 2 generateName, 3 namespace, 4 selfLink, 5 uid, 6 resourceVersion, 7 generation:int, "
        "8 creationTimestamp:time, 9 deletionTimestamp:time, 10 deletionGracePeriodSeconds!:int, 11 labels:{str}, "
        "12 annotations:{str}, 13 ownerReferences:[OwnerReference], 14 finalizers:[str]"
    ),
    "OwnerReference": "1 kind, 3 name, 4 uid, 5 apiVersion, 6 controller!:bool, 7 blockOwnerDeletion!:bool",
    "LabelSelector": "1 matchLabels:{str}, 2 matchExpressions:[LabelSelectorRequirement]",
    "LabelSelectorRequirement": "1 key, 2 operator, 3 values:[str]",
    "DeleteOptions": (
        "1 gracePeriodSeconds!:int, 2 preconditions:Preconditions, 3 orphanDependents!:bool, 4 propagationPolicy, "
        "5 dryRun:[str], 6 ignoreStoreReadErrorWithClusterBreakingPotential!:bool"
    ),
    "Preconditions": "1 uid, 2 resourceVersion",
    # core/v1 pod template (PodSpec and everything it holds)
    "PodTemplateSpec": "1 metadata:ObjectMeta, 2 spec:PodSpec",
    "PodSpec": (
        "1 volumes:[Volume], 2 containers:[Container], 3 restartPolicy, 4 terminationGracePeriodSeconds!:int, "
        "5 activeDeadlineSeconds!:int, 6 dnsPolicy, 7 nodeSelector:{str}, 8 serviceAccountName, 9 serviceAccount, "
        "10 nodeName, 11 hostNetwork:bool, 12 hostPID:bool, 13 hostIPC:bool, 14 securityContext:PodSecurityContext, "
        "15 imagePullSecrets:[LocalObjectReference], 16 hostname, 17 subdomain, 18 affinity:Affinity, "
        "19 schedulerName, 20 initContainers:[Container], 21 automountServiceAccountToken!:bool, "
        "22 tolerations:[Toleration], 23 hostAliases:[HostAlias], 24 priorityClassName, 25 priority!:int, "
        "26 dnsConfig:PodDNSConfig, 27 shareProcessNamespace!:bool, 28 readinessGates:[PodReadinessGate], "
        "29 runtimeClassName, 30 enableServiceLinks!:bool, 31 preemptionPolicy, 32 overhead:{qty}, "
        "33 topologySpreadConstraints:[TopologySpreadConstraint], 35 setHostnameAsFQDN!:bool, 36 os:PodOS, "
        "37 hostUsers!:bool, 38 schedulingGates:[PodSchedulingGate], 39 resourceClaims:[PodResourceClaim], "
        "40 resources:ResourceRequirements"
    ),
    "Volume": "1 name, 2 volumeSource:^VolumeSource",
    "VolumeSource": (
        "1 hostPath:HostPathVolumeSource, 2 emptyDir:EmptyDirVolumeSource, 6 secret:SecretVolumeSource, "
        "10 persistentVolumeClaim:PersistentVolumeClaimVolumeSource, 16 downwardAPI:DownwardAPIVolumeSource, "
        "19 configMap:ConfigMapVolumeSource, 26 projected:ProjectedVolumeSource, 28 csi:CSIVolumeSource, "
        "30 image:ImageVolumeSource"
    ),
    "HostPathVolumeSource": "1 path, 2 type",
    "EmptyDirVolumeSource": "1 medium, 2 sizeLimit:qty",
    "SecretVolumeSource": "1 secretName, 2 items:[KeyToPath], 3 defaultMode!:int, 4 optional!:bool",
    "KeyToPath": "1 key, 2 path, 3 mode!:int",
    "PersistentVolumeClaimVolumeSource": "1 claimName, 2 readOnly:bool",
    "DownwardAPIVolumeSource": "1 items:[DownwardAPIVolumeFile], 2 defaultMode!:int",
    "DownwardAPIVolumeFile": (
        "1 path, 2 fieldRef:ObjectFieldSelector, 3 resourceFieldRef:ResourceFieldSelector, 4 mode!:int"
    ),
    "ObjectFieldSelector": "1 apiVersion, 2 fieldPath",
    "ResourceFieldSelector": "1 containerName, 2 resource, 3 divisor:qty",
    "ConfigMapVolumeSource": (
        "1 localObjectReference:^LocalObjectReference, 2 items:[KeyToPath], 3 defaultMode!:int, 4 optional!:bool"
    ),
    "LocalObjectReference": "1 name",
    "ProjectedVolumeSource": "1 sources:[VolumeProjection], 2 defaultMode!:int",
    "VolumeProjection": (
        "1 secret:SecretProjection, 2 downwardAPI:DownwardAPIProjection, 3 configMap:ConfigMapProjection, "
        "4 serviceAccountToken:ServiceAccountTokenProjection"
    ),
    "SecretProjection": "1 localObjectReference:^LocalObjectReference, 2 items:[KeyToPath], 4 optional!:bool",
    "DownwardAPIProjection": "1 items:[DownwardAPIVolumeFile]",
    "ConfigMapProjection": "1 localObjectReference:^LocalObjectReference, 2 items:[KeyToPath], 4 optional!:bool",
    "ServiceAccountTokenProjection": "1 audience, 2 expirationSeconds!:int, 3 path",
    "CSIVolumeSource": (
        "1 driver, 2 readOnly!:bool, 3 fsType, 4 volumeAttributes:{str}, "
        "5 nodePublishSecretRef:LocalObjectReference"
    ),
    "ImageVolumeSource": "1 reference, 2 pullPolicy",
    "Container": (
        "1 name, 2 image, 3 command:[str], 4 args:[str], 5 workingDir, 6 ports:[ContainerPort], 7 env:[EnvVar], "
        "8 resources:ResourceRequirements, 9 volumeMounts:[VolumeMount], 10 livenessProbe:Probe, "
        "11 readinessProbe:Probe, 12 lifecycle:Lifecycle, 13 terminationMessagePath, 14 imagePullPolicy, "
        "15 securityContext:SecurityContext, 16 stdin:bool, 17 stdinOnce:bool, 18 tty:bool, "
        "19 envFrom:[EnvFromSource], 20 terminationMessagePolicy, 21 volumeDevices:[VolumeDevice], "
        "22 startupProbe:Probe, 23 resizePolicy:[ContainerResizePolicy], 24 restartPolicy"
    ),
    "ContainerPort": "1 name, 2 hostPort:int, 3 containerPort!:int, 4 protocol, 5 hostIP",
    "EnvFromSource": "1 prefix, 2 configMapRef:ConfigMapEnvSource, 3 secretRef:SecretEnvSource",
    "ConfigMapEnvSource": "1 localObjectReference:^LocalObjectReference, 2 optional!:bool",
    "SecretEnvSource": "1 localObjectReference:^LocalObjectReference, 2 optional!:bool",
    "EnvVar": "1 name, 2 value, 3 valueFrom:EnvVarSource",
    "EnvVarSource": (
        "1 fieldRef:ObjectFieldSelector, 2 resourceFieldRef:ResourceFieldSelector, "
        "3 configMapKeyRef:ConfigMapKeySelector, 4 secretKeyRef:SecretKeySelector"
    ),
    "ConfigMapKeySelector": "1 localObjectReference:^LocalObjectReference, 2 key, 3 optional!:bool",
    "SecretKeySelector": "1 localObjectReference:^LocalObjectReference, 2 key, 3 optional!:bool",
    "ResourceRequirements": "1 limits:{qty}, 2 requests:{qty}, 3 claims:[ResourceClaim]",
    "ResourceClaim": "1 name, 2 request",
    "ContainerResizePolicy": "1 resourceName, 2 restartPolicy",
    "VolumeMount": (
        "1 name, 2 readOnly:bool, 3 mountPath, 4 subPath, 5 mountPropagation, 6 subPathExpr, 7 recursiveReadOnly"
    ),
    "VolumeDevice": "1 name, 2 devicePath",
    "Probe": (
        "1 handler:^ProbeHandler, 2 initialDelaySeconds:int, 3 timeoutSeconds:int, 4 periodSeconds:int, "
        "5 successThreshold:int, 6 failureThreshold:int, 7 terminationGracePeriodSeconds!:int"
    ),
    "ProbeHandler": "1 exec:ExecAction, 2 httpGet:HTTPGetAction, 3 tcpSocket:TCPSocketAction, 4 grpc:GRPCAction",
    "ExecAction": "1 command:[str]",
    "HTTPGetAction": "1 path, 2 port:ios, 3 host, 4 scheme, 5 httpHeaders:[HTTPHeader]",
    "HTTPHeader": "1 name, 2 value",
    "TCPSocketAction": "1 port:ios, 2 host",
    "GRPCAction": "1 port:int, 2 service",
    "Lifecycle": "1 postStart:LifecycleHandler, 2 preStop:LifecycleHandler",
    "LifecycleHandler": (
        "1 exec:ExecAction, 2 httpGet:HTTPGetAction, 3 tcpSocket:TCPSocketAction, 4 sleep:SleepAction"
    ),
    "SleepAction": "1 seconds:int",
    "SecurityContext": (
        "1 capabilities:Capabilities, 2 privileged!:bool, 3 seLinuxOptions:SELinuxOptions, 4 runAsUser!:int, "
        "5 runAsNonRoot!:bool, 6 readOnlyRootFilesystem!:bool, 7 allowPrivilegeEscalation!:bool, 8 runAsGroup!:int, "
        "9 procMount, 10 windowsOptions:WindowsSecurityContextOptions, 11 seccompProfile:SeccompProfile, "
        "12 appArmorProfile:AppArmorProfile"
    ),
    "Capabilities": "1 add:[str], 2 drop:[str]",
    "SELinuxOptions": "1 user, 2 role, 3 type, 4 level",
    "WindowsSecurityContextOptions": (
        "1 gmsaCredentialSpecName, 2 gmsaCredentialSpec, 3 runAsUserName, 4 hostProcess!:bool"
    ),
    "SeccompProfile": "1 type, 2 localhostProfile",
    "AppArmorProfile": "1 type, 2 localhostProfile",
    "PodSecurityContext": (
        "1 seLinuxOptions:SELinuxOptions, 2 runAsUser!:int, 3 runAsNonRoot!:bool, 4 supplementalGroups:[int], "
        "5 fsGroup!:int, 6 runAsGroup!:int, 7 sysctls:[Sysctl], 8 windowsOptions:WindowsSecurityContextOptions, "
        "9 fsGroupChangePolicy, 10 seccompProfile:SeccompProfile, 11 appArmorProfile:AppArmorProfile, "
        "12 supplementalGroupsPolicy, 13 seLinuxChangePolicy"
    ),
    "Sysctl": "1 name, 2 value",
    "Affinity": "1 nodeAffinity:NodeAffinity, 2 podAffinity:PodAffinity, 3 podAntiAffinity:PodAntiAffinity",
    "NodeAffinity": (
        "1 requiredDuringSchedulingIgnoredDuringExecution:NodeSelector, "
        "2 preferredDuringSchedulingIgnoredDuringExecution:[PreferredSchedulingTerm]"
    ),
    "NodeSelector": "1 nodeSelectorTerms:[NodeSelectorTerm]",
    "NodeSelectorTerm": "1 matchExpressions:[NodeSelectorRequirement], 2 matchFields:[NodeSelectorRequirement]",
    "NodeSelectorRequirement": "1 key, 2 operator, 3 values:[str]",
    "PreferredSchedulingTerm": "1 weight:int, 2 preference:NodeSelectorTerm",
    "PodAffinity": (
        "1 requiredDuringSchedulingIgnoredDuringExecution:[PodAffinityTerm], "
        "2 preferredDuringSchedulingIgnoredDuringExecution:[WeightedPodAffinityTerm]"
    ),
    "PodAffinityTerm": (
        "1 labelSelector:LabelSelector, 2 namespaces:[str], 3 topologyKey, 4 namespaceSelector:LabelSelector, "
        "5 matchLabelKeys:[str], 6 mismatchLabelKeys:[str]"
    ),
    "WeightedPodAffinityTerm": "1 weight:int, 2 podAffinityTerm:PodAffinityTerm",
    "PodAntiAffinity": (
        "1 requiredDuringSchedulingIgnoredDuringExecution:[PodAffinityTerm], "
        "2 preferredDuringSchedulingIgnoredDuringExecution:[WeightedPodAffinityTerm]"
    ),
    "Toleration": "1 key, 2 operator, 3 value, 4 effect, 5 tolerationSeconds!:int",
    "HostAlias": "1 ip, 2 hostnames:[str]",
    "PodDNSConfig": "1 nameservers:[str], 2 searches:[str], 3 options:[PodDNSConfigOption]",
    "PodDNSConfigOption": "1 name, 2 value",
    "PodReadinessGate": "1 conditionType",
    "TopologySpreadConstraint": (
        "1 maxSkew:int, 2 topologyKey, 3 whenUnsatisfiable, 4 labelSelector:LabelSelector, 5 minDomains!:int, "
        "6 nodeAffinityPolicy, 7 nodeTaintsPolicy, 8 matchLabelKeys:[str]"
    ),
    "PodOS": "1 name",
    "PodSchedulingGate": "1 name",
    "PodResourceClaim": "1 name, 3 resourceClaimName, 4 resourceClaimTemplateName",
    # apps/v1
    "Deployment": "1 metadata:ObjectMeta, 2 spec:DeploymentSpec",
    "DeploymentSpec": (
        "1 replicas!:int, 2 selector:LabelSelector, 3 template:PodTemplateSpec, 4 strategy:DeploymentStrategy, "
        "5 minReadySeconds:int, 6 revisionHistoryLimit!:int, 7 paused:bool, 9 progressDeadlineSeconds!:int"
    ),
    "DeploymentStrategy": "1 type, 2 rollingUpdate:RollingUpdateDeployment",
    "RollingUpdateDeployment": "1 maxUnavailable:ios, 2 maxSurge:ios",
    "ReplicaSet": "1 metadata:ObjectMeta, 2 spec:ReplicaSetSpec",
    "ReplicaSetSpec": "1 replicas!:int, 2 selector:LabelSelector, 3 template:PodTemplateSpec, 4 minReadySeconds:int",
    "StatefulSet": "1 metadata:ObjectMeta, 2 spec:StatefulSetSpec",
    "StatefulSetSpec": (
        "1 replicas!:int, 2 selector:LabelSelector, 3 template:PodTemplateSpec, 5 serviceName, "
        "6 podManagementPolicy, 7 updateStrategy:StatefulSetUpdateStrategy, 8 revisionHistoryLimit!:int, "
        "9 minReadySeconds:int, "
        "10 persistentVolumeClaimRetentionPolicy:StatefulSetPersistentVolumeClaimRetentionPolicy, "
        "11 ordinals:StatefulSetOrdinals"
    ),
    "StatefulSetUpdateStrategy": "1 type, 2 rollingUpdate:RollingUpdateStatefulSetStrategy",
    "RollingUpdateStatefulSetStrategy": "1 partition!:int, 2 maxUnavailable:ios",
    "StatefulSetPersistentVolumeClaimRetentionPolicy": "1 whenDeleted, 2 whenScaled",
    "StatefulSetOrdinals": "1 start:int",
    "DaemonSet": "1 metadata:ObjectMeta, 2 spec:DaemonSetSpec",
    "DaemonSetSpec": (
        "1 selector:LabelSelector, 2 template:PodTemplateSpec, 3 updateStrategy:DaemonSetUpdateStrategy, "
        "4 minReadySeconds:int, 6 revisionHistoryLimit!:int"
    ),
    "DaemonSetUpdateStrategy": "1 type, 2 rollingUpdate:RollingUpdateDaemonSet",
    "RollingUpdateDaemonSet": "1 maxUnavailable:ios, 2 maxSurge:ios",
    # batch/v1
    "Job": "1 metadata:ObjectMeta, 2 spec:JobSpec",
    "JobSpec": (
        "1 parallelism!:int, 2 completions!:int, 3 activeDeadlineSeconds!:int, 4 selector:LabelSelector, "
        "5 manualSelector!:bool, 6 template:PodTemplateSpec, 7 backoffLimit!:int, 8 ttlSecondsAfterFinished!:int, "
        "9 completionMode, 10 suspend!:bool, 11 podFailurePolicy:PodFailurePolicy, 12 backoffLimitPerIndex!:int, "
        "13 maxFailedIndexes!:int, 14 podReplacementPolicy, 15 managedBy, 16 successPolicy:SuccessPolicy"
    ),
    "PodFailurePolicy": "1 rules:[PodFailurePolicyRule]",
    "PodFailurePolicyRule": (
        "1 action, 2 onExitCodes:PodFailurePolicyOnExitCodesRequirement, "
        "3 onPodConditions:[PodFailurePolicyOnPodConditionsPattern]"
    ),
    "PodFailurePolicyOnExitCodesRequirement": "1 containerName, 2 operator, 3 values:[int]",
    "PodFailurePolicyOnPodConditionsPattern": "1 type",
    "SuccessPolicy": "1 rules:[SuccessPolicyRule]",
    "SuccessPolicyRule": "1 succeededIndexes, 2 succeededCount!:int",
    "CronJob": "1 metadata:ObjectMeta, 2 spec:CronJobSpec",
    "CronJobSpec": (
        "1 schedule, 2 startingDeadlineSeconds!:int, 3 concurrencyPolicy, 4 suspend!:bool, "
        "5 jobTemplate:JobTemplateSpec, 6 successfulJobsHistoryLimit!:int, 7 failedJobsHistoryLimit!:int, "
        "8 timeZone"
    ),
    "JobTemplateSpec": "1 metadata:ObjectMeta, 2 spec:JobSpec",
    # core/v1 objects
    "Namespace": "1 metadata:ObjectMeta, 2 spec:NamespaceSpec",
    "NamespaceSpec": "1 finalizers:[str]",
    "ConfigMap": "1 metadata:ObjectMeta, 2 data:{str}, 3 binaryData:{bytes}, 4 immutable!:bool",
    "Secret": "1 metadata:ObjectMeta, 2 data:{bytes}, 3 type, 4 stringData:{str}, 5 immutable!:bool",
    "Service": "1 metadata:ObjectMeta, 2 spec:ServiceSpec",
    "ServiceSpec": (
        "1 ports:[ServicePort], 2 selector:{str}, 3 clusterIP, 4 type, 5 externalIPs:[str], 7 sessionAffinity, "
        "8 loadBalancerIP, 9 loadBalancerSourceRanges:[str], 10 externalName, 11 externalTrafficPolicy, "
        "12 healthCheckNodePort:int, 13 publishNotReadyAddresses:bool, "
        "14 sessionAffinityConfig:SessionAffinityConfig, 17 ipFamilyPolicy, 18 clusterIPs:[str], "
        "19 ipFamilies:[str], 20 allocateLoadBalancerNodePorts!:bool, 21 loadBalancerClass, "
        "22 internalTrafficPolicy, 23 trafficDistribution"
    ),
    "ServicePort": "1 name, 2 protocol, 3 port!:int, 4 targetPort:ios, 5 nodePort:int, 6 appProtocol",
    "SessionAffinityConfig": "1 clientIP:ClientIPConfig",
    "ClientIPConfig": "1 timeoutSeconds!:int",
    "ServiceAccount": (
        "1 metadata:ObjectMeta, 2 secrets:[ObjectReference], 3 imagePullSecrets:[LocalObjectReference], "
        "4 automountServiceAccountToken!:bool"
    ),
    "ObjectReference": "1 kind, 2 namespace, 3 name, 4 uid, 5 apiVersion, 6 resourceVersion, 7 fieldPath",
    "ResourceQuota": "1 metadata:ObjectMeta, 2 spec:ResourceQuotaSpec",
    "ResourceQuotaSpec": "1 hard:{qty}, 2 scopes:[str], 3 scopeSelector:ScopeSelector",
    "ScopeSelector": "1 matchExpressions:[ScopedResourceSelectorRequirement]",
    "ScopedResourceSelectorRequirement": "1 scopeName, 2 operator, 3 values:[str]",
    "Pod": "1 metadata:ObjectMeta, 2 spec:PodSpec",
    "Binding": "1 metadata:ObjectMeta, 2 target:ObjectReference",
    # scheduling/v1, policy/v1, authorization/v1, autoscaling/v1
    "PriorityClass": "1 metadata:ObjectMeta, 2 value!:int, 3 globalDefault:bool, 4 description, 5 preemptionPolicy",
    "PodDisruptionBudget": "1 metadata:ObjectMeta, 2 spec:PodDisruptionBudgetSpec",
    "PodDisruptionBudgetSpec": (
        "1 minAvailable:ios, 2 selector:LabelSelector, 3 maxUnavailable:ios, 4 unhealthyPodEvictionPolicy"
    ),
    "Eviction": "1 metadata:ObjectMeta, 2 deleteOptions:DeleteOptions",
    "SelfSubjectAccessReview": "1 metadata:ObjectMeta, 2 spec:SelfSubjectAccessReviewSpec",
    "SelfSubjectAccessReviewSpec": (
        "1 resourceAttributes:ResourceAttributes, 2 nonResourceAttributes:NonResourceAttributes"
    ),
    "ResourceAttributes": (
        "1 namespace, 2 verb, 3 group, 4 version, 5 resource, 6 subresource, 7 name, "
        "8 fieldSelector:FieldSelectorAttributes, 9 labelSelector:LabelSelectorAttributes"
    ),
    "FieldSelectorAttributes": "1 rawSelector, 2 requirements:[FieldSelectorRequirement]",
    "FieldSelectorRequirement": "1 key, 2 operator, 3 values:[str]",
    "LabelSelectorAttributes": "1 rawSelector, 2 requirements:[LabelSelectorRequirement]",
    "NonResourceAttributes": "1 path, 2 verb",
    "SelfSubjectRulesReview": "1 metadata:ObjectMeta, 2 spec:SelfSubjectRulesReviewSpec",
    "SelfSubjectRulesReviewSpec": "1 namespace",
    "SelfSubjectReview": "1 metadata:ObjectMeta",  # k8s.io/api/authentication/v1 generated.proto
    "Scale": "1 metadata:ObjectMeta, 2 spec:ScaleSpec",
    "ScaleSpec": "1 replicas!:int",
}

# (apiVersion, kind) of the objects a protobuf body may hold; DeleteOptions comes under any group's version.
KINDS: dict[tuple[str, str], str] = {
    **{("apps/v1", k): k for k in ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet")},
    **{("batch/v1", k): k for k in ("Job", "CronJob")},
    **{("v1", k): k for k in ("Namespace", "ConfigMap", "Secret", "Service", "ServiceAccount", "ResourceQuota",
                               "Pod", "Binding")},
    ("scheduling.k8s.io/v1", "PriorityClass"): "PriorityClass",
    ("policy/v1", "PodDisruptionBudget"): "PodDisruptionBudget",
    ("policy/v1", "Eviction"): "Eviction",
    ("authorization.k8s.io/v1", "SelfSubjectAccessReview"): "SelfSubjectAccessReview",
    ("authorization.k8s.io/v1", "SelfSubjectRulesReview"): "SelfSubjectRulesReview",
    ("authentication.k8s.io/v1", "SelfSubjectReview"): "SelfSubjectReview",
    ("autoscaling/v1", "Scale"): "Scale",
}
SCALARS = frozenset({"str", "int", "bool", "bytes", "time", "qty", "ios"})
_VARINT_KINDS = frozenset({"int", "bool"})


@dataclass(frozen=True, slots=True)
class Field:
    """One entry of a field table."""

    name: str
    kind: str  # a scalar kind from SCALARS, or a table name
    repeated: bool = False
    is_map: bool = False
    keep_zero: bool = False
    inline: bool = False


def parse_table(src: str) -> dict[int, Field]:
    """One table's source text as {field number: Field}; raises ValueError on a malformed entry."""
    out: dict[int, Field] = {}
    for entry in src.split(","):
        num_s, _, rest = entry.strip().partition(" ")
        name, _, kind = rest.partition(":")
        keep = name.endswith("!")
        name, kind = name.rstrip("!"), kind or "str"
        inline = kind.startswith("^")
        repeated = kind.startswith("[") and kind.endswith("]")
        is_map = kind.startswith("{") and kind.endswith("}")
        kind = kind.strip("^[]{}")
        if not num_s.isdigit() or not name or int(num_s) in out:
            raise ValueError(f"bad field table entry {entry.strip()!r}")
        out[int(num_s)] = Field(name, kind, repeated, is_map, keep, inline)
    return out


def _build(src: dict[str, str]) -> dict[str, dict[int, Field]]:
    tables = {name: parse_table(text) for name, text in src.items()}
    for name, table in tables.items():
        for f in table.values():
            if f.kind not in SCALARS and f.kind not in tables:
                raise ValueError(f"table {name}: field {f.name} refers to unknown table {f.kind}")
    return tables


TABLES = _build(TABLES_SRC)


# ====================================================================================== wire format
def _varint(buf: memoryview, i: int, path: str) -> tuple[int, int]:
    shift = result = 0
    n = len(buf)
    while True:
        if i >= n:
            raise ProtobufError(f"{path or 'body'}: truncated varint")
        if shift > 63:
            raise ProtobufError(f"{path or 'body'}: varint longer than 10 bytes")
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7


def iter_fields(buf: bytes | memoryview, path: str = "") -> Iterator[tuple[int, int, Any]]:
    """(field number, wire type, value) for each field of one message, in order.

    Varints come as unsigned ints, fixed32/fixed64 as unsigned little-endian ints, length-delimited
    fields as memoryview slices (no copies). Raises ProtobufError on truncation, a zero field number or
    a group wire type (Kubernetes never uses groups).
    """
    mv = buf if isinstance(buf, memoryview) else memoryview(buf)
    i, n = 0, len(mv)
    where = path or "body"
    while i < n:
        key, i = _varint(mv, i, path)
        num, wt = key >> 3, key & 7
        if num == 0:
            raise ProtobufError(f"{where}: field number 0 is not allowed")
        if wt == 0:
            val, i = _varint(mv, i, path)
        elif wt == 2:
            ln, i = _varint(mv, i, path)
            if ln > n - i:
                raise ProtobufError(f"{where}: field {num} says {ln} bytes but only {n - i} remain")
            val, i = mv[i:i + ln], i + ln
        elif wt in (1, 5):
            size = 8 if wt == 1 else 4
            if size > n - i:
                raise ProtobufError(f"{where}: truncated fixed{size * 8} field {num}")
            val, i = int.from_bytes(mv[i:i + size], "little"), i + size
        else:
            raise ProtobufError(f"{where}: field {num} has wire type {wt}, which Kubernetes never sends")
        yield num, wt, val


def _signed(v: int) -> int:
    """A varint read as int64/int32 (two's complement, negative int32s are sign-extended to 64 bits)."""
    return v - (1 << 64) if v >= 1 << 63 else v


def _packed(buf: memoryview, path: str) -> list[int]:
    out, i = [], 0
    while i < len(buf):
        v, i = _varint(buf, i, path)
        out.append(v)
    return out


def _text(val: memoryview, path: str) -> str:
    try:
        return str(val, "utf-8")
    except UnicodeDecodeError as e:
        raise ProtobufError(f"{path}: not valid UTF-8 ({e.reason} at byte {e.start})") from None


_ZERO_TIME = -62135596800  # 0001-01-01T00:00:00Z, Go's zero time, which JSON writes as null


def _time(val: memoryview, path: str) -> str | None:
    if not len(val):  # Go writes its zero time as an empty message
        return None
    seconds = nanos = 0
    for num, wt, v in iter_fields(val, path):
        if num == 1 and wt == 0:
            seconds = _signed(v)
        elif num == 2 and wt == 0:
            nanos = _signed(v)
    if seconds == _ZERO_TIME and nanos == 0:
        return None
    try:
        t = dt.datetime.fromtimestamp(seconds, dt.UTC)
    except (OverflowError, OSError, ValueError):
        raise ProtobufError(f"{path}: time of {seconds} seconds is out of range") from None
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _quantity(val: memoryview, path: str) -> str:
    out = "0"
    for num, wt, v in iter_fields(val, path):
        if num == 1 and wt == 2:
            out = _text(v, path)
    return out


def _int_or_string(val: memoryview, path: str) -> int | str:
    typ, ival, sval = 0, 0, ""
    for num, wt, v in iter_fields(val, path):
        if num == 1 and wt == 0:
            typ = _signed(v)
        elif num == 2 and wt == 0:
            ival = _signed(v)
        elif num == 3 and wt == 2:
            sval = _text(v, path)
    return sval if typ == 1 else ival


def _wire_error(path: str, wt: int, kind: str) -> ProtobufError:
    want = "a varint" if kind in _VARINT_KINDS else "length-delimited bytes"
    return ProtobufError(f"{path}: wire type {wt} where {want} ({kind}) was expected")


def _value(kind: str, wt: int, val: Any, path: str) -> Any:
    """One field's value as JSON sees it."""
    if kind in _VARINT_KINDS:
        if wt != 0:
            raise _wire_error(path, wt, kind)
        return bool(val) if kind == "bool" else _signed(val)
    if wt != 2:
        raise _wire_error(path, wt, kind)
    if kind == "str":
        return _text(val, path)
    if kind == "bytes":
        return base64.b64encode(val).decode("ascii")
    if kind == "time":
        return _time(val, path)
    if kind == "qty":
        return _quantity(val, path)
    if kind == "ios":
        return _int_or_string(val, path)
    return decode_message(val, kind, path)


def _is_zero(kind: str, v: Any) -> bool:
    if kind in ("str", "bytes", "qty"):
        return v == ""
    if kind == "int":
        return v == 0
    if kind == "bool":
        return v is False
    return v is None  # time: Go's zero time


def _map_entry(f: Field, val: memoryview, path: str) -> tuple[str, Any]:
    key, value = "", None
    for num, wt, v in iter_fields(val, path):
        if num == 1:
            if wt != 2:
                raise _wire_error(f"{path} (map key)", wt, "str")
            key = _text(v, f"{path} (map key)")
        elif num == 2:
            value = _value(f.kind, wt, v, f"{path}[{key}]" if key else path)
    if value is None:
        value = {"str": "", "bytes": "", "qty": "0", "int": 0, "bool": False}.get(f.kind, {})
    return key, value


def decode_message(buf: bytes | memoryview, table: str, path: str = "") -> dict[str, Any]:
    """One message read with the named field table; unknown field numbers are skipped."""
    fields = TABLES[table]
    out: dict[str, Any] = {}
    for num, wt, val in iter_fields(buf, path):
        f = fields.get(num)
        if f is None:
            continue
        here = f"{path}.{f.name}" if path else f.name
        if f.is_map:
            if wt != 2:
                raise _wire_error(here, wt, "map entry")
            k, v = _map_entry(f, val, here)
            out.setdefault(f.name, {})[k] = v
        elif f.repeated:
            items = out.setdefault(f.name, [])
            if wt == 2 and f.kind in _VARINT_KINDS:  # packed
                items.extend(bool(v) if f.kind == "bool" else _signed(v) for v in _packed(val, here))
            else:
                items.append(_value(f.kind, wt, val, f"{here}[{len(items)}]"))
        else:
            v = _value(f.kind, wt, val, here)
            if f.inline:
                out.update(v)
            elif isinstance(v, dict) and isinstance(out.get(f.name), dict):
                out[f.name].update(v)  # a message given twice merges, as protobuf says
            elif f.kind in SCALARS and not f.keep_zero and _is_zero(f.kind, v):
                out.pop(f.name, None)
            else:
                out[f.name] = v
    return out


# ====================================================================================== the envelope
def _envelope(raw: bytes) -> tuple[str, str, memoryview, str, str]:
    if not raw.startswith(PROTOBUF_MAGIC):
        raise ProtobufError("the data does not start with the Kubernetes protobuf prefix 'k8s\\x00'")
    api_version = kind = encoding = ctype = ""
    body = memoryview(b"")
    for num, wt, val in iter_fields(memoryview(raw)[len(PROTOBUF_MAGIC):], "envelope"):
        if wt != 2:
            continue
        if num == 1:
            for n2, w2, v2 in iter_fields(val, "envelope.typeMeta"):
                if n2 == 1 and w2 == 2:
                    api_version = _text(v2, "envelope.typeMeta.apiVersion")
                elif n2 == 2 and w2 == 2:
                    kind = _text(v2, "envelope.typeMeta.kind")
        elif num == 2:
            body = val
        elif num == 3:
            encoding = _text(val, "envelope.contentEncoding")
        elif num == 4:
            ctype = _text(val, "envelope.contentType")
    return api_version, kind, body, encoding, ctype


def decode(raw: bytes) -> dict[str, Any]:
    """A whole protobuf request body as the equivalent JSON object (apiVersion and kind included).

    Raises UnsupportedKind for a kind without a table, ProtobufError for anything malformed.
    """
    api_version, kind, body, encoding, ctype = _envelope(raw)
    if encoding:
        raise ProtobufError(f"content encoding {encoding!r} of the embedded object is not supported")
    if not kind or not api_version:
        raise ProtobufError("the envelope does not say the object's apiVersion and kind")
    if ctype and "protobuf" not in ctype:
        if "json" not in ctype:
            raise ProtobufError(f"the embedded object's content type {ctype!r} is not supported")
        try:
            obj = orjson.loads(bytes(body))
        except orjson.JSONDecodeError as e:
            raise ProtobufError(f"the embedded JSON object is not valid: {e}") from None
        if not isinstance(obj, dict):
            raise ProtobufError("the embedded JSON is not an object")
        return {"apiVersion": api_version, "kind": kind, **obj}
    table = "DeleteOptions" if kind == "DeleteOptions" else KINDS.get((api_version, kind))
    if table is None:
        raise UnsupportedKind(f"the simulator cannot read {kind} ({api_version}) as protobuf; "
                              f"send it as application/json")
    return {"apiVersion": api_version, "kind": kind, **decode_message(body, table)}


def decode_kind(raw: bytes, kinds: tuple[str, ...]) -> dict[str, Any]:
    """`decode`, then insist the body holds one of `kinds`."""
    obj = decode(raw)
    if obj["kind"] not in kinds:
        raise ProtobufError(f"expected {' or '.join(kinds)}, got {obj['kind']}")
    return obj


def decode_review_protobuf(raw: bytes) -> dict[str, Any]:
    """A SelfSubjectAccessReview / SelfSubjectRulesReview body (`kubectl auth can-i`)."""
    obj = decode_kind(raw, ("SelfSubjectAccessReview", "SelfSubjectRulesReview"))
    obj.setdefault("metadata", {})
    obj.setdefault("spec", {})
    return obj


def decode_eviction_protobuf(raw: bytes) -> dict[str, Any]:
    """A policy/v1 Eviction body (`kubectl drain`)."""
    obj = decode_kind(raw, ("Eviction",))
    obj.setdefault("metadata", {})
    return obj
