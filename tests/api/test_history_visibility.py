"""History visibility over HTTP: what a newcomer, an invitee and a leaver read of a room's past.

Each room is made by its owner with a history visibility, then talks before a newcomer is
invited, while they are invited, after they join (and, for leavers, after they leave). The
room's first events come before its setting and are `shared` (the spec's default), so they are
left out of what is compared: the conversation is what counts.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.hardening.client import User, error, new_user
from tests.server import ServerProcess

TEXT = "m.room.message"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path_factory.mktemp("visibility") / "data")
    process.start()
    try:
        yield process
    finally:
        process.stop()


@dataclass
class Room:
    owner: User
    newcomer: User
    room_id: str
    # label -> event ID, of the owner's messages
    said: dict[str, str] = field(default_factory=dict)
    since_before_invite: str = ""

    def say(self, label: str) -> None:
        self.said[label] = self.owner.send(self.room_id, label, {"msgtype": "m.text", "body": f"secret {label}"})


_count = 0


def make_room(server: ServerProcess, visibility: str, leave: bool = False) -> Room:
    """A room that talks before, during and after the newcomer's invite, join (and leave)."""
    global _count
    _count += 1
    owner, newcomer = new_user(server, f"owner{_count}"), new_user(server, f"newcomer{_count}")
    room_id = owner.create_room(preset="private_chat", initial_state=[
        {"type": "m.room.history_visibility", "state_key": "", "content": {"history_visibility": visibility}}])
    room = Room(owner, newcomer, room_id)
    room.say("before invite")
    room.since_before_invite = newcomer.sync()["next_batch"]
    assert owner.post(f"/rooms/{room_id}/invite", {"user_id": newcomer.user_id}).status_code == 200
    room.say("while invited")
    newcomer.join(room_id)
    room.say("while joined")
    if leave:
        assert newcomer.post(f"/rooms/{room_id}/leave").status_code == 200
        room.say("after leaving")
    return room


def history(user: User, room_id: str) -> list[dict[str, Any]]:
    """Everything /messages gives, paging back from the newest to the room's start."""
    events: list[dict[str, Any]] = []
    params: dict[str, Any] = {"dir": "b", "limit": 2}
    for _ in range(100):
        page = user.get(f"/rooms/{room_id}/messages", **params)
        assert page.status_code == 200, page.text
        events += page.json()["chunk"]
        if "end" not in page.json():
            return events
        params["from"] = page.json()["end"]
    raise AssertionError("paging never ended")


def seen_labels(room: Room, events: list[dict[str, Any]]) -> set[str]:
    ids = {e["event_id"] for e in events}
    return {label for label, event_id in room.said.items() if event_id in ids}


def readable_singly(room: Room, label: str) -> bool:
    """Whether /event and /context give the message; a hidden one answers like one that does not exist."""
    event_id = room.said[label]
    single = room.newcomer.get(f"/rooms/{room.room_id}/event/{event_id}")
    context = room.newcomer.get(f"/rooms/{room.room_id}/context/{event_id}")
    if single.status_code == 200:
        assert context.status_code == 200, context.text
        return True
    ghost = "$doesnotexist0000000000000000000000000000000"
    for response, path in ((single, "event"), (context, "context")):
        assert error(response) == (404, "M_NOT_FOUND"), response.text
        missing = room.newcomer.get(f"/rooms/{room.room_id}/{path}/{ghost}")
        assert (response.json(), error(response)) == (missing.json(), error(missing))
    return False


def readable_by_every_path(room: Room) -> dict[str, set[str]]:
    """label sets the newcomer can read, per path."""
    initial = room.newcomer.sync()["rooms"]
    section = initial["join"].get(room.room_id) or initial["leave"].get(room.room_id) or {}
    incremental = room.newcomer.sync(room.since_before_invite)["rooms"]
    later = incremental["join"].get(room.room_id) or incremental["leave"].get(room.room_id) or {}
    return {
        "initial sync": seen_labels(room, section.get("timeline", {}).get("events", [])),
        "incremental sync": seen_labels(room, later.get("timeline", {}).get("events", [])),
        "messages": seen_labels(room, history(room.newcomer, room.room_id)),
        "event and context": {label for label in room.said if readable_singly(room, label)},
    }


