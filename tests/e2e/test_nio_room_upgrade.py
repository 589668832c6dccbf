"""A room upgrade as real matrix-nio clients see it: the old room tombstoned and locked, the new
one carrying its state, aliases and bans, but not its invitations.

nio's own `room_upgrade` builds the new room on the client; the spec's endpoint is called here
through nio's transport, with the user's access token in the header.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nio import RoomCreateResponse, RoomGetStateResponse, RoomResolveAliasResponse, RoomSendError

from tests.e2e.nio_user import ENCRYPTION, NioUser
from tests.server import ServerProcess

PASSWORD = "a long enough passphrase"


async def upgrade(user: NioUser, room_id: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = await user.client.send(
        "POST", f"/_matrix/client/v3/rooms/{room_id}/upgrade", json.dumps(body),
        headers={"Authorization": f"Bearer {user.client.access_token}", "Content-Type": "application/json"})
    return response.status, await response.json()


async def state_of(user: NioUser, room_id: str) -> dict[tuple[str, str], dict[str, Any]]:
    response = await user.client.room_get_state(room_id)
    assert isinstance(response, RoomGetStateResponse), response
    return {(event["type"], event["state_key"]): event for event in response.events}


async def test_upgrade_carries_state_and_tombstones_the_old_room(server: ServerProcess, tmp_path: Path) -> None:
    token = server.create_token(uses=4)
    chair, member, banned, invited = (NioUser(server.base_url, name, tmp_path / name)
                                      for name in ("chair", "member", "banned", "invited"))
    try:
        for user in (chair, member, banned, invited):
            await user.register(PASSWORD, token)
        acl = {"allow": ["*"], "deny": ["evil.example"], "allow_ip_literals": False}
        created = await chair.client.room_create(
            name="Cabinet", topic="Weekly cabinet business", alias="cabinet",
            initial_state=[ENCRYPTION,
                           {"type": "m.room.join_rules", "state_key": "", "content": {"join_rule": "public"}},
                           {"type": "m.room.history_visibility", "state_key": "",
                            "content": {"history_visibility": "joined"}},
                           {"type": "m.room.avatar", "state_key": "", "content": {"url": "mxc://qasid.test/abc"}},
                           {"type": "m.room.server_acl", "state_key": "", "content": acl}])
        assert isinstance(created, RoomCreateResponse), created
        old = str(created.room_id)
        await member.join(old)
        await banned.join(old)
        assert type(await chair.client.room_ban(old, banned.user_id, "leaked minutes")).__name__ == "RoomBanResponse"
        assert type(await chair.client.room_invite(old, invited.user_id)).__name__ == "RoomInviteResponse"
        await member.send(old, "Before the upgrade")
        before = await state_of(chair, old)

        # A member without the power to send m.room.tombstone may not upgrade; nor to another version.
        status, body = await upgrade(member, old, {"new_version": "11"})
        assert (status, body["errcode"]) == (403, "M_FORBIDDEN"), body
        status, body = await upgrade(chair, old, {"new_version": "12"})
        assert (status, body["errcode"]) == (400, "M_UNSUPPORTED_ROOM_VERSION"), body
        assert (await state_of(chair, old)).keys() == before.keys()

        status, body = await upgrade(chair, old, {"new_version": "11"})
        assert status == 200, body
        new = body["replacement_room"]
        assert new != old

        # The old room: the tombstone, as nio reads it, and ordinary members silenced.
        await chair.sync()
        assert chair.client.rooms[old].replacement_room == new
        old_state = await state_of(chair, old)
        assert old_state[("m.room.tombstone", "")]["content"]["replacement_room"] == new
        levels = old_state[("m.room.power_levels", "")]["content"]
        assert levels["events_default"] == 50 and levels["invite"] == 50
        await member.sync()
        refused = await member.client.room_send(old, "m.room.message", {"msgtype": "m.text", "body": "late"},
                                                ignore_unverified_devices=True)
        assert isinstance(refused, RoomSendError) and refused.status_code == "M_FORBIDDEN", refused

        # The new room: its predecessor, the carried state, the bans; not the invitation, nor members.
        assert new in chair.client.rooms and chair.client.rooms[new].encrypted
        new_state = await state_of(chair, new)
        create = new_state[("m.room.create", "")]["content"]
        assert create["room_version"] == "11" and create["predecessor"]["room_id"] == old
        for key in [("m.room.name", ""), ("m.room.topic", ""), ("m.room.avatar", ""), ("m.room.encryption", ""),
                    ("m.room.join_rules", ""), ("m.room.history_visibility", ""), ("m.room.guest_access", ""),
                    ("m.room.server_acl", ""), ("m.room.power_levels", "")]:
            assert new_state[key]["content"] == before[key]["content"], key
        assert new_state[("m.room.member", banned.user_id)]["content"]["membership"] == "ban"
        assert new_state[("m.room.member", banned.user_id)]["content"]["reason"] == "leaked minutes"
        assert ("m.room.member", invited.user_id) not in new_state
        assert ("m.room.member", member.user_id) not in new_state
        assert new_state[("m.room.member", chair.user_id)]["content"]["membership"] == "join"

        # The alias and the canonical alias moved to the new room.
        alias = "#cabinet:qasid.test"
        resolved = await member.client.room_resolve_alias(alias)
        assert isinstance(resolved, RoomResolveAliasResponse) and resolved.room_id == new
        assert new_state[("m.room.canonical_alias", "")]["content"] == {"alias": alias}
        assert "alias" not in (await state_of(chair, old))[("m.room.canonical_alias", "")]["content"]

        # A member follows the tombstone into the new room; the banned user can't.
        await member.join(new)
        banned_join = await banned.client.join(new)
        assert type(banned_join).__name__ == "JoinError", banned_join

        # Upgrading the old room again is refused: it has been replaced already.
        status, body = await upgrade(chair, old, {"new_version": "11"})
        assert (status, body["errcode"]) == (400, "M_BAD_STATE"), body
    finally:
        for user in (chair, member, banned, invited):
            await user.close()
