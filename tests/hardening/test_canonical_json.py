"""Item 5: numbers Matrix's canonical JSON cannot carry, anywhere in an event → 400 M_BAD_JSON, nothing stored.

tests/api/test_bad_input_content.py::test_event_content_outside_canonical_json_is_bad_json already sends
floats, -0.0, NaN, ±Infinity, ±2^53 and 64-bit-overflowing integers in `/send` and `/state` content,
and ::test_create_room_with_refused_content_stores_no_part_of_a_room three createRoom cases. This
adds the issue's whole list (including the integer `-0` and `1.1`) at every place a client can put
a number into an event: message and state content at any depth, createRoom's creation_content,
initial_state and power_level_content_override.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.hardening.client import User, new_user, query_db
from tests.server import ServerProcess

NUMBERS = {
    "2^53": b"9007199254740992",
    "-2^53": b"-9007199254740992",
    "1.1": b"1.1",
    "NaN": b"NaN",
    "Infinity": b"Infinity",
    "-Infinity": b"-Infinity",
    "-0": b"-0",
    "-0.0": b"-0.0",
    "2^63": b"9223372036854775808",
    "-2^63-1": b"-9223372036854775809",
    "10^30": b"1000000000000000000000000000000",
}

# Where the number goes: a method, a path (with {room}, {event}) and a body with NUMBER in it.
PLACES = {
    "message-top": ("PUT", "/rooms/{room}/send/m.room.message/{txn}",
                    b'{"msgtype": "m.text", "body": "x", "n": NUMBER}'),
    "message-deep": ("PUT", "/rooms/{room}/send/org.example.deep/{txn}",
                     b'{"a": [{"b": {"c": [1, 2, NUMBER]}}]}'),
    "state": ("PUT", "/rooms/{room}/state/org.example.state/key", b'{"value": NUMBER}'),
    "power-levels": ("PUT", "/rooms/{room}/state/m.room.power_levels/",
                     b'{"users": {"@alice:qasid.test": NUMBER}, "users_default": 0}'),
    "create-creation-content": ("POST", "/createRoom", b'{"creation_content": {"n": NUMBER}}'),
    "create-initial-state": ("POST", "/createRoom",
                             (b'{"initial_state": [{"type": "org.example", "state_key": "",'
                             b' "content": {"n": [NUMBER]}}]}')),
    "create-power-levels": ("POST", "/createRoom", b'{"power_level_content_override": {"ban": NUMBER}}'),
}


class World:
    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.alice = new_user(server, "alice")
        self.room = self.alice.create_room()
        self.event = self.alice.send(self.room, "first", {"msgtype": "m.text", "body": "hello"})
        self.txns = iter(range(10**6))

    def counts(self) -> tuple[int, int, int]:
        return tuple(query_db(self.server, f"SELECT count(*) FROM {table}")[0][0]  # type: ignore[return-value]
                     for table in ("events", "rooms", "current_state"))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    server = ServerProcess(tmp_path_factory.mktemp("canonical") / "data")
    server.start()
    try:
        yield World(server)
    finally:
        server.stop()


@pytest.mark.parametrize("number", NUMBERS, ids=str)
@pytest.mark.parametrize("place", PLACES, ids=str)
def test_non_canonical_number_is_bad_json_and_stores_nothing(world: World, place: str, number: str) -> None:
    method, template, body = PLACES[place]
    path = template.format(room=world.room, event=world.event, txn=f"t{next(world.txns)}")
    before = world.counts()
    response = world.alice.request(method, path, content=body.replace(b"NUMBER", NUMBERS[number]),
                                   headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text
    assert response.json()["errcode"] == "M_BAD_JSON", response.text
    assert world.counts() == before


def test_largest_canonical_integers_are_stored_exactly(world: World) -> None:
    body = b'{"msgtype": "m.text", "body": "x", "max": 9007199254740991, "min": -9007199254740991, "zero": 0}'
    sent = world.alice.request("PUT", f"/rooms/{world.room}/send/m.room.message/edge", content=body)
    assert sent.status_code == 200, sent.text
    event = world.alice.get(f"/rooms/{world.room}/event/{sent.json()['event_id']}").json()
    assert event["content"] == json.loads(body)


def test_the_room_is_intact(world: World) -> None:
    assert isinstance(world.alice, User)
    events = world.alice.timeline(world.room)
    assert next(e["event_id"] for e in events if e["type"] == "m.room.message") == world.event
    assert all(e["type"] not in ("org.example.deep", "org.example.state") for e in events)
