"""Bad input the sweeps don't cover: event content Matrix cannot carry, size limits, unknown
endpoints and methods, malformed query parameters. Refused with the right code, nothing stored."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.api.probe_world import (
    V3,
    World,
    assert_error,
    assert_no_unhandled_errors,
    endpoint_id,
    make_world,
    row_counts,
)
from tests.server import ServerProcess

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


@pytest.mark.usefixtures("unchanged")
def test_a_client_that_leaves_mid_body_stores_nothing(world: World) -> None:
    """The body never arrives whole: nothing is stored and nothing is logged as a server error."""
    path = world.fill(V3 + "/rooms/{roomId}/send/m.room.message/{txnId}")
    with socket.create_connection(("127.0.0.1", world.server.port)) as raw:
        raw.sendall(f"PUT {path} HTTP/1.1\r\nHost: qasid\r\nAuthorization: Bearer {world.token}\r\n"
                    f"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n".encode()
                    + b'{"msgtype": "m.text", "body": "cut')
        time.sleep(0.2)  # let the server read the headers and start waiting for the rest
    assert world.request("GET", V3 + "/account/whoami").status_code == 200
    assert_no_unhandled_errors(world)


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

RELATIONS = "/_matrix/client/v1/rooms/{roomId}/relations/{eventId}"
THREADS = "/_matrix/client/v1/rooms/{roomId}/threads"


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
        ("/notifications", {"from": "garbage"}),
        ("/notifications", {"from": "-5"}),
        ("/notifications", {"from": "99999999999999999999"}),
        ("/notifications", {"limit": "many"}),
        (RELATIONS, {"dir": "sideways"}),
        (RELATIONS, {"from": "garbage"}),
        (RELATIONS, {"to": "t99999999999999999999"}),
        (RELATIONS, {"limit": "many"}),
        (RELATIONS, {"recurse": "yes"}),
        (RELATIONS + "/m.thread", {"dir": "up"}),
        (RELATIONS + "/m.thread/m.room.message", {"from": "t-1"}),
        (THREADS, {"include": "mine"}),
        (THREADS, {"limit": "0"}),
        (THREADS, {"limit": "-3"}),
        (THREADS, {"limit": "many"}),
        (THREADS, {"from": "garbage"}),
        (THREADS, {"from": "t99999999999999999999"}),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_malformed_query_parameters_are_invalid_param(
    world: World, template: str, params: dict[str, str],
) -> None:
    response = world.request("GET", world.fill(template if template.startswith("/_") else V3 + template),
                             params=params)
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
    assert_no_unhandled_errors(world)
