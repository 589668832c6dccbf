"""Room upgrades over plain HTTP: one upgrade per room, and nothing revealed to outsiders."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.server import ServerProcess

V3 = "/_matrix/client/v3"


def client(server: ServerProcess, username: str) -> httpx.Client:
    token = server.register(username)["access_token"]
    return httpx.Client(base_url=server.base_url + V3, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def test_two_upgrades_at_once_make_one_replacement(server: ServerProcess) -> None:
    alice = client(server, "alice")
    room = alice.post("/createRoom", json={"name": "Budget"}).json()["room_id"]
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: alice.post(f"/rooms/{room}/upgrade", json={"new_version": "11"}),
                                range(4)))
    assert sorted(a.status_code for a in answers) == [200, 400, 400, 400], [a.text for a in answers]
    assert {a.json()["errcode"] for a in answers if a.status_code == 400} == {"M_BAD_STATE"}
    replacement = next(a.json()["replacement_room"] for a in answers if a.status_code == 200)
    tombstone = alice.get(f"/rooms/{room}/state/m.room.tombstone/").json()
    assert tombstone["replacement_room"] == replacement
    joined = alice.get("/joined_rooms").json()["joined_rooms"]
    assert sorted(joined) == sorted([room, replacement])


def test_an_outsider_learns_nothing(server: ServerProcess) -> None:
    alice, eve = client(server, "alice"), client(server, "eve")
    room = alice.post("/createRoom", json={}).json()["room_id"]
    for target in (room, "!missing:qasid.test"):
        refused = eve.post(f"/rooms/{target}/upgrade", json={"new_version": "11"})
        assert refused.status_code == 403 and refused.json() == {
            "errcode": "M_FORBIDDEN", "error": "You are not joined to this room"}
    assert eve.post("/rooms/not-a-room-id/upgrade", json={"new_version": "11"}).status_code == 400
    assert alice.get(f"/rooms/{room}/state/m.room.tombstone/").status_code == 404
