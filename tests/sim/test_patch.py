"""Merge patch, strategic merge patch and JSON patch, as the apiserver applies them."""

from __future__ import annotations

import copy

import pytest

from console.sim.errors import ApiError
from console.sim.patch import apply, json_patch, merge_patch, strategic_merge_patch

POD = {
    "metadata": {"name": "p", "labels": {"a": "1", "b": "2"}, "finalizers": ["x"]},
    "spec": {
        "containers": [
            {"name": "main", "image": "img:1", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
             "ports": [{"containerPort": 80, "protocol": "TCP"}]},
            {"name": "side", "image": "side:1"},
        ],
        "tolerations": [{"key": "t1"}],
    },
}


def test_merge_patch_merges_maps_deletes_nulls_and_replaces_lists() -> None:
    out = merge_patch(POD, {"metadata": {"labels": {"a": None, "c": "3"}},
                            "spec": {"containers": [{"name": "only"}]}})
    assert out["metadata"]["labels"] == {"b": "2", "c": "3"}
    assert out["spec"]["containers"] == [{"name": "only"}]
    assert POD["metadata"]["labels"] == {"a": "1", "b": "2"}  # input untouched


def test_strategic_merge_merges_containers_and_env_by_name() -> None:
    patch = {"spec": {"containers": [{"name": "main", "image": "img:2",
                                      "env": [{"name": "B", "value": "3"}, {"name": "C", "value": "4"}]}]}}
    out = strategic_merge_patch(POD, patch)
    main, side = out["spec"]["containers"]
    assert main["image"] == "img:2" and side == {"name": "side", "image": "side:1"}
    assert main["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "3"}, {"name": "C", "value": "4"}]
    assert main["ports"] == [{"containerPort": 80, "protocol": "TCP"}]


def test_strategic_merge_delete_directive_and_atomic_lists() -> None:
    out = strategic_merge_patch(POD, {"spec": {"containers": [{"name": "side", "$patch": "delete"}],
                                               "tolerations": [{"key": "t2"}]}})
    assert [c["name"] for c in out["spec"]["containers"]] == ["main"]
    assert out["spec"]["tolerations"] == [{"key": "t2"}]  # no merge key: replaced


def test_strategic_merge_replace_directive_on_list_and_map() -> None:
    out = strategic_merge_patch(POD, {"spec": {"containers": [{"name": "new", "image": "n"}, {"$patch": "replace"}]}})
    assert out["spec"]["containers"] == [{"name": "new", "image": "n"}]
    out = strategic_merge_patch(POD, {"metadata": {"labels": {"z": "9", "$patch": "replace"}}})
    assert out["metadata"]["labels"] == {"z": "9"}


def test_strategic_merge_set_element_order_retain_keys_and_primitive_lists() -> None:
    patch = {"spec": {"$setElementOrder/containers": [{"name": "side"}, {"name": "main"}],
                      "containers": [{"name": "main", "image": "img:3"}]},
             "metadata": {"finalizers": ["y"], "$deleteFromPrimitiveList/finalizers": ["x"]}}
    out = strategic_merge_patch(POD, patch)
    assert [c["name"] for c in out["spec"]["containers"]] == ["side", "main"]
    assert out["metadata"]["finalizers"] == ["y"]
    out = strategic_merge_patch({"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}},
                                {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}})
    assert out == {"strategy": {"type": "Recreate"}}


def test_strategic_merge_service_ports_merge_by_port() -> None:
    svc = {"spec": {"ports": [{"port": 80, "targetPort": 8080}, {"port": 443}]}}
    out = strategic_merge_patch(svc, {"spec": {"ports": [{"port": 80, "targetPort": 9090}]}})
    assert out["spec"]["ports"] == [{"port": 80, "targetPort": 9090}, {"port": 443}]


def test_strategic_merge_conditions_by_type_and_owner_refs_by_uid() -> None:
    obj = {"status": {"conditions": [{"type": "Ready", "status": "False"}, {"type": "PodScheduled", "status": "True"}]},
           "metadata": {"ownerReferences": [{"uid": "u1", "name": "a"}]}}
    out = strategic_merge_patch(obj, {"status": {"conditions": [{"type": "Ready", "status": "True"}]},
                                      "metadata": {"ownerReferences": [{"uid": "u2", "name": "b"}]}})
    assert out["status"]["conditions"][0] == {"type": "Ready", "status": "True"}
    assert len(out["status"]["conditions"]) == 2
    assert [o["uid"] for o in out["metadata"]["ownerReferences"]] == ["u1", "u2"]


def test_strategic_merge_rejects_items_without_merge_key() -> None:
    with pytest.raises(ApiError) as e:
        strategic_merge_patch(POD, {"spec": {"containers": [{"image": "x"}]}})
    assert e.value.code == 400 and "merge key" in e.value.message


def test_json_patch_operations() -> None:
    doc = {"a": {"b": [1, 2]}, "c": "x"}
    out = json_patch(doc, [
        {"op": "add", "path": "/a/b/-", "value": 3},
        {"op": "add", "path": "/a/b/0", "value": 0},
        {"op": "replace", "path": "/c", "value": "y"},
        {"op": "copy", "from": "/c", "path": "/d"},
        {"op": "move", "from": "/d", "path": "/e~1f"},
        {"op": "remove", "path": "/a/b/1"},
        {"op": "test", "path": "/c", "value": "y"},
    ])
    assert out == {"a": {"b": [0, 2, 3]}, "c": "y", "e/f": "y"}
    assert doc == {"a": {"b": [1, 2]}, "c": "x"}


@pytest.mark.parametrize("ops,code", [
    ([{"op": "test", "path": "/c", "value": "nope"}], 422),
    ([{"op": "remove", "path": "/missing"}], 422),
    ([{"op": "add", "path": "/a/b/9", "value": 1}], 422),
    ([{"op": "replace", "path": "/zz", "value": 1}], 422),
    ([{"op": "frobnicate", "path": "/c"}], 400),
    ({"op": "add"}, 400),
])
def test_json_patch_errors_leave_nothing_half_applied(ops, code) -> None:
    doc = {"a": {"b": [1, 2]}, "c": "x"}
    before = copy.deepcopy(doc)
    with pytest.raises(ApiError) as e:
        json_patch(doc, [{"op": "add", "path": "/new", "value": 1}] + ops if isinstance(ops, list) else ops)
    assert e.value.code == code
    assert doc == before


def test_apply_dispatches_on_media_type() -> None:
    assert apply("application/merge-patch+json", {"a": 1}, {"b": 2}) == {"a": 1, "b": 2}
    assert apply("application/json-patch+json; charset=utf-8", {"a": 1}, [{"op": "remove", "path": "/a"}]) == {}
    with pytest.raises(ApiError) as e:
        apply("application/apply-patch+yaml", {}, {})
    assert e.value.code == 415 and "server-side apply" in e.value.message
    with pytest.raises(ApiError) as e:
        apply("application/strategic-merge-patch+json", {}, {}, custom_resource=True)
    assert e.value.code == 415
    with pytest.raises(ApiError) as e:
        apply("text/plain", {}, {})
    assert e.value.code == 415
