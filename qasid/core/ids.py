"""Matrix identifiers: parsing and validation of user, room and event IDs."""

from __future__ import annotations

import re

from qasid.core.errors import MatrixError, invalid_param

# Localparts we create are the spec's historical-safe set, lower-case only.
LOCALPART_RE = re.compile(r"^[a-z0-9._=\-/+]+$")
MAX_ID_BYTES = 255


def make_user_id(localpart: str, server_name: str) -> str:
    """@localpart:server, after checking the localpart is one we may create."""
    if not LOCALPART_RE.match(localpart):
        raise MatrixError(400, "M_INVALID_USERNAME", "User ID can only contain a-z, 0-9, . _ = - / +")
    user_id = f"@{localpart}:{server_name}"
    if len(user_id.encode()) > MAX_ID_BYTES:
        raise MatrixError(400, "M_INVALID_USERNAME", "User ID is too long")
    return user_id


def parse_user_id(user_id: str) -> tuple[str, str]:
    """(localpart, server_name) of a user ID, or M_INVALID_PARAM."""
    if not isinstance(user_id, str) or not user_id.startswith("@") or ":" not in user_id:
        raise invalid_param(f"Not a valid user ID: {user_id!r}")
    if len(user_id.encode()) > MAX_ID_BYTES:
        raise invalid_param("User ID is too long")
    localpart, server_name = user_id[1:].split(":", 1)
    if not localpart or not server_name:
        raise invalid_param(f"Not a valid user ID: {user_id!r}")
    return localpart, server_name


def default_displayname(user_id: str) -> str:
    """A new account's display name when it was given none: its localpart (clients otherwise
    show the whole user ID everywhere)."""
    return parse_user_id(user_id)[0]


def is_user_id(value: object) -> bool:
    """True for a syntactically valid user ID."""
    try:
        parse_user_id(value)  # type: ignore[arg-type]
    except MatrixError:
        return False
    return True


def check_room_id(room_id: str) -> str:
    """A room ID starts with '!' and fits in 255 bytes."""
    if not is_room_id_shape(room_id):
        raise invalid_param(f"Not a valid room ID: {room_id!r}")
    return room_id


def is_room_id_shape(value: object) -> bool:
    """True for a string that check_room_id accepts."""
    return isinstance(value, str) and value.startswith("!") and len(value.encode()) <= MAX_ID_BYTES


def server_of(identifier: str) -> str:
    """The server name part of a user, room alias or room ID."""
    return identifier.split(":", 1)[1] if ":" in identifier else ""
