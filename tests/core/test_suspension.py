"""What a suspended (read-only) account may still send: one row per rule."""

from __future__ import annotations

from typing import Any

import pytest

from qasid.core.suspension import allowed_while_suspended, delayed_allowed_while_suspended

ME, OTHER = "@me:s", "@other:s"


@pytest.mark.parametrize(("event_type", "content", "state_key", "redacted_sender", "allowed"), [
    ("m.room.member", {"membership": "leave"}, ME, None, True),        # leaving, refusing an invite
    ("m.room.member", {"membership": "leave"}, OTHER, None, False),    # kicking
    ("m.room.member", {"membership": "ban"}, OTHER, None, False),
    ("m.room.member", {"membership": "join"}, ME, None, False),
    ("m.room.member", {"membership": "invite"}, OTHER, None, False),
    ("m.room.member", {"membership": "knock"}, ME, None, False),
    ("m.room.redaction", {"redacts": "$mine"}, None, ME, True),        # one's own event
    ("m.room.redaction", {"redacts": "$theirs"}, None, OTHER, False),
    ("m.room.redaction", {"redacts": "$unknown"}, None, None, False),
    ("m.room.message", {"body": "x"}, None, None, False),
    ("m.room.encrypted", {"ciphertext": "x"}, None, None, False),
    ("m.room.topic", {"topic": "x"}, "", None, False),
])
def test_allowed_while_suspended(event_type: str, content: dict[str, Any], state_key: str | None,
                                 redacted_sender: str | None, allowed: bool) -> None:
    assert allowed_while_suspended(ME, event_type, content, state_key, redacted_sender) is allowed


@pytest.mark.parametrize(("event_type", "state_key", "content", "allowed"), [
    ("org.matrix.msc3401.call.member", "_@me:s_DEV", {}, True),       # MatrixRTC's clean-up
    ("m.call.member", "_@me:s_DEV", {}, True),
    ("org.matrix.msc3401.call.member", "_@me:s_DEV", {"application": "m.call"}, False),  # joining a call
    ("m.room.topic", "", {}, False),
    ("m.room.message", None, {}, False),
])
def test_delayed_allowed_while_suspended(event_type: str, state_key: str | None, content: dict[str, Any],
                                         allowed: bool) -> None:
    assert delayed_allowed_while_suspended(event_type, state_key, content) is allowed
