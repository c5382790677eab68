"""Autoscaling settings as each autoscaler declares them: Knative annotations, KServe predictor fields,
HorizontalPodAutoscaler specs and Run:ai InferenceWorkload fields, read into one shape.

Pure parsing shared by the console's model and the simulated cluster's autoscalers, so both read a
setting the same way. A value that cannot be read is a problem (text naming the field and why), never
a number: the row shows the problem instead of a wrong bound.

Sources of every key:
- Knative: knative/serving pkg/apis/autoscaling/register.go (`autoscaling.knative.dev/min-scale`, with
  the older `minScale` as a lower-priority alias, likewise `max-scale`/`maxScale`, `initial-scale`/
  `initialScale`; `metric`, `target`, `class`, `window`, `target-utilization-percentage`), and
  annotation_validation.go (min/max must be integers >= 0, max 0 means unlimited, max < min is refused;
  KPA takes the metrics concurrency and rps). Classes: `kpa.autoscaling.knative.dev` and
  `hpa.autoscaling.knative.dev`; before Knative 0.16 the values were plain `kpa` / `hpa`. Defaults from
  config/core/configmaps/autoscaler.yaml: concurrency target 100, rps target 200, stable window 60s,
  panic window 10 % of it, panic threshold 200 %, scale-to-zero grace period 30s.
- KServe: kserve/kserve pkg/apis/serving/v1beta1/component.go `ComponentExtensionSpec` (minReplicas,
  maxReplicas, scaleTarget, scaleMetric in cpu|memory|concurrency|rps); the predictor's Knative Service
  gets them as Knative annotations (pkg/controller/v1alpha1/utils/utils.go `SetAutoScalingAnnotations`,
  default min 1).
- HPA: autoscaling/v2 HorizontalPodAutoscalerSpec (scaleTargetRef, minReplicas default 1, maxReplicas,
  metrics[] of type Resource / Pods / Object / External / ContainerResource with target
  averageUtilization / averageValue / value).
- Run:ai: run.ai/v2alpha1 InferenceWorkload `spec.{minScale,maxScale,metric,target}.value`
  (run-ai/docs docs/developer/cluster-api/reference/inference.md; metrics cpu-utilization, latency,
  throughput, concurrency, gpu-utilization, custom).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

KNATIVE_GROUP = "autoscaling.knative.dev"
MIN_SCALE = (f"{KNATIVE_GROUP}/min-scale", f"{KNATIVE_GROUP}/minScale")
MAX_SCALE = (f"{KNATIVE_GROUP}/max-scale", f"{KNATIVE_GROUP}/maxScale")
INITIAL_SCALE = (f"{KNATIVE_GROUP}/initial-scale", f"{KNATIVE_GROUP}/initialScale")
METRIC = (f"{KNATIVE_GROUP}/metric",)
TARGET = (f"{KNATIVE_GROUP}/target",)
CLASS = (f"{KNATIVE_GROUP}/class",)
WINDOW = (f"{KNATIVE_GROUP}/window",)
TARGET_UTILIZATION = (f"{KNATIVE_GROUP}/target-utilization-percentage",
                      f"{KNATIVE_GROUP}/targetUtilizationPercentage")
KPA_CLASSES = frozenset({"kpa.autoscaling.knative.dev", "kpa"})
HPA_CLASSES = frozenset({"hpa.autoscaling.knative.dev", "hpa"})
KPA_METRICS = ("concurrency", "rps")
DEFAULT_TARGETS = {"concurrency": 100.0, "rps": 200.0, "cpu": 80.0}
STABLE_WINDOW_S = 60.0
PANIC_WINDOW_PCT = 10.0
PANIC_THRESHOLD_PCT = 200.0
SCALE_TO_ZERO_GRACE_S = 30.0
MAX_SCALE_DOWN_RATE = 2.0

# Run:ai metric → Knative metric (KPA); the others need an HPA-class autoscaler.
RUNAI_TO_KNATIVE = {"concurrency": "concurrency", "throughput": "rps"}
RUNAI_METRICS = ("concurrency", "throughput", "latency", "cpu-utilization", "gpu-utilization", "custom")

KNATIVE, KSERVE, HPA, RUNAI = "knative", "kserve", "hpa", "runai"


@dataclass(frozen=True, slots=True)
class ScalingSpec:
    """What an autoscaler is told: bounds, metric and target; `problems` says what could not be read."""

    source: str                     # knative | kserve | hpa | runai
    min: int | None
    max: int | None                 # None: unlimited (Knative max-scale 0) or unreadable
    metric: str | None              # concurrency | rps | cpu | memory | latency | <custom name>
    target: float | None
    klass: str = ""                 # Knative class: kpa | hpa; "" for the others
    window_s: float = STABLE_WINDOW_S
    initial: int | None = None
    utilization_pct: float = 100.0
    problems: tuple[str, ...] = field(default=())


def _get(ann: dict[str, Any], keys: tuple[str, ...]) -> tuple[str, Any] | None:
    for k in keys:
        if k in ann:
            return k, ann[k]
    return None


def _int_ge0(ann: dict[str, Any], keys: tuple[str, ...], problems: list[str]) -> int | None:
    hit = _get(ann, keys)
    if hit is None:
        return None
    k, v = hit
    try:
        n = int(str(v).strip())
    except ValueError:
        problems.append(f"{k}: {v!r} is not a whole number")
        return None
    if n < 0:
        problems.append(f"{k}: {v!r} must be 0 or more")
        return None
    return n


def _float(ann: dict[str, Any], keys: tuple[str, ...], problems: list[str], low: float = 0.0) -> float | None:
    hit = _get(ann, keys)
    if hit is None:
        return None
    k, v = hit
    try:
        x = float(str(v).strip())
    except ValueError:
        problems.append(f"{k}: {v!r} is not a number")
        return None
    if not x > low:
        problems.append(f"{k}: {v!r} must be more than {low:g}")
        return None
    return x


def _duration_s(text: Any) -> float | None:
    """Go durations as Knative writes them: `60s`, `2m`, `1m30s`."""
    s = str(text).strip()
    total, num = 0.0, ""
    units = {"h": 3600.0, "m": 60.0, "s": 1.0}
    i = 0
    while i < len(s):
        ch = s[i]
        if ch.isdigit() or ch == ".":
            num += ch
        elif ch in units and num:
            if ch == "m" and s[i + 1:i + 2] == "s":
                total += float(num) / 1000.0
                i += 1
            else:
                total += float(num) * units[ch]
            num = ""
        else:
            return None
        i += 1
    return None if num or not s else total


def knative(ann: dict[str, Any] | None, source: str = KNATIVE) -> ScalingSpec:
    """A Knative revision template's autoscaling annotations (both key generations)."""
    ann = ann if isinstance(ann, dict) else {}
    problems: list[str] = []
    lo = _int_ge0(ann, MIN_SCALE, problems)
    hi = _int_ge0(ann, MAX_SCALE, problems)
    initial = _int_ge0(ann, INITIAL_SCALE, problems)
    if lo is not None and hi and hi < lo:
        problems.append(f"max-scale={hi} is less than min-scale={lo}")
    cls_hit = _get(ann, CLASS)
    cls_v = str(cls_hit[1]) if cls_hit else "kpa.autoscaling.knative.dev"
    if cls_v in KPA_CLASSES:
        klass = "kpa"
    elif cls_v in HPA_CLASSES:
        klass = "hpa"
    else:
        klass = cls_v
        if cls_v.endswith(".knative.dev"):
            problems.append(f"{CLASS[0]}: {cls_v!r} is not a Knative autoscaler class")
    metric_hit = _get(ann, METRIC)
    metric = str(metric_hit[1]) if metric_hit else ("concurrency" if klass == "kpa" else "cpu")
    if klass == "kpa" and metric not in KPA_METRICS:
        problems.append(f"{METRIC[0]}: {metric!r} is not a metric the KPA scales on (concurrency, rps)")
    target = _float(ann, TARGET, problems)
    if target is None and not any(p.startswith(TARGET[0]) for p in problems):
        target = DEFAULT_TARGETS.get(metric)
    util = _float(ann, TARGET_UTILIZATION, problems) or 100.0
    window = STABLE_WINDOW_S
    w = _get(ann, WINDOW)
    if w is not None:
        d = _duration_s(w[1])
        if d is None or not 6.0 <= d <= 3600.0:
            problems.append(f"{w[0]}: {w[1]!r} must be a duration between 6s and 1h")
        else:
            window = d
    ok_bounds = lo is not None or not any(p.startswith(MIN_SCALE) for p in problems)
    return ScalingSpec(source, lo if lo is not None else (0 if ok_bounds else None),
                       None if hi in (None, 0) else hi, metric, target, klass, window, initial, util,
                       tuple(problems))


