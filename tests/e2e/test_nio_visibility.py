"""A confidential room keeps its past from a newcomer, as a real matrix-nio client sees it.

The room is not encrypted, so what hides the earlier messages is the room's history visibility
(`joined`), not the newcomer lacking keys.
"""

from __future__ import annotations

from pathlib import Path

from nio import MessageDirection, RoomCreateResponse, RoomMessagesResponse, RoomMessageText

from tests.e2e.nio_user import NioUser
from tests.server import ServerProcess

PASSWORD = "a long enough passphrase"
JOINED_ONLY = {"type": "m.room.history_visibility", "state_key": "", "content": {"history_visibility": "joined"}}


async def test_a_late_joiner_reads_nothing_said_before_joining(server: ServerProcess, tmp_path: Path) -> None:
    token = server.create_token(uses=2)
    chair = NioUser(server.base_url, "chair", tmp_path / "chair")
    latecomer = NioUser(server.base_url, "latecomer", tmp_path / "latecomer")
    try:
        await chair.register(PASSWORD, token)
        await latecomer.register(PASSWORD, token)
        created = await chair.client.room_create(name="Board", initial_state=[JOINED_ONLY])
        assert isinstance(created, RoomCreateResponse), created
        room_id = str(created.room_id)
        earlier = ["The audit found three irregularities", "Do not share the draft yet"]
        for body in earlier:
            await chair.send(room_id, body)
        invite = await chair.client.room_invite(room_id, latecomer.user_id)
        assert type(invite).__name__ == "RoomInviteResponse", invite
        await chair.send(room_id, "Said while the invite is pending")
        await latecomer.join(room_id)
        welcome = "Welcome to the board"
        await chair.send(room_id, welcome)
        await latecomer.wait_for(room_id, welcome)
        assert latecomer.received[room_id] == [welcome]

        # Paging back from now to the room's start finds none of it either.
        bodies: list[str] = []
        start = str(latecomer.client.next_batch)
        for _ in range(50):
            page = await latecomer.client.room_messages(room_id, start, limit=3, direction=MessageDirection.back)
            assert isinstance(page, RoomMessagesResponse), page
            bodies += [e.body for e in page.chunk if isinstance(e, RoomMessageText)]
            if not page.end or page.end == start:
                break
            start = page.end
        assert bodies == [welcome]
        # The chair, there from the start, reads it all.
        await chair.sync()
        whole = await chair.client.room_messages(room_id, chair.client.next_batch, limit=50)
        assert isinstance(whole, RoomMessagesResponse), whole
        assert set(earlier) <= {e.body for e in whole.chunk if isinstance(e, RoomMessageText)}
    finally:
        await chair.close()
        await latecomer.close()
