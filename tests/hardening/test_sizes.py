"""Item 6: sizes are bounded — events at 65,536 bytes, type and state_key at 255, bodies before parsing.

tests/api/test_bad_input.py already refuses bodies over the configured limit (declared and chunked)
and events well over 64 KiB. This pins the exact boundary on the stored PDU (65,536 bytes accepted,
65,537 refused with 413 M_TOO_LARGE), the 255-byte identifiers counted in bytes, a 1 MiB body
refused without the server's memory growing with it, and multipart bodies on JSON endpoints.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.hardening.client import V3, User, error, new_user, query_db
from tests.server import ServerProcess

MAX_EVENT_BYTES = 65_536
MIB = 1024 * 1024


class World:
    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.alice = new_user(server, "alice")
        self.room = self.alice.create_room()
        self.txns = iter(range(10**6))

    def event_count(self) -> int:
        return int(query_db(self.server, "SELECT count(*) FROM events")[0][0])

    def stored_size(self, event_id: str) -> int:
        return int(query_db(self.server, "SELECT length(pdu) FROM events WHERE event_id = ?", (event_id,))[0][0])

    def send_body(self, body_length: int) -> httpx.Response:
        return self.alice.put(f"/rooms/{self.room}/send/m.room.message/s{next(self.txns)}",
                              {"msgtype": "m.text", "body": "x" * body_length})


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    server = ServerProcess(tmp_path_factory.mktemp("sizes") / "data")
    server.start()
    try:
        yield World(server)
    finally:
        server.stop()


def test_event_of_65536_bytes_is_stored_and_65537_is_too_large(world: World) -> None:
    # The PDU's overhead (hashes, signature, IDs, timestamps) is the same for every message here,
    # as long as the depth keeps its number of digits: measure it once on a probe.
    probe = world.send_body(1000)
    assert probe.status_code == 200, probe.text
    overhead = world.stored_size(probe.json()["event_id"]) - 1000
    at_limit = world.send_body(MAX_EVENT_BYTES - overhead)
    assert at_limit.status_code == 200, at_limit.text
    assert world.stored_size(at_limit.json()["event_id"]) == MAX_EVENT_BYTES
    before = world.event_count()
    over = world.send_body(MAX_EVENT_BYTES - overhead + 1)
    assert error(over) == (413, "M_TOO_LARGE")
    assert world.event_count() == before


@pytest.mark.parametrize(("name", "value", "accepted"), [
    ("ascii-255", "t" * 255, True),
    ("ascii-256", "t" * 256, False),
    ("two-byte-256", "é" * 128, False),   # 128 characters, 256 bytes: counted in bytes
    ("four-byte-256", "😀" * 64, False),
])
def test_event_type_over_255_bytes_is_refused(world: World, name: str, value: str, accepted: bool) -> None:
    before = world.event_count()
    response = world.alice.put(f"/rooms/{world.room}/send/{value}/t{next(world.txns)}", {"x": name})
    state = world.alice.put(f"/rooms/{world.room}/state/{value}/k", {"x": name})
    for r in (response, state):
        if accepted:
            assert r.status_code == 200, r.text
        else:
            assert r.status_code == 400, r.text
            assert r.json()["errcode"] in ("M_INVALID_PARAM", "M_BAD_JSON", "M_TOO_LARGE"), r.text
    if not accepted:
        assert world.event_count() == before


@pytest.mark.parametrize(("value", "accepted"), [
    ("k" * 255, True), ("k" * 256, False), ("é" * 128, False), ("😀" * 64, False)])
def test_state_key_over_255_bytes_is_refused(world: World, value: str, accepted: bool) -> None:
    before = world.event_count()
    response = world.alice.put(f"/rooms/{world.room}/state/org.example.key/{value}", {"v": len(value)})
    if accepted:
        assert response.status_code == 200, response.text
        got = world.alice.get(f"/rooms/{world.room}/state/org.example.key/{value}")
        assert got.json() == {"v": len(value)}
    else:
        assert response.status_code == 400, response.text
        assert world.event_count() == before


def rss_peak_kib(server: ServerProcess) -> int:
    assert server.proc is not None
    status = Path(f"/proc/{server.proc.pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmHWM:")).split()[1])


def test_1_mib_bodies_are_refused_before_parsing_with_bounded_memory(world: World) -> None:
    """The default JSON limit is 512 KiB: 1 MiB is refused, declared or streamed, and never buffered whole."""
    url = f"{world.server.base_url}{V3}/rooms/{world.room}/send/m.room.message/big"
    headers = dict(world.alice.http.headers) | {"content-type": "application/json"}
    one_mib = b'{"msgtype": "m.text", "body": "' + b"x" * MIB + b'"}'
    before = world.event_count()
    declared = httpx.put(url, content=one_mib, headers=headers, timeout=60)
    assert error(declared) == (413, "M_TOO_LARGE")

    def streamed(total: int) -> Iterator[bytes]:
        yield b'{"msgtype": "m.text", "body": "'
        for _ in range(total // (64 * 1024)):
            yield b"x" * (64 * 1024)
        yield b'"}'

    assert error(httpx.put(url, content=streamed(MIB), headers=headers, timeout=60)) == (413, "M_TOO_LARGE")
    # Forty more streamed mebibytes: were they buffered, the peak RSS would grow by at least that.
    peak = rss_peak_kib(world.server)
    for _ in range(40):
        try:
            response = httpx.put(url, content=streamed(MIB), headers=headers, timeout=60)
        except httpx.HTTPError:
            continue  # the server may close the connection on the unread rest of the body
        assert error(response) == (413, "M_TOO_LARGE")
    assert rss_peak_kib(world.server) - peak < 16 * 1024
    assert world.event_count() == before


@pytest.mark.parametrize("path", [
    "/rooms/{room}/send/m.room.message/multipart", "/createRoom", "/rooms/{room}/state/org.example/x",
    "/user/{user}/account_data/org.example.multipart",
])
def test_multipart_body_on_a_json_endpoint_is_refused(world: World, path: str) -> None:
    before = world.event_count()
    method = "POST" if path == "/createRoom" else "PUT"
    response = world.alice.request(
        method, path.format(room=world.room, user=world.alice.user_id),
        files={"content": ("event.json", b'{"msgtype": "m.text", "body": "hi"}', "application/json")})
    assert response.request.headers["content-type"].startswith("multipart/form-data")
    assert response.status_code == 400, response.text
    assert response.json()["errcode"] in ("M_NOT_JSON", "M_BAD_JSON")
    assert world.event_count() == before
    assert isinstance(world.alice, User)
