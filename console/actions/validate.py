"""Local validation before anything is sent: every problem at once, each naming the field, value and rule.

Covers the submit form (names, project, image, GPU as whole / fraction / memory, replicas, ports,
priority classes) and manifests from YAML (kind and apiVersion, required fields, the pod template's GPU
request checked the way KAI's webhook checks it, the queue the labels name).
"""

from __future__ import annotations

import math
import re
from typing import Any

from console.model.podspec import gpu_request, queue_of

from .facts import ClusterFacts
from .manifests import DEFAULT_PRIORITY, WORKLOAD_TYPES, GpuAsk, Placement, SubmitForm, Values

Obj = dict[str, Any]

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
MEMORY = re.compile(r"^\s*(\d+)\s*(Mi|MiB|Gi|GiB)\s*$")
MAX_NAME = 63
# Workload kinds a YAML submit may create, by (apiVersion, kind).
SUBMITTABLE = {("apps/v1", "Deployment"), ("apps/v1", "StatefulSet"), ("batch/v1", "Job"), ("v1", "Service"),
               ("v1", "Pod"), ("v1", "ConfigMap"), ("serving.knative.dev/v1", "Service"),
               ("autoscaling/v2", "HorizontalPodAutoscaler")}


def dns_label_problem(value: Any, what: str = "name", max_len: int = MAX_NAME) -> str | None:
    """Why `value` is not a DNS-1123 label (lower case, digits and '-', alphanumeric ends, <= 63), or None."""
    if not isinstance(value, str) or not value:
        return f"{what} is required (a DNS-1123 label such as llm-serve)"
    if len(value) > max_len:
        return f"{what} {value!r} is {len(value)} characters long; at most {max_len} are allowed"
    if value != value.lower():
        return f"{what} {value!r} has capital letters; names must be lower case (DNS-1123 label)"
    if not DNS1123_LABEL.match(value):
        return (f"{what} {value!r} is not a DNS-1123 label: use lower-case letters, digits and '-', "
                "starting and ending with a letter or digit")
    return None


def parse_int(value: Any, what: str, minimum: int = 0, maximum: int | None = None) -> tuple[int | None, str | None]:
    """An integer from a form field or flag (int or digit string); (None, why) otherwise."""
    if isinstance(value, bool):
        return None, f"{what} must be a whole number, got {value!r}"
    n: int | None = None
    if isinstance(value, int):
        n = value
    elif isinstance(value, float):
        if value.is_integer():
            n = int(value)
        else:
            return None, f"{what} must be a whole number, got {value:g}"
    elif isinstance(value, str) and re.fullmatch(r"\s*[-+]?\d+\s*", value):
        n = int(value)
    else:
        try:
            f = float(str(value))
        except ValueError:
            return None, f"{what} must be a whole number, got {value!r}"
        return None, f"{what} must be a whole number, got {f:g}"
    if n < minimum:
        return None, f"{what} must be at least {minimum}, got {n}"
    if maximum is not None and n > maximum:
        return None, f"{what} must be at most {maximum}, got {n}"
    return n, None


