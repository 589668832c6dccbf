"""qasid's own HTTP/1.1 server (qasid/api/transport) as a client sees it on the wire.

Raw sockets, so that what an HTTP library would smooth over (pipelining, 100-continue, a chunked
body, a HEAD, a refused head) is what is tested; and the parked long-poll, which the server holds
without a task and runs again when woken, seen from outside: same answers, same deadline, same body.
"""

from __future__ import annotations

import json
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from tests.api.e2ee_helpers import V3, Device
from tests.api.test_long_poll import _parked_soon, new_device
from tests.server import ServerProcess, free_port

SLIDING = "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync"
LOGIN = b'{"type":"m.login.password","identifier":{"type":"m.id.user","user":"alice"},"password":"correct horse battery"}'


class Wire:
    """One raw HTTP/1.1 connection and a reader of the responses on it."""

    def __init__(self, server: ServerProcess, source: str = "127.0.0.1") -> None:
        self.sock = socket.create_connection(("127.0.0.1", server.port), timeout=30, source_address=(source, 0))
        self.reader = self.sock.makefile("rb")

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def response(self, head_only: bool = False) -> tuple[int, dict[str, str], bytes]:
        status = int(self.reader.readline().split()[1])
        headers: dict[str, str] = {}
        while (line := self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        if head_only or status in (100, 204, 304):
            return status, headers, b""
        if headers.get("transfer-encoding") == "chunked":
            body = b""
            while size := int(self.reader.readline().strip(), 16):
                body += self.reader.read(size)
                self.reader.readline()
            self.reader.readline()
            return status, headers, body
        return status, headers, self.reader.read(int(headers["content-length"]))

    def closed(self) -> bool:
        """Whether the server has closed the connection (nothing more to read)."""
        return self.reader.read(1) == b""

    def close(self) -> None:
        self.reader.close()
        self.sock.close()


def get(path: str, token: str | None = None, extra: str = "") -> bytes:
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    return f"GET {path} HTTP/1.1\r\nHost: qasid\r\n{auth}{extra}\r\n".encode()


def test_pipelined_requests_are_answered_in_order_on_one_connection(server: ServerProcess) -> None:
    alice = new_device(server, "alice")
    wire = Wire(server)
    try:
        wire.send(get("/_matrix/client/versions") + get(V3 + "/account/whoami", alice.token)
                  + get(V3 + "/account/whoami") + get("/_matrix/client/versions"))
        answers = [wire.response() for _ in range(4)]
    finally:
        wire.close()
    assert [status for status, _, _ in answers] == [200, 200, 401, 200]
    assert json.loads(answers[1][2])["user_id"] == alice.user_id
    assert json.loads(answers[2][2])["errcode"] == "M_MISSING_TOKEN"
    assert "versions" in json.loads(answers[3][2])


def test_a_head_request_gets_the_head_alone_and_the_connection_goes_on(server: ServerProcess) -> None:
    wire = Wire(server)
    try:
        wire.send(b"HEAD /_matrix/client/versions HTTP/1.1\r\nHost: qasid\r\n\r\n" + get("/_matrix/client/versions"))
        head_status, _, _ = wire.response(head_only=True)
        status, _, body = wire.response()
    finally:
        wire.close()
    assert status == 200 and "versions" in json.loads(body)
    assert head_status in (200, 405)  # whatever the app says, no body came with it: the next answer parsed


@pytest.mark.parametrize(("head", "status"), [
    (b"GET /_matrix/client/versions?" + b"a" * 17_000 + b" HTTP/1.1\r\nHost: qasid\r\n\r\n", 414),
    (b"GET /_matrix/client/versions HTTP/1.1\r\nHost: qasid\r\nX-Big: " + b"b" * 70_000 + b"\r\n\r\n", 431),
    (b"GET /_matrix/client/versions HTTP/1.1\r\nHost: qasid\r\n"
     + b"".join(b"X-%d: 1\r\n" % n for n in range(120)) + b"\r\n", 431),
    (b"NONSENSE\r\n\r\n", 400),
    (b"GET /_matrix/client/versions HTTP/1.1\r\nHost: qasid\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n", 400),
])
def test_a_head_the_server_will_not_parse_is_refused_and_the_connection_closed(
        server: ServerProcess, head: bytes, status: int) -> None:
    wire = Wire(server)
    try:
        wire.send(head)
        answer, headers, _ = wire.response()
        assert (answer, headers["connection"]) == (status, "close")
        assert wire.closed()
    finally:
        wire.close()
    assert httpx.get(server.base_url + "/_matrix/client/versions").status_code == 200


def test_a_client_that_expects_100_continue_is_told_to_send_its_body(server: ServerProcess) -> None:
    server.register("alice")
    wire = Wire(server)
    try:
        wire.send(b"POST %s/login HTTP/1.1\r\nHost: qasid\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\nExpect: 100-continue\r\n\r\n" % (V3.encode(), len(LOGIN)))
        assert wire.response()[0] == 100
        wire.send(LOGIN)
        status, _, body = wire.response()
    finally:
        wire.close()
    assert status == 200 and json.loads(body)["user_id"] == server.user_id("alice")


def test_a_body_refused_before_100_continue_is_never_waited_for(server: ServerProcess) -> None:
    """Answered from its head alone (too large), a request whose client holds its body back for
    "100 Continue" ends its connection: the body will not come, and no later request may be read as it."""
    wire = Wire(server)
    try:
        wire.send(b"POST %s/login HTTP/1.1\r\nHost: qasid\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 900000000\r\nExpect: 100-continue\r\n\r\n" % V3.encode())
        status, headers, body = wire.response()
        assert status == 413 and json.loads(body)["errcode"] == "M_TOO_LARGE"
        assert headers["connection"] == "close" and wire.closed()
    finally:
        wire.close()


def test_a_chunked_request_body_is_read_whole(server: ServerProcess) -> None:
    server.register("alice")
    chunks = [LOGIN[:10], LOGIN[10:50], LOGIN[50:]]
    wire = Wire(server)
    try:
        wire.send(b"POST %s/login HTTP/1.1\r\nHost: qasid\r\nTransfer-Encoding: chunked\r\n\r\n" % V3.encode())
        for chunk in chunks:
            wire.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            time.sleep(0.05)
        wire.send(b"0\r\n\r\n")
        status, _, body = wire.response()
    finally:
        wire.close()
    assert status == 200 and json.loads(body)["access_token"]


def test_the_client_address_comes_from_x_forwarded_for_only_through_a_proxy_on_this_host(
        server: ServerProcess) -> None:
    """What the audit log records as a failed sign-in's source: the peer itself, unless the peer
    is a proxy on this host (loopback), whose X-Forwarded-For names the client."""
    server.register("alice")
    wrong = LOGIN.replace(b"correct horse battery", b"wrong")
    for source in ("127.0.0.2", "127.0.0.1"):
        wire = Wire(server, source)
        try:
            wire.send(b"POST %s/login HTTP/1.1\r\nHost: qasid\r\nX-Forwarded-For: 198.51.100.1, 203.0.113.7\r\n"
                      b"Content-Length: %d\r\n\r\n%s" % (V3.encode(), len(wrong), wrong))
            assert wire.response()[0] == 403
        finally:
            wire.close()
    rows = server.query("SELECT source_ip FROM audit_log WHERE action LIKE '%.failed' ORDER BY seq")
    assert [ip for (ip,) in rows] == ["127.0.0.2", "203.0.113.7"]


def test_a_parked_long_poll_answers_at_its_deadline_not_before(server: ServerProcess) -> None:
    alice = new_device(server, "alice")
    since = alice.sync()["next_batch"]
    started = time.monotonic()
    answer = httpx.get(server.base_url + V3 + "/sync", params={"since": since, "timeout": "1500"},
                       headers=alice.headers, timeout=30)
    assert answer.status_code == 200 and time.monotonic() - started >= 1.4
    assert answer.json()["rooms"]["join"] == {}


def test_a_parked_sliding_sync_is_answered_from_its_own_body_when_woken(tmp_path: Path) -> None:
    """The request runs again when woken: from the body it came with, so its lists and their
    timeline limit shape the answer, not a default."""
    metrics_port = free_port()
    server = ServerProcess(tmp_path / "data", env={"QASID_METRICS_BIND": f"127.0.0.1:{metrics_port}"})
    server.start()
    try:
        alice = new_device(server, "alice")
        room_id = alice.post("/createRoom", {"name": "the parked room"}).json()["room_id"]
        for n in range(3):
            alice.put(f"/rooms/{quote(room_id)}/send/m.room.message/before{n}", {"msgtype": "m.text", "body": f"b{n}"})
        body = {"lists": {"mine": {"ranges": [[0, 4]], "timeline_limit": 2, "required_state": [["m.room.name", ""]]}}}
        first = httpx.post(server.base_url + SLIDING, json=body, headers=alice.headers).json()
        with ThreadPoolExecutor(1) as pool:
            parked = pool.submit(httpx.post, server.base_url + SLIDING, json=body, headers=alice.headers,
                                 params={"pos": first["pos"], "timeout": "30000"}, timeout=60)
            assert _parked_soon(metrics_port, lambda n: n == 1)
            alice.put(f"/rooms/{quote(room_id)}/send/m.room.message/woke", {"msgtype": "m.text", "body": "woken"})
            answer = parked.result()
        assert _parked_soon(metrics_port, lambda n: n == 0)
    finally:
        server.stop()
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["lists"]["mine"]["count"] == 1
    timeline = result["rooms"][room_id]["timeline"]
    assert [e["content"]["body"] for e in timeline if e["type"] == "m.room.message"] == ["woken"]


def test_a_token_revoked_while_its_long_poll_is_parked_is_refused_when_the_poll_answers(
        server: ServerProcess) -> None:
    """A parked request is authenticated again when it runs again: a device signed out meanwhile
    gets 401, not the events sent after it was signed out."""
    alice = new_device(server, "alice")
    since = alice.sync()["next_batch"]
    other = Device(server, server.register("alice2"))
    with ThreadPoolExecutor(1) as pool:
        parked = pool.submit(httpx.get, server.base_url + V3 + "/sync", headers=alice.headers, timeout=60,
                             params={"since": since, "timeout": "3000"})
        time.sleep(0.5)
        assert httpx.post(server.base_url + V3 + "/logout", headers=alice.headers).status_code == 200
        answer = parked.result()
    assert answer.status_code == 401 and answer.json()["errcode"] == "M_UNKNOWN_TOKEN", answer.text
    assert other.get("/account/whoami").status_code == 200



def test_a_parked_sync_answers_through_its_stored_filter_when_woken(server: ServerProcess) -> None:
    """The run that answers a parked /sync uses the filter the first run read (kept with the
    request, not read again): here `event_fields` strips the woken answer's events to their type."""
    alice = new_device(server, "alice")
    room_id = alice.post("/createRoom", {}).json()["room_id"]
    filter_id = alice.post(f"/user/{quote(alice.user_id)}/filter",
                           {"event_fields": ["type"], "room": {"timeline": {"limit": 5}}}).json()["filter_id"]
    since = alice.get("/sync", filter=filter_id, timeout="0").json()["next_batch"]
    with ThreadPoolExecutor(1) as pool:
        parked = pool.submit(httpx.get, server.base_url + V3 + "/sync", headers=alice.headers, timeout=60,
                             params={"since": since, "timeout": "30000", "filter": filter_id})
        time.sleep(0.5)
        alice.put(f"/rooms/{quote(room_id)}/send/m.room.message/w", {"msgtype": "m.text", "body": "hidden"})
        answer = parked.result()
    assert answer.status_code == 200, answer.text
    assert answer.json()["rooms"]["join"][room_id]["timeline"]["events"] == [{"type": "m.room.message"}]
