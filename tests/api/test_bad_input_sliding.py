"""Bad input on sliding sync (MSC4186): every field of the body and the query, refused with a clear error.

The authentication, not-JSON and bad-JSON sweeps of test_bad_input.py cover the route already
(they enumerate the route table); these rows differ from a valid request in one field each.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.probe_world import World, assert_error, assert_no_unhandled_errors

SLIDING = "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync"
LIST: dict[str, Any] = {"ranges": [[0, 9]], "timeline_limit": 1, "required_state": [["m.room.name", ""]]}
SUBSCRIPTION: dict[str, Any] = {"timeline_limit": 1, "required_state": []}


def with_list(**change: Any) -> dict[str, Any]:
    return {"lists": {"all": {**LIST, **change}}}


def with_filters(**filters: Any) -> dict[str, Any]:
    return with_list(filters=filters)


def with_extension(name: str, config: Any) -> dict[str, Any]:
    return {"extensions": {name: config}}


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize(
    ("body", "errcode"),
    [
        ({"conn_id": 5}, "M_INVALID_PARAM"),
        ({"conn_id": "c" * 65}, "M_INVALID_PARAM"),
        ({"txn_id": ["t"]}, "M_INVALID_PARAM"),
        ({"lists": []}, "M_BAD_JSON"),
        ({"lists": {str(n): LIST for n in range(101)}}, "M_INVALID_PARAM"),
        ({"lists": {"l" * 65: LIST}}, "M_INVALID_PARAM"),
        ({"lists": {"all": "everything"}}, "M_BAD_JSON"),
        (with_list(ranges=[[0]]), "M_INVALID_PARAM"),
        (with_list(ranges=[[5, 1]]), "M_INVALID_PARAM"),
        (with_list(ranges=[[-1, 3]]), "M_INVALID_PARAM"),
        (with_list(ranges=[[0, 2**40]]), "M_INVALID_PARAM"),
        (with_list(ranges=[[0, 1.5]]), "M_INVALID_PARAM"),
        (with_list(ranges=[[0, True]]), "M_INVALID_PARAM"),
        (with_list(ranges=[[n, n] for n in range(11)]), "M_INVALID_PARAM"),
        (with_list(ranges="0-9"), "M_INVALID_PARAM"),
        (with_list(slow_get_all_rooms="yes"), "M_INVALID_PARAM"),
        (with_list(timeline_limit=-1), "M_INVALID_PARAM"),
        (with_list(timeline_limit=1001), "M_INVALID_PARAM"),
        (with_list(timeline_limit="1"), "M_INVALID_PARAM"),
        (with_list(timeline_limit=None), "M_INVALID_PARAM"),
        ({"lists": {"all": {"ranges": [[0, 9]], "timeline_limit": 1}}}, "M_MISSING_PARAM"),
        (with_list(required_state="*"), "M_INVALID_PARAM"),
        (with_list(required_state=[["m.room.name"]]), "M_INVALID_PARAM"),
        (with_list(required_state=[["m.room.name", 5]]), "M_INVALID_PARAM"),
        (with_list(required_state=[["t" * 256, ""]]), "M_INVALID_PARAM"),
        (with_list(required_state=[["t", str(n)] for n in range(101)]), "M_INVALID_PARAM"),
        (with_list(filters=[]), "M_BAD_JSON"),
        (with_filters(is_dm="yes"), "M_INVALID_PARAM"),
        (with_filters(is_encrypted=1), "M_INVALID_PARAM"),
        (with_filters(is_invite=None, is_dm=0), "M_INVALID_PARAM"),
        (with_filters(spaces="!a:qasid.test"), "M_INVALID_PARAM"),
        (with_filters(spaces=[5]), "M_INVALID_PARAM"),
        (with_filters(spaces=["!a:b"] * 101), "M_INVALID_PARAM"),
        (with_filters(room_types=[5]), "M_INVALID_PARAM"),
        (with_filters(not_room_types="m.space"), "M_INVALID_PARAM"),
        (with_filters(tags=[None]), "M_INVALID_PARAM"),
        (with_filters(not_tags=[{}]), "M_INVALID_PARAM"),
        (with_filters(room_name_like=5), "M_INVALID_PARAM"),
        (with_filters(room_name_like="x" * 256), "M_INVALID_PARAM"),
        ({"room_subscriptions": []}, "M_BAD_JSON"),
        ({"room_subscriptions": {"not-a-room": SUBSCRIPTION}}, "M_INVALID_PARAM"),
        ({"room_subscriptions": {"!r:qasid.test": {"timeline_limit": 1}}}, "M_MISSING_PARAM"),
        ({"room_subscriptions": {"!r:qasid.test": {**SUBSCRIPTION, "timeline_limit": 5000}}}, "M_INVALID_PARAM"),
        ({"room_subscriptions": {f"!r{n}:qasid.test": SUBSCRIPTION for n in range(101)}}, "M_INVALID_PARAM"),
        ({"unsubscribe_rooms": "!r:qasid.test"}, "M_INVALID_PARAM"),
        ({"extensions": []}, "M_BAD_JSON"),
        (with_extension("to_device", []), "M_BAD_JSON"),
        (with_extension("to_device", {"enabled": "true"}), "M_INVALID_PARAM"),
        (with_extension("to_device", {"enabled": True, "since": 5}), "M_INVALID_PARAM"),
        (with_extension("to_device", {"enabled": True, "since": "abc"}), "M_INVALID_PARAM"),
        (with_extension("to_device", {"enabled": True, "since": "9" * 20}), "M_INVALID_PARAM"),
        (with_extension("to_device", {"enabled": True, "limit": 0}), "M_INVALID_PARAM"),
        (with_extension("to_device", {"enabled": True, "limit": 100_000}), "M_INVALID_PARAM"),
        (with_extension("account_data", {"enabled": True, "lists": "all"}), "M_INVALID_PARAM"),
        (with_extension("receipts", {"enabled": True, "rooms": [5]}), "M_INVALID_PARAM"),
        (with_extension("typing", {"enabled": 1}), "M_INVALID_PARAM"),
    ],
    ids=lambda value: None,
)
def test_malformed_sliding_sync_bodies(world: World, body: dict[str, Any], errcode: str) -> None:
    response = world.request("POST", SLIDING, json=body)
    assert_error(response, 400, errcode)


@pytest.mark.parametrize(
    ("params", "status", "errcode"),
    [
        ({"timeout": "soon"}, 400, "M_INVALID_PARAM"),
        ({"set_presence": "away"}, 400, "M_INVALID_PARAM"),
        ({"pos": "garbage"}, 400, "M_UNKNOWN_POS"),
        ({"pos": "x" * 100}, 400, "M_UNKNOWN_POS"),
        ({"pos": "abcdef12.99999999999999999999"}, 400, "M_UNKNOWN_POS"),
    ],
)
def test_malformed_sliding_sync_query(world: World, params: dict[str, str], status: int, errcode: str) -> None:
    response = world.request("POST", SLIDING, params=params, json={})
    assert_error(response, status, errcode)


def test_unknown_extensions_are_ignored_and_an_empty_body_is_a_connection(world: World) -> None:
    response = world.request("POST", SLIDING, json={"extensions": {"org.example.future": {"enabled": True}}})
    assert response.status_code == 200 and response.json()["extensions"] == {}
    assert world.request("POST", SLIDING).status_code == 200


def test_server_log_has_no_unhandled_errors(world: World) -> None:
    assert_no_unhandled_errors(world)
