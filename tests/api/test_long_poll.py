"""Long-polling /sync: what a waiting request must and must not do, over real HTTP."""

from __future__ import annotations

import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from tests.api.e2ee_helpers import V3, Device, share_room
from tests.server import ServerProcess, free_port


def new_device(server: ServerProcess, username: str) -> Device:
    return Device(server, server.register(username))


def test_a_long_poll_returns_at_once_what_the_last_answer_left_pending(server: ServerProcess) -> None:
    """An answer carries at most 100 to-device messages; a long-poll with its token must not wait
    for news before handing out the rest, which were all there already."""
    alice, bob = new_device(server, "alice"), new_device(server, "bob")
    since = alice.sync()["next_batch"]
    messages = {alice.user_id: {alice.device_id: {"n": 0}}}
    for n in range(130):
        messages[alice.user_id][alice.device_id] = {"n": n}
        assert bob.put(f"/sendToDevice/m.test/many{n}", {"messages": messages}).status_code == 200
    first = alice.get("/sync", since=since, timeout="60000").json()
    assert len(first["to_device"]["events"]) == 100
    # The server would wait up to 60 s for news; the client gives up after 20: it must answer before.
    rest = httpx.get(server.base_url + V3 + "/sync", params={"since": first["next_batch"], "timeout": "60000"},
                     headers=alice.headers, timeout=20).json()
    assert [e["content"]["n"] for e in rest["to_device"]["events"]] == list(range(100, 130))


def test_abandoned_long_polls_end_with_their_connections(server: ServerProcess) -> None:
    """A client that drops a waiting /sync leaves nothing waiting on the server: a stop finds no
    request to cut off (the server logs any it has to cut once its grace period runs out)."""
    alice = new_device(server, "alice")
    since = alice.sync()["next_batch"]
    for _ in range(3):
        with socket.create_connection(("127.0.0.1", server.port)) as raw:
            raw.sendall(f"GET {V3}/sync?timeout=60000&since={since} HTTP/1.1\r\nHost: qasid\r\n"
                        f"Authorization: Bearer {alice.token}\r\n\r\n".encode())
            time.sleep(0.2)  # let the server read it and start waiting
            assert alice.get("/account/whoami").status_code == 200
    assert alice.get("/account/whoami").status_code == 200
    server.stop()
    log = server.log_path.read_text()
    assert "qasid.http: stopped" in log
    assert "grace period ran out" not in log, log[-2000:]


def test_a_busy_device_is_answered_at_most_once_per_pace(tmp_path: Path) -> None:
    """A device answered moments ago has its next long-poll held until the pace has passed:
    what arrives meanwhile comes in one answer instead of one answer per event."""
    server = ServerProcess(tmp_path / "data", env={"QASID_SYNC_PACE_MS": "1500"})
    server.start()
    try:
        alice, bob = new_device(server, "alice"), new_device(server, "bob")
        room = share_room(alice, bob)
        since = bob.sync()["next_batch"]
        # bob re-polls at once; the first message wakes the poll within the pace, and the second,
        # sent a moment later, joins the same answer.
        with ThreadPoolExecutor(1) as pool:
            poll = pool.submit(bob.get, "/sync", since=since, timeout="30000")
            time.sleep(0.2)
            for n in ("1", "2"):
                sent = alice.put(f"/rooms/{room}/send/m.room.message/t{n}", {"msgtype": "m.text", "body": n})
                assert sent.status_code == 200
                time.sleep(0.3)
            assert bodies(poll.result(timeout=30).json(), room) == ["1", "2"]
    finally:
        server.stop()


