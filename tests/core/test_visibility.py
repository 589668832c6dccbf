"""History visibility, one table row per case: the spec's rule alone, then a room's life as one user sees it."""

from __future__ import annotations

import pytest

from qasid.core.visibility import ViewerHistory, may_see

ME = "@me:hs1"
OTHER = "@other:hs1"


@pytest.mark.parametrize(("visibility", "membership", "joins_later", "seen"), [
    ("world_readable", "leave", False, True),
    ("world_readable", "ban", False, True),
    ("shared", "join", False, True),
    ("shared", "leave", True, True),
    ("shared", "invite", True, True),
    ("shared", "leave", False, False),
    ("shared", "invite", False, False),
    ("invited", "join", False, True),
    ("invited", "invite", False, True),
    ("invited", "leave", True, False),
    ("invited", "knock", True, False),
    ("joined", "join", False, True),
    ("joined", "invite", True, False),
    ("joined", "leave", True, False),
    ("joined", "ban", False, False),
])
def test_the_rule(visibility: str, membership: str, joins_later: bool, seen: bool) -> None:
    assert may_see(visibility, membership, joins_later) is seen


# A room's life, as positions in its stream. The room is made (1-5, the history visibility at
# 5), talks (10), invites me (20), talks (25), I join (30), it talks (35), I change my name (36),
# I leave (40), it talks (45); 'rejoin' adds an invite (50) and a join (55) after that.
SETUP = [(2, "m.room.member", OTHER), (5, "m.room.history_visibility", "")]
EVENTS = {"create": (1, "m.room.create", ""), "visibility": (5, "m.room.history_visibility", ""),
          "before invite": (10, "m.room.message", None), "invite": (20, "m.room.member", ME),
          "while invited": (25, "m.room.message", None), "join": (30, "m.room.member", ME),
          "while joined": (35, "m.room.message", None), "rename": (36, "m.room.member", ME),
          "leave": (40, "m.room.member", ME), "after leaving": (45, "m.room.message", None),
          "someone's join": (2, "m.room.member", OTHER)}


def history(visibility: str, rejoin: bool = False, left: bool = True) -> ViewerHistory:
    mine = [(20, "m.room.member", "invite"), (30, "m.room.member", "join"), (36, "m.room.member", "join")]
    if left:
        mine.append((40, "m.room.member", "leave"))
    if rejoin:
        mine += [(50, "m.room.member", "invite"), (55, "m.room.member", "join")]
    return ViewerHistory.from_rows([(5, "m.room.history_visibility", visibility), *mine])


CASES = [
    # joined: only while I was in, from my join to my leave.
    ("joined", "before invite", False), ("joined", "invite", False), ("joined", "while invited", False),
    ("joined", "join", True), ("joined", "while joined", True), ("joined", "rename", True),
    ("joined", "leave", True), ("joined", "after leaving", False),
    # The room's first events precede its visibility setting: they are `shared`, like the setting itself.
    ("joined", "create", True), ("joined", "someone's join", True), ("joined", "visibility", True),
    # invited: from the invite on.
    ("invited", "before invite", False), ("invited", "invite", True), ("invited", "while invited", True),
    ("invited", "while joined", True), ("invited", "after leaving", False),
    # shared: everything before my (last) join, and while in; nothing after I left.
    ("shared", "before invite", True), ("shared", "while invited", True), ("shared", "while joined", True),
    ("shared", "leave", True), ("shared", "after leaving", False),
    # world_readable: everything.
    ("world_readable", "before invite", True), ("world_readable", "after leaving", True),
    # A value the spec does not define is read as the strictest.
    ("secret", "before invite", False), ("secret", "while joined", True),
]


@pytest.mark.parametrize(("visibility", "event", "seen"), CASES)
def test_a_room_s_life(visibility: str, event: str, seen: bool) -> None:
    position, event_type, state_key = EVENTS[event]
    assert history(visibility).event_visible(position, event_type, state_key, ME) is seen


@pytest.mark.parametrize(("visibility", "seen"), [("shared", True), ("invited", False), ("joined", False)])
def test_coming_back_under_shared_shows_the_gap(visibility: str, seen: bool) -> None:
    """Joining again later is "joining after the event": only `shared` opens what was said meanwhile."""
    assert history(visibility, rejoin=True).event_visible(45, "m.room.message", None, ME) is seen


def test_membership_is_as_at_the_event_not_as_now() -> None:
    # Still joined: what came before the join stays hidden under `joined`.
    still_in = history("joined", left=False)
    assert not still_in.event_visible(10, "m.room.message", None, ME)
    assert still_in.event_visible(45, "m.room.message", None, ME)


@pytest.mark.parametrize(("before", "after", "seen"), [
    ("joined", "shared", True), ("shared", "joined", True), ("joined", "invited", False),
])
def test_a_visibility_change_is_seen_under_the_more_permissive_value(before: str, after: str, seen: bool) -> None:
    """The change itself (at 60) counts under whichever of its old and new values shows more."""
    rows = [(5, "m.room.history_visibility", before), (60, "m.room.history_visibility", after),
            (70, "m.room.member", "join")]
    viewer = ViewerHistory.from_rows(rows)
    assert viewer.event_visible(60, "m.room.history_visibility", "", ME) is seen
    # Changing it later never reaches back: what was said under `joined` stays hidden.
    assert viewer.event_visible(10, "m.room.message", None, ME) is (before != "joined")


@pytest.mark.parametrize(("was", "became", "seen"), [
    ("invite", "leave", True),  # declining an invite: the rejection reaches the client
    ("knock", "leave", True),  # a knock refused (kicked) or withdrawn: the knocker learns of it
    ("leave", "knock", False),  # the knock itself shows no history; the knocker has stripped state
    ("join", "leave", True),
    ("join", "ban", True),
    ("leave", "ban", False),  # banned without ever joining: nothing
    ("leave", "invite", False),  # the invite itself, under `joined`
])
def test_my_own_membership_change(was: str, became: str, seen: bool) -> None:
    viewer = ViewerHistory.from_rows([(5, "m.room.history_visibility", "joined"), (20, "m.room.member", was),
                                      (30, "m.room.member", became)])
    assert viewer.event_visible(30, "m.room.member", ME, ME) is seen


def test_no_setting_means_shared() -> None:
    viewer = ViewerHistory.from_rows([(30, "m.room.member", "join")])
    assert viewer.event_visible(10, "m.room.message", None, ME)
    assert not ViewerHistory().event_visible(10, "m.room.message", None, ME)
