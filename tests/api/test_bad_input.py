"""Bad input on every endpoint, against the real server over HTTP: refused with the right code, nothing stored.

The authentication and not-JSON sweeps enumerate the application's own route table, so a route
added later is covered without touching this file.
"""

from __future__ import annotations

from typing import Any

import pytest

import qasid.app
from qasid.api.http import ROUTES
from tests.api.probe_world import V3, World, assert_error, assert_no_unhandled_errors, endpoint_id

qasid.app.load_routes()


# Routes that answer without an access token, and why.
UNAUTHENTICATED = {
    ("GET", "/_matrix/client/versions"): "discovery happens before login",
    ("GET", "/_matrix/client/v1/auth_metadata"): "discovery: tells clients OAuth 2.0 is not offered",
    ("GET", "/_matrix/client/unstable/org.matrix.msc2965/auth_metadata"): "as auth_metadata",
    ("GET", "/.well-known/matrix/client"): "discovery happens before login",
    ("GET", "/.well-known/matrix/support"): "MSC1929: whom to contact, read by people who can't sign in",
    ("GET", V3 + "/login"): "login flows are read before login",
    ("POST", V3 + "/login"): "it is how a token is obtained",
    ("GET", "/_matrix/client/r0/login"): "as v3",
    ("POST", "/_matrix/client/r0/login"): "as v3",
    ("POST", V3 + "/register"): "registration is gated by a registration token, not an access token",
    ("POST", "/_matrix/client/r0/register"): "as v3",
    ("GET", V3 + "/register/available"): "asked during registration",
    ("GET", "/_matrix/client/r0/register/available"): "as v3",
    ("GET", "/_matrix/client/v1/register/m.login.registration_token/validity"): "asked during registration",
    ("GET", V3 + "/password_policy"): "clients show the password rules before registration",
    ("GET", "/_matrix/client/r0/password_policy"): "as v3",
    ("GET", "/_matrix/media/v3/download/{serverName}/{mediaId}"): "always 404: media only via /client/v1",
    ("GET", "/_matrix/media/v3/download/{serverName}/{mediaId}/{fileName}"): "always 404, as above",
    ("GET", "/_matrix/media/v3/thumbnail/{serverName}/{mediaId}"): "always 404, as above",
    ("GET", "/_matrix/media/r0/download/{serverName}/{mediaId}"): "always 404, as above",
    ("GET", "/_matrix/media/r0/download/{serverName}/{mediaId}/{fileName}"): "always 404, as above",
    ("GET", "/_matrix/media/r0/thumbnail/{serverName}/{mediaId}"): "always 404, as above",
    ("GET", "/_matrix/federation/v1/openid/userinfo"): "the call service checks an OpenID token, not an access token",
    ("POST", "/_matrix/client/unstable/org.matrix.msc4140/delayed_events/{delayId}"):
        "MSC4140: the delay_id is the permission, so a call service may hold it",
    ("POST", "/_matrix/client/unstable/org.matrix.msc4140/delayed_events/{delayId}/cancel"): "as above",
    ("POST", "/_matrix/client/unstable/org.matrix.msc4140/delayed_events/{delayId}/restart"): "as above",
    ("POST", "/_matrix/client/unstable/org.matrix.msc4140/delayed_events/{delayId}/send"): "as above",
    ("GET", "/.well-known/matrix/policy_server"): "discovery; always 404 (no policy server)",
    ("POST", V3 + "/refresh"): "the spec's refresh needs no access token; always 401 (none issued)",
    ("POST", "/_matrix/client/r0/refresh"): "as v3",
    **{("POST", f"{prefix}/{kind}/{medium}/requestToken"): "e-mail and phone identifiers: always 403"
       for prefix in (V3, "/_matrix/client/r0") for kind in ("register", "account/password", "account/3pid")
       for medium in ("email", "msisdn")},
    ("GET", "/_qasid/health"): "load balancers probe without credentials; tells nothing but 'ok'",
    ("GET", "/_qasid/ready"): "as health; not proxied by the nginx site file",
}

# Authenticated POST/PUT routes whose body is not JSON, and why.
NOT_JSON_BODIES = {
    "/logout": "no request body in the spec; it must not need one",
    "/logout/all": "no request body in the spec",
    "/_matrix/media/v3/upload": "the body is the file's bytes",
    "/_matrix/media/r0/upload": "the body is the file's bytes",
    "/_matrix/media/v3/upload/{serverName}/{mediaId}": "the body is the file's bytes",
    "/_matrix/media/r0/upload/{serverName}/{mediaId}": "the body is the file's bytes",
    "/_matrix/media/v1/create": "no request body in the spec",
}


CONSOLE = "/_qasid/admin/"
ADMIN_API = "/_qasid/admin/v1/"


def is_console(path: str) -> bool:
    """The admin console's pages: a session cookie, not an access token (swept in tests/api/console)."""
    return path.startswith(CONSOLE) and not path.startswith(ADMIN_API) or path == CONSOLE


