"""Push notifications over real HTTP: rules decide, counts follow, a real gateway on loopback is woken."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.push_gateway import NOTIFY, PushGateway
from tests.server import ServerProcess

V3 = "/_matrix/client/v3"


class User:
    """One registered user talking to the real server."""

    def __init__(self, server: ServerProcess, username: str) -> None:
        login = server.register(username)
        self.user_id: str = login["user_id"]
        self.token: str = login["access_token"]
        self.connect(server)

    def connect(self, server: ServerProcess) -> None:
        self.http = httpx.Client(base_url=server.base_url + V3, timeout=30,
                                 headers={"Authorization": f"Bearer {self.token}"})

    def send(self, room_id: str, body: str, txn: str, **content: Any) -> str:
        response = self.http.put(f"/rooms/{room_id}/send/m.room.message/{txn}",
                                 json={"msgtype": "m.text", "body": body, **content})
        assert response.status_code == 200, response.text
        return response.json()["event_id"]  # type: ignore[no-any-return]

    def counts(self, room_id: str) -> dict[str, int]:
        body = self.http.get("/sync", params={"timeout": 0}).json()
        return body["rooms"]["join"][room_id]["unread_notifications"]  # type: ignore[no-any-return]

    def set_pusher(self, url: str, pushkey: str = "phone-key", **extra: Any) -> httpx.Response:
        return self.http.post("/pushers/set", json={
            "kind": "http", "app_id": "io.element.android", "pushkey": pushkey, "app_display_name": "Element X",
            "device_display_name": "Phone", "lang": "en",
            "data": {"url": url, "format": "event_id_only", "org.example.extra": "kept"}, **extra})


def room_of(alice: User, bob: User, **body: Any) -> str:
    created = alice.http.post("/createRoom", json={"invite": [bob.user_id], **body})
    assert created.status_code == 200, created.text
    room_id: str = created.json()["room_id"]
    assert bob.http.post(f"/join/{room_id}", json={}).status_code == 200
    return room_id


@pytest.fixture
def gateway() -> Iterator[PushGateway]:
    gw = PushGateway()
    gw.start()
    yield gw
    gw.stop()


@pytest.fixture
def push_server(tmp_path: Path, gateway: PushGateway) -> Iterator[ServerProcess]:
    """A server whose operator allows the test gateway, retrying quickly."""
    proc = ServerProcess(tmp_path / "data", env={
        "QASID_PUSH_GATEWAY_ALLOWLIST": gateway.base_url, "QASID_PUSH_RETRY_MAX_MS": "1000",
        "QASID_PUSH_GATEWAY_TIMEOUT_MS": "1000"})
    proc.start()
    yield proc
    proc.stop()


def test_without_an_allowlist_no_pusher_can_be_set(server: ServerProcess) -> None:
    alice = User(server, "alice")
    refused = alice.set_pusher("https://push.gov.example" + NOTIFY)
    assert refused.status_code == 403, refused.text
    assert refused.json()["errcode"] == "M_FORBIDDEN"
    assert "push_gateway_allowlist" in refused.json()["error"]
    assert alice.http.get("/pushers").json() == {"pushers": []}
    removal = {"kind": None, "app_id": "io.element.android", "pushkey": "phone-key"}
    assert alice.http.post("/pushers/set", json=removal).json() == {}


def test_rules_counts_notifications_and_the_gateway_agree(push_server: ServerProcess, gateway: PushGateway) -> None:
    alice, bob = User(push_server, "alice"), User(push_server, "bob")
    room = room_of(alice, bob)
    other = room_of(alice, bob)
    # Only the operator's gateway, and only a well-formed URL.
    assert bob.set_pusher("http://127.0.0.2:1" + NOTIFY).status_code == 403
    assert bob.set_pusher(gateway.base_url + "/elsewhere").json()["errcode"] == "M_INVALID_PARAM"
    assert bob.set_pusher(gateway.url.replace("http://", "http://u:p@")).json()["errcode"] == "M_INVALID_PARAM"
    assert bob.set_pusher(gateway.url).json() == {}
    pushers = bob.http.get("/pushers").json()["pushers"]
    assert [(p["pushkey"], p["kind"], p["data"]["url"]) for p in pushers] == [("phone-key", "http", gateway.url)]

    first = alice.send(room, "the budget is due", "t1")
    [notification] = gateway.wait_for(1)
    assert notification["event_id"] == first and notification["room_id"] == room
    assert notification["counts"] == {"unread": 1}
    [device] = notification["devices"]
    assert device["pushkey"] == "phone-key" and device["app_id"] == "io.element.android"
    assert device["data"] == {"format": "event_id_only", "org.example.extra": "kept"}  # no url
    # event_id_only: nothing of the message, its sender or whether it mentions anyone.
    for leaked in ("content", "sender", "sender_display_name", "room_name", "type"):
        assert leaked not in notification
    assert "tweaks" not in device

    mention = alice.send(room, "bob, see this", "t2", **{"m.mentions": {"user_ids": [bob.user_id]}})
    assert gateway.wait_for(2)[1]["counts"] == {"unread": 2}
    assert bob.counts(room) == {"notification_count": 2, "highlight_count": 1}
    third = alice.send(other, "elsewhere", "t3")
    assert gateway.wait_for(3)[2]["counts"] == {"unread": 3}

    # GET /notifications lists the same events, newest first (then the two invites), and pages.
    listed = bob.http.get("/notifications").json()
    assert [n["event"]["event_id"] for n in listed["notifications"]][:3] == [third, mention, first]
    assert [n["event"]["type"] for n in listed["notifications"]][3:] == ["m.room.member"] * 2
    assert "next_token" not in listed
    only = bob.http.get("/notifications", params={"only": "highlight"}).json()["notifications"]
    assert [n["event"]["event_id"] for n in only] == [mention]
    assert any(a == {"set_tweak": "highlight"} for a in only[0]["actions"]) and only[0]["read"] is False
    page = bob.http.get("/notifications", params={"limit": 2}).json()
    rest = bob.http.get("/notifications", params={"from": page["next_token"]}).json()
    assert rest["notifications"][0]["event"]["event_id"] == first

    # A read receipt resets the room's counts; the other room keeps its own.
    assert bob.http.post(f"/rooms/{room}/receipt/m.read/{mention}", json={}).status_code == 200
    assert bob.counts(room) == {"notification_count": 0, "highlight_count": 0}
    assert bob.counts(other)["notification_count"] == 1
    assert bob.http.get("/notifications").json()["notifications"][1]["read"] is True

    # A muted room sends nothing and counts nothing; the sender is never notified of their own.
    assert bob.http.put(f"/pushrules/global/room/{room}", json={"actions": []}).json() == {}
    alice.send(room, "quiet", "t4")
    bob.send(room, "my own", "t5")
    alice.send(other, "loud", "t6")
    received = gateway.wait_for(4)
    time.sleep(1)
    assert len(gateway.received) == 4 and received[3]["room_id"] == other
    assert received[3]["counts"] == {"unread": 2}  # the receipt took the first room's two off the badge
    assert bob.counts(room)["notification_count"] == 0
    # Exactly one notification per qualifying event.
    assert len(set(gateway.event_ids())) == 4


def test_threaded_receipts_reset_their_thread_only(push_server: ServerProcess) -> None:
    alice, bob = User(push_server, "alice"), User(push_server, "bob")
    room = room_of(alice, bob)
    root = alice.send(room, "root", "r")
    in_thread = {"m.relates_to": {"rel_type": "m.thread", "event_id": root}}
    reply = alice.send(room, "reply", "t1", **in_thread)
    alice.send(room, "reply 2", "t2", **in_thread)
    assert bob.counts(room)["notification_count"] == 3
    sync_filter = '{"room": {"timeline": {"unread_thread_notifications": true}}}'
    section = bob.http.get("/sync", params={"filter": sync_filter}).json()["rooms"]["join"][room]
    assert section["unread_notifications"] == {"notification_count": 1, "highlight_count": 0}
    assert section["unread_thread_notifications"] == {root: {"notification_count": 2, "highlight_count": 0}}
    # A receipt in the thread covers the thread up to it, and nothing of the main timeline.
    assert bob.http.post(f"/rooms/{room}/receipt/m.read/{reply}", json={"thread_id": root}).status_code == 200
    assert bob.counts(room)["notification_count"] == 2
    assert bob.http.post(f"/rooms/{room}/receipt/m.read/{root}", json={"thread_id": "main"}).status_code == 200
    assert bob.counts(room)["notification_count"] == 1
    # An event relating to a reply (here a reference) belongs to the reply's thread, as in Synapse.
    alice.send(room, "about reply 1", "t3", **{"m.relates_to": {"rel_type": "m.reference", "event_id": reply}})
    section = bob.http.get("/sync", params={"filter": sync_filter}).json()["rooms"]["join"][room]
    assert section["unread_thread_notifications"] == {root: {"notification_count": 2, "highlight_count": 0}}
    assert section["unread_notifications"] == {"notification_count": 0, "highlight_count": 0}


def test_a_rejected_pushkey_loses_its_pusher(push_server: ServerProcess, gateway: PushGateway) -> None:
    alice, bob = User(push_server, "alice"), User(push_server, "bob")
    room = room_of(alice, bob)
    assert bob.set_pusher(gateway.url).json() == {}
    gateway.mode = "garbage"  # a 200 that is not JSON still counts as taken
    alice.send(room, "one", "t1")
    gateway.wait_for(1)
    gateway.mode = "reject"
    alice.send(room, "two", "t2")
    gateway.wait_for(2)
    deadline = time.monotonic() + 10
    while bob.http.get("/pushers").json()["pushers"] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert bob.http.get("/pushers").json() == {"pushers": []}
    alice.send(room, "three", "t3")
    time.sleep(1)
    assert len(gateway.received) == 2


def test_a_hanging_gateway_costs_a_timeout_not_a_stall(push_server: ServerProcess, gateway: PushGateway) -> None:
    alice, bob = User(push_server, "alice"), User(push_server, "bob")
    room = room_of(alice, bob)
    assert bob.set_pusher(gateway.url).json() == {}
    gateway.mode = "hang"
    started = time.monotonic()
    for n in range(5):
        alice.send(room, f"m{n}", f"t{n}")
    assert time.monotonic() - started < 3
    gateway.wait_for(1)
    gateway.mode = "accept"
    # The one that hung is retried after its timeout: nothing is lost.
    received = gateway.wait_for(6, timeout=20)
    assert len({n["event_id"] for n in received}) == 5


def test_nothing_queued_is_lost_while_the_gateway_is_down_even_across_a_restart(
    push_server: ServerProcess, gateway: PushGateway,
) -> None:
    alice, bob = User(push_server, "alice"), User(push_server, "bob")
    room = room_of(alice, bob)
    assert bob.set_pusher(gateway.url).json() == {}
    gateway.stop()
    stopped = time.monotonic()
    sent = [alice.send(room, f"m{n}", f"t{n}") for n in range(3)]
    push_server.restart(kill=True)  # SIGKILL: nothing is flushed on the way out
    alice.connect(push_server)
    sent += [alice.send(room, f"m{n}", f"t{n}") for n in range(3, 5)]
    time.sleep(max(0.0, 10 - (time.monotonic() - stopped)))
    gateway.start()
    received = gateway.wait_for(5, timeout=20)
    time.sleep(1)
    assert gateway.event_ids() == sent
    assert [n["counts"]["unread"] for n in received] == [5] * 5  # counted when sent


def test_a_burst_reaches_the_gateway_once_per_event(push_server: ServerProcess, gateway: PushGateway) -> None:
    senders = [User(push_server, f"sender{n}") for n in range(8)]
    bob = User(push_server, "bob")
    rooms = [room_of(sender, bob) for sender in senders]
    assert bob.set_pusher(gateway.url).json() == {}

    def burst(n: int) -> list[str]:
        return [senders[n].send(rooms[n], f"m{i}", f"b{i}") for i in range(60)]

    with ThreadPoolExecutor(len(senders)) as pool:
        sent = [event_id for ids in pool.map(burst, range(len(senders))) for event_id in ids]
    gateway.wait_for(len(sent), timeout=30)
    time.sleep(1)
    # Sent while the ones before were still leaving the queue: none of them twice.
    twice = [event_id for event_id, times in Counter(gateway.event_ids()).items() if times > 1]
    assert twice == []
    assert sorted(gateway.event_ids()) == sorted(sent)


def children_of(pid: int) -> list[int]:
    """The process's children (Linux: listed per thread under /proc)."""
    tasks = Path(f"/proc/{pid}/task")
    return [int(child) for task in tasks.iterdir() for child in (task / "children").read_text().split()]


