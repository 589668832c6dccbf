"""Where core reports security-relevant facts (logins, devices, tokens); gov's audit log implements it.

Core never imports gov: it depends only on this protocol, and runs with NullAuditSink when no
audit log is plugged in (tests of core alone, the CLI's short-lived services).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any, Protocol

# One prepared audit entry, appended on the writer's connection inside the audited action's own
# transaction (so the action and its record commit together or not at all); returns its seq.
AuditAppend = Callable[[Any], int]


class AuditSink(Protocol):
    """Appends one entry to the audit trail. Callers pass metadata only, never message content."""

    async def record(
        self, *, actor: str, action: str, target: str | None = None, source_ip: str | None = None,
        unit_id: int | None = None, details: dict[str, Any] | None = None,
        actor_device: str | None = None,
    ) -> int:
        """Append the entry durably; return its sequence number."""
        ...

    def prepare(
        self, *, actor: str, action: str, target: str | None = None, source_ip: str | None = None,
        unit_id: int | None = None, details: dict[str, Any] | None = None,
        actor_device: str | None = None,
    ) -> AuditAppend:
        """The entry as a function of the writer's connection, for the store to run in the action's transaction."""
        ...


class NullAuditSink:
    """Records nothing: what a plain homeserver without the government layer does."""

    async def record(
        self, *, actor: str, action: str, target: str | None = None, source_ip: str | None = None,
        unit_id: int | None = None, details: dict[str, Any] | None = None,
        actor_device: str | None = None,
    ) -> int:
        """Drop the entry; 0 is never a real sequence number."""
        return 0

    def prepare(
        self, *, actor: str, action: str, target: str | None = None, source_ip: str | None = None,
        unit_id: int | None = None, details: dict[str, Any] | None = None,
        actor_device: str | None = None,
    ) -> AuditAppend:
        """An append that appends nothing."""
        return lambda conn: 0


TOKEN_ID_PREFIX = "sha256:"


def token_fingerprint(token: str) -> str:
    """How the audit log names a registration token: enough to match issue to redemption, not to use it."""
    return token_id(hashlib.sha256(token.encode()).digest())


def token_id(token_hash: bytes) -> str:
    """A registration token's public name, from its stored hash: what lists show and revoke accepts."""
    return TOKEN_ID_PREFIX + token_hash[:8].hex()


def token_id_prefix(text: str) -> bytes | None:
    """The hash prefix a token ID stands for; None if `text` is no token ID (it may be the token itself).

    The ID's colon is outside the spec's token alphabet ([A-Za-z0-9._~-]), so the two never clash.
    """
    digits = text[len(TOKEN_ID_PREFIX):]
    if not text.startswith(TOKEN_ID_PREFIX) or len(digits) != 16:
        return None
    try:
        return bytes.fromhex(digits)
    except ValueError:
        return None