def kserve_annotations(isvc: dict[str, Any]) -> dict[str, str]:
    """The Knative annotations KServe writes on its predictor's Knative Service (SetAutoScalingAnnotations)."""
    md = isvc.get("metadata") if isinstance(isvc.get("metadata"), dict) else {}
    pred = (isvc.get("spec") or {}).get("predictor") if isinstance(isvc.get("spec"), dict) else None
    pred = pred if isinstance(pred, dict) else {}
    out: dict[str, str] = {k: str(v) for k, v in (md.get("annotations") or {}).items()
                           if isinstance(k, str) and k.startswith(KNATIVE_GROUP)}
    out.update({k: str(v) for k, v in (pred.get("annotations") or {}).items()
                if isinstance(k, str) and k.startswith(KNATIVE_GROUP)})
    out.setdefault(CLASS[0], "kpa.autoscaling.knative.dev")
    if pred.get("scaleTarget") is not None:
        out[TARGET[0]] = str(pred["scaleTarget"])
    if pred.get("scaleMetric") is not None:
        out[METRIC[0]] = str(pred["scaleMetric"])
    out[MIN_SCALE[0]] = str(pred["minReplicas"]) if pred.get("minReplicas") is not None else "1"
    if pred.get("maxReplicas") not in (None, 0, "0"):
        out[MAX_SCALE[0]] = str(pred["maxReplicas"])
    return out


