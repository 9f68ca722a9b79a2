"""The sandbox's PATCH flavours (skctl.sandbox.patches): RFC 6902 through jsonpatch, RFC 7386."""

from __future__ import annotations

import pytest

from skctl.sandbox.patches import PatchError, json_patch, merge_patch

DOC = {"a": {"b": 1}, "l": [1, 2], "k~/x": 0}


def test_json_patch_operations_and_escapes() -> None:
    ops = [
        {"op": "add", "path": "/l/-", "value": 3},
        {"op": "replace", "path": "/a/b", "value": 2},
        {"op": "copy", "from": "/a", "path": "/c"},
        {"op": "move", "from": "/k~0~1x", "path": "/m"},
        {"op": "remove", "path": "/l/0"},
        {"op": "test", "path": "/c/b", "value": 2},
    ]
    assert json_patch(DOC, ops) == {"a": {"b": 2}, "l": [2, 3], "c": {"b": 2}, "m": 0}
    assert DOC == {"a": {"b": 1}, "l": [1, 2], "k~/x": 0}  # the target is not changed


@pytest.mark.parametrize(
    "ops, conflict",
    [
        ([{"op": "test", "path": "/a/b", "value": 9}], True),  # a failed test is 409, as on a real server
        ([{"op": "replace", "path": "/missing", "value": 1}], False),
        ([{"op": "add", "path": "/l/9", "value": 1}], False),
        ([{"op": "remove", "path": "a"}], False),  # not a pointer
        ([{"op": "remove", "path": "/a~2"}], False),  # bad escape
        ([{"op": "bogus", "path": "/a"}], False),
        ([{"path": "/a"}], False),
        ({"op": "add"}, False),
    ],
)
def test_json_patch_errors(ops: object, conflict: bool) -> None:
    with pytest.raises(PatchError) as info:
        json_patch(DOC, ops)
    assert info.value.conflict is conflict


def test_merge_patch_null_deletes_and_lists_replace() -> None:
    assert merge_patch(DOC, {"a": {"b": None, "c": 1}, "l": [9], "k~/x": None}) == {"a": {"c": 1}, "l": [9]}
