"""Bad input on every endpoint, against the real server over HTTP: refused with the right code, nothing stored.

The authentication and not-JSON sweeps enumerate the application's own route table, so a route
added later is covered without touching this file. Wrong types and missing fields, endpoint by
endpoint, are in test_bad_input_fields.py.
"""

from __future__ import annotations

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


def test_server_log_has_no_unhandled_errors(world: World) -> None:
    assert_no_unhandled_errors(world)