def kserve(isvc: dict[str, Any]) -> ScalingSpec:
    """An InferenceService's predictor bounds, read as KServe hands them to Knative."""
    pred = ((isvc.get("spec") or {}).get("predictor")) if isinstance(isvc.get("spec"), dict) else None
    pred = pred if isinstance(pred, dict) else {}
    problems: list[str] = []
    for f in ("minReplicas", "maxReplicas", "scaleTarget"):
        v = pred.get(f)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
            problems.append(f"spec.predictor.{f}: {v!r} must be a whole number 0 or more")
    if problems:
        return ScalingSpec(KSERVE, None, None, pred.get("scaleMetric"), None, "kpa", problems=tuple(problems))
    spec = knative(kserve_annotations(isvc), KSERVE)
    lo, hi = pred.get("minReplicas"), pred.get("maxReplicas")
    extra = []
    if isinstance(lo, int) and isinstance(hi, int) and hi and lo > hi:
        extra.append(f"spec.predictor.minReplicas ({lo}) is more than maxReplicas ({hi})")
    return _with_problems(spec, extra)


def _with_problems(spec: ScalingSpec, extra: list[str]) -> ScalingSpec:
    if not extra:
        return spec
    from dataclasses import replace
    return replace(spec, problems=spec.problems + tuple(p for p in extra if p not in spec.problems))


def hpa_metric(m: Any) -> tuple[str | None, float | None, str | None]:
    """One autoscaling/v2 MetricSpec: (metric name, target number, problem)."""
    if not isinstance(m, dict):
        return None, None, "a metric is not an object"
    t = m.get("type")
    src = m.get({"Resource": "resource", "Pods": "pods", "Object": "object", "External": "external",
                 "ContainerResource": "containerResource"}.get(str(t), ""), None)
    if not isinstance(src, dict):
        return None, None, f"metric type {t!r} has no matching source"
    name = src.get("name") if t in ("Resource", "ContainerResource") else (src.get("metric") or {}).get("name")
    target = src.get("target") if isinstance(src.get("target"), dict) else {}
    raw = next((target.get(k) for k in ("averageUtilization", "averageValue", "value") if target.get(k) is not None),
               None)
    from .quantity import parse_quantity
    try:
        value = float(parse_quantity(raw)) if raw is not None else None
    except (ValueError, ZeroDivisionError, TypeError):
        return name, None, f"metric {name}: target {raw!r} is not a quantity"
    return (str(name) if name else None), value, None