def niceness(pid: int) -> int:
    """The process's `nice` value: field 19 of /proc/PID/stat."""
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])


def test_the_push_process_is_started_again_when_it_dies(push_server: ServerProcess, gateway: PushGateway) -> None:
    if not Path(f"/proc/{os.getpid()}/task").is_dir():
        pytest.skip("finding the push process needs Linux's /proc")
    alice, bob = User(push_server, "alice"), User(push_server, "bob")
    room = room_of(alice, bob)
    assert bob.set_pusher(gateway.url).json() == {}
    first = alice.send(room, "one", "t1")
    gateway.wait_for(1)
    time.sleep(0.5)  # reported as taken and deleted (a kill before that sends it again)
    assert push_server.proc is not None
    [child] = children_of(push_server.proc.pid)
    # It yields the CPU to the server when both want it.
    assert niceness(child) == min(niceness(push_server.proc.pid) + 10, 19)
    os.kill(child, signal.SIGKILL)
    # Queued while no push process runs: the next one finds it in the queue.
    second = alice.send(room, "two", "t2")
    received = gateway.wait_for(2, timeout=20)
    assert [n["event_id"] for n in received] == [first, second]
    [restarted] = children_of(push_server.proc.pid)
    assert restarted != child
    # And it is stopped with the server.
    push_server.stop()
    assert not Path(f"/proc/{restarted}").exists() or "zombie" in Path(f"/proc/{restarted}/status").read_text()


