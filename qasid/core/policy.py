"""The hooks core consults on every write; the government layer implements them."""

from __future__ import annotations

from typing import Any, Protocol


class Policy(Protocol):
    """What an organisation may forbid. Each method raises MatrixError to refuse."""

    async def check_create_room(self, creator: str, request: dict[str, Any]) -> dict[str, Any]:
        """Return the createRoom request as the policy wants it (for example with encryption added)."""
        ...

    async def check_event(
        self, sender: str, room_state: dict[tuple[str, str], dict[str, Any]], event_type: str,
        content: dict[str, Any], state_key: str | None,
    ) -> None:
        """Refuse an event the room's policy does not allow."""
        ...

    async def check_invite(self, inviter: str, invitee: str) -> None:
        """Refuse an invitation the inviter may not send."""
        ...

    async def visible_in_directory(self, searcher: str, user_id: str) -> bool:
        """Whether `searcher` may find `user_id` in the user directory."""
        ...


class OpenPolicy:
    """No organisational restrictions: what a plain homeserver does."""

    async def check_create_room(self, creator: str, request: dict[str, Any]) -> dict[str, Any]:
        return request

    async def check_event(
        self, sender: str, room_state: dict[tuple[str, str], dict[str, Any]], event_type: str,
        content: dict[str, Any], state_key: str | None,
    ) -> None:
        return None

    async def check_invite(self, inviter: str, invitee: str) -> None:
        return None

    async def visible_in_directory(self, searcher: str, user_id: str) -> bool:
        return True