def hpa(obj: dict[str, Any]) -> ScalingSpec:
    spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
    problems: list[str] = []
    lo = spec.get("minReplicas", 1)
    hi = spec.get("maxReplicas")
    if isinstance(lo, bool) or not isinstance(lo, int) or lo < 0:
        problems.append(f"spec.minReplicas: {lo!r} must be a whole number 0 or more")
        lo = None
    if isinstance(hi, bool) or not isinstance(hi, int) or hi < 1:
        problems.append(f"spec.maxReplicas: {hi!r} must be a whole number 1 or more")
        hi = None
    if lo is not None and hi is not None and lo > hi:
        problems.append(f"spec.minReplicas ({lo}) is more than maxReplicas ({hi})")
    metrics = spec.get("metrics")
    if metrics in (None, []):
        metric, target = "cpu", 80.0  # the HPA controller's default: 80 % average CPU utilisation
    else:
        metric, target, why = hpa_metric(metrics[0] if isinstance(metrics, list) else None)
        if why:
            problems.append(why)
    return ScalingSpec(HPA, lo, hi, metric, target, problems=tuple(problems))


def runai_value(spec: dict[str, Any], key: str) -> Any:
    """Run:ai's v2alpha1 fields wrap each value: `spec.<key>.value`."""
    v = spec.get(key)
    return v.get("value") if isinstance(v, dict) else v


def runai(obj: dict[str, Any]) -> ScalingSpec:
    spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
    problems: list[str] = []

    def whole(key: str) -> int | None:
        v = runai_value(spec, key)
        if v is None:
            return None
        try:
            n = int(str(v))
        except ValueError:
            problems.append(f"spec.{key}.value: {v!r} is not a whole number")
            return None
        if n < 0:
            problems.append(f"spec.{key}.value: {v!r} must be 0 or more")
            return None
        return n
    lo, hi = whole("minScale"), whole("maxScale")
    if lo is not None and hi and lo > hi:
        problems.append(f"spec.minScale ({lo}) is more than maxScale ({hi})")
    metric = runai_value(spec, "metric")
    if metric is not None and metric not in RUNAI_METRICS:
        problems.append(f"spec.metric.value: {metric!r} is not one of {', '.join(RUNAI_METRICS)}")
    t = runai_value(spec, "target")
    target = None
    if t is not None:
        try:
            target = float(str(t))
            if target <= 0:
                problems.append(f"spec.target.value: {t!r} must be more than 0")
                target = None
        except ValueError:
            problems.append(f"spec.target.value: {t!r} is not a number")
    return ScalingSpec(RUNAI, lo if lo is not None else 1, hi or None, str(metric) if metric else "concurrency",
                       target, problems=tuple(problems))


def desired_from_metric(observed: float, target: float, utilization_pct: float = 100.0) -> int:
    """Knative's stable/panic recommendation: ceil(observed / (target × utilisation))."""
    import math
    eff = target * utilization_pct / 100.0
    if eff <= 0:
        return 0
    return int(math.ceil(round(observed / eff, 9)))


def hpa_proposal(current_replicas: int, current_value: float, target: float, tolerance: float = 0.1,
                 ready: int | None = None) -> int:
    """The v2 HPA algorithm: ceil(replicas × currentMetric / desiredMetric), unchanged within the tolerance.

    The ratio applies to the pods that reported (`ready`, default all current replicas)."""
    import math
    if target <= 0 or current_replicas <= 0:
        return current_replicas
    ratio = current_value / target
    if abs(ratio - 1.0) <= tolerance:
        return current_replicas
    return int(math.ceil(round(ratio * (current_replicas if ready is None else ready), 9)))


def clamp(n: int, lo: int | None, hi: int | None) -> int:
    if lo is not None:
        n = max(n, lo)
    if hi is not None:
        n = min(n, hi)
    return n