def test_a_room_list_counts_each_room_as_sync_does(server: ServerProcess) -> None:
    """A phone's first sliding sync reads the counts of all its rooms at once: each room's must
    be what /sync counts for it alone, threaded receipts and mentions included."""
    alice, bob = User(server, "alice"), User(server, "bob")
    quiet, busy, threaded = room_of(alice, bob), room_of(alice, bob), room_of(alice, bob)
    alice.send(busy, "one", "b1")
    alice.send(busy, f"two, {bob.user_id}", "b2", **{"m.mentions": {"user_ids": [bob.user_id]}})
    root = alice.send(threaded, "root", "r")
    in_thread = {"m.relates_to": {"rel_type": "m.thread", "event_id": root}}
    reply = alice.send(threaded, "reply", "t1", **in_thread)
    alice.send(threaded, "reply 2", "t2", **in_thread)
    assert bob.http.post(f"/rooms/{threaded}/receipt/m.read/{reply}", json={"thread_id": root}).status_code == 200
    listed = {"lists": {"all": {"ranges": [[0, 9]], "timeline_limit": 1, "required_state": [["*", "*"]]}}}
    answer = httpx.post(server.base_url + "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync",
                        json=listed, headers={"Authorization": f"Bearer {bob.token}"}, timeout=30)
    assert answer.status_code == 200, answer.text
    rooms = answer.json()["rooms"]
    for room in (quiet, busy, threaded):
        expected = {key: bob.counts(room)[key] for key in ("notification_count", "highlight_count")}
        assert {key: rooms[room][key] for key in expected} == expected, room
    assert [rooms[r]["notification_count"] for r in (quiet, busy, threaded)] == [0, 2, 2]
    assert rooms[busy]["highlight_count"] == 1
    # And its required state is the room's whole current state, read for all three at once.
    for room in (quiet, busy, threaded):
        state = alice.http.get(f"/rooms/{room}/state").json()
        assert sorted(e["event_id"] for e in rooms[room]["required_state"]) == sorted(e["event_id"] for e in state)