@pytest.mark.parametrize(("visibility", "expected"), [
    ("joined", {"while joined"}),
    ("invited", {"while invited", "while joined"}),
    ("shared", {"before invite", "while invited", "while joined"}),
    ("world_readable", {"before invite", "while invited", "while joined"}),
])
def test_a_newcomer_reads_what_the_room_s_visibility_allows(
        server: ServerProcess, visibility: str, expected: set[str]) -> None:
    room = make_room(server, visibility)
    for path, labels in readable_by_every_path(room).items():
        assert labels == expected, path


@pytest.mark.parametrize(("visibility", "expected"), [
    ("joined", {"while joined"}),
    ("invited", {"while invited", "while joined"}),
    ("shared", {"before invite", "while invited", "while joined"}),
    ("world_readable", {"before invite", "while invited", "while joined", "after leaving"}),
])
def test_a_leaver_reads_up_to_leaving(server: ServerProcess, visibility: str, expected: set[str]) -> None:
    room = make_room(server, visibility, leave=True)
    paths = readable_by_every_path(room)
    assert paths["messages"] == paths["event and context"] == expected
    # /sync's leave section carries the room from `since` up to the leave, never past it.
    assert paths["incremental sync"] == expected - {"before invite", "after leaving"}


def test_a_joined_room_hides_its_whole_past_from_a_newcomer(server: ServerProcess) -> None:
    """Nothing after the room's setting and before the join, not even the newcomer's own invite."""
    room = make_room(server, "joined")
    everything = history(room.owner, room.room_id)[::-1]
    setting = max(i for i, e in enumerate(everything) if e["type"] == "m.room.history_visibility")
    joined = next(i for i, e in enumerate(everything) if e["type"] == "m.room.member"
                  and e["state_key"] == room.newcomer.user_id and e["content"]["membership"] == "join")
    hidden = {e["event_id"] for e in everything[setting + 1:joined]}
    assert len(hidden) == 3  # a message, the newcomer's invite, a message
    seen = {e["event_id"] for e in history(room.newcomer, room.room_id)}
    sync = room.newcomer.sync()["rooms"]["join"][room.room_id]
    seen |= {e["event_id"] for e in sync["timeline"]["events"]}
    assert not seen & hidden
    assert sync["timeline"]["limited"] is True
    # The state is the room's all the same: the newcomer knows where they are.
    known = sync["state"]["events"] + sync["timeline"]["events"]
    assert {"m.room.create", "m.room.history_visibility", "m.room.power_levels"} <= {e["type"] for e in known}


def test_a_stranger_reads_a_world_readable_room_only(server: ServerProcess) -> None:
    owner, stranger = new_user(server, "wr-owner"), new_user(server, "wr-stranger")
    rooms = {}
    for visibility in ("world_readable", "shared"):
        rooms[visibility] = owner.create_room(preset="public_chat", initial_state=[
            {"type": "m.room.history_visibility", "state_key": "", "content": {"history_visibility": visibility}}])
    said = {v: owner.send(room_id, v, {"msgtype": "m.text", "body": v}) for v, room_id in rooms.items()}
    readable = rooms["world_readable"]
    assert said["world_readable"] in {e["event_id"] for e in history(stranger, readable)}
    assert stranger.get(f"/rooms/{readable}/event/{said['world_readable']}").status_code == 200
    closed = rooms["shared"]
    assert error(stranger.get(f"/rooms/{closed}/messages")) == (403, "M_FORBIDDEN")
    # The same answer as for an event that does not exist: nothing to tell the two apart.
    hidden = stranger.get(f"/rooms/{closed}/event/{said['shared']}")
    ghost = stranger.get(f"/rooms/{closed}/event/$doesnotexist0000000000000000000000000000000")
    assert error(hidden) == error(ghost) == (404, "M_NOT_FOUND")
    assert hidden.json() == ghost.json()
