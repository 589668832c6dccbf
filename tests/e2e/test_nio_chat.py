"""Officials chat end-to-end encrypted through a real qasid process, with real matrix-nio clients."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.e2e.nio_user import NioUser
from tests.server import ServerProcess

PASSWORD = "a long enough passphrase"


def _device_names(response: httpx.Response) -> dict[str, str]:
    return {d["device_id"]: d["display_name"] for d in response.json()["devices"]}


async def test_encrypted_conversation_survives_sigkill(server: ServerProcess, tmp_path: Path) -> None:
    token = server.create_token(uses=3)
    alice = NioUser(server.base_url, "alice", tmp_path / "alice")
    bob = NioUser(server.base_url, "bob", tmp_path / "bob")
    carol = NioUser(server.base_url, "carol", tmp_path / "carol")
    alice2 = NioUser(server.base_url, "alice", tmp_path / "alice2")
    users = [alice, bob, carol, alice2]
    plaintexts: list[str] = []

    def secret(text: str) -> str:
        plaintexts.append(text)
        return text

    try:
        await alice.register(PASSWORD, token)
        await bob.register(PASSWORD, token)
        room_id = await alice.create_encrypted_room(invite=[bob.user_id])
        await bob.join(room_id)
        await alice.sync()

        first = secret("Cabinet meets at nine, bring the budget file")
        await alice.send(room_id, first)
        await bob.wait_for(room_id, first)
        reply = secret("Understood, the file is ready")
        await bob.send(room_id, reply)
        await alice.wait_for(room_id, reply)

        # A third official joins later and reads what is sent after.
        await carol.register(PASSWORD, token)
        invite = await alice.client.room_invite(room_id, carol.user_id)
        assert type(invite).__name__ == "RoomInviteResponse", invite
        await carol.join(room_id)
        after_carol = secret("Welcome to the committee, Carol")
        await alice.send(room_id, after_carol)
        await carol.wait_for(room_id, after_carol)
        await bob.wait_for(room_id, after_carol)

        # A second device of Alice receives and decrypts.
        await alice2.login(PASSWORD)
        await alice.sync()
        await bob.sync()
        to_both = secret("Minutes to follow by evening")
        await bob.send(room_id, to_both)
        await alice2.wait_for(room_id, to_both)
        await alice.wait_for(room_id, to_both)

        # After Bob leaves, new messages reach the others and not him.
        await bob.client.room_leave(room_id)
        await bob.sync()
        await alice.sync()
        await carol.sync()
        after_bob = secret("Bob has left; this is for Carol and Alice only")
        await alice.send(room_id, after_bob)
        await carol.wait_for(room_id, after_bob)
        await alice2.wait_for(room_id, after_bob)
        await bob.sees_nothing_of(room_id, after_bob)

        # Power cut: everything acknowledged is still there afterwards.
        headers = {"Authorization": f"Bearer {alice.client.access_token}"}
        who = {"device_keys": {alice.user_id: [], carol.user_id: []}}
        async with httpx.AsyncClient(base_url=server.base_url + "/_matrix/client/v3", headers=headers) as http:
            before = (await http.get(f"/rooms/{room_id}/messages", params={"dir": "b", "limit": 100})).json()
            devices_before = _device_names(await http.get("/devices"))
            keys_before = (await http.post("/keys/query", json=who)).json()
        server.restart(kill=True)
        async with httpx.AsyncClient(base_url=server.base_url + "/_matrix/client/v3", headers=headers) as http:
            after = (await http.get(f"/rooms/{room_id}/messages", params={"dir": "b", "limit": 100})).json()
            devices_after = _device_names(await http.get("/devices"))
            keys_after = (await http.post("/keys/query", json=who)).json()
        assert [e["event_id"] for e in after["chunk"]] == [e["event_id"] for e in before["chunk"]]
        assert devices_after == devices_before and len(devices_after) == 2
        assert keys_after["device_keys"] == keys_before["device_keys"]
        assert len(keys_after["device_keys"][alice.user_id]) == 2

        # And the conversation simply continues on the restarted server.
        after_restart = secret("Still here after the restart")
        await carol.send(room_id, after_restart)
        await alice.wait_for(room_id, after_restart)
        await alice2.wait_for(room_id, after_restart)
    finally:
        for user in users:
            await user.close()

    # The server only ever held ciphertext.
    database = server.dump_database()
    for text in plaintexts:
        assert text.encode() not in database, f"plaintext {text!r} found in the SQLite files"
