"""Autoscaling settings read the way each autoscaler reads them (console/model/autoscaling.py)."""

from __future__ import annotations

import pytest

from console.model import autoscaling as a

KN = "autoscaling.knative.dev"


def test_knative_reads_both_key_generations_and_class_values() -> None:
    new = a.knative({f"{KN}/min-scale": "1", f"{KN}/max-scale": "4", f"{KN}/metric": "rps", f"{KN}/target": "20",
                     f"{KN}/class": "kpa.autoscaling.knative.dev"})
    old = a.knative({f"{KN}/minScale": "1", f"{KN}/maxScale": "4", f"{KN}/metric": "rps", f"{KN}/target": "20",
                     f"{KN}/class": "kpa"})
    assert (new.min, new.max, new.metric, new.target, new.klass, new.problems) == (1, 4, "rps", 20.0, "kpa", ())
    assert (old.min, old.max, old.metric, old.target, old.klass) == (new.min, new.max, new.metric, new.target,
                                                                    new.klass)
    # the new key wins when both are set (kmap.KeyPriority order in register.go)
    both = a.knative({f"{KN}/min-scale": "2", f"{KN}/minScale": "5"})
    assert both.min == 2
    hpa = a.knative({f"{KN}/class": "hpa", f"{KN}/metric": "cpu", f"{KN}/target": "70"})
    assert (hpa.klass, hpa.metric, hpa.target) == ("hpa", "cpu", 70.0)


def test_knative_defaults_are_knatives() -> None:
    s = a.knative({})
    assert (s.min, s.max, s.metric, s.target, s.klass, s.window_s) == (0, None, "concurrency", 100.0, "kpa", 60.0)
    assert a.knative({f"{KN}/metric": "rps"}).target == 200.0
    assert a.knative({f"{KN}/window": "2m"}).window_s == 120.0


@pytest.mark.parametrize("ann,words", [
    ({f"{KN}/min-scale": "-1"}, "min-scale: '-1' must be 0 or more"),
    ({f"{KN}/max-scale": "abc"}, "max-scale: 'abc' is not a whole number"),
    ({f"{KN}/min-scale": "5", f"{KN}/max-scale": "2"}, "max-scale=2 is less than min-scale=5"),
    ({f"{KN}/metric": "latency"}, "'latency' is not a metric the KPA scales on"),
    ({f"{KN}/target": "0"}, "target: '0' must be more than 0"),
    ({f"{KN}/window": "2s"}, "must be a duration between 6s and 1h"),
])
def test_bad_knative_annotations_are_problems_not_numbers(ann: dict, words: str) -> None:
    s = a.knative(ann)
    assert any(words in p for p in s.problems), s.problems


def test_bad_min_scale_is_not_read_as_zero() -> None:
    s = a.knative({f"{KN}/min-scale": "-1"})
    assert s.min is None and s.problems


def test_kserve_hands_knative_its_defaults() -> None:
    isvc = {"metadata": {"annotations": {f"{KN}/target": "1"}},
            "spec": {"predictor": {"maxReplicas": 3, "scaleMetric": "concurrency", "model": {}}}}
    s = a.kserve(isvc)
    assert (s.source, s.min, s.max, s.metric, s.target) == ("kserve", 1, 3, "concurrency", 1.0)  # min defaults to 1
    isvc["spec"]["predictor"].update(minReplicas=0, scaleTarget=5)
    assert (a.kserve(isvc).min, a.kserve(isvc).target) == (0, 5.0)
    bad = a.kserve({"spec": {"predictor": {"minReplicas": 4, "maxReplicas": 2}}})
    assert any("minReplicas (4) is more than maxReplicas (2)" in p for p in bad.problems)


def test_hpa_spec_and_its_default_metric() -> None:
    h = {"spec": {"scaleTargetRef": {"kind": "Deployment", "name": "x"}, "minReplicas": 2, "maxReplicas": 5,
                  "metrics": [{"type": "Pods", "pods": {"metric": {"name": "rps"},
                                                        "target": {"type": "AverageValue", "averageValue": "1500m"}}}]}}
    s = a.hpa(h)
    assert (s.min, s.max, s.metric, s.target, s.problems) == (2, 5, "rps", 1.5, ())
    d = a.hpa({"spec": {"maxReplicas": 3}})
    assert (d.min, d.metric, d.target) == (1, "cpu", 80.0)
    assert a.hpa({"spec": {"minReplicas": 4, "maxReplicas": 2}}).problems


def test_runai_wrapped_values() -> None:
    iw = {"spec": {"minScale": {"value": 1}, "maxScale": {"value": 2}, "metric": {"value": "concurrency"},
                   "target": {"value": 80}}}
    s = a.runai(iw)
    assert (s.source, s.min, s.max, s.metric, s.target) == ("runai", 1, 2, "concurrency", 80.0)
    bad = a.runai({"spec": {"minScale": {"value": 3}, "maxScale": {"value": 1}, "metric": {"value": "qps"}}})
    assert len(bad.problems) == 2


def test_the_two_algorithms() -> None:
    assert a.desired_from_metric(10.0, 4.0) == 3              # ceil(10 / 4)
    assert a.desired_from_metric(8.0, 4.0) == 2
    assert a.desired_from_metric(7.0, 10.0, 70.0) == 1        # target × utilisation
    assert a.hpa_proposal(4, 105.0, 100.0) == 4               # within the 0.1 tolerance: no change
    assert a.hpa_proposal(4, 150.0, 100.0) == 6               # ceil(4 × 1.5)
    assert a.hpa_proposal(4, 50.0, 100.0) == 2
    assert a.hpa_proposal(4, 150.0, 100.0, ready=2) == 3      # the ratio applies to the pods that reported
    assert a.clamp(9, 1, 4) == 4 and a.clamp(0, 1, None) == 1