def parse_gpu(value: Any, gpu_memory_max: int | None = None) -> tuple[GpuAsk | None, str | None]:
    """`2` whole GPUs, `0.5` a fraction (0 < x < 1), `20000Mi` / `20Gi` GPU memory; (None, why) otherwise."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return GpuAsk(), None
    if isinstance(value, bool):
        return None, f"GPU must be a number of GPUs, a fraction or an amount of memory, got {value!r}"
    text = str(value).strip()
    m = MEMORY.match(text)
    if m:
        mib = int(m.group(1)) * (1024 if m.group(2).startswith("G") else 1)
        if mib <= 0:
            return None, f"GPU memory must be more than 0 MiB, got {text!r}"
        if gpu_memory_max is not None and mib > gpu_memory_max:
            return None, (f"GPU memory {mib} MiB is more than the largest GPU in the cluster has "
                          f"({gpu_memory_max} MiB); ask for whole GPUs instead")
        return GpuAsk("memory", 1, 0.0, mib), None
    try:
        x = float(text)
    except ValueError:
        return None, (f"GPU {text!r} is not a number: give whole GPUs (2), a fraction between 0 and 1 (0.5) "
                      "or GPU memory (20000Mi)")
    if not math.isfinite(x):
        return None, f"GPU must be a finite number, got {text!r}"
    if x <= 0:
        return None, f"GPU {text} must be more than 0 (leave it out for a workload without GPUs)"
    if x < 1:
        return GpuAsk("fraction", 1, x), None
    if not x.is_integer():
        return None, (f"GPU {text}: a fraction must be between 0 and 1 (exclusive) and more than one GPU must "
                      "be a whole number")
    return GpuAsk("whole", int(x)), None


def validate_form(form: SubmitForm, facts: ClusterFacts) -> tuple[Values | None, Placement | None, list[str]]:
    """The form's final values and placement, or every problem with it."""
    errs: list[str] = []
    kind = form.type
    if kind not in WORKLOAD_TYPES:
        errs.append(f"type {kind!r} is not one of {', '.join(WORKLOAD_TYPES)}")
        kind = "inference"
    name_err = dns_label_problem(form.name, "name")
    if name_err:
        errs.append(name_err)
    elif form.port is not None and not DNS1035_LABEL.match(form.name):
        errs.append(f"name {form.name!r} must start with a letter, because a port creates a Service of that name")

    placement = None
    project = form.project
    if not isinstance(project, str) or not project:
        errs.append("project is required (the Run:ai project, i.e. its leaf queue)")
    else:
        projects = facts.projects()
        if project in facts.departments():
            errs.append(f"project {project!r} is a department (a parent queue); workloads go to one of its projects")
        elif project not in projects:
            known = ", ".join(projects) or "none"
            errs.append(f"project {project!r} does not exist (projects: {known})")
        else:
            ns = facts.project_namespace(project)
            if not facts.namespace_exists(ns):
                errs.append(f"project {project!r} has no namespace: expected {ns!r} or a namespace labelled "
                            f"runai/queue={project}")
            placement = Placement(project, ns, facts.queue_label_key(project, ns))

    image = form.image
    if not isinstance(image, str) or not image.strip():
        errs.append("image is required (for example vllm/vllm-openai:v0.6.3)")
    elif any(ch.isspace() for ch in image):
        errs.append(f"image {image!r} contains whitespace")

    gpu, gpu_err = parse_gpu(form.gpu, facts.gpu_memory_max())
    if gpu_err:
        errs.append(gpu_err)

    replicas: int | None = None
    lo = hi = None
    low = 1 if kind == "training" else 0
    what = "parallelism (replicas)" if kind == "training" else "replicas"
    if form.replicas is not None:
        replicas, e = parse_int(form.replicas, what, low)
        if e:
            errs.append(e)
    if form.min_replicas is not None or form.max_replicas is not None:
        if kind != "inference":
            errs.append(f"min/max replicas apply to inference only, not {kind}")
        elif form.replicas is not None:
            errs.append("give either replicas or min/max replicas, not both")
        elif form.min_replicas is None or form.max_replicas is None:
            errs.append("min and max replicas go together: give both")
        else:
            lo, e1 = parse_int(form.min_replicas, "min replicas", 0)
            hi, e2 = parse_int(form.max_replicas, "max replicas", 0)
            errs += [e for e in (e1, e2) if e]
            if lo is not None and hi is not None and hi < lo:
                errs.append(f"max replicas ({hi}) must be at least min replicas ({lo})")
            if hi == 0 and lo == 0:
                errs.append("max replicas must be at least 1")
    engine, metric, threshold = None, None, None
    if form.metric is not None or form.metric_threshold is not None:
        if kind != "inference":
            errs.append(f"an autoscaling metric applies to inference only, not {kind}")
        elif lo is None and hi is None and not errs:
            errs.append("an autoscaling metric needs min and max replicas")
    if form.metric_threshold is not None:
        try:
            threshold = float(str(form.metric_threshold))
            if not math.isfinite(threshold) or threshold <= 0:
                errs.append(f"metric threshold must be a number above 0, got {form.metric_threshold!r}")
                threshold = None
        except ValueError:
            errs.append(f"metric threshold must be a number above 0, got {form.metric_threshold!r}")
    if kind == "inference" and lo is not None and hi is not None:
        engine, metric, why = autoscaler_for(form.metric, facts)
        if why:
            errs.append(why)
        if metric is not None and threshold is None and form.metric is not None:
            errs.append(f"give a metric threshold for {form.metric} (the target per replica)")
    if kind == "build" and replicas not in (None, 0, 1):
        errs.append(f"a build workload runs one replica, got {replicas}")

    port = None
    if form.port is not None:
        port, e = parse_int(form.port, "port", 1, 65535)
        if e:
            errs.append(e)

    priority = form.priority or DEFAULT_PRIORITY[kind]
    classes = facts.priority_classes()
    if not isinstance(priority, str) or priority not in classes:
        errs.append(f"priority class {priority!r} does not exist (known: {', '.join(sorted(classes))})")

    env: list[tuple[str, str]] = []
    for k, val in (form.env or {}).items():
        if not isinstance(k, str) or not ENV_NAME.match(k):
            errs.append(f"environment variable name {k!r} is not valid (letters, digits, '_', '-', '.'; "
                        "not starting with a digit)")
        else:
            env.append((k, str(val)))
    for what_list, lst in (("command", form.command), ("args", form.args)):
        if lst is not None and (not isinstance(lst, list) or not all(isinstance(x, str) for x in lst)):
            errs.append(f"{what_list} must be a list of strings")

    if placement is not None and name_err is None:
        for res, kind_name in (("deployments", "Deployment"), ("jobs", "Job"), ("services", "Service"),
                               ("ksvcs", "Knative Service"), ("hpas", "HorizontalPodAutoscaler")):
            if kind == "training" and res != "jobs" or kind != "training" and res == "jobs":
                continue
            if res == "services" and port is None:
                continue
            if facts.get(res, placement.namespace, form.name) is not None:
                errs.append(f"{kind_name} {placement.namespace}/{form.name} already exists; pick another name "
                            "or delete it first")
    if errs or gpu is None:
        return None, placement, errs
    if replicas is None:
        replicas = max(1, lo) if lo is not None and engine == "hpa" else (lo if lo is not None else 1)
    return Values(kind, form.name, image.strip(), gpu, replicas, lo, hi, port, priority,
                  form.command, form.args, tuple(env), engine, metric, threshold), placement, []