def test_a_busy_sliding_sync_connection_is_answered_at_most_once_per_pace(tmp_path: Path) -> None:
    """The same pace holds a sliding sync connection's next long-poll: the two messages that
    arrive within it come in one answer (without the pace, the first alone would)."""
    server = ServerProcess(tmp_path / "data", env={"QASID_SYNC_PACE_MS": "1500"})
    server.start()
    try:
        alice, bob = new_device(server, "alice"), new_device(server, "bob")
        room = share_room(alice, bob)
        sliding = server.base_url + "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync"
        body = {"lists": {"all": {"ranges": [[0, 9]], "timeline_limit": 10, "required_state": []}}}
        pos = httpx.post(sliding, json=body, headers=bob.headers).json()["pos"]  # answered now, with the room
        with ThreadPoolExecutor(1) as pool:
            poll = pool.submit(httpx.post, sliding, params={"pos": pos, "timeout": "30000"}, json=body,
                               headers=bob.headers, timeout=60)
            time.sleep(0.2)
            for n in ("1", "2"):
                sent = alice.put(f"/rooms/{room}/send/m.room.message/t{n}", {"msgtype": "m.text", "body": n})
                assert sent.status_code == 200
                time.sleep(0.3)
            timeline = poll.result(timeout=30).json()["rooms"][room]["timeline"]
            assert [e["content"]["body"] for e in timeline if e["type"] == "m.room.message"] == ["1", "2"]
    finally:
        server.stop()


def bodies(response: dict[str, Any], room_id: str) -> list[str]:
    timeline = response["rooms"]["join"][room_id]["timeline"]["events"]
    return [e["content"]["body"] for e in timeline if e["type"] == "m.room.message"]


def test_a_stop_answers_parked_long_polls_instead_of_cutting_them_off(server: ServerProcess) -> None:
    """On SIGTERM, a /sync or sliding sync long-poll answers at once with what it has (200), so a
    restart costs clients nothing, instead of being cut off when the grace period runs out (500)."""
    alice = new_device(server, "alice")
    since = alice.sync()["next_batch"]
    sliding = server.base_url + "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync"
    body = {"lists": {"all": {"ranges": [[0, 9]], "timeline_limit": 1, "required_state": []}}}
    pos = httpx.post(sliding, json=body, headers=alice.headers).json()["pos"]
    with ThreadPoolExecutor(2) as pool:
        parked = [
            pool.submit(httpx.get, server.base_url + V3 + "/sync", params={"since": since, "timeout": "50000"},
                        headers=alice.headers, timeout=60),
            pool.submit(httpx.post, sliding, params={"pos": pos, "timeout": "50000"}, json=body,
                        headers=alice.headers, timeout=60),
        ]
        time.sleep(1)  # both are parked now
        server.stop()
        answers = [f.result() for f in parked]
    assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
    assert answers[0].json()["next_batch"] and answers[1].json()["pos"]
    assert "CancelledError" not in server.log_path.read_text()


def test_a_client_that_leaves_frees_its_parked_long_poll_at_once(tmp_path: Path) -> None:
    """A phone that drops its connection mid-wait must not leave a request parked until the
    timeout: 100,000 phones come and go, and each parked request holds memory."""
    metrics_port = free_port()
    server = ServerProcess(tmp_path / "data", env={"QASID_METRICS_BIND": f"127.0.0.1:{metrics_port}"})
    server.start()
    try:
        alice = new_device(server, "alice")
        since = alice.sync()["next_batch"]
        sliding = "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync"
        body = b'{"lists":{"all":{"ranges":[[0,9]],"timeline_limit":1,"required_state":[]}}}'
        pos = httpx.post(server.base_url + sliding, content=body, headers=alice.headers).json()["pos"]
        requests = [
            f"GET {V3}/sync?timeout=60000&since={quote(since)} HTTP/1.1\r\n",
            f"POST {sliding}?timeout=60000&pos={quote(pos)} HTTP/1.1\r\nContent-Length: {len(body)}\r\n",
        ]
        connections = [socket.create_connection(("127.0.0.1", server.port)) for _ in requests]
        for raw, head in zip(connections, requests, strict=True):
            raw.sendall(f"{head}Host: qasid\r\nAuthorization: Bearer {alice.token}\r\n\r\n".encode()
                        + (body if head.startswith("POST") else b""))
        assert _parked_soon(metrics_port, lambda n: n == 2), "both long-polls should be parked"
        for raw in connections:
            raw.close()
        assert _parked_soon(metrics_port, lambda n: n == 0), "a closed connection must free its long-poll"
    finally:
        server.stop()


def _parked_soon(metrics_port: int, wanted: Any, within_s: float = 5.0) -> bool:
    """Whether the number of parked long-polls (all kinds) satisfies `wanted` within `within_s`."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        text = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text
        if wanted(sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                      if line.startswith("qasid_parked_long_polls{"))):
            return True
        time.sleep(0.05)
    return False
