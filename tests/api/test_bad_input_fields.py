"""Bad input endpoint by endpoint, against the real server over HTTP: wrong types, missing fields and
bad parameters, each refused with the right code, nothing stored.

The sweeps over every route (authentication, bodies that are not JSON) are in test_bad_input.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.probe_world import V3, World, assert_error, assert_no_unhandled_errors

# --- wrong types and missing fields ----------------------------------------------------------

NOTIFY = "/_matrix/push/v1/notify"
PUSHER_KEY: dict[str, Any] = {"kind": "http", "app_id": "org.example.app", "pushkey": "key"}
# Well-formed, so that each row below differs from a valid pusher in one field only.
PUSHER: dict[str, Any] = {**PUSHER_KEY, "app_display_name": "App", "device_display_name": "Phone", "lang": "en",
                          "data": {"url": "https://push.example" + NOTIFY}}


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize(
    ("method", "template", "body", "errcode"),
    [
        ("POST", "/rooms/{roomId}/invite", {}, "M_MISSING_PARAM"),
        ("POST", "/rooms/{roomId}/invite", {"user_id": 5}, "M_BAD_JSON"),
        ("POST", "/rooms/{roomId}/invite", {"user_id": ["@a:qasid.test"]}, "M_BAD_JSON"),
        ("POST", "/rooms/{roomId}/invite", {"user_id": "@a:qasid.test", "reason": 1}, "M_BAD_JSON"),
        ("POST", "/rooms/{roomId}/kick", {}, "M_MISSING_PARAM"),
        ("POST", "/rooms/{roomId}/kick", {"user_id": True}, "M_BAD_JSON"),
        ("POST", "/rooms/{roomId}/ban", {}, "M_MISSING_PARAM"),
        ("POST", "/rooms/{roomId}/ban", {"user_id": None}, "M_BAD_JSON"),
        ("POST", "/rooms/{roomId}/unban", {"user_id": {}}, "M_BAD_JSON"),
        ("POST", "/rooms/{roomId}/leave", {"reason": 7}, "M_BAD_JSON"),
        ("PUT", "/rooms/{roomId}/redact/{eventId}/{txnId}", {"reason": ["no"]}, "M_BAD_JSON"),
        ("POST", "/createRoom", {"name": 5}, "M_BAD_JSON"),
        ("POST", "/createRoom", {"topic": {"text": "x"}}, "M_BAD_JSON"),
        ("POST", "/createRoom", {"invite": "@a:qasid.test"}, "M_BAD_JSON"),
        ("POST", "/createRoom", {"invite": [5]}, "M_BAD_JSON"),
        ("POST", "/createRoom", {"preset": 1}, "M_BAD_JSON"),
        ("POST", "/createRoom", {"initial_state": {}}, "M_BAD_JSON"),
        ("POST", "/createRoom", {"initial_state": [5]}, "M_BAD_JSON"),
        ("POST", "/createRoom", {"initial_state": [{"content": {}}]}, "M_BAD_JSON"),
        ("POST", "/createRoom", {"creation_content": []}, "M_BAD_JSON"),
        ("POST", "/createRoom", {"power_level_content_override": "high"}, "M_BAD_JSON"),
        ("POST", "/createRoom", {"is_direct": "yes"}, "M_BAD_JSON"),
        ("POST", "/rooms/{roomId}/upgrade", {}, "M_MISSING_PARAM"),
        ("POST", "/rooms/{roomId}/upgrade", {"new_version": 11}, "M_BAD_JSON"),
        ("POST", "/rooms/{roomId}/upgrade", {"new_version": ["11"]}, "M_BAD_JSON"),
        ("POST", "/rooms/{roomId}/upgrade", {"new_version": "12"}, "M_UNSUPPORTED_ROOM_VERSION"),
        ("POST", "/rooms/{roomId}/upgrade", {"new_version": ""}, "M_UNSUPPORTED_ROOM_VERSION"),
        ("POST", "/login", {}, "M_MISSING_PARAM"),
        ("POST", "/login", {"type": 5}, "M_BAD_JSON"),
        ("POST", "/login", {"type": "m.login.password", "identifier": {"type": "m.id.user", "user": "prober"}},
         "M_MISSING_PARAM"),
        ("POST", "/login", {"type": "m.login.password", "identifier": {"type": "m.id.user", "user": "prober"},
                            "password": 1234}, "M_BAD_JSON"),
        ("POST", "/account/password", {"new_password": 5}, "M_BAD_JSON"),
        ("POST", "/pushers/set", {}, "M_MISSING_PARAM"),
        ("POST", "/pushers/set", {"app_id": "a", "pushkey": "k"}, "M_MISSING_PARAM"),
        ("POST", "/pushers/set", {"kind": 5, "app_id": "a", "pushkey": "k"}, "M_BAD_JSON"),
        ("POST", "/pushers/set", {**PUSHER_KEY, "app_id": 1}, "M_BAD_JSON"),
        ("POST", "/pushers/set", {**PUSHER_KEY, "pushkey": ["k"]}, "M_BAD_JSON"),
        ("POST", "/pushers/set", {**PUSHER_KEY, "app_id": "a" * 65}, "M_INVALID_PARAM"),
        ("POST", "/pushers/set", {**PUSHER_KEY, "pushkey": "k" * 513}, "M_INVALID_PARAM"),
        ("POST", "/pushers/set", {**PUSHER_KEY, "app_id": ""}, "M_INVALID_PARAM"),
        ("POST", "/pushers/set", {**PUSHER_KEY, "kind": "email"}, "M_INVALID_PARAM"),
        ("POST", "/pushers/set", {**PUSHER, "append": "yes"}, "M_BAD_JSON"),
        ("POST", "/pushers/set", PUSHER_KEY, "M_MISSING_PARAM"),
        ("POST", "/pushers/set", {**PUSHER, "data": None}, "M_MISSING_PARAM"),
        ("POST", "/pushers/set", {**PUSHER, "data": "x"}, "M_BAD_JSON"),
        ("POST", "/pushers/set", {**PUSHER, "data": {}}, "M_MISSING_PARAM"),
        ("POST", "/pushers/set", {**PUSHER, "data": {"url": 5}}, "M_BAD_JSON"),
        ("POST", "/pushers/set", {**PUSHER, "data": {"url": "ftp://push.example" + NOTIFY}}, "M_INVALID_PARAM"),
        ("POST", "/pushers/set", {**PUSHER, "data": {"url": "https://u:p@push.example" + NOTIFY}},
         "M_INVALID_PARAM"),
        ("POST", "/pushers/set", {**PUSHER, "data": {"url": "https://push.example/notify"}}, "M_INVALID_PARAM"),
        ("POST", "/pushers/set", {**PUSHER, "data": {**PUSHER["data"], "format": 1}}, "M_BAD_JSON"),
        ("POST", "/pushers/set", {**PUSHER, "data": {**PUSHER["data"], "pad": "x" * 5000}}, "M_INVALID_PARAM"),
        ("POST", "/pushers/set", {**PUSHER, "lang": 5}, "M_BAD_JSON"),
        ("POST", "/pushers/set", {**PUSHER, "profile_tag": "t" * 300}, "M_INVALID_PARAM"),
        ("POST", "/user/{userId}/openid/request_token", [], "M_BAD_JSON"),
        ("POST", "/knock/{roomIdOrAlias}", {"reason": 5}, "M_BAD_JSON"),
        ("POST", "/knock/{roomIdOrAlias}", {"reason": ["why"]}, "M_BAD_JSON"),
        ("POST", "/knock/not-a-room", {}, "M_INVALID_PARAM"),
        ("POST", "/rooms/{roomId}/report/{eventId}", {"reason": 5}, "M_BAD_JSON"),
        ("POST", "/rooms/{roomId}/report/{eventId}", {"score": "low"}, "M_BAD_JSON"),
        ("POST", "/rooms/{roomId}/report/{eventId}", {"score": 1}, "M_INVALID_PARAM"),
        ("POST", "/rooms/{roomId}/report/{eventId}", {"reason": "x" * 1001}, "M_INVALID_PARAM"),
        ("POST", "/rooms/{roomId}/report", {}, "M_MISSING_PARAM"),
        ("POST", "/rooms/{roomId}/report", {"reason": ["x"]}, "M_BAD_JSON"),
        ("POST", "/users/{userId}/report", {}, "M_MISSING_PARAM"),
        ("POST", "/users/{userId}/report", {"reason": None}, "M_MISSING_PARAM"),
        ("POST", "/users/{userId}/report", {"reason": "myself"}, "M_INVALID_PARAM"),
        ("POST", "/users/not-a-user-id/report", {"reason": ""}, "M_INVALID_PARAM"),
        ("POST", "/account/deactivate", {"erase": "yes"}, "M_BAD_JSON"),
        ("POST", "/account/deactivate", {"auth": "password"}, "M_BAD_JSON"),
        ("POST", "/search", {}, "M_MISSING_PARAM"),
        ("POST", "/search", {"search_categories": {"room_events": {"search_term": 1}}}, "M_BAD_JSON"),
        ("POST", "/search", {"search_categories": {"room_events": {"search_term": "x", "keys": [1]}}},
         "M_BAD_JSON"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_wrong_types_and_missing_fields(
    world: World, method: str, template: str, body: dict[str, Any], errcode: str,
) -> None:
    response = world.request(method, world.fill(V3 + template), json=body)
    assert_error(response, 400, errcode)


SPACES = "/_matrix/client/v1"


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize(
    ("method", "path", "params", "status", "errcode"),
    [
        ("GET", SPACES + "/rooms/{roomId}/hierarchy", {"limit": "0"}, 400, "M_INVALID_PARAM"),
        ("GET", SPACES + "/rooms/{roomId}/hierarchy", {"limit": "1e3"}, 400, "M_INVALID_PARAM"),
        ("GET", SPACES + "/rooms/{roomId}/hierarchy", {"limit": "9" * 30}, 400, "M_INVALID_PARAM"),
        ("GET", SPACES + "/rooms/{roomId}/hierarchy", {"max_depth": "-1"}, 400, "M_INVALID_PARAM"),
        ("GET", SPACES + "/rooms/{roomId}/hierarchy", {"suggested_only": "1"}, 400, "M_INVALID_PARAM"),
        ("GET", SPACES + "/rooms/{roomId}/hierarchy", {"from": "x" * 5000}, 400, "M_INVALID_PARAM"),
        ("GET", SPACES + "/rooms/not-a-room/hierarchy", {}, 400, "M_INVALID_PARAM"),
        ("GET", SPACES + "/rooms/!nowhere:qasid.test/hierarchy", {}, 403, "M_FORBIDDEN"),
        ("GET", SPACES + "/room_summary/!nowhere:qasid.test", {}, 404, "M_NOT_FOUND"),
        ("GET", SPACES + "/room_summary/%23nowhere:qasid.test", {}, 404, "M_NOT_FOUND"),
        ("GET", SPACES + "/room_summary/not-a-room", {}, 400, "M_INVALID_PARAM"),
        ("GET", "/_matrix/client/unstable/im.nheko.summary/summary/!nowhere:qasid.test", {}, 404, "M_NOT_FOUND"),
        ("POST", V3 + "/knock/!nowhere:qasid.test", {}, 404, "M_NOT_FOUND"),
        ("POST", V3 + "/knock/%23nowhere:qasid.test", {}, 404, "M_NOT_FOUND"),
        ("POST", V3 + "/knock/{roomIdOrAlias}", {}, 403, "M_FORBIDDEN"),  # already joined, and no knock rule
        ("GET", SPACES + "/mutual_rooms", {}, 400, "M_MISSING_PARAM"),
        ("GET", SPACES + "/mutual_rooms", {"user_id": "probe"}, 400, "M_INVALID_PARAM"),
        ("GET", SPACES + "/mutual_rooms", {"user_id": "{userId}"}, 400, "M_INVALID_PARAM"),
        ("GET", SPACES + "/mutual_rooms", {"user_id": "@a:qasid.test", "from": "x"}, 400, "M_INVALID_PARAM"),
        # Server administration: an ordinary user is refused before the account or the body is looked at.
        *[(method, SPACES + f"/admin/{kind}/{target}", {}, 403, "M_FORBIDDEN")
          for method in ("GET", "PUT") for kind in ("lock", "suspend")
          for target in ("{userId}", "@nobody:qasid.test", "not-a-user")],
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_spaces_and_knock_input(
    world: World, method: str, path: str, params: dict[str, str], status: int, errcode: str,
) -> None:
    params = {name: world.fill(value) for name, value in params.items()}
    response = world.request(method, world.fill(path), params=params, json={} if method in ("POST", "PUT") else None)
    assert_error(response, status, errcode)


# --- calls: delayed events and OpenID, which answer without an access token ---------------------

DELAYED = "/_matrix/client/unstable/org.matrix.msc4140/delayed_events"


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize(
    ("method", "path", "params", "body", "status", "errcode"),
    [
        ("PUT", V3 + "/rooms/{roomId}/send/m.room.message/{txnId}", {"org.matrix.msc4140.delay": "0"},
         {"body": "x"}, 400, "M_INVALID_PARAM"),
        ("PUT", V3 + "/rooms/{roomId}/send/m.room.message/{txnId}", {"org.matrix.msc4140.delay": "1e3"},
         {"body": "x"}, 400, "M_INVALID_PARAM"),
        ("PUT", V3 + "/rooms/{roomId}/send/m.room.message/{txnId}", {"org.matrix.msc4140.delay": "9" * 20},
         {"body": "x"}, 400, "M_INVALID_PARAM"),
        ("PUT", V3 + "/rooms/{roomId}/send/m.room.message/{txnId}", {"org.matrix.msc4140.delay": "999999999999"},
         {"body": "x"}, 400, "M_MAX_DELAY_EXCEEDED"),
        ("PUT", V3 + "/rooms/{roomId}/state/{eventType}/{stateKey}", {"org.matrix.msc4140.delay": "-1"},
         {}, 400, "M_INVALID_PARAM"),
        ("PUT", V3 + "/rooms/!nowhere:qasid.test/state/{eventType}/{stateKey}", {"org.matrix.msc4140.delay": "5"},
         {}, 403, "M_FORBIDDEN"),
        ("PUT", V3 + "/rooms/{roomId}/send/m.room.message/{txnId}", {"org.matrix.msc4140.delay": "5000"},
         {"value": 1.5}, 400, "M_BAD_JSON"),
        ("POST", V3 + "/user/@someone:qasid.test/openid/request_token", {}, {}, 403, "M_FORBIDDEN"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_delayed_and_openid_input(
    world: World, method: str, path: str, params: dict[str, str], body: Any, status: int, errcode: str | None,
) -> None:
    response = world.request(method, world.fill(path), params=params, json=body)
    if errcode is None:
        assert response.status_code == status, response.text
    else:
        assert_error(response, status, errcode)


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize(
    ("path", "body", "status", "errcode"),
    [
        (DELAYED + "/syd_unknown/cancel", None, 404, "M_NOT_FOUND"),
        (DELAYED + "/syd_unknown/restart", None, 404, "M_NOT_FOUND"),
        (DELAYED + "/syd_unknown/send", {}, 404, "M_NOT_FOUND"),
        (DELAYED + "/syd_unknown/explode", {}, 404, "M_UNRECOGNIZED"),
        (DELAYED + "/syd_unknown", {}, 400, "M_MISSING_PARAM"),
        (DELAYED + "/syd_unknown", {"action": 5}, 400, "M_BAD_JSON"),
        (DELAYED + "/syd_unknown", {"action": "explode"}, 400, "M_INVALID_PARAM"),
        (DELAYED + "/syd_unknown", {"action": "cancel"}, 404, "M_NOT_FOUND"),
        (DELAYED + "/syd_unknown", [], 400, "M_BAD_JSON"),
        (DELAYED + "/syd_unknown/cancel", "not json", 400, "M_NOT_JSON"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_delayed_event_management_without_a_token(
    world: World, path: str, body: Any, status: int, errcode: str,
) -> None:
    content = body.encode() if isinstance(body, str) else None
    response = world.client.post(world.url(path), json=None if content else body, content=content)
    assert_error(response, status, errcode)


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize("token", [None, "", "random", "x" * 5000])
def test_openid_userinfo_refuses_unknown_tokens(world: World, token: str | None) -> None:
    params = {} if token is None else {"access_token": token}
    response = world.client.get(world.url("/_matrix/federation/v1/openid/userinfo"), params=params)
    assert_error(response, 401, "M_UNKNOWN_TOKEN")


def test_server_log_has_no_unhandled_errors(world: World) -> None:
    assert_no_unhandled_errors(world)
