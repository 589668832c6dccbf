"""Every field of the filter language, malformed, on every way a filter arrives: 400, nothing stored."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.api.probe_world import V3, World, assert_error

# (where in the filter, a malformed value): each field of the spec's Filter, once at least.
EVENT_FILTER_FIELDS: list[tuple[str, Any]] = [
    ("limit", 0), ("limit", -3), ("limit", 1.5), ("limit", "10"), ("limit", True),
    ("types", "m.room.message"), ("types", [1]), ("not_types", {"a": 1}), ("not_types", [None]),
    ("senders", ["nobody"]), ("senders", "@a:x"), ("not_senders", [7]), ("not_senders", ["a:x"]),
]
ROOM_EVENT_FILTER_FIELDS: list[tuple[str, Any]] = EVENT_FILTER_FIELDS + [
    ("rooms", ["not-a-room"]), ("rooms", "!r:x"), ("not_rooms", [1]), ("contains_url", "yes"),
    ("lazy_load_members", 1), ("include_redundant_members", "true"), ("unread_thread_notifications", [])]


def _nest(path: str, field: str, value: Any) -> dict[str, Any]:
    body: dict[str, Any] = {field: value}
    for part in reversed(path.split(".")) if path else []:
        body = {part: body}
    return body


MALFORMED: list[dict[str, Any]] = (
    [_nest(section, f, v) for section in ("presence", "account_data") for f, v in EVENT_FILTER_FIELDS]
    + [_nest(section, f, v) for section in ("room.timeline", "room.state", "room.ephemeral", "room.account_data")
       for f, v in ROOM_EVENT_FILTER_FIELDS]
    + [{"room": {"rooms": ["nope"]}}, {"room": {"not_rooms": "!r:x"}}, {"room": {"include_leave": "yes"}},
       {"room": []}, {"room": {"timeline": []}}, {"presence": 1}, {"account_data": "x"},
       {"event_fields": "content.body"}, {"event_fields": [3]}, {"event_format": "raw"}, {"event_format": None}]
)


def _id(body: dict[str, Any]) -> str:
    return json.dumps(body, separators=(",", ":"))


@pytest.mark.parametrize("body", MALFORMED, ids=_id)
def test_a_malformed_filter_is_not_stored(world: World, unchanged: None, body: dict[str, Any]) -> None:
    response = world.request("POST", f"{V3}/user/{world.user_id}/filter", json=body)
    assert_error(response, 400, "M_BAD_JSON")


@pytest.mark.parametrize("body", MALFORMED, ids=_id)
def test_a_malformed_inline_filter_is_refused_by_sync(world: World, unchanged: None, body: dict[str, Any]) -> None:
    response = world.request("GET", f"{V3}/sync", params={"filter": json.dumps(body), "timeout": "0"})
    assert_error(response, 400, "M_BAD_JSON")


@pytest.mark.parametrize(("field", "value"), ROOM_EVENT_FILTER_FIELDS, ids=lambda v: json.dumps(v))
def test_a_malformed_room_event_filter_is_refused_by_messages_and_context(
    world: World, unchanged: None, field: str, value: Any,
) -> None:
    params = {"filter": json.dumps({field: value})}
    assert_error(world.request("GET", world.fill(V3 + "/rooms/{roomId}/messages"), params=params), 400,
                 "M_BAD_JSON")
    assert_error(world.request("GET", world.fill(V3 + "/rooms/{roomId}/context/{eventId}"), params=params), 400,
                 "M_BAD_JSON")


def test_a_well_formed_filter_is_stored_as_given(world: World) -> None:
    body = {"event_fields": ["type", "content.body"], "event_format": "client",
            "presence": {"not_types": ["*"]}, "account_data": {"types": ["m.direct"], "limit": 5},
            "room": {"rooms": [world.room_id], "include_leave": True,
                     "timeline": {"limit": 3, "not_senders": ["@x:y"], "contains_url": False},
                     "state": {"lazy_load_members": True, "include_redundant_members": False},
                     "ephemeral": {"types": ["m.typing"]}, "account_data": {"not_types": ["m.tag"]}},
            "org.example.extension": {"kept": True}}
    created = world.request("POST", f"{V3}/user/{world.user_id}/filter", json=body)
    assert created.status_code == 200, created.text
    filter_id = created.json()["filter_id"]
    assert world.request("GET", f"{V3}/user/{world.user_id}/filter/{filter_id}").json() == body
    assert world.request("GET", f"{V3}/sync", params={"filter": filter_id, "timeout": "0"}).status_code == 200
