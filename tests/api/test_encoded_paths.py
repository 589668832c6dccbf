"""A `%2F` inside a path parameter is part of that parameter: routes match the path as sent.

Megolm session IDs are unpadded standard base64, so about half of them hold a `/`: key backup
of those sessions must work on every method. Every other route with a parameter is swept from
the app's own route table, so a route added later is covered too.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

import qasid.app
from qasid.api.http import ROUTES
from tests.hardening.client import User, error, new_user
from tests.server import ServerProcess

qasid.app.load_routes()
SESSION_ID = "ab/cd+ef/GhIjKlMnOpQrStUvWxYz0123456789abcdefg"


@pytest.fixture(scope="module")
def user(tmp_path_factory: pytest.TempPathFactory) -> Iterator[User]:
    server = ServerProcess(tmp_path_factory.mktemp("encoded") / "data")
    server.start()
    try:
        yield new_user(server, "encoder")
    finally:
        server.stop()


def encoded(value: str) -> str:
    return value.replace("/", "%2F").replace("+", "%2B").replace("#", "%23")


def test_backing_up_a_session_whose_id_holds_a_slash(user: User) -> None:
    version = user.post("/room_keys/version", {"algorithm": "m.megolm_backup.v1.curve25519-aes-sha2",
                                               "auth_data": {"public_key": "abc"}}).json()["version"]
    room_id = "!room:qasid.test"
    path = f"/room_keys/keys/{room_id}/{encoded(SESSION_ID)}"
    session = {"first_message_index": 0, "forwarded_count": 0, "is_verified": False,
               "session_data": {"ciphertext": "x"}}
    stored = user.put(path, session, params={"version": version})
    assert stored.status_code == 200, stored.text
    assert user.get(path, version=version).json() == session
    # Stored under the ID itself, as the bulk read shows it.
    everything = user.get("/room_keys/keys", version=version).json()
    assert set(everything["rooms"][room_id]["sessions"]) == {SESSION_ID}
    assert user.request("DELETE", path, params={"version": version}).json()["count"] == 0
    assert error(user.get(path, version=version)) == (404, "M_NOT_FOUND")


def test_ids_with_a_slash_reach_their_handler_decoded(user: User) -> None:
    room_id = user.create_room(preset="private_chat")
    sent = [user.put(f"/rooms/{room_id}/send/m.room.message/{encoded('txn/1')}", {"msgtype": "m.text", "body": "x"})
            for _ in range(2)]
    assert sent[0].status_code == 200, sent[0].text
    assert sent[0].json() == sent[1].json()  # one transaction, one event
    state = user.put(f"/rooms/{room_id}/state/{encoded('org.example.kind/x')}/{encoded('key/1')}", {"v": 1})
    assert state.status_code == 200, state.text
    assert {(e["type"], e["state_key"]) for e in user.get(f"/rooms/{room_id}/state").json()} >= {
        ("org.example.kind/x", "key/1")}
    kind = encoded("org.example/thing")
    assert user.put(f"/user/{user.user_id}/account_data/{kind}", {"a": 1}).status_code == 200
    assert user.get(f"/user/{user.user_id}/account_data/{kind}").json() == {"a": 1}
    types = {e["type"] for e in user.sync()["account_data"]["events"]}
    assert "org.example/thing" in types


def parameterised_routes() -> list[tuple[str, str]]:
    """(method, path template) of every route that takes a path parameter."""
    found = {(method, r.path) for r in ROUTES.routes for method in r.methods
             if method != "HEAD" and "{" in r.path}
    return sorted(found, key=lambda e: (e[1], e[0]))


# A value with a slash of the kind each parameter holds; anything else gets a plain one.
KINDS = {"roomId": "!a/b:qasid.test", "userId": "@a/b:qasid.test", "eventId": "$a/b", "roomAlias":
         "#a/b:qasid.test", "roomIdOrAlias": "!a/b:qasid.test", "user_id": "@a/b:qasid.test"}


@pytest.mark.parametrize(("method", "template"), parameterised_routes())
def test_every_parameter_may_hold_an_encoded_slash(user: User, method: str, template: str) -> None:
    path = re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: encoded(KINDS.get(m.group(1), f"{m.group(1)}/x")), template)
    response = user.request(method, path, json={} if method in ("PUT", "POST") else None)
    # Any answer from a handler will do (403, 404 M_NOT_FOUND, 400 ...): the route was found.
    assert error(response) not in ((404, "M_UNRECOGNIZED"), (405, "M_UNRECOGNIZED")), f"{method} {path}"


def test_a_parameter_that_is_not_utf8_is_refused(user: User) -> None:
    assert error(user.get("/rooms/%FF%FE/messages")) == (400, "M_INVALID_PARAM")
