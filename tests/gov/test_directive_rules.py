"""What counts as acknowledging a directive: one row per case, from an event's clear content alone."""

from __future__ import annotations

from typing import Any

import pytest

from qasid.gov.directives import acknowledgement

MSG = "$directive"
CIPHER = {"algorithm": "m.megolm.v1.aes-sha2", "ciphertext": "x", "session_id": "s"}


@pytest.mark.parametrize(("event_type", "content", "expected"), [
    ("m.reaction", {"m.relates_to": {"rel_type": "m.annotation", "event_id": MSG, "key": "✅"}}, ("reaction", MSG)),
    ("m.reaction", {"m.relates_to": {"rel_type": "m.annotation", "event_id": MSG, "key": "👎"}}, ("reaction", MSG)),
    ("m.room.encrypted", {**CIPHER, "m.relates_to": {"rel_type": "m.annotation", "event_id": MSG}},
     ("reaction", MSG)),
    ("m.room.encrypted", {**CIPHER, "m.relates_to": {"m.in_reply_to": {"event_id": MSG}}}, ("reply", MSG)),
    ("m.room.message", {"body": "ok", "m.relates_to": {"m.in_reply_to": {"event_id": MSG}}}, ("reply", MSG)),
    ("m.room.encrypted", {**CIPHER, "m.relates_to": {"rel_type": "m.thread", "event_id": MSG, "is_falling_back": True,
                                                     "m.in_reply_to": {"event_id": MSG}}}, ("reply", MSG)),
    # Not acknowledgements: no relation, an edit, a thread message without a reply, malformed relations.
    ("m.room.encrypted", CIPHER, None),
    ("m.room.encrypted", {**CIPHER, "m.relates_to": {"rel_type": "m.replace", "event_id": MSG}}, None),
    ("m.room.encrypted", {**CIPHER, "m.relates_to": {"rel_type": "m.thread", "event_id": MSG}}, None),
    ("m.reaction", {"m.relates_to": {"rel_type": "m.reference", "event_id": MSG}}, None),
    ("m.reaction", {"m.relates_to": {"rel_type": "m.annotation", "event_id": 5}}, None),
    ("m.reaction", {"m.relates_to": {"rel_type": "m.annotation", "event_id": ""}}, None),
    ("m.reaction", {"m.relates_to": "nonsense"}, None),
    ("m.room.message", {"m.relates_to": {"m.in_reply_to": MSG}}, None),
    ("m.sticker", {"m.relates_to": {"m.in_reply_to": {"event_id": MSG}}}, None),
    ("m.room.redaction", {"redacts": MSG}, None),
])
def test_acknowledgement(event_type: str, content: dict[str, Any], expected: tuple[str, str] | None) -> None:
    assert acknowledgement(event_type, content) == expected
