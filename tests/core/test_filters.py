"""The filter language: one row per rule, no server."""

from __future__ import annotations

from typing import Any

import pytest

from qasid.core.errors import MatrixError
from qasid.core.filters import parse_event_filter, parse_filter, project

MESSAGE = {"type": "m.room.message", "sender": "@a:x", "room_id": "!r:x", "content": {"body": "hi"}}
IMAGE = {"type": "m.room.message", "sender": "@b:x", "room_id": "!s:x", "content": {"url": "mxc://x/1"}}
MEMBER = {"type": "m.room.member", "sender": "@a:x", "room_id": "!r:x", "state_key": "@a:x", "content": {}}
TYPING = {"type": "m.typing", "content": {"user_ids": []}}


@pytest.mark.parametrize(("spec", "event", "passes"), [
    ({}, MESSAGE, True),
    ({"types": ["m.room.message"]}, MESSAGE, True),
    ({"types": ["m.room.message"]}, MEMBER, False),
    ({"types": []}, MESSAGE, False),
    ({"types": ["m.room.*"]}, MEMBER, True),
    ({"types": ["m.*.message"]}, MESSAGE, True),
    ({"types": ["m.room"]}, MESSAGE, False),
    ({"types": ["m.room.?essage"]}, MESSAGE, False),
    ({"not_types": ["m.room.member"]}, MEMBER, False),
    ({"not_types": ["*"]}, MESSAGE, False),
    ({"types": ["m.room.member"], "not_types": ["m.room.member"]}, MEMBER, False),
    ({"senders": ["@a:x"]}, MESSAGE, True),
    ({"senders": ["@a:x"]}, IMAGE, False),
    ({"not_senders": ["@a:x"]}, MESSAGE, False),
    ({"senders": ["@a:x"], "not_senders": ["@a:x"]}, MESSAGE, False),
    ({"senders": ["@a:x"]}, TYPING, True),  # no sender: the condition does not apply
    ({"rooms": ["!r:x"]}, MESSAGE, True),
    ({"rooms": ["!r:x"]}, IMAGE, False),
    ({"not_rooms": ["!r:x"]}, MESSAGE, False),
    ({"rooms": ["!r:x"], "not_rooms": ["!r:x"]}, MESSAGE, False),
    ({"contains_url": True}, IMAGE, True),
    ({"contains_url": True}, MESSAGE, False),
    ({"contains_url": False}, IMAGE, False),
    ({"contains_url": False}, MESSAGE, True),
])
def test_matching(spec: dict[str, Any], event: dict[str, Any], passes: bool) -> None:
    assert parse_event_filter(spec, "f").matches(event) is passes


@pytest.mark.parametrize(("spec", "field"), [
    ({"limit": 0}, "limit"),
    ({"limit": -1}, "limit"),
    ({"limit": 1.5}, "limit"),
    ({"limit": True}, "limit"),
    ({"limit": "10"}, "limit"),
    ({"types": "m.room.message"}, "types"),
    ({"types": [1]}, "types"),
    ({"not_types": [None]}, "not_types"),
    ({"senders": ["a:x"]}, "senders"),
    ({"not_senders": "@a:x"}, "not_senders"),
    ({"rooms": ["r:x"]}, "rooms"),
    ({"not_rooms": [{}]}, "not_rooms"),
    ({"contains_url": "yes"}, "contains_url"),
    ({"lazy_load_members": 1}, "lazy_load_members"),
    ({"include_redundant_members": "true"}, "include_redundant_members"),
    ({"unread_thread_notifications": None, "types": {}}, "types"),
    ({"unread_thread_notifications": 0}, "unread_thread_notifications"),
    ({"types": ["x" * 600]}, "types"),
    ({"types": ["t"] * 1001}, "types"),
])
def test_malformed_event_filters_name_the_field(spec: dict[str, Any], field: str) -> None:
    with pytest.raises(MatrixError) as caught:
        parse_event_filter(spec, "room.timeline")
    assert (caught.value.status, caught.value.errcode) == (400, "M_BAD_JSON")
    assert f"room.timeline.{field}" in caught.value.message


