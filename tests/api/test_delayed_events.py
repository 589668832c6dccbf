"""Delayed events (MSC4140) and OpenID tokens, against the real server: timing, durability, limits."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.server import ServerProcess

V3 = "/_matrix/client/v3"
DELAYED = "/_matrix/client/unstable/org.matrix.msc4140/delayed_events"
DELAY = "org.matrix.msc4140.delay"
CALL_MEMBER = "org.matrix.msc3401.call.member"


class User:
    def __init__(self, server: ServerProcess, localpart: str) -> None:
        login = server.register(localpart)
        self.server, self.user_id = server, login["user_id"]
        self.http = httpx.Client(base_url=server.base_url, timeout=30,
                                 headers={"authorization": f"Bearer {login['access_token']}"})

    def room(self) -> str:
        return str(self.http.post(V3 + "/createRoom", json={}).json()["room_id"])

    def delay_state(self, room_id: str, key: str, content: dict[str, Any], delay_ms: int) -> httpx.Response:
        return self.http.put(f"{V3}/rooms/{room_id}/state/{CALL_MEMBER}/{key}", params={DELAY: delay_ms},
                             json=content)

    def state(self, room_id: str, key: str) -> dict[str, Any] | None:
        found = self.http.get(f"{V3}/rooms/{room_id}/state/{CALL_MEMBER}/{key}")
        return found.json() if found.status_code == 200 else None

    def bodies(self, room_id: str) -> list[str]:
        chunk = self.http.get(f"{V3}/rooms/{room_id}/messages", params={"dir": "b", "limit": 100}).json()["chunk"]
        return [e["content"].get("body") for e in chunk if e["type"] == "m.room.message"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path_factory.mktemp("delayed") / "data", env={
        "QASID_MAX_DELAY_MS": "60000", "QASID_MAX_DELAYED_EVENTS_PER_USER": "3",
        "QASID_OPENID_TOKEN_LIFETIME_MS": "2000"})
    proc.start()
    yield proc
    proc.stop()


def wait_until(check: Any, timeout_s: float = 10) -> float:
    """Poll `check` until it is true; the monotonic time it first was."""
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
    return time.monotonic()


def test_a_delayed_state_event_fires_after_its_delay_and_not_before(server: ServerProcess) -> None:
    alice = User(server, "alice")
    room_id = alice.room()
    scheduled = time.monotonic()
    # Seconds of slack between the check and the delay, so a loaded machine can't make it flaky.
    response = alice.delay_state(room_id, "_left", {}, 5000)
    assert response.status_code == 200, response.text
    delay_id = response.json()["delay_id"]
    listed = alice.http.get(DELAYED).json()["delayed_events"]
    assert [(e["delay_id"], e["type"], e["state_key"], e["delay"], e["content"]) for e in listed] == \
        [(delay_id, CALL_MEMBER, "_left", 5000, {})]
    time.sleep(max(0.0, 1.0 - (time.monotonic() - scheduled)))
    assert alice.state(room_id, "_left") is None
    fired = wait_until(lambda: alice.state(room_id, "_left") is not None)
    assert fired - scheduled >= 5.0
    assert alice.http.get(DELAYED).json() == {"delayed_events": []}
    # Sending again what was sent is a harmless retry; cancelling it is a conflict.
    assert httpx.post(f"{server.base_url}{DELAYED}/{delay_id}/send", json={}).status_code == 200
    conflict = httpx.post(f"{server.base_url}{DELAYED}/{delay_id}/cancel", json={})
    assert (conflict.status_code, conflict.json()["errcode"]) == (409, "M_UNKNOWN")


def test_cancelled_never_fires_restart_pushes_it_out_send_fires_now(server: ServerProcess) -> None:
    bob = User(server, "bob")
    room_id = bob.room()
    cancelled = bob.delay_state(room_id, "_cancelled", {"x": 1}, 700).json()["delay_id"]
    # The management endpoints need no access token: the delay_id is the permission.
    assert httpx.post(f"{server.base_url}{DELAYED}/{cancelled}/cancel", json={}).json() == {}
    assert httpx.post(f"{server.base_url}{DELAYED}/{cancelled}", json={"action": "cancel"}).status_code == 200
    refused = httpx.post(f"{server.base_url}{DELAYED}/{cancelled}/restart", json={})
    assert refused.status_code == 409

    started = time.monotonic()
    restarted = bob.delay_state(room_id, "_restarted", {"x": 2}, 1500).json()["delay_id"]
    time.sleep(1.0)
    assert httpx.post(f"{server.base_url}{DELAYED}/{restarted}/restart").status_code == 200
    time.sleep(1.0)
    assert bob.state(room_id, "_restarted") is None  # 2 s after scheduling, 1 s after the restart
    fired = wait_until(lambda: bob.state(room_id, "_restarted") is not None)
    assert fired - started >= 2.5
    assert bob.state(room_id, "_cancelled") is None

    now = bob.delay_state(room_id, "_now", {"x": 3}, 50_000).json()["delay_id"]
    assert httpx.post(f"{server.base_url}{DELAYED}/{now}", json={"action": "send"}).status_code == 200
    assert bob.state(room_id, "_now") == {"x": 3}
    assert bob.state(room_id, "_cancelled") is None


def test_limits_answer_with_the_msc_errors(server: ServerProcess) -> None:
    carol = User(server, "carol")
    room_id = carol.room()
    too_long = carol.delay_state(room_id, "_k", {}, 60_001)
    assert too_long.status_code == 400
    assert too_long.json() == {"errcode": "M_MAX_DELAY_EXCEEDED", "error": too_long.json()["error"],
                               "max_delay": 60_000}
    for index in range(3):
        assert carol.delay_state(room_id, f"_k{index}", {}, 30_000).status_code == 200
    full = carol.delay_state(room_id, "_k3", {}, 30_000)
    assert (full.status_code, full.json()["errcode"]) == (429, "M_LIMIT_EXCEEDED")
    assert 25 <= int(full.headers["retry-after"]) <= 30
    for bad in ("0", "-5", "soon", "1.5"):
        assert carol.delay_state(room_id, "_k", {}, bad).json()["errcode"] == "M_INVALID_PARAM"  # type: ignore[arg-type]
    unknown = httpx.post(f"{server.base_url}{DELAYED}/syd_nonesuch/cancel", json={})
    assert (unknown.status_code, unknown.json()["errcode"]) == (404, "M_NOT_FOUND")
    outsider = User(server, "dave")
    assert outsider.http.get(DELAYED).json() == {"delayed_events": []}
    not_member = outsider.delay_state(room_id, "_x", {}, 1000)
    assert not_member.status_code == 403


def test_openid_token_validates_until_it_expires_and_says_only_who(server: ServerProcess) -> None:
    erin = User(server, "erin")
    issued = erin.http.post(f"{V3}/user/{erin.user_id}/openid/request_token", json={})
    assert issued.status_code == 200, issued.text
    token = issued.json()
    assert token["token_type"] == "Bearer" and token["matrix_server_name"] == server.server_name
    assert token["expires_in"] == 2
    userinfo = f"{server.base_url}/_matrix/federation/v1/openid/userinfo"
    valid = httpx.get(userinfo, params={"access_token": token["access_token"]})
    assert (valid.status_code, valid.json()) == (200, {"sub": erin.user_id})
    for bogus in ("random-token", "", erin.http.headers["authorization"].removeprefix("Bearer ")):
        refused = httpx.get(userinfo, params={"access_token": bogus})
        assert (refused.status_code, refused.json()["errcode"]) == (401, "M_UNKNOWN_TOKEN")
    other = erin.http.post(f"{V3}/user/@someone:{server.server_name}/openid/request_token", json={})
    assert other.status_code == 403
    time.sleep(2.1)
    expired = httpx.get(userinfo, params={"access_token": token["access_token"]})
    assert expired.status_code == 401


def test_a_pending_delayed_event_survives_sigkill_and_fires_exactly_once(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data")
    server.start()
    try:
        frank = User(server, "frank")
        room_id = frank.room()
        sent = frank.http.put(f"{V3}/rooms/{room_id}/send/m.room.message/t1", params={DELAY: 1500},
                              json={"msgtype": "m.text", "body": "hung up"})
        assert sent.status_code == 200, sent.text
        server.kill()
        server.start()
        frank.http.base_url = httpx.URL(server.base_url)
        wait_until(lambda: "hung up" in frank.bodies(room_id))
        time.sleep(1.0)
        server.kill()  # once more: what was sent is not sent again
        server.start()
        time.sleep(1.5)
        assert frank.bodies(room_id).count("hung up") == 1
    finally:
        server.stop()


def test_a_retried_delayed_send_returns_the_first_delay_id(server: ServerProcess) -> None:
    grace = User(server, "grace")
    room_id = grace.room()
    path = f"{V3}/rooms/{room_id}/send/m.room.message/retry1"
    first = grace.http.put(path, params={DELAY: 60_000}, json={"msgtype": "m.text", "body": "later"})
    again = grace.http.put(path, params={DELAY: 60_000}, json={"msgtype": "m.text", "body": "later"})
    assert first.status_code == again.status_code == 200, again.text
    assert first.json()["delay_id"] == again.json()["delay_id"]
    assert len(grace.http.get(DELAYED).json()["delayed_events"]) == 1
    other = grace.http.put(f"{V3}/rooms/{room_id}/send/m.room.message/retry2", params={DELAY: 60_000},
                           json={"msgtype": "m.text", "body": "later"})
    assert other.json()["delay_id"] != first.json()["delay_id"]