# Run:ai's metric words (`runai inference submit --metric`) → what each autoscaler calls them.
METRICS = ("concurrency", "throughput", "latency")
KNATIVE_KPA = {"concurrency": "concurrency", "throughput": "rps"}
HPA_CUSTOM = {"concurrency": "concurrency", "throughput": "rps", "latency": "latency"}


def autoscaler_for(metric: Any, facts: ClusterFacts) -> tuple[str | None, str | None, str | None]:
    """(engine, the autoscaler's metric name, why not) for Run:ai's metric word on this cluster.

    Where Knative Serving is installed the workload is a Knative Service (as Run:ai does), scaled by
    the KPA on concurrency or rps; latency there needs Knative's HPA class on a custom metric. Without
    Knative it is a Deployment with an HPA, which scales on a per-pod metric only where a custom metrics
    API (custom.metrics.k8s.io) is served."""
    if metric is not None and metric not in METRICS:
        return None, None, f"metric {metric!r} is not one of {', '.join(METRICS)}"
    if facts.knative:
        if metric is None:
            return "knative", "concurrency", None
        if metric in KNATIVE_KPA:
            return "knative", KNATIVE_KPA[metric], None
        if facts.custom_metrics:
            return "knative", HPA_CUSTOM[metric], None
        return None, None, (f"metric {metric} is not supported by the installed autoscaler: Knative's KPA scales on "
                            "concurrency or throughput, and latency needs a custom metrics API "
                            "(custom.metrics.k8s.io), which this cluster does not serve")
    if metric is None:
        return "hpa", "cpu", None
    if not facts.custom_metrics:
        return None, None, (f"metric {metric} is not supported by the installed autoscaler: without Knative Serving "
                            "an HPA scales on cpu only unless the cluster serves a custom metrics API "
                            "(custom.metrics.k8s.io)")
    return "hpa", HPA_CUSTOM[metric], None


# ---------------------------------------------------------------- manifests (YAML)
def _template_of(obj: Obj) -> Obj | None:
    if obj.get("kind") == "Pod":
        return obj
    spec = obj.get("spec")
    t = spec.get("template") if isinstance(spec, dict) else None
    return t if isinstance(t, dict) else None