@pytest.mark.parametrize("body", [
    [], "x", {"room": []}, {"room": {"timeline": 3}}, {"room": {"state": []}}, {"room": {"ephemeral": "x"}},
    {"room": {"account_data": 1}}, {"room": {"rooms": "!r:x"}}, {"room": {"not_rooms": ["r"]}},
    {"room": {"include_leave": "true"}}, {"presence": []}, {"presence": {"limit": 0}},
    {"account_data": {"types": "m.direct"}}, {"event_format": "server"}, {"event_format": 1},
    {"event_fields": "content"}, {"event_fields": [1]},
])
def test_malformed_filters_are_refused(body: Any) -> None:
    with pytest.raises(MatrixError) as caught:
        parse_filter(body)
    assert (caught.value.status, caught.value.errcode) == (400, "M_BAD_JSON")


def test_a_whole_filter_parses() -> None:
    parsed = parse_filter({
        "event_fields": ["type", "content.body", r"content.m\.relates_to"], "event_format": "federation",
        "presence": {"senders": ["@a:x"]}, "account_data": {"types": ["m.direct"]},
        "room": {"rooms": ["!r:x"], "not_rooms": ["!s:x"], "include_leave": True,
                 "timeline": {"limit": 5, "unread_thread_notifications": True},
                 "state": {"lazy_load_members": True, "include_redundant_members": True},
                 "ephemeral": {"types": ["m.typing"]}, "account_data": {"not_types": ["m.tag"]}},
        "unknown_key": "ignored",
    })
    assert parsed.event_fields == (("type",), ("content", "body"), ("content", "m.relates_to"))
    assert parsed.room.allows_room("!r:x") and not parsed.room.allows_room("!s:x")
    assert not parsed.room.allows_room("!t:x")
    assert parsed.room.include_leave and parsed.room.timeline.limit == 5
    assert parsed.room.timeline.unread_thread_notifications
    assert parsed.room.state.lazy_load_members and parsed.room.state.include_redundant_members
    assert parsed.room.ephemeral.apply([TYPING, {"type": "m.receipt"}]) == [TYPING]
    assert parsed.account_data.apply([{"type": "m.direct"}, {"type": "m.push_rules"}]) == [{"type": "m.direct"}]
    assert not parsed.presence.matches({"type": "m.presence", "sender": "@b:x"})


@pytest.mark.parametrize(("paths", "expected"), [
    ([("type",)], {"type": "m.room.message"}),
    ([("content", "body")], {"content": {"body": "hi"}}),
    ([("content", "missing")], {}),
    ([("type",), ("content", "body"), ("sender",)], {"type": "m.room.message", "content": {"body": "hi"},
                                                     "sender": "@a:x"}),
    ([("type", "deeper")], {}),
])
def test_event_fields_keep_only_the_named_paths(paths: list[tuple[str, ...]], expected: dict[str, Any]) -> None:
    assert project(MESSAGE, tuple(paths)) == expected


def test_the_federation_format_is_the_pdu() -> None:
    parsed = parse_filter({"event_format": "federation"})
    pdu = {**MESSAGE, "depth": 3, "auth_events": [], "prev_events": [], "hashes": {}, "signatures": {}}
    shaped = parsed.shape({"event_id": "$e", "type": "m.room.message", "unsigned": {"age": 1}}, pdu)
    assert shaped["depth"] == 3 and shaped["event_id"] == "$e" and shaped["unsigned"] == {"age": 1}


def test_limit_keeps_the_first_events() -> None:
    assert parse_event_filter({"limit": 1}, "f").apply([MESSAGE, IMAGE]) == [MESSAGE]
    assert parse_event_filter({}, "f").apply([MESSAGE, IMAGE], default_limit=1) == [MESSAGE]
