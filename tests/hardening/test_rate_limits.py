"""Item 12: sending, joining, inviting, registering and creating rooms are rate-limited, configurably,
with 429 M_LIMIT_EXCEEDED and Retry-After; a refused request changes nothing.

The buckets are configured through the QASID_RATE_* settings to a burst of 3 (4 for registration,
two stages per account) and a refill far too slow to matter during the test.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.hardening.client import V3, User, new_user, query_db
from tests.server import ServerProcess

BURST = 3
SLOW = f"0.001/{BURST}"


def assert_limited(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert response.json()["errcode"] == "M_LIMIT_EXCEEDED"
    assert response.json()["retry_after_ms"] > 0
    assert int(response.headers["retry-after"]) >= 1


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path_factory.mktemp("rate-limits") / "data", env={
        "QASID_RATE_LIMITS_ENABLED": "true", "QASID_RATE_SEND": SLOW, "QASID_RATE_JOIN": SLOW,
        "QASID_RATE_INVITE": SLOW, "QASID_RATE_CREATE_ROOM": SLOW,
        "QASID_RATE_REGISTER": "1000/1000", "QASID_RATE_LOGIN": "1000/1000"})
    server.start()
    try:
        yield server
    finally:
        server.stop()


def event_count(server: ServerProcess) -> int:
    return int(query_db(server, "SELECT count(*) FROM events")[0][0])


def test_create_room_is_limited(limited: ServerProcess) -> None:
    alice = new_user(limited, "creator")
    for _ in range(BURST):
        alice.create_room()
    rooms = query_db(limited, "SELECT count(*) FROM rooms")
    assert_limited(alice.post("/createRoom", {}))
    assert query_db(limited, "SELECT count(*) FROM rooms") == rooms
    assert new_user(limited, "creator2").post("/createRoom", {}).status_code == 200  # per user


def test_send_is_limited(limited: ServerProcess) -> None:
    alice = new_user(limited, "sender")
    room = alice.create_room()
    for n in range(BURST):
        alice.send(room, f"t{n}", {"msgtype": "m.text", "body": str(n)})
    before = event_count(limited)
    assert_limited(alice.put(f"/rooms/{room}/send/m.room.message/over", {"msgtype": "m.text", "body": "x"}))
    assert_limited(alice.put(f"/rooms/{room}/state/org.example/k", {"v": 1}))
    assert event_count(limited) == before


def test_invite_is_limited(limited: ServerProcess) -> None:
    alice = new_user(limited, "inviter")
    room = alice.create_room()
    invitees = [new_user(limited, f"invitee{n}") for n in range(BURST + 1)]
    for invitee in invitees[:BURST]:
        assert alice.post(f"/rooms/{room}/invite", {"user_id": invitee.user_id}).status_code == 200
    before = event_count(limited)
    assert_limited(alice.post(f"/rooms/{room}/invite", {"user_id": invitees[-1].user_id}))
    assert event_count(limited) == before


def test_join_is_limited(limited: ServerProcess) -> None:
    owners = [new_user(limited, f"owner{n}") for n in range(BURST + 1)]
    rooms = [owner.create_room(preset="public_chat") for owner in owners]
    joiner = new_user(limited, "joiner")
    for room in rooms[:BURST]:
        joiner.join(room)
    before = event_count(limited)
    assert_limited(joiner.post(f"/rooms/{rooms[-1]}/join"))
    assert_limited(joiner.post(f"/join/{rooms[-1]}"))
    assert event_count(limited) == before


def test_registration_is_limited_per_address(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", env={
        "QASID_RATE_LIMITS_ENABLED": "true", "QASID_RATE_REGISTER": "0.001/4", "QASID_RATE_LOGIN": "1000/1000"})
    server.start()
    try:
        new_user(server, "first")    # two stages: two requests from the bucket
        new_user(server, "second")
        token = server.create_token(uses=5)
        url = server.base_url + V3 + "/register"
        body = {"username": "third", "password": "correct horse battery"}
        session = httpx.post(url, json=body).json()["session"]
        assert_limited(httpx.post(url, json=body | {"auth": {
            "type": "m.login.registration_token", "token": token, "session": session}}))
        validity = "/_matrix/client/v1/register/m.login.registration_token/validity"
        assert_limited(httpx.get(server.base_url + validity, params={"token": token}))
        assert query_db(server, "SELECT count(*) FROM users") == [(2,)]
    finally:
        server.stop()


def test_limits_are_off_when_configured_off(server: ServerProcess) -> None:
    """The default test server runs with QASID_RATE_LIMITS_ENABLED=false: a burst far past 3 is fine."""
    alice = new_user(server, "alice")
    room = alice.create_room()
    for n in range(BURST * 5):
        alice.send(room, f"t{n}", {"msgtype": "m.text", "body": str(n)})
    assert isinstance(alice, User)
