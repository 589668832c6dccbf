"""Every event the server stores carries its content hash and the server's signature, and its ID
is its reference hash: what a federating server, or an auditor with the server's public key,
checks. Read straight from the database of a real server after real traffic."""

from __future__ import annotations

import json

from signedjson.key import get_verify_key, read_signing_keys
from signedjson.sign import verify_signed_json

from qasid.core.pdu import compute_event_id, redact, verify_event
from tests.hardening.client import new_user, query_db
from tests.server import ServerProcess


def test_stored_events_verify_against_the_servers_key(server: ServerProcess) -> None:
    alice, bob = new_user(server, "alice"), new_user(server, "bob")
    room = alice.create_room(invite=[bob.user_id])
    bob.join(room)
    for n in range(5):
        alice.send(room, f"m{n}", {"msgtype": "m.text", "body": f"message {n}"})
    assert alice.put(f"/rooms/{room}/state/m.room.topic/", {"topic": "budget"}).status_code == 200
    doomed = bob.send(room, "doomed", {"msgtype": "m.text", "body": "sent in error"})
    assert bob.put(f"/rooms/{room}/redact/{doomed}/r1", {"reason": "typo"}).status_code == 200

    with (server.data_dir / "signing.key").open() as f:
        verify_key = get_verify_key(read_signing_keys(f)[0])
    rows = query_db(server, "SELECT event_id, pdu, redacted_by FROM events")
    assert len(rows) > 10
    for event_id, raw, redacted_by in rows:
        pdu = json.loads(raw)
        assert compute_event_id(pdu) == event_id
        if redacted_by is None:
            assert verify_event(pdu, server.server_name, verify_key), event_id
        else:
            # A redacted event's content hash no longer matches; its signature still holds.
            assert event_id == doomed and pdu["content"] == {}
            verify_signed_json(redact(pdu), server.server_name, verify_key)
