"""Presence reaches /sync: of users sharing a room, through the presence filter, waking long-polls."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from tests.hardening.client import User, new_user
from tests.server import ServerProcess

SS_PATH = "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync"


def _sync(user: User, since: str | None = None, **params: str) -> dict[str, Any]:
    query = {"timeout": "0"} | ({"since": since} if since else {}) | params
    response = user.get("/sync", **query)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def _presence(response: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["sender"]: e["content"] for e in response["presence"]["events"] if e["type"] == "m.presence"}


def test_presence_of_room_mates_is_synced_and_set_presence_is_honoured(server: ServerProcess) -> None:
    alice, bob, stranger = new_user(server, "alice"), new_user(server, "bob"), new_user(server, "stranger")
    room_id = alice.create_room(preset="public_chat")
    bob.join(room_id)
    _sync(stranger)  # online, but shares no room with bob
    _sync(alice)  # syncing marks alice online
    seen = _presence(_sync(bob, set_presence="offline"))
    assert seen[alice.user_id]["presence"] == "online"
    assert seen[alice.user_id]["currently_active"] is True
    assert isinstance(seen[alice.user_id]["last_active_ago"], int)
    assert stranger.user_id not in seen
    # bob synced with set_presence=offline: he was not marked online.
    assert _presence(_sync(alice)).get(bob.user_id, {"presence": "offline"})["presence"] == "offline"
    since = _sync(bob, set_presence="offline")["next_batch"]
    _sync(alice, set_presence="unavailable")
    later = _presence(_sync(bob, since, set_presence="offline"))
    assert later[alice.user_id]["presence"] == "unavailable"
    assert later[alice.user_id]["currently_active"] is False
    since = _sync(bob, set_presence="offline")["next_batch"]
    assert alice.put(f"/presence/{alice.user_id}/status", {"presence": "online", "status_msg": "in a meeting"}) \
        .status_code == 200
    status = _presence(_sync(bob, since, set_presence="offline"))[alice.user_id]
    assert (status["presence"], status["status_msg"]) == ("online", "in a meeting")
    # The presence filter applies.
    hidden = _sync(bob, filter=json.dumps({"presence": {"not_types": ["m.presence"]}}))
    assert hidden["presence"]["events"] == []
    only = _sync(bob, filter=json.dumps({"presence": {"senders": [bob.user_id]}}))
    assert alice.user_id not in _presence(only)
    # Sliding sync's set_presence is honoured too.
    since = _sync(bob, set_presence="offline")["next_batch"]
    body = {"lists": {"all": {"ranges": [[0, 5]], "timeline_limit": 1, "required_state": []}}}
    assert alice.post(SS_PATH + "?set_presence=unavailable", body).status_code == 200
    assert _presence(_sync(bob, since, set_presence="offline"))[alice.user_id]["presence"] == "unavailable"


def test_a_presence_change_wakes_the_long_polls_of_room_mates(server: ServerProcess) -> None:
    alice, bob = new_user(server, "alice"), new_user(server, "bob")
    room_id = alice.create_room(preset="public_chat")
    bob.join(room_id)
    _sync(alice)
    since = _sync(bob, set_presence="offline")["next_batch"]
    answer: dict[str, Any] = {}

    def poll() -> None:
        started = time.monotonic()
        answer["body"] = bob.get("/sync", since=since, timeout="20000", set_presence="offline").json()
        answer["took"] = time.monotonic() - started

    poller = threading.Thread(target=poll)
    poller.start()
    time.sleep(1)
    assert alice.put(f"/presence/{alice.user_id}/status", {"presence": "unavailable"}).status_code == 200
    poller.join(30)
    assert answer["took"] < 10
    assert _presence(answer["body"])[alice.user_id]["presence"] == "unavailable"
