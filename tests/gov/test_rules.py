"""Policy inheritance only tightens: pure checks of the order table and of policy_limits."""

from __future__ import annotations

from typing import Any

import pytest

from qasid.core.errors import MatrixError
from qasid.gov.rules import (
    DEFAULTS,
    ORDER,
    effective_policy,
    is_looser,
    policy_key_table,
    policy_limits,
    room_policy_looser,
    room_policy_problem,
    stricter_room_policy,
    validate_policy,
)


@pytest.mark.parametrize(("key", "looser", "stricter"), [
    ("encryption_required", False, True),
    ("invite_scope", "anyone", "ministry"),
    ("invite_scope", "ministry", "unit"),
    ("directory_scope", "anyone", "unit"),
    ("max_devices", None, 5),
    ("max_devices", 5, 2),
    ("retention_days", None, 365),
    ("retention_days", 365, 30.5),
    ("device_inactive_days", 90, 30),
    ("password_min_length", 8, 12),
    ("password_require_digit", False, True),
    ("calls_enabled", True, False),
    ("self_deactivation", True, False),
    ("max_upload_bytes", None, 10_000_000),
    ("max_upload_bytes", 10_000_000, 1_000),
])
def test_order_of_each_key(key: str, looser: Any, stricter: Any) -> None:
    assert is_looser(key, looser, stricter) and not is_looser(key, stricter, looser)
    assert not is_looser(key, stricter, stricter)


def test_every_key_but_allow_loosening_has_an_order() -> None:
    assert set(DEFAULTS) - set(ORDER) == {"allow_loosening", "directive_designations"}
    assert [row["key"] for row in policy_key_table()] == list(DEFAULTS)


def test_a_child_value_looser_than_its_parent_is_overridden_in_effect() -> None:
    ministry = {"invite_scope": "ministry", "encryption_required": True, "retention_days": 30}
    division = {"invite_scope": "anyone", "encryption_required": False, "retention_days": 365}
    effective = effective_policy([ministry, division])
    assert (effective["invite_scope"], effective["encryption_required"], effective["retention_days"]) == \
        ("ministry", True, 30)
    section = {"invite_scope": "unit", "retention_days": 7}
    effective = effective_policy([ministry, division, section])
    assert (effective["invite_scope"], effective["retention_days"]) == ("unit", 7)


def test_limits_name_the_highest_unit_imposing_them() -> None:
    _, limits = policy_limits([{"invite_scope": "ministry"}, {"invite_scope": "ministry"}, {"invite_scope": "unit"}])
    assert limits["invite_scope"] == ("unit", 2)
    _, limits = policy_limits([{"invite_scope": "ministry"}, {}])
    assert limits["invite_scope"] == ("ministry", 0)
    assert limits["encryption_required"] == (True, 0)  # a default in force at the ministry limits too


def test_allow_loosening_lets_the_units_below_loosen_only_that_key() -> None:
    ministry = {"invite_scope": "ministry", "retention_days": 30, "allow_loosening": ["invite_scope"]}
    _effective, limits = policy_limits([ministry])
    assert "invite_scope" not in limits and limits["retention_days"] == (30, 0)
    below = effective_policy([ministry, {"invite_scope": "anyone", "retention_days": 90}])
    assert (below["invite_scope"], below["retention_days"]) == ("anyone", 30)
    assert below["allow_loosening"] == []  # not inherited
    # A higher limit still holds when a unit in between allows loosening.
    national = {"encryption_required": True}
    division = {"allow_loosening": ["encryption_required"]}
    assert effective_policy([national, division, {"encryption_required": False}])["encryption_required"] is True


@pytest.mark.parametrize("value", [["nope"], "invite_scope", ["invite_scope", "invite_scope"], [1]])
def test_allow_loosening_must_list_distinct_ordered_keys(value: Any) -> None:
    with pytest.raises(MatrixError) as caught:
        validate_policy({"allow_loosening": value})
    assert caught.value.errcode == "M_INVALID_PARAM"


MARKER_OFF = {"encryption_required": False, "retention_seconds": None}


@pytest.mark.parametrize(("content", "than", "looser"), [
    (MARKER_OFF, MARKER_OFF, False),
    (MARKER_OFF, {"encryption_required": True, "retention_seconds": None}, True),
    ({"encryption_required": True, "retention_seconds": None}, {"encryption_required": True, "retention_seconds": 60},
     True),
    ({"encryption_required": True, "retention_seconds": 120}, {"encryption_required": True, "retention_seconds": 60},
     True),
    ({"encryption_required": True, "retention_seconds": 30}, {"encryption_required": False, "retention_seconds": 60},
     False),
])
def test_room_policy_marker_order(content: dict[str, Any], than: dict[str, Any], looser: bool) -> None:
    assert room_policy_looser(content, than) is looser


def test_stricter_room_policy_takes_the_stricter_of_each_field() -> None:
    assert stricter_room_policy({"encryption_required": True, "retention_seconds": None},
                                {"encryption_required": False, "retention_seconds": 60}) == {
        "encryption_required": True, "retention_seconds": 60}
    assert stricter_room_policy(MARKER_OFF, MARKER_OFF) == MARKER_OFF


@pytest.mark.parametrize("content", [
    {}, {"encryption_required": True}, {"encryption_required": 1, "retention_seconds": None},
    {"encryption_required": True, "retention_seconds": 0}, {"encryption_required": True, "retention_seconds": True},
    {"encryption_required": True, "retention_seconds": None, "extra": 1},
])
def test_malformed_room_policy_markers(content: dict[str, Any]) -> None:
    assert room_policy_problem(content) is not None
