"""MSC4222: with use_state_after, /sync gives the state at the end of the timeline as state_after."""

from __future__ import annotations

import httpx

from tests.server import ServerProcess

V3 = "/_matrix/client/v3"
USE = {"org.matrix.msc4222.use_state_after": "true"}
STATE_AFTER = "org.matrix.msc4222.state_after"


def test_state_after_holds_the_state_at_the_end_of_the_timeline(server: ServerProcess) -> None:
    login = server.register("alice")
    http = httpx.Client(base_url=server.base_url, headers={"authorization": f"Bearer {login['access_token']}"})
    room_id = http.post(V3 + "/createRoom", json={"name": "Budget"}).json()["room_id"]

    initial = http.get(V3 + "/sync", params=USE).json()["rooms"]["join"][room_id]
    assert "state" not in initial
    after = {(e["type"], e["state_key"]): e["content"] for e in initial[STATE_AFTER]["events"]}
    assert after[("m.room.name", "")] == {"name": "Budget"}  # also in the timeline: still in state_after
    assert ("m.room.create", "") in after and ("m.room.member", login["user_id"]) in after

    since = http.get(V3 + "/sync").json()["next_batch"]
    http.put(f"{V3}/rooms/{room_id}/state/m.room.topic", json={"topic": "Q3"})
    plain = http.get(V3 + "/sync", params={"since": since}).json()["rooms"]["join"][room_id]
    assert plain["state"] == {"events": []} and STATE_AFTER not in plain
    changed = http.get(V3 + "/sync", params={"since": since, **USE}).json()["rooms"]["join"][room_id]
    assert [(e["type"], e["content"]) for e in changed[STATE_AFTER]["events"]] == [("m.room.topic", {"topic": "Q3"})]
    assert [e["type"] for e in changed["timeline"]["events"]] == ["m.room.topic"]
    assert http.get("/_matrix/client/versions").json()["unstable_features"]["org.matrix.msc4222"] is True


def test_the_stable_parameter_gets_the_stable_key(server: ServerProcess) -> None:
    """Spec v1.16 made it stable: `use_state_after` is answered as `state_after`."""
    login = server.register("alice")
    http = httpx.Client(base_url=server.base_url, headers={"authorization": f"Bearer {login['access_token']}"})
    room_id = http.post(V3 + "/createRoom", json={"name": "Budget"}).json()["room_id"]
    since = http.get(V3 + "/sync").json()["next_batch"]
    http.put(f"{V3}/rooms/{room_id}/state/m.room.topic", json={"topic": "Q3"})
    room = http.get(V3 + "/sync", params={"since": since, "use_state_after": "true"}).json()["rooms"]["join"][room_id]
    assert "state" not in room and STATE_AFTER not in room
    assert [(e["type"], e["content"]) for e in room["state_after"]["events"]] == [("m.room.topic", {"topic": "Q3"})]
    initial = http.get(V3 + "/sync", params={"use_state_after": "true"}).json()["rooms"]["join"][room_id]
    assert ("m.room.name", {"name": "Budget"}) in [(e["type"], e["content"]) for e in initial["state_after"]["events"]]
