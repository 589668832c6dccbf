"""The hooks core consults on every write; the government layer implements them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

# A write run on the writer's connection inside another write's transaction.
AlsoWrite = Callable[[Any], object]

# What core itself insists on (accounts.check_password_shape); a policy may ask for more.
MIN_PASSWORD_LENGTH = 8


class Policy(Protocol):
    """What an organisation may forbid. Each method raises MatrixError to refuse."""

    async def check_create_room(self, creator: str, request: dict[str, Any]) -> dict[str, Any]:
        """Return the createRoom request as the policy wants it (for example with encryption added)."""
        ...

    async def check_event(
        self, sender: str, room_state: dict[tuple[str, str], dict[str, Any]], event_type: str,
        content: dict[str, Any], state_key: str | None,
    ) -> None:
        """Refuse an event the room's policy does not allow; every event of every route passes here,
        membership changes included (an invitation the inviter may not send is refused here)."""
        ...

    async def event_writes(
        self, room_state: dict[tuple[str, str], dict[str, Any]], event_id: str, pdu: dict[str, Any],
    ) -> list[Callable[[Any], object]]:
        """Writes to commit in the same transaction as this authorised event (for example an
        acknowledgement and its audit entry): each a function of the writer's connection."""
    async def after_event(self, sender: str, room_id: str, event_type: str, state_key: str | None) -> None:
        """Called once an event is committed, by append and for each of a new room's first events
        (follow-up work of the organisation: e.g. a room's new classification is recorded, marks its
        name and removes the members below it)."""
        ...

    async def visible_in_directory(self, searcher: str, user_id: str) -> bool:
        """Whether `searcher` may find `user_id` in the user directory, and see their profile and presence.

        Core shows a profile and presence also to anyone sharing a room with the user.
        """
        ...

    async def profile_fields(self, user_id: str) -> dict[str, Any]:
        """Extra fields shown in the user's profile and directory entries (e.g. unit, designation)."""
        ...

    async def check_password(self, password: str, *, user_id: str | None, registration_token: str | None) -> None:
        """Refuse a new password (400 M_WEAK_PASSWORD) for an existing user or a registration."""
        ...

    async def password_policy(self, user_id: str | None) -> dict[str, Any]:
        """The rules advertised at /password_policy (m.minimum_length, m.require_digit, ...)."""
        ...

    async def registration_writes(self, user_id: str, registration_token: str | None) -> Sequence[AlsoWrite]:
        """Writes to commit in the new account's own transaction (e.g. its place in a unit), so a crash
        can't leave an account that escaped its unit's policy."""
        ...

    async def after_registration(self, user_id: str) -> None:
        """Follow-up once a new account is committed (e.g. the organisation's rooms that take it in)."""
        ...

    async def check_new_device(self, user_id: str, existing_devices: int) -> None:
        """Refuse a login that would add one device more than allowed."""
        ...

    async def client_well_known(self) -> dict[str, Any]:
        """Extra keys for /.well-known/matrix/client (the io.element.e2ee hints)."""
        ...

    async def check_calls(self, user_id: str) -> None:
        """Refuse (403 M_FORBIDDEN with the reason) a user who may not make calls: no TURN credentials,
        no OpenID token for the call service."""
        ...

    async def administers(self, admin: str, is_server_admin: bool, user_id: str) -> bool:
        """Whether `admin` may read `user_id`'s devices and sessions (GET /admin/whois)."""
        ...

    async def encryption_forced(self) -> bool:
        """Whether every account on the server must encrypt every room (/versions' e2ee_forced flags)."""
        ...

    async def upgrade_state(
        self, upgrader: str, old_state: dict[tuple[str, str], dict[str, Any]],
    ) -> list[tuple[str, str, dict[str, Any]]]:
        """The organisation's own state (type, state_key, content) the replacement room of an upgrade must
        carry, never weaker than in the old room; check_event still judges each of them."""
        ...

    async def upload_limit(self, user_id: str) -> int | None:
        """The most bytes this user may upload, if stricter than the server's own limit; None for no own limit."""
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

    async def event_writes(
        self, room_state: dict[tuple[str, str], dict[str, Any]], event_id: str, pdu: dict[str, Any],
    ) -> list[Callable[[Any], object]]:
        return []
    async def after_event(self, sender: str, room_id: str, event_type: str, state_key: str | None) -> None:
        return None

    async def visible_in_directory(self, searcher: str, user_id: str) -> bool:
        return True

    async def profile_fields(self, user_id: str) -> dict[str, Any]:
        return {}

    async def check_password(self, password: str, *, user_id: str | None, registration_token: str | None) -> None:
        return None

    async def password_policy(self, user_id: str | None) -> dict[str, Any]:
        return {"m.minimum_length": MIN_PASSWORD_LENGTH}

    async def registration_writes(self, user_id: str, registration_token: str | None) -> Sequence[AlsoWrite]:
        return ()

    async def after_registration(self, user_id: str) -> None:
        return None

    async def check_new_device(self, user_id: str, existing_devices: int) -> None:
        return None

    async def client_well_known(self) -> dict[str, Any]:
        return {"io.element.e2ee": {"default": True, "secure_backup_required": False}}

    async def check_calls(self, user_id: str) -> None:
        return None

    async def administers(self, admin: str, is_server_admin: bool, user_id: str) -> bool:
        return is_server_admin

    async def encryption_forced(self) -> bool:
        return False

    async def upgrade_state(
        self, upgrader: str, old_state: dict[tuple[str, str], dict[str, Any]],
    ) -> list[tuple[str, str, dict[str, Any]]]:
        return []

    async def upload_limit(self, user_id: str) -> int | None:
        return None
