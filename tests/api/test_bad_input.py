"""Bad input on every endpoint, against the real server over HTTP: refused with the right code, nothing stored.

The authentication and not-JSON sweeps enumerate the application's own route table, so a route
added later is covered without touching this file.
"""

from __future__ import annotations

import itertools
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

import qasid.app
from qasid.api.http import ROUTES
from tests.server import ServerProcess

qasid.app.load_routes()

V3 = "/_matrix/client/v3"

# Routes that answer without an access token, and why.
UNAUTHENTICATED = {
    ("GET", "/_matrix/client/versions"): "discovery happens before login",
    ("GET", "/_matrix/client/v1/auth_metadata"): "discovery: tells clients OAuth 2.0 is not offered",
    ("GET", "/_matrix/client/unstable/org.matrix.msc2965/auth_metadata"): "as auth_metadata",
    ("GET", "/.well-known/matrix/client"): "discovery happens before login",
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


def endpoints() -> list[tuple[str, str]]:
    """(method, path template) for every route the application serves."""
    found = {(method, route.path) for route in ROUTES.routes for method in route.methods or () if method != "HEAD"}
    return sorted(found, key=lambda pair: (pair[1], pair[0]))


def authenticated_endpoints() -> list[tuple[str, str]]:
    return [e for e in endpoints() if e not in UNAUTHENTICATED]


def json_body_endpoints() -> list[tuple[str, str]]:
    return [
        (method, path) for method, path in authenticated_endpoints()
        if method in ("POST", "PUT") and not any(path.endswith(suffix) for suffix in NOT_JSON_BODIES)
    ]


def endpoint_id(endpoint: tuple[str, str]) -> str:
    return f"{endpoint[0]} {endpoint[1]}"


# --- the world the sweeps run in ------------------------------------------------------------


@dataclass
class World:
    """One server, one user joined to one room with one message in it."""

    server: ServerProcess
    client: httpx.Client
    user_id: str
    device_id: str
    token: str
    room_id: str
    event_id: str
    txn_ids: Iterator[int]

    def auth(self, token: str | None = None) -> dict[str, str]:
        return {"authorization": f"Bearer {token or self.token}"}

    def fill(self, template: str) -> str:
        """A concrete path for a route template: plausible values the user may act on."""
        values = {
            "roomId": self.room_id, "roomIdOrAlias": self.room_id, "userId": self.user_id,
            "eventId": self.event_id, "deviceId": self.device_id, "serverName": self.server.server_name,
            "eventType": "org.example.probe", "type": "org.example.probe", "stateKey": "probe",
            "roomAlias": f"#probe:{self.server.server_name}", "mediaId": "probemedia",
            "fileName": "probe.txt", "keyName": "displayname", "tag": "u.probe", "filterId": "0",
            "version": "1", "sessionId": "probesession", "kind": "override", "ruleId": "probe",
            "receiptType": "m.read",
        }

        def value(match: re.Match[str]) -> str:
            name = match.group(1)
            if name == "txnId":
                return f"probe-{next(self.txn_ids)}"
            return quote(values.get(name, "probe"), safe="")

        return re.sub(r"\{(\w+)(?::\w+)?\}", value, template)

    def url(self, path: str) -> str:
        return self.server.base_url + path

    def request(
        self, method: str, path: str, *, token: str | None = None, headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        return self.client.request(method, self.url(path), headers=self.auth(token) | (headers or {}), **kwargs)

    def messages(self) -> list[str]:
        """The room's whole history as event IDs, as the user sees it."""
        found = self.request("GET", f"{V3}/rooms/{self.room_id}/messages", params={"limit": 1000})
        assert found.status_code == 200, found.text
        return [event["event_id"] for event in found.json()["chunk"]]


def row_counts(server: ServerProcess) -> dict[str, int]:
    """Rows in every table, read-only, while the server runs."""
    db = sqlite3.connect(f"file:{server.data_dir / 'qasid.db'}?mode=ro", uri=True)
    try:
        tables = [name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {table: db.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0] for table in tables}
    finally:
        db.close()


def make_world(server: ServerProcess, name: str) -> World:
    login = server.register(name)
    client = httpx.Client(timeout=30)
    headers = {"authorization": f"Bearer {login['access_token']}"}
    created = client.post(server.base_url + V3 + "/createRoom", json={"name": "probe"}, headers=headers)
    assert created.status_code == 200, created.text
    room_id = created.json()["room_id"]
    sent = client.put(
        server.base_url + f"{V3}/rooms/{room_id}/send/m.room.message/first",
        json={"msgtype": "m.text", "body": "hello"}, headers=headers)
    assert sent.status_code == 200, sent.text
    return World(server, client, login["user_id"], login["device_id"], login["access_token"],
                 room_id, sent.json()["event_id"], itertools.count())


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    server = ServerProcess(tmp_path_factory.mktemp("bad-input") / "data")
    server.start()
    try:
        yield make_world(server, "prober")
    finally:
        server.stop()


@pytest.fixture
def unchanged(world: World) -> Iterator[None]:
    """Asserts that the test stored nothing: same rows in every table, same room history."""
    rows, history = row_counts(world.server), world.messages()
    yield
    assert world.messages() == history
    assert row_counts(world.server) == rows


def assert_error(response: httpx.Response, status: int, errcode: str) -> None:
    assert response.status_code == status, f"{response.status_code} {response.text[:300]}"
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["errcode"] == errcode, response.text[:300]


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
        ("POST", "/login", {}, "M_MISSING_PARAM"),
        ("POST", "/login", {"type": 5}, "M_BAD_JSON"),
        ("POST", "/login", {"type": "m.login.password", "identifier": {"type": "m.id.user", "user": "prober"}},
         "M_MISSING_PARAM"),
        ("POST", "/login", {"type": "m.login.password", "identifier": {"type": "m.id.user", "user": "prober"},
                            "password": 1234}, "M_BAD_JSON"),
        ("POST", "/account/password", {"new_password": 5}, "M_BAD_JSON"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_wrong_types_and_missing_fields(
    world: World, method: str, template: str, body: dict[str, Any], errcode: str,
) -> None:
    response = world.request(method, world.fill(V3 + template), json=body)
    assert_error(response, 400, errcode)


# --- event content Matrix cannot carry ------------------------------------------------------


EVENT_CONTENT_REFUSALS = [
    pytest.param(b'{"msgtype": "m.text", "body": "x", "n": 1.5}', id="float"),
    pytest.param(b'{"msgtype": "m.text", "body": "x", "n": 1.0}', id="integral-float"),
    pytest.param(b'{"msgtype": "m.text", "body": "x", "n": -0.0}', id="negative-zero"),
    pytest.param(b'{"msgtype": "m.text", "body": "x", "n": 1e3}', id="exponent"),
    pytest.param(b'{"msgtype": "m.text", "body": "x", "n": NaN}', id="nan"),
    pytest.param(b'{"msgtype": "m.text", "body": "x", "n": Infinity}', id="infinity"),
    pytest.param(b'{"msgtype": "m.text", "body": "x", "n": -Infinity}', id="minus-infinity"),
    pytest.param(b'{"msgtype": "m.text", "body": "x", "n": 9007199254740992}', id="2^53"),
    pytest.param(b'{"msgtype": "m.text", "body": "x", "n": -9007199254740992}', id="-2^53"),
    pytest.param(b'{"msgtype": "m.text", "body": "x", "n": 18446744073709551615}', id="2^64-1"),
    pytest.param(b'{"msgtype": "m.text", "body": "x", "n": 18446744073709551616}', id="2^64"),
    pytest.param(b'{"body": "x", "n": [1, {"deep": [99999999999999999999999]}]}', id="huge-nested"),
    pytest.param(b'{"body": "x", "n": {"a": {"b": [0.25]}}}', id="float-nested"),
    pytest.param(b'{"n": ' + b'{"a": ' * 150 + b"1" + b"}" * 150 + b"}", id="150-deep"),
    pytest.param(b'{"n": ' + b"[" * 260 + b"]" * 260 + b"}", id="260-deep"),
]


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize("content", EVENT_CONTENT_REFUSALS)
@pytest.mark.parametrize(
    "template",
    [
        "/rooms/{roomId}/send/m.room.message/{txnId}",
        "/rooms/{roomId}/state/org.example.probe/{stateKey}",
        "/rooms/{roomId}/state/org.example.probe",
    ],
)
def test_event_content_outside_canonical_json_is_bad_json(world: World, template: str, content: bytes) -> None:
    response = world.request("PUT", world.fill(V3 + template), content=content)
    assert_error(response, 400, "M_BAD_JSON")


@pytest.mark.parametrize(
    ("body", "errcode"),
    [
        pytest.param({"creation_content": {"n": 1.5}}, "M_BAD_JSON", id="creation-content-float"),
        pytest.param({"initial_state": [{"type": "org.example", "state_key": "", "content": {"n": 2**53}}]}, "M_BAD_JSON",
                     id="initial-state-2^53"),
        pytest.param({"power_level_content_override": {"ban": 0.5}}, "M_BAD_JSON", id="power-levels-float"),
        pytest.param({"power_level_content_override": {"ban": "high"}}, "M_BAD_JSON", id="power-levels-string"),
        pytest.param({"power_level_content_override": {"users": {"@prober:qasid.test": "100"}}}, "M_BAD_JSON",
                     id="power-levels-user-string"),
        pytest.param({"initial_state": [{"type": "m.room.member", "state_key": "@someone:qasid.test",
                                         "content": {"membership": "join"}}]}, "M_FORBIDDEN", id="initial-state-forged-join"),
        pytest.param({"initial_state": [{"type": "x" * 300, "state_key": "", "content": {}}]}, "M_INVALID_PARAM",
                     id="initial-state-long-type"),
    ],
)
def test_create_room_with_refused_content_stores_no_part_of_a_room(
    world: World, body: dict[str, Any], errcode: str,
) -> None:
    rows, joined = row_counts(world.server), world.request("GET", V3 + "/joined_rooms").json()
    response = world.request("POST", V3 + "/createRoom", json=body)
    assert_error(response, 403 if errcode == "M_FORBIDDEN" else 400, errcode)
    assert world.request("GET", V3 + "/joined_rooms").json() == joined
    assert row_counts(world.server) == rows


def test_largest_safe_integer_is_stored(world: World) -> None:
    response = world.request("PUT", world.fill(V3 + "/rooms/{roomId}/send/m.room.message/{txnId}"),
                             content=b'{"msgtype": "m.text", "body": "x", "n": 9007199254740991}')
    assert response.status_code == 200, response.text
    stored = world.request("GET", f"{V3}/rooms/{world.room_id}/event/{response.json()['event_id']}")
    assert stored.json()["content"]["n"] == 2**53 - 1


# --- size limits ----------------------------------------------------------------------------


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize(
    "template",
    [
        "/rooms/{roomId}/send/m.room.message/{txnId}",
        "/rooms/{roomId}/state/org.example.probe/{stateKey}",
    ],
)
def test_event_over_64_kib_is_too_large(world: World, template: str) -> None:
    body = b'{"msgtype": "m.text", "body": "' + b"x" * 66_000 + b'"}'
    response = world.request("PUT", world.fill(V3 + template), content=body)
    assert_error(response, 413, "M_TOO_LARGE")


@pytest.mark.usefixtures("unchanged")
def test_event_just_over_64_kib_after_signing_is_too_large(world: World) -> None:
    """The limit is on the whole PDU: a body under 64 KiB can still make an event over it."""
    body = b'{"body": "' + b"x" * 65_400 + b'"}'
    assert len(body) < 65_536
    response = world.request("PUT", world.fill(V3 + "/rooms/{roomId}/send/m.room.message/{txnId}"), content=body)
    assert_error(response, 413, "M_TOO_LARGE")


@pytest.fixture(scope="module")
def small_limit_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    server = ServerProcess(tmp_path_factory.mktemp("small-limit") / "data",
                           env={"QASID_MAX_JSON_BODY_BYTES": "2048"})
    server.start()
    try:
        yield make_world(server, "limited")
    finally:
        server.stop()


@pytest.mark.parametrize("endpoint", [
    ("PUT", V3 + "/rooms/{roomId}/send/m.room.message/{txnId}"),
    ("PUT", V3 + "/rooms/{roomId}/state/org.example.probe/{stateKey}"),
    ("POST", V3 + "/createRoom"),
    ("POST", V3 + "/rooms/{roomId}/invite"),
    ("POST", V3 + "/login"),
    ("POST", V3 + "/register"),
], ids=endpoint_id)
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_body_over_the_limit_is_too_large(
    small_limit_world: World, endpoint: tuple[str, str], chunked: bool,
) -> None:
    world = small_limit_world
    rows, history = row_counts(world.server), world.messages()
    body = b'{"msgtype": "m.text", "body": "' + b"x" * 4096 + b'"}'
    method, template = endpoint
    content: Any = iter([body[:1000], body[1000:]]) if chunked else body
    response = world.request(method, world.fill(template), content=content)
    assert_error(response, 413, "M_TOO_LARGE")
    assert world.messages() == history
    assert row_counts(world.server) == rows


def test_body_at_the_limit_is_accepted(small_limit_world: World) -> None:
    world = small_limit_world
    prefix, suffix = b'{"msgtype": "m.text", "body": "', b'"}'
    body = prefix + b"x" * (2048 - len(prefix) - len(suffix)) + suffix
    assert len(body) == 2048
    response = world.request("PUT", world.fill(V3 + "/rooms/{roomId}/send/m.room.message/{txnId}"),
                             content=body)
    assert response.status_code == 200, response.text


# --- unknown endpoints and methods ----------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", V3 + "/no_such_endpoint"),
        ("POST", V3 + "/no_such_endpoint"),
        ("GET", "/_matrix/client/v3"),
        ("GET", "/_matrix/client/v99/sync"),
        ("GET", "/_matrix/federation/v1/version"),
        ("GET", "/"),
        ("GET", V3 + "/rooms"),
        ("PUT", V3 + "/rooms/!r:qasid.test/send/m.room.message"),
        ("GET", V3 + "/sync/"),
    ],
)
@pytest.mark.parametrize("with_token", [False, True], ids=["anonymous", "signed-in"])
def test_unknown_endpoint_is_unrecognized(world: World, method: str, path: str, with_token: bool) -> None:
    headers = world.auth() if with_token else {}
    response = world.client.request(method, world.url(path), headers=headers, content=b"{}")
    assert_error(response, 404, "M_UNRECOGNIZED")


@pytest.mark.parametrize(
    ("method", "path"),
    [("DELETE", V3 + "/sync"), ("POST", V3 + "/account/whoami"), ("GET", V3 + "/createRoom")],
)
def test_known_path_with_unknown_method_is_unrecognized(world: World, method: str, path: str) -> None:
    response = world.request(method, path)
    assert_error(response, 405, "M_UNRECOGNIZED")


# --- query parameters -----------------------------------------------------------------------


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize(
    ("template", "params"),
    [
        ("/sync", {"since": "garbage"}),
        ("/sync", {"since": "s1_2_3"}),
        ("/sync", {"since": f"s{2**64}_0_0_0_0_0"}),
        ("/sync", {"since": "s99999999999999999999_0_0_0_0_0"}),
        ("/sync", {"timeout": "soon"}),
        ("/rooms/{roomId}/messages", {"from": "garbage"}),
        ("/rooms/{roomId}/messages", {"from": "t99999999999999999999"}),
        ("/rooms/{roomId}/messages", {"from": "t-5", "dir": "f"}),
        ("/rooms/{roomId}/messages", {"to": "t99999999999999999999"}),
        ("/rooms/{roomId}/messages", {"dir": "sideways"}),
        ("/rooms/{roomId}/messages", {"limit": "many"}),
        ("/rooms/{roomId}/members", {"at": "garbage"}),
        ("/rooms/{roomId}/members", {"at": "tgarbage"}),
        ("/rooms/{roomId}/members", {"at": "t99999999999999999999"}),
        ("/rooms/{roomId}/context/{eventId}", {"limit": "lots"}),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_malformed_query_parameters_are_invalid_param(
    world: World, template: str, params: dict[str, str],
) -> None:
    response = world.request("GET", world.fill(V3 + template), params=params)
    assert_error(response, 400, "M_INVALID_PARAM")


@pytest.mark.parametrize(
    ("template", "params", "errcode"),
    [
        ("/sync", {"filter": "{not json"}, "M_NOT_JSON"),
        ("/sync", {"filter": '{"room": {"timeline": {"limit": 1.5}}}'}, "M_BAD_JSON"),
        ("/sync", {"filter": '{"room": {"timeline": {"limit": NaN}}}'}, "M_BAD_JSON"),
        ("/sync", {"filter": "[1]"}, "M_INVALID_PARAM"),
        ("/rooms/{roomId}/messages", {"filter": "{not json"}, "M_NOT_JSON"),
        ("/rooms/{roomId}/messages", {"filter": "[]"}, "M_BAD_JSON"),
        ("/rooms/{roomId}/messages", {"filter": '{"a": ' + "[" * 300 + "]" * 300 + "}"}, "M_BAD_JSON"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_malformed_filters_are_refused(
    world: World, template: str, params: dict[str, str], errcode: str,
) -> None:
    response = world.request("GET", world.fill(V3 + template), params=params)
    assert_error(response, 400, errcode)


def test_no_probe_left_a_trace_in_the_room(world: World) -> None:
    """Only the events the tests meant to store are in the room's history."""
    history = world.messages()
    assert world.event_id in history
    for event_id in history:
        event = world.request("GET", f"{V3}/rooms/{world.room_id}/event/{event_id}").json()
        assert event["type"] != "org.example.probe", event


def test_server_log_has_no_unhandled_errors(world: World) -> None:
    log = Path(world.server.log_path).read_text(errors="replace")
    assert "unhandled error" not in log, log[-5000:]
