"""Spaces and knocking with matrix-js-sdk, as Element uses them: the space home lists a space's rooms
through getRoomHierarchy, a room restricted to the space is joined from there, and a knock is seen by
the room's admin (a second js-sdk client) and approved with an invite."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.e2e.js_driver import PASSWORD, JsUser, unexpected_http_failure
from tests.hardening.client import User, new_user
from tests.server import ServerProcess

WHOLE_TEST_SECONDS = 120


def build_space(owner: User) -> tuple[str, dict[str, str]]:
    """A public space with three rooms: public, restricted to the space, and knock-only."""
    server_name = owner.user_id.split(":", 1)[1]
    space = owner.create_room(preset="public_chat", name="Ministry", creation_content={"type": "m.space"})
    restricted = {"join_rule": "restricted", "allow": [{"type": "m.room_membership", "room_id": space}]}
    rooms = {
        "Lobby": owner.create_room(preset="public_chat", name="Lobby"),
        "Staff": owner.create_room(preset="private_chat", name="Staff", initial_state=[
            {"type": "m.room.join_rules", "state_key": "", "content": restricted}]),
        "Help desk": owner.create_room(preset="private_chat", name="Help desk", initial_state=[
            {"type": "m.room.join_rules", "state_key": "", "content": {"join_rule": "knock"}}]),
    }
    for order, room_id in enumerate(rooms.values()):
        response = owner.put(f"/rooms/{space}/state/m.space.child/{room_id}", {"via": [server_name], "order": str(order)})
        assert response.status_code == 200, response.text
    return space, rooms


async def test_js_sdk_lists_a_space_joins_through_it_and_knocks(
        server: ServerProcess, js_user: JsUser, js_user_2: JsUser) -> None:
    try:
        await asyncio.wait_for(scenario(server, js_user, js_user_2), WHOLE_TEST_SECONDS)
    except TimeoutError:
        raise js_user.failure(f"the scenario took longer than {WHOLE_TEST_SECONDS} s") from None


async def scenario(server: ServerProcess, member: JsUser, admin: JsUser) -> None:
    owner = await asyncio.to_thread(new_user, server, "owner", PASSWORD)
    await asyncio.to_thread(new_user, server, "member", PASSWORD)
    space, rooms = await asyncio.to_thread(build_space, owner)
    member_id = server.user_id("member")
    await member.call("login", base_url=server.base_url, user="member", password=PASSWORD)
    await admin.call("login", base_url=server.base_url, user="owner", password=PASSWORD)

    # Before joining the space: the public space shows its public and knockable rooms, not the
    # restricted one (the member is in no room it allows).
    before = await member.call("hierarchy", room_id=space)
    assert [r["name"] for r in before["rooms"]] == ["Ministry", "Lobby", "Help desk"], before

    await member.call("join_uninvited", room_id=space)
    listed: dict[str, Any] = await member.call("hierarchy", room_id=space, limit=2)
    names = [r["name"] for r in listed["rooms"]]
    assert names == ["Ministry", "Lobby", "Staff", "Help desk"], listed
    top = listed["rooms"][0]
    assert top["room_type"] == "m.space" and set(top["children"]) == set(rooms.values())
    staff = next(r for r in listed["rooms"] if r["name"] == "Staff")
    assert staff["join_rule"] == "restricted"

    # The restricted room is joined straight from the space, with no invitation.
    await member.call("join_uninvited", room_id=rooms["Staff"])

    # Knocking: the member's client shows the room as knocked, with its name from the stripped state.
    desk = rooms["Help desk"]
    knocked = await member.call("knock", room_id=desk, reason="I need the forms")
    assert (knocked["name"], knocked["join_rule"]) == ("Help desk", "knock"), knocked
    await admin.call("wait_member", room_id=desk, user_id=member_id, membership="knock")
    seen = await admin.call("member", room_id=desk, user_id=member_id)
    assert (seen["membership"], seen["reason"]) == ("knock", "I need the forms"), seen
    # Approved: an invite, which the member accepts.
    await admin.call("invite", room_id=desk, user_id=member_id)
    await member.call("join", room_id=desk)
    await admin.call("wait_member", room_id=desk, user_id=member_id, membership="join")
    for client in (member, admin):
        failures = (await client.call("http_failures"))["http_failures"]
        assert not [f for f in failures if unexpected_http_failure(f)], failures