def endpoints() -> list[tuple[str, str]]:
    """(method, path template) for every route of the Matrix and admin APIs the application serves."""
    found = {(method, route.path) for route in ROUTES.routes for method in route.methods
             if method != "HEAD" and not is_console(route.path)}
    return sorted(found, key=lambda pair: (pair[1], pair[0]))


def authenticated_endpoints() -> list[tuple[str, str]]:
    return [e for e in endpoints() if e not in UNAUTHENTICATED]


def json_body_endpoints() -> list[tuple[str, str]]:
    return [
        (method, path) for method, path in authenticated_endpoints()
        if method in ("POST", "PUT") and not any(path.endswith(suffix) for suffix in NOT_JSON_BODIES)
    ]


# --- authentication, on every authenticated route -------------------------------------------


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize("endpoint", authenticated_endpoints(), ids=endpoint_id)
def test_no_token_is_missing_token(world: World, endpoint: tuple[str, str]) -> None:
    method, template = endpoint
    response = world.client.request(method, world.url(world.fill(template)), content=b"{}")
    assert_error(response, 401, "M_MISSING_TOKEN")


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize("endpoint", authenticated_endpoints(), ids=endpoint_id)
def test_unknown_token_is_unknown_token(world: World, endpoint: tuple[str, str]) -> None:
    method, template = endpoint
    response = world.request(method, world.fill(template), token="syt_not_a_token_we_issued", content=b"{}")
    assert_error(response, 401, "M_UNKNOWN_TOKEN")


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize("endpoint", authenticated_endpoints(), ids=endpoint_id)
def test_token_in_query_string_is_refused(world: World, endpoint: tuple[str, str]) -> None:
    """A real token in the URL ends up in logs and proxies: it is never accepted."""
    method, template = endpoint
    response = world.client.request(
        method, world.url(world.fill(template)), params={"access_token": world.token}, content=b"{}")
    assert response.status_code == 401, response.text[:300]
    assert response.json()["errcode"] in ("M_MISSING_TOKEN", "M_UNKNOWN_TOKEN")


@pytest.mark.parametrize("endpoint", sorted(UNAUTHENTICATED), ids=endpoint_id)
def test_allowlisted_routes_are_still_served(endpoint: tuple[str, str]) -> None:
    """The allowlist names only routes that exist, so it cannot hide a route by a stale entry."""
    assert endpoint in endpoints()


@pytest.mark.parametrize(
    "authorization",
    ["Bearer", "Basic dXNlcjpwYXNz", "Token abc", "bearer", "Bearer\tabc"],
)
def test_malformed_authorization_header_is_refused(world: World, authorization: str) -> None:
    response = world.client.get(world.url(V3 + "/account/whoami"), headers={"authorization": authorization})
    assert response.status_code == 401
    assert response.json()["errcode"] in ("M_MISSING_TOKEN", "M_UNKNOWN_TOKEN")


# --- bodies that aren't JSON, on every route that takes JSON --------------------------------


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize("endpoint", json_body_endpoints(), ids=endpoint_id)
@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"this is not json", id="words"),
        pytest.param(b'{"unterminated": ', id="truncated"),
        pytest.param(b"\xff\xfe\x00{", id="not-utf8"),
    ],
)
def test_non_json_body_is_not_json(world: World, endpoint: tuple[str, str], body: bytes) -> None:
    method, template = endpoint
    response = world.request(method, world.fill(template), content=body,
                             headers={"content-type": "application/json"})
    assert_error(response, 400, "M_NOT_JSON")


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize("endpoint", json_body_endpoints(), ids=endpoint_id)
@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"[]", id="array"),
        pytest.param(b'"a string"', id="string"),
        pytest.param(b"42", id="number"),
        pytest.param(b"null", id="null"),
        pytest.param(b'{"value": NaN}', id="nan"),
        pytest.param(b'{"value": -Infinity}', id="minus-infinity"),
        pytest.param(b'{"value": [18446744073709551616]}', id="integer-beyond-64-bits"),
        pytest.param(b'{"value": ' + b"[" * 300 + b"]" * 300 + b"}", id="nested-300-deep"),
    ],
)
def test_json_that_is_not_an_acceptable_object_is_bad_json(
    world: World, endpoint: tuple[str, str], body: bytes,
) -> None:
    method, template = endpoint
    response = world.request(method, world.fill(template), content=body)
    assert_error(response, 400, "M_BAD_JSON")


def test_the_sweeps_left_the_user_signed_in(world: World) -> None:
    response = world.request("GET", V3 + "/account/whoami")
    assert response.status_code == 200
    assert response.json()["user_id"] == world.user_id


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


def test_server_log_has_no_unhandled_errors(world: World) -> None:
    assert_no_unhandled_errors(world)


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
