"""Threads through a real matrix-nio client: /relations and /threads with nio's own API methods.

Two nio users talk in a thread; the other reads it back the way nio pages (`room_get_event_relations`,
`room_get_threads`, which follow `next_batch` until it is gone), and sees the server's thread
summary on the root through a raw /event request made with the nio client's own session.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nio import MessageDirection, RoomCreateResponse, RoomSendResponse
from nio.api import RelationshipType, ThreadInclusion

from tests.e2e.nio_user import NioUser
from tests.server import ServerProcess

PASSWORD = "a long enough passphrase"


async def _send(user: NioUser, room_id: str, body: str, relates_to: dict[str, Any] | None = None) -> str:
    content: dict[str, Any] = {"msgtype": "m.text", "body": body}
    if relates_to is not None:
        content["m.relates_to"] = relates_to
    await user.sync()
    response = await user.client.room_send(room_id, "m.room.message", content)
    assert isinstance(response, RoomSendResponse), response
    return str(response.event_id)


async def test_nio_pages_a_thread_and_the_thread_list(server: ServerProcess, tmp_path: Path) -> None:
    token = server.create_token(uses=2)
    amna = NioUser(server.base_url, "amna", tmp_path / "amna")
    bilal = NioUser(server.base_url, "bilal", tmp_path / "bilal")
    try:
        await amna.register(PASSWORD, token)
        await bilal.register(PASSWORD, token)
        created = await amna.client.room_create(name="Working group", invite=[bilal.user_id])
        assert isinstance(created, RoomCreateResponse), created
        room_id = str(created.room_id)
        await bilal.join(room_id)

        root = await _send(amna, room_id, "Draft circular: comments?")
        other_root = await _send(amna, room_id, "Budget figures")
        in_thread = {"rel_type": "m.thread", "event_id": root}
        replies = []
        for i in range(5):
            author = bilal if i % 2 == 0 else amna
            replies.append(await _send(author, room_id, f"comment {i}", in_thread))
        await _send(amna, room_id, "on the figures", {"rel_type": "m.thread", "event_id": other_root})

        # Backwards in pages of 2: nio follows next_batch until the server leaves it out.
        newest_first = [e.event_id async for e in bilal.client.room_get_event_relations(
            room_id, root, RelationshipType.thread, limit=2)]
        assert newest_first == list(reversed(replies))
        oldest_first = [e.event_id async for e in bilal.client.room_get_event_relations(
            room_id, root, RelationshipType.thread, "m.room.message", direction=MessageDirection.front, limit=3)]
        assert oldest_first == replies
        bodies = [e.body async for e in bilal.client.room_get_event_relations(room_id, root, limit=10)]
        assert bodies == [f"comment {i}" for i in reversed(range(5))]

        # The thread list, most recently active first, one root a page.
        roots = [e.event_id async for e in bilal.client.room_get_threads(room_id, limit=1)]
        assert roots == [other_root, root]
        mine = [e.event_id async for e in bilal.client.room_get_threads(
            room_id, ThreadInclusion.participated, limit=1)]
        assert mine == [root]

        # The summary nio leaves in the raw event: a raw request through nio's own session.
        response = await bilal.client.send(
            "GET", f"/_matrix/client/v3/rooms/{room_id}/event/{root}",
            headers={"Authorization": f"Bearer {bilal.client.access_token}"})
        assert response.status == 200, await response.text()
        summary = (await response.json())["unsigned"]["m.relations"]["m.thread"]
        assert summary["count"] == 5 and summary["current_user_participated"] is True
        assert summary["latest_event"]["event_id"] == replies[-1]
        assert summary["latest_event"]["content"]["body"] == "comment 4"
    finally:
        await amna.close()
        await bilal.close()
