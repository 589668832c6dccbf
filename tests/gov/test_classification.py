"""The pure rules of classification: ranks, the marking in a room's name, what a change may do."""

from __future__ import annotations

from typing import Any

import pytest

from qasid.gov.classification import (
    DEFAULT_LEVELS,
    change_problem,
    clearance_rank,
    cleared,
    level_guarding_entry,
    level_problem,
    marked_name,
    name_problem,
    room_rank,
)
from qasid.gov.rules import is_looser, validate_policy

L = DEFAULT_LEVELS


@pytest.mark.parametrize(("clearance", "level", "allowed"), [
    (None, None, True),                 # nobody's clearance matters in an unmarked room
    (None, "Unrestricted", True),
    (None, "Restricted", False),        # no clearance: the lowest
    ("Restricted", "Restricted", True),
    ("Confidential", "Secret", False),
    ("Secret", "Confidential", True),
    ("Top Secret", "Restricted", False),  # a level the setting doesn't name: the lowest clearance
    ("Secret", "Cosmic", False),          # ... and a room level above them all
])
def test_who_is_cleared_for_a_room(clearance: str | None, level: str | None, allowed: bool) -> None:
    assert cleared(clearance, level, L) is allowed


def test_ranks_of_unknown_levels_fail_closed() -> None:
    assert room_rank("Cosmic", L) == 4 and clearance_rank("Cosmic", L) == 0
    assert room_rank(None, L) == 0 and clearance_rank(None, L) == 0


@pytest.mark.parametrize(("name", "level", "expected"), [
    ("Budget", "Secret", "[SECRET] Budget"),
    ("", "Secret", "[SECRET]"),
    ("[RESTRICTED] Budget", "Secret", "[SECRET] Budget"),         # a raise replaces the old marking
    ("[SECRET] Budget", "Secret", "[SECRET] Budget"),             # already marked: unchanged
    ("  [RESTRICTED][SECRET]  Budget", "Confidential", "[CONFIDENTIAL] Budget"),
    ("Budget", "Unrestricted", "Budget"),                         # the lowest level is unmarked
])
def test_marked_name(name: str, level: str, expected: str) -> None:
    assert marked_name(name, level, L) == expected


@pytest.mark.parametrize(("content", "level", "refused"), [
    ({"name": "[SECRET] Budget"}, "Secret", False),
    ({"name": "[SECRET]"}, "Secret", False),
    ({"name": "Budget"}, "Secret", True),
    ({"name": "[SECRET]Budget"}, "Secret", True),
    ({"name": "[RESTRICTED] Budget"}, "Secret", True),
    ({}, "Secret", True),                                          # removing the name removes the marking
    ({"name": "Budget"}, "Unrestricted", False),
    ({"name": "Budget"}, None, False),
])
def test_a_name_must_keep_the_marking(content: dict[str, Any], level: str | None, refused: bool) -> None:
    assert (name_problem(content, level, L) is not None) is refused


@pytest.mark.parametrize("content", [{}, {"level": "secret"}, {"level": "Cosmic"}, {"level": 3},
                                     {"level": "Secret", "note": "x"}])
def test_malformed_levels(content: dict[str, Any]) -> None:
    assert level_problem(content, L) is not None


@pytest.mark.parametrize(("current", "new", "sender", "problem"), [
    (None, "Secret", "Secret", None),
    ("Restricted", "Secret", "Secret", None),          # raising is allowed
    ("Secret", "Secret", "Secret", None),
    ("Secret", "Restricted", "Secret", "can't be lowered"),
    ("Secret", "Unrestricted", "Secret", "can't be lowered"),
    (None, "Secret", "Confidential", "your clearance is Confidential"),   # nobody marks above themselves
    (None, "Restricted", None, "your clearance is Unrestricted"),
])
def test_what_a_change_of_level_may_do(current: str | None, new: str, sender: str | None, problem: str | None) -> None:
    found = change_problem(current, new, sender, L)
    assert (found is None) if problem is None else (found is not None and problem in found)


def test_the_minimum_classification_policy_only_tightens_down_the_tree() -> None:
    assert is_looser("min_room_classification", None, "Restricted")
    assert is_looser("min_room_classification", "Restricted", "Secret")
    assert not is_looser("min_room_classification", "Secret", "Confidential")
    assert validate_policy({"min_room_classification": "Secret"}) == {"min_room_classification": "Secret"}
    for bad in ("secret", "Cosmic", 2, True):
        with pytest.raises(Exception, match="min_room_classification must be null or one of"):
            validate_policy({"min_room_classification": bad})
    # The levels come from the setting.
    assert validate_policy({"min_room_classification": "Official"}, ("Public", "Official"))


def _room(level: str | None, join_rule: str, members: dict[str, str]) -> dict[tuple[str, str], dict[str, Any]]:
    state: dict[tuple[str, str], dict[str, Any]] = {("m.room.join_rules", ""): {"content": {"join_rule": join_rule}}}
    if level is not None:
        state[("io.qasid.classification", "")] = {"content": {"level": level}}
    for user, membership in members.items():
        state[("m.room.member", user)] = {"content": {"membership": membership}}
    return state


A, B = "@a:x", "@b:x"


@pytest.mark.parametrize(("level", "join_rule", "members", "sender", "membership", "target", "guarded"), [
    # Entering a marked room is guarded on every path.
    ("Secret", "invite", {A: "join"}, A, "invite", B, True),
    ("Secret", "public", {A: "join"}, B, "join", B, True),
    ("Secret", "restricted", {A: "join"}, B, "join", B, True),
    ("Secret", "invite", {A: "join", B: "invite"}, B, "join", B, True),     # accepting an invitation
    ("Secret", "knock", {A: "join"}, B, "knock", B, True),
    ("Secret", "knock_restricted", {A: "join"}, B, "knock", B, True),
    # Not an entry, or an unmarked room: nothing to check.
    (None, "public", {}, B, "join", B, False),
    ("Unrestricted", "public", {}, B, "join", B, False),
    ("Secret", "invite", {A: "join", B: "join"}, B, "join", B, False),      # a profile change
    ("Secret", "invite", {A: "join", B: "join"}, A, "leave", B, False),
    # The room's own rules refuse these: they answer, without the level.
    ("Secret", "invite", {A: "join"}, B, "join", B, False),                 # not invited
    ("Secret", "invite", {A: "invite"}, A, "invite", B, False),             # inviter not joined
    ("Secret", "public", {A: "join", B: "ban"}, B, "join", B, False),       # banned
    ("Secret", "public", {A: "join"}, B, "knock", B, False),                # knocking where knocks aren't allowed
])
def test_which_membership_changes_the_level_guards(
    level: str | None, join_rule: str, members: dict[str, str], sender: str, membership: str, target: str,
    guarded: bool,
) -> None:
    found = level_guarding_entry(sender, _room(level, join_rule, members), {"membership": membership}, target, L)
    assert found == (level if guarded else None)
