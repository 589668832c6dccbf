"""The room directory: room aliases and the list of published rooms (no federation: local only)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from qasid.config import Settings
from qasid.core.errors import MatrixError, forbidden, invalid_param, not_found
from qasid.core.ids import check_room_id, server_of
from qasid.core.room_preview import summary
from qasid.store.sqlite import Store

if TYPE_CHECKING:
    from qasid.core.rooms import RoomService

ALIAS_RE = re.compile(r"^#[^:\s]+:[^\s]+$")
MAX_ALIAS_BYTES = 255
MAX_PUBLIC_ROOMS_LIMIT = 500


class RoomDirectory:
    """Aliases and published rooms; every room here is local."""

    def __init__(self, settings: Settings, store: Store, rooms: RoomService) -> None:
        self.settings = settings
        self.store = store
        self.rooms = rooms

    def _check_alias(self, alias: str) -> None:
        if not ALIAS_RE.match(alias) or len(alias.encode()) > MAX_ALIAS_BYTES:
            raise invalid_param(f"Not a valid room alias: {alias!r}")

    async def resolve_alias(self, alias: str) -> dict[str, Any]:
        """{room_id, servers} for a local alias; M_NOT_FOUND otherwise (remote aliases included)."""
        self._check_alias(alias)
        room_id = await self.store.aliases.resolve_alias(alias)
        if room_id is None or server_of(alias) != self.settings.server_name:
            raise not_found("Room alias not found")
        return {"room_id": room_id, "servers": [self.settings.server_name]}

    async def create_alias(self, user_id: str, alias: str, room_id: str) -> None:
        """Map a new local alias to a room the user is joined to; M_UNKNOWN 409 if taken."""
        self._check_alias(alias)
        check_room_id(room_id)
        if server_of(alias) != self.settings.server_name:
            raise invalid_param("Room aliases must be on this server")
        if not await self.rooms.is_joined(room_id, user_id):
            raise forbidden("You are not joined to this room")
        if not await self.store.aliases.set_alias(alias, room_id, user_id):
            raise MatrixError(409, "M_UNKNOWN", "Room alias already exists")

    async def delete_alias(self, user_id: str, is_admin: bool, alias: str) -> None:
        """Remove an alias; only its creator or a server admin may."""
        self._check_alias(alias)
        creator = await self.store.userdata.alias_creator(alias)
        if creator is None:
            raise not_found("Room alias not found")
        if creator != user_id and not is_admin:
            raise forbidden("Only the alias's creator or an admin may remove it")
        if not await self.store.aliases.delete_alias(alias):
            raise not_found("Room alias not found")

    async def local_aliases(self, user_id: str, room_id: str) -> list[str]:
        """GET /rooms/{roomId}/aliases: for the room's members, or anyone if it is world_readable."""
        check_room_id(room_id)
        room = await self.rooms.snapshot(room_id)
        if room is None:
            raise forbidden("You are not a member of this room")
        visibility = room.state.get(("m.room.history_visibility", ""), {}).get("content", {})
        if room.membership(user_id) != "join" and visibility.get("history_visibility") != "world_readable":
            raise forbidden("You are not a member of this room")
        return await self.store.aliases.aliases_of_room(room_id)

    async def check_canonical_alias(self, room_id: str, content: dict[str, Any]) -> None:
        """Each alias an m.room.canonical_alias adds must be valid (M_INVALID_PARAM) and point to
        this room (M_BAD_ALIAS); those the current event already names stay allowed."""
        room = await self.rooms.snapshot(room_id)
        current = room.state.get(("m.room.canonical_alias", ""), {}).get("content", {}) if room else {}
        alt_aliases = content.get("alt_aliases")
        if alt_aliases is not None and not isinstance(alt_aliases, list):
            raise MatrixError(400, "M_BAD_JSON", "alt_aliases must be a list of room aliases")
        known = {current.get("alias"), *(current.get("alt_aliases") or [])}
        for alias in [content.get("alias"), *(alt_aliases or [])]:
            if alias is None or alias in known:
                continue
            if not isinstance(alias, str):
                raise invalid_param("Room aliases must be strings")
            self._check_alias(alias)
            if await self.store.aliases.resolve_alias(alias) != room_id:
                raise MatrixError(400, "M_BAD_ALIAS", f"The alias {alias} does not point to this room")

    async def get_visibility(self, room_id: str) -> str:
        """'public' or 'private'; M_NOT_FOUND for unknown rooms."""
        published = await self.store.userdata.room_published(room_id)
        if published is None:
            raise not_found("Unknown room")
        return "public" if published else "private"

    async def set_visibility(self, user_id: str, is_admin: bool, room_id: str, visibility: str) -> None:
        """Publish or unpublish a room: members with power to change its canonical alias, or an admin."""
        if visibility not in ("public", "private"):
            raise invalid_param("visibility must be 'public' or 'private'")
        room = await self.rooms.snapshot(room_id)
        if room is None:
            raise not_found("Unknown room")
        if not is_admin and not _may_publish(room.state, user_id):
            raise forbidden("You may not change this room's directory visibility")
        await self.store.userdata.set_room_published(room_id, visibility == "public")

    async def public_rooms(self, limit: int | None, since: str | None, search_term: str | None) -> dict[str, Any]:
        """One page of published rooms, largest first, optionally filtered by a search term."""
        chunk: list[dict[str, Any]] = []
        for room_id in await self.store.userdata.published_room_ids():
            entry = await self._summary(room_id)
            if entry is None:
                continue
            if search_term:
                haystack = " ".join(str(entry.get(k, "")) for k in ("name", "topic", "canonical_alias"))
                if search_term.casefold() not in haystack.casefold():
                    continue
            chunk.append(entry)
        chunk.sort(key=lambda e: (-e["num_joined_members"], e["room_id"]))
        start = int(since) if since and since.isdigit() else 0
        size = min(limit or MAX_PUBLIC_ROOMS_LIMIT, MAX_PUBLIC_ROOMS_LIMIT)
        page: dict[str, Any] = {"chunk": chunk[start:start + size], "total_room_count_estimate": len(chunk)}
        if start + size < len(chunk):
            page["next_batch"] = str(start + size)
        if start > 0:
            page["prev_batch"] = str(max(0, start - size))
        return page

    async def _summary(self, room_id: str) -> dict[str, Any] | None:
        room = await self.rooms.snapshot(room_id)
        if room is None:
            return None
        return summary(room_id, room.state, len(room.members("join")))


def _may_publish(state: dict[tuple[str, str], dict[str, Any]], user_id: str) -> bool:
    member = state.get(("m.room.member", user_id))
    if not member or member["content"].get("membership") != "join":
        return False
    levels_event = state.get(("m.room.power_levels", ""))
    levels = levels_event["content"] if levels_event else {}
    users = levels.get("users", {})
    user_level = users.get(user_id, levels.get("users_default", 0))
    needed = levels.get("events", {}).get("m.room.canonical_alias", levels.get("state_default", 50))
    try:
        return int(user_level) >= int(needed)
    except (TypeError, ValueError):
        return False
