"""Any worker answers any request: what one commits, the others serve and wake for at once."""

from __future__ import annotations

import concurrent.futures
import json
import time

import httpx

from tests.server import ServerProcess


# Presence is left alone: its PostgreSQL statement is being fixed apart from the workers' work.
QUIET = {"set_presence": "offline"}


def _auth(login: dict[str, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {login['access_token']}"}


def _room_with(a: ServerProcess, alice: dict[str, str], b: ServerProcess, bob: dict[str, str]) -> str:
    room = httpx.post(a.base_url + "/_matrix/client/v3/createRoom", headers=_auth(alice),
                      json={"invite": [bob["user_id"]]}).json()["room_id"]
    joined = httpx.post(f"{b.base_url}/_matrix/client/v3/rooms/{room}/join", headers=_auth(bob), json={})
    assert joined.status_code == 200, joined.text
    return str(room)


def test_a_long_poll_on_one_worker_wakes_for_a_send_through_another(workers: list[ServerProcess]) -> None:
    a, b = workers
    alice, bob = a.register("alice"), b.register("bob")
    room = _room_with(a, alice, b, bob)
    since = httpx.get(b.base_url + "/_matrix/client/v3/sync", headers=_auth(bob), params=QUIET).json()["next_batch"]
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        parked = pool.submit(httpx.get, b.base_url + "/_matrix/client/v3/sync", headers=_auth(bob),
                             params={"since": since, "timeout": "20000", **QUIET}, timeout=30)
        time.sleep(1)  # parked on worker B by now
        assert not parked.done()
        sent = httpx.put(f"{a.base_url}/_matrix/client/v3/rooms/{room}/send/m.room.message/t1",
                         headers=_auth(alice), json={"msgtype": "m.text", "body": "across"})
        assert sent.status_code == 200, sent.text
        started = time.monotonic()
        body = parked.result().content
        waited = time.monotonic() - started
    assert waited < 10, "the long-poll was not woken by the other worker's send"
    events = httpx.Response(200, content=body).json()["rooms"]["join"][room]["timeline"]["events"]
    assert [e["event_id"] for e in events] == [sent.json()["event_id"]]


def test_sends_to_one_room_through_both_workers_form_one_chain(workers: list[ServerProcess]) -> None:
    a, b = workers
    alice, bob = a.register("alice"), b.register("bob")
    room = _room_with(a, alice, b, bob)

    def send(server: ServerProcess, who: dict[str, str], i: int) -> None:
        r = httpx.put(f"{server.base_url}/_matrix/client/v3/rooms/{room}/send/m.room.message/c{i}",
                      headers=_auth(who), json={"msgtype": "m.text", "body": str(i)}, timeout=30)
        assert r.status_code == 200, r.text

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda i: send(a, alice, i) if i % 2 else send(b, bob, i), range(200)))
    rows = a.query("SELECT event_id, pdu FROM events WHERE room_id = ? ORDER BY stream_ordering", (room,))
    previous, depth = None, 0
    for event_id, pdu in rows:
        parsed = json.loads(bytes(pdu))
        assert parsed["prev_events"] == ([previous] if previous else [])
        assert parsed["depth"] == depth + 1
        previous, depth = event_id, parsed["depth"]


def test_a_token_from_one_worker_is_valid_on_the_other(workers: list[ServerProcess]) -> None:
    a, b = workers
    alice, bob = a.register("alice"), b.register("bob")
    room = _room_with(a, alice, b, bob)
    since = httpx.get(a.base_url + "/_matrix/client/v3/sync", headers=_auth(bob), params=QUIET).json()["next_batch"]
    sent = httpx.put(f"{a.base_url}/_matrix/client/v3/rooms/{room}/send/m.room.message/t2",
                     headers=_auth(alice), json={"msgtype": "m.text", "body": "x"}).json()["event_id"]
    later = httpx.get(b.base_url + "/_matrix/client/v3/sync", headers=_auth(bob),
                      params={"since": since, "timeout": "5000", **QUIET}).json()
    assert [e["event_id"] for e in later["rooms"]["join"][room]["timeline"]["events"]] == [sent]


def test_a_cli_revocation_bites_every_worker_on_the_next_request(workers: list[ServerProcess]) -> None:
    a, b = workers
    bob = a.register("bob")
    for server in workers:
        assert httpx.get(server.base_url + "/_matrix/client/v3/account/whoami", headers=_auth(bob)).status_code == 200
    out = a.run_cli("official", "sign-out", bob["user_id"], bob["device_id"])
    assert out.returncode == 0, out.stderr
    for server in workers:
        r = httpx.get(server.base_url + "/_matrix/client/v3/account/whoami", headers=_auth(bob))
        assert r.status_code == 401, (server.base_url, r.text)
        assert r.json()["errcode"] == "M_UNKNOWN_TOKEN"


def test_a_registration_flow_may_move_between_workers(workers: list[ServerProcess]) -> None:
    a, b = workers
    token = a.create_token()
    body = {"username": "carol", "password": "correct horse battery"}
    first = httpx.post(a.base_url + "/_matrix/client/v3/register", json=body)
    session = first.json()["session"]
    second = httpx.post(b.base_url + "/_matrix/client/v3/register", json={
        **body, "auth": {"type": "m.login.registration_token", "token": token, "session": session}})
    assert second.status_code == 401 and second.json()["completed"] == ["m.login.registration_token"], second.text
    done = httpx.post(a.base_url + "/_matrix/client/v3/register",
                      json={**body, "auth": {"type": "m.login.dummy", "session": session}})
    assert done.status_code == 200, done.text
    again = httpx.post(b.base_url + "/_matrix/client/v3/register",
                       json={**body, "auth": {"type": "m.login.dummy", "session": session}})
    assert again.status_code == 400 and again.json()["errcode"] in ("M_UNKNOWN", "M_USER_IN_USE"), again.text


def test_typing_on_one_worker_reaches_a_sync_on_the_other(workers: list[ServerProcess]) -> None:
    a, b = workers
    alice, bob = a.register("alice"), b.register("bob")
    # Made and joined through worker A only: worker B learns of the room from A's commits.
    room = _room_with(a, alice, a, bob)
    time.sleep(0.5)
    since = httpx.get(b.base_url + "/_matrix/client/v3/sync", headers=_auth(bob), params=QUIET).json()["next_batch"]
    typing = httpx.put(f"{a.base_url}/_matrix/client/v3/rooms/{room}/typing/{alice['user_id']}",
                       headers=_auth(alice), json={"typing": True, "timeout": 30000})
    assert typing.status_code == 200, typing.text
    later = httpx.get(b.base_url + "/_matrix/client/v3/sync", headers=_auth(bob), timeout=30,
                      params={"since": since, "timeout": "10000", **QUIET}).json()
    ephemeral = later["rooms"]["join"][room]["ephemeral"]["events"]
    assert {"type": "m.typing", "content": {"user_ids": [alice["user_id"]]}} in ephemeral
