"""Retention: events past the room's policy are gone from /messages, /sync and the database file."""

from __future__ import annotations

import time

from tests.gov.helpers import Gov
from tests.hardening.client import query_db


def test_events_past_retention_are_purged_everywhere(gov: Gov) -> None:
    unit = gov.unit("ARCHIVE", encryption_required=False, retention_days=2 / 86400)
    erin = gov.official("erin", unit)
    room = gov.client("POST", "/createRoom", erin, {"name": "short-lived"}).json()["room_id"]
    marker = gov.client("GET", f"/rooms/{room}/state/io.qasid.policy/", erin).json()
    assert marker == {"encryption_required": False, "retention_seconds": 2}
    secret = "PURGE-ME-the-minister-resigns-friday"
    sent = gov.client("PUT", f"/rooms/{room}/send/m.room.message/old", erin, {"msgtype": "m.text", "body": secret})
    assert sent.status_code == 200, sent.text
    reply = gov.client("PUT", f"/rooms/{room}/send/m.room.message/reply", erin, {
        "msgtype": "m.text", "body": "in the thread",
        "m.relates_to": {"rel_type": "m.thread", "event_id": sent.json()["event_id"]}})
    assert reply.status_code == 200, reply.text
    assert secret.encode() in gov.server.dump_database()
    search = {"search_categories": {"room_events": {"search_term": "minister resigns"}}}
    found = gov.client("POST", "/search", erin, search).json()["search_categories"]["room_events"]
    assert [r["result"]["event_id"] for r in found["results"]] == [sent.json()["event_id"]]
    time.sleep(2.5)
    fresh = "still-fresh-message"
    gov.client("PUT", f"/rooms/{room}/send/m.room.message/new", erin, {"msgtype": "m.text", "body": fresh})

    assert gov.ok("POST", "/maintenance/run")["events_purged"] == 2
    # The relations of purged events, and the thread they made, are gone with them.
    assert query_db(gov.server, "SELECT count(*) FROM event_relations WHERE room_id = ?", (room,)) == [(0,)]
    threads = gov.http.get(f"/_matrix/client/v1/rooms/{room}/threads", headers=erin.auth)
    assert threads.json() == {"chunk": []}, threads.text

    messages = gov.client("GET", f"/rooms/{room}/messages?dir=b&limit=100", erin).json()
    bodies = [e["content"].get("body") for e in messages["chunk"]]
    assert secret not in bodies and fresh in bodies
    synced = gov.client("GET", "/sync?timeout=0", erin).text
    assert secret not in synced and fresh in synced
    assert secret.encode() not in gov.server.dump_database()
    # Gone from the search index too, words and all (the index is rewritten after a purge).
    assert gov.client("POST", "/search", erin, search).json()["search_categories"]["room_events"]["count"] == 0
    assert b"resigns" not in gov.server.dump_database()
    # The room itself survives: its state is intact and it still takes messages.
    assert gov.client("GET", f"/rooms/{room}/state/m.room.name/", erin).json() == {"name": "short-lived"}
    assert gov.client("PUT", f"/rooms/{room}/send/m.room.message/after", erin,
                      {"msgtype": "m.text", "body": "after"}).status_code == 200


def test_a_redacted_plaintext_message_leaves_the_search_index_file(gov: Gov) -> None:
    unit = gov.unit("PLAIN", encryption_required=False)
    frank = gov.official("frank", unit)
    room = gov.client("POST", "/createRoom", frank, {}).json()["room_id"]
    word = "zqxwithdrawnword"
    sent = gov.client("PUT", f"/rooms/{room}/send/m.room.message/w", frank, {"msgtype": "m.text", "body": word})
    event_id = sent.json()["event_id"]
    search = {"search_categories": {"room_events": {"search_term": word}}}
    assert gov.client("POST", "/search", frank, search).json()["search_categories"]["room_events"]["count"] == 1
    assert gov.client("PUT", f"/rooms/{room}/redact/{event_id}/r", frank, {}).status_code == 200
    assert gov.client("POST", "/search", frank, search).json()["search_categories"]["room_events"]["count"] == 0
    gov.ok("POST", "/maintenance/run")
    assert word.encode() not in gov.server.dump_database()