def validate_objects(objs: list[Obj], facts: ClusterFacts, default_namespace: str | None = None) -> list[str]:
    """Every problem with manifests to create, each prefixed by which document it is in."""
    errs: list[str] = []
    seen: set[tuple[str, str, str]] = set()
    for i, obj in enumerate(objs):
        where = f"document {i + 1}"
        if not isinstance(obj, dict):
            errs.append(f"{where}: must be a mapping (an object with apiVersion, kind, metadata), got "
                        f"{type(obj).__name__}")
            continue
        api, kind = obj.get("apiVersion"), obj.get("kind")
        if not api or not kind:
            missing = [f for f in ("apiVersion", "kind") if not obj.get(f)]
            errs.append(f"{where}: {' and '.join(missing)} required")
            continue
        if (api, kind) not in SUBMITTABLE:
            kinds = ", ".join(f"{k} ({a})" for a, k in sorted(SUBMITTABLE, key=lambda x: x[1]))
            errs.append(f"{where}: cannot submit {kind} ({api}); submit one of {kinds}")
            continue
        md = obj.get("metadata")
        if not isinstance(md, dict):
            errs.append(f"{where}: metadata with a name is required")
            continue
        name = md.get("name")
        where = f"{kind} {name}" if isinstance(name, str) and name else where
        e = dns_label_problem(name, f"{where}: metadata.name")
        if e:
            errs.append(e)
        ns = md.get("namespace") or default_namespace
        if not ns:
            errs.append(f"{where}: metadata.namespace is required (or pick a project)")
        elif not facts.namespace_exists(ns):
            errs.append(f"{where}: namespace {ns!r} does not exist")
        elif isinstance(name, str) and name:
            res = {"Deployment": "deployments", "StatefulSet": "statefulsets", "Job": "jobs",
                   "Service": "ksvcs" if api == "serving.knative.dev/v1" else "services", "Pod": "pods",
                   "HorizontalPodAutoscaler": "hpas"}.get(kind)
            if res and facts.get(res, ns, name) is not None:
                errs.append(f"{where}: already exists in {ns}")
            if (kind, str(ns), name) in seen:
                errs.append(f"{where}: appears twice")
            seen.add((kind, str(ns), name))
        if (api, kind) in (("v1", "Service"), ("v1", "ConfigMap"), ("autoscaling/v2", "HorizontalPodAutoscaler")):
            continue
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            errs.append(f"{where}: spec is required")
            continue
        if kind in ("Deployment", "StatefulSet") and "replicas" in spec:
            _, e = parse_int(spec["replicas"], f"{where}: spec.replicas", 0)
            if e:
                errs.append(e)
        if kind == "Job":
            for f in ("parallelism", "completions"):
                if f in spec:
                    _, e = parse_int(spec[f], f"{where}: spec.{f}", 0)
                    if e:
                        errs.append(e)
        tmpl = _template_of(obj)
        if tmpl is None:
            errs.append(f"{where}: spec.template is required")
            continue
        pspec = tmpl.get("spec")
        cs = pspec.get("containers") if isinstance(pspec, dict) else None
        if not isinstance(cs, list) or not cs:
            errs.append(f"{where}: the pod template needs at least one container (spec.template.spec.containers)")
            continue
        for j, c in enumerate(cs):
            if not isinstance(c, dict) or not c.get("name") or not c.get("image"):
                errs.append(f"{where}: container {j + 1} needs a name and an image")
        try:
            req = gpu_request(tmpl)
        except ValueError as ex:
            errs.append(f"{where}: GPU request: {ex}")
        else:
            mx = facts.gpu_memory_max()
            if req.kind == "memory" and mx is not None and req.memory_mib > mx:
                errs.append(f"{where}: gpu-memory {req.memory_mib} MiB is more than the largest GPU in the cluster "
                            f"has ({mx} MiB)")
        queue = queue_of(tmpl, obj)
        if queue is not None and facts.items("queues") and queue not in facts.projects():
            errs.append(f"{where}: queue {queue!r} is not a project (known: {', '.join(facts.projects())})")
    return errs
