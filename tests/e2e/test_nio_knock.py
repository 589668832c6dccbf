"""Knocking with matrix-nio: a room opened to knocks, a knock the room's member sees with its reason,
approval by invite, refusal by kick; nio keeps syncing through all of it (rooms.knock included)."""

from __future__ import annotations

from pathlib import Path

from nio import (
    RoomCreateResponse,
    RoomInviteResponse,
    RoomKickResponse,
    RoomKnockError,
    RoomKnockResponse,
    RoomMemberEvent,
    RoomPutStateResponse,
)

from tests.e2e.nio_user import NioUser
from tests.server import ServerProcess

PASSWORD = "a long enough passphrase"


async def _member_events(user: NioUser, room_id: str, target: str) -> list[RoomMemberEvent]:
    response = await user.sync()
    room = response.rooms.join.get(room_id)
    events = room.timeline.events if room is not None else []
    return [e for e in events if isinstance(e, RoomMemberEvent) and e.state_key == target]


async def test_nio_knocks_and_is_let_in_or_refused(server: ServerProcess, tmp_path: Path) -> None:
    token = server.create_token(uses=3)
    chair = NioUser(server.base_url, "chair", tmp_path / "chair")
    visitor = NioUser(server.base_url, "visitor", tmp_path / "visitor")
    pest = NioUser(server.base_url, "pest", tmp_path / "pest")
    try:
        for user in (chair, visitor, pest):
            await user.register(PASSWORD, token)
        created = await chair.client.room_create(name="Help desk")
        assert isinstance(created, RoomCreateResponse), created
        room_id = str(created.room_id)
        # Private rooms take no knocks until the room says so.
        refused = await visitor.client.room_knock(room_id, reason="too early")
        assert isinstance(refused, RoomKnockError) and refused.status_code == "M_NOT_FOUND", refused
        opened = await chair.client.room_enable_knocking(room_id)
        assert isinstance(opened, RoomPutStateResponse), opened
        await chair.sync()

        knocked = await visitor.client.room_knock(room_id, reason="I need the forms")
        assert isinstance(knocked, RoomKnockResponse) and knocked.room_id == room_id, knocked
        await visitor.sync()  # nio takes the rooms.knock section in its stride
        seen = await _member_events(chair, room_id, visitor.user_id)
        assert [(e.membership, e.content.get("reason")) for e in seen] == [("knock", "I need the forms")]

        invited = await chair.client.room_invite(room_id, visitor.user_id)
        assert isinstance(invited, RoomInviteResponse), invited
        await visitor.sync()
        assert room_id in visitor.client.invited_rooms
        await visitor.join(room_id)
        assert room_id in visitor.client.rooms and room_id not in visitor.client.invited_rooms

        assert isinstance(await pest.client.room_knock(room_id), RoomKnockResponse)
        await chair.sync()
        kicked = await chair.client.room_kick(room_id, pest.user_id, reason="not today")
        assert isinstance(kicked, RoomKickResponse), kicked
        left = await pest.sync()
        assert room_id in left.rooms.leave
        assert [e.membership for e in await _member_events(chair, room_id, pest.user_id)] == ["leave"]
        members = await chair.client.joined_members(room_id)
        assert sorted(m.user_id for m in members.members) == sorted([chair.user_id, visitor.user_id])
    finally:
        for user in (chair, visitor, pest):
            await user.client.close()
