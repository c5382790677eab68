"""Queue tree and GPU fair share: deserved first, then spare capacity by over-quota weight and priority."""

from __future__ import annotations

import math

import pytest
import yaml

from console.model.kai_queues import INF, QueueSpec, QueueTree, fair_shares, queue_spec_from_obj

MANY = 1000.0


def test_weights_split_spare_capacity() -> None:
    t = QueueTree([QueueSpec("a", quota=2, limit=-1, weight=1), QueueSpec("b", quota=2, limit=-1, weight=3)])
    fs = fair_shares(t, 12, {"a": MANY, "b": MANY})
    # 4 deserved, then 8 spare GPUs split 1:3
    assert fs["a"] == pytest.approx(4) and fs["b"] == pytest.approx(8)


def test_weights_1_and_3_split_8_gpus_2_and_6() -> None:
    t = QueueTree([QueueSpec("a", quota=0, limit=-1, weight=1), QueueSpec("b", quota=0, limit=-1, weight=3)])
    fs = fair_shares(t, 8, {"a": MANY, "b": MANY})
    assert (fs["a"], fs["b"]) == (pytest.approx(2), pytest.approx(6))


def test_share_never_above_demand_and_spare_goes_to_others() -> None:
    t = QueueTree([QueueSpec("a", quota=0, limit=-1, weight=1), QueueSpec("b", quota=0, limit=-1, weight=1)])
    fs = fair_shares(t, 10, {"a": 1, "b": MANY})
    assert fs["a"] == pytest.approx(1) and fs["b"] == pytest.approx(9)


def test_limit_caps_and_the_rest_is_redistributed() -> None:
    t = QueueTree([QueueSpec("a", quota=1, limit=2, weight=5), QueueSpec("b", quota=1, limit=-1, weight=1)])
    fs = fair_shares(t, 10, {"a": MANY, "b": MANY})
    assert fs["a"] == pytest.approx(2) and fs["b"] == pytest.approx(8)


def test_limit_unset_or_zero_means_no_over_quota() -> None:
    t = QueueTree([QueueSpec("a", quota=3, limit=None), QueueSpec("b", quota=3, limit=0),
                   QueueSpec("c", quota=0, limit=-1)])
    fs = fair_shares(t, 20, {"a": MANY, "b": MANY, "c": MANY})
    assert fs["a"] == pytest.approx(3) and fs["b"] == pytest.approx(3) and fs["c"] == pytest.approx(14)
    assert QueueSpec("x", quota=-1).max_allowed == INF
    assert QueueSpec("x", quota=2, limit=-1).max_allowed == INF
    assert QueueSpec("x", quota=2, limit=5).max_allowed == 5


def test_higher_priority_queue_gets_spare_first() -> None:
    t = QueueTree([QueueSpec("hi", quota=0, limit=-1, weight=1, priority=200),
                   QueueSpec("lo", quota=0, limit=-1, weight=10, priority=100)])
    fs = fair_shares(t, 8, {"hi": 6, "lo": MANY})
    assert fs["hi"] == pytest.approx(6) and fs["lo"] == pytest.approx(2)


def test_children_divide_the_parent_share_and_deserved_is_never_cut() -> None:
    t = QueueTree([QueueSpec("dept", quota=4, limit=4), QueueSpec("other", quota=0, limit=-1),
                   QueueSpec("a", "dept", quota=4, limit=-1), QueueSpec("b", "dept", quota=4, limit=-1)])
    fs = fair_shares(t, 16, {"a": MANY, "b": MANY, "other": MANY})
    # top: dept min(4, requestable min(limit 4, 2000)) = 4, other 0; 12 left go to other (dept is at its limit)
    assert fs["dept"] == pytest.approx(4) and fs["other"] == pytest.approx(12)
    # in dept (4 GPUs): deserved is given whole, min(4, MANY) each, even past the parent's share (KAI's
    # setDeservedResource never cuts a quota); nothing is left for over-quota
    assert fs["a"] == pytest.approx(4) and fs["b"] == pytest.approx(4)


def test_deserved_is_given_whole_even_when_capacity_is_short() -> None:
    t = QueueTree([QueueSpec("a", quota=4, priority=100), QueueSpec("b", quota=4, priority=150)])
    fs = fair_shares(t, 5, {"a": MANY, "b": MANY})
    # KAI gives every queue min(quota, request) whatever the capacity: 4 + 4 = 8 > 5, nothing left over
    assert fs["b"] == pytest.approx(4) and fs["a"] == pytest.approx(4)


def test_unlimited_quota_takes_what_it_wants() -> None:
    t = QueueTree([QueueSpec("a", quota=-1, limit=-1), QueueSpec("b", quota=0, limit=-1)])
    fs = fair_shares(t, 10, {"a": 7, "b": MANY})
    assert fs["a"] == pytest.approx(7) and fs["b"] == pytest.approx(3)


def test_tree_shape() -> None:
    t = QueueTree([QueueSpec("d"), QueueSpec("a", "d"), QueueSpec("o", "missing")])
    assert t.is_leaf("a") and not t.is_leaf("d") and not t.is_leaf("nope")
    assert t.chain("a") == ["a", "d"]
    assert t.orphan("o") and not t.orphan("a")
    assert t.children["d"] == ["a"]


def test_cycle_does_not_hang() -> None:
    t = QueueTree([QueueSpec("x", "y"), QueueSpec("y", "x")])
    assert t.chain("x") == ["x", "y"]
    assert isinstance(fair_shares(t, 4, {"x": 1}), dict)


def test_read_real_queues(realworld) -> None:
    docs = list(yaml.safe_load_all((realworld / "kai/quickstart__default-queues.yaml").read_text()))
    docs += list(yaml.safe_load_all((realworld / "kai/priority__example__limited-queue.yaml").read_text()))
    specs = {q.name: q for q in (queue_spec_from_obj(d) for d in docs if d)}
    assert specs["default-queue"].parent == "default-parent-queue"
    assert specs["default-queue"].quota == 0 and specs["default-queue"].max_allowed == INF
    assert specs["test"].quota == 1 and specs["test"].max_allowed == 1 and specs["test"].parent == "default"
    assert specs["default"].deserved == INF


def test_bad_queue_fields_read_as_defaults() -> None:
    q = queue_spec_from_obj({"metadata": {"name": "q"}, "spec": {"priority": "high", "resources": {
        "gpu": {"quota": "lots", "limit": float("nan"), "overQuotaWeight": -3}}}})
    assert (q.quota, q.limit, q.weight, q.priority) == (0.0, None, 0.0, 100)
    assert not math.isnan(q.max_allowed)


def test_malformed_queue_objects_read_as_defaults() -> None:
    for obj in ({"metadata": {"name": "q"}, "spec": ["x"]}, {"metadata": {"name": "q"}, "spec": {"resources": 5}},
                {"metadata": {"name": "q"}, "spec": {"resources": {"gpu": "all"}, "parentQueue": 7}}):
        q = queue_spec_from_obj(obj)
        assert q.name == "q" and q.quota == 0.0 and q.max_allowed == 0.0
    assert queue_spec_from_obj({"metadata": {"name": "q"}, "spec": {"parentQueue": 7}}).parent == "7"
