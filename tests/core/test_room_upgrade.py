"""The power-level rules of a room upgrade, one row per case."""

from __future__ import annotations

from typing import Any

import pytest

from qasid.core.room_upgrade import raised_levels, restricted_levels, split_canonical_alias


@pytest.mark.parametrize(("levels", "expected"), [
    ({}, {"events_default": 50, "invite": 50}),
    ({"events_default": 0, "invite": 0, "users_default": 0}, {"events_default": 50, "invite": 50, "users_default": 0}),
    ({"users_default": 60}, {"users_default": 60, "events_default": 61, "invite": 61}),
    ({"events_default": 75, "invite": 10}, {"events_default": 75, "invite": 50}),
    ({"events_default": 50, "invite": 50}, None),                # already locked: nothing to send
])
def test_the_old_room_is_locked(levels: dict[str, Any], expected: dict[str, Any] | None) -> None:
    assert restricted_levels(levels) == expected


@pytest.mark.parametrize(("levels", "expected_user_level"), [
    ({"users": {"@up:s": 100}, "events": {"m.room.tombstone": 100}}, None),
    ({"users": {"@up:s": 50}, "events": {"m.room.tombstone": 50, "m.room.encryption": 100}}, 100),
    ({"users": {"@up:s": 50}, "state_default": 75, "events": {"m.room.tombstone": 50}}, 75),
    ({"users": {"@up:s": 50}, "ban": 80, "events": {"m.room.tombstone": 50}}, 80),
    ({"users_default": 50, "events": {"m.room.tombstone": 50}}, None),   # state_default and ban default to 50
])
def test_the_upgrader_is_raised_only_while_state_is_copied(
    levels: dict[str, Any], expected_user_level: int | None,
) -> None:
    raised = raised_levels(levels, "@up:s")
    if expected_user_level is None:
        assert raised is None
    else:
        assert raised is not None and raised["users"]["@up:s"] == expected_user_level
        assert {k: v for k, v in raised.items() if k != "users"} == {k: v for k, v in levels.items() if k != "users"}


def test_only_moved_aliases_go_to_the_new_room() -> None:
    content = {"alias": "#a:s", "alt_aliases": ["#b:s", "#remote:elsewhere"]}
    assert split_canonical_alias(content, {"#a:s", "#b:s"}) == (
        {"alias": "#a:s", "alt_aliases": ["#b:s"]}, {"alt_aliases": ["#remote:elsewhere"]})
    assert split_canonical_alias({"alias": "#x:elsewhere"}, set()) == ({}, {"alias": "#x:elsewhere"})
