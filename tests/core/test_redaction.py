"""Room v11 redaction: which keys and which content survive (the spec's redaction algorithm)."""

from __future__ import annotations

from typing import Any

import pytest

from qasid.core.pdu import redact

ENVELOPE: dict[str, Any] = {
    "room_id": "!r:domain",
    "sender": "@u:domain",
    "origin_server_ts": 1,
    "depth": 2,
    "prev_events": ["$p"],
    "auth_events": ["$a"],
    "hashes": {"sha256": "h"},
    "signatures": {"domain": {"ed25519:1": "s"}},
}

REDACTION_CASES = [
    pytest.param(
        "m.room.message", None, {"body": "hi", "msgtype": "m.text"}, {}, id="message-loses-all-content"
    ),
    pytest.param(
        "m.room.create",
        "",
        {"room_version": "11", "m.federate": False, "type": "m.space", "x": 1},
        {"room_version": "11", "m.federate": False, "type": "m.space", "x": 1},
        id="create-keeps-all-content",
    ),
    pytest.param(
        "m.room.member",
        "@v:domain",
        {
            "membership": "join",
            "displayname": "V",
            "avatar_url": "mxc://x/y",
            "join_authorised_via_users_server": "@w:domain",
        },
        {"membership": "join", "join_authorised_via_users_server": "@w:domain"},
        id="member-keeps-membership-and-authoriser",
    ),
    pytest.param(
        "m.room.member",
        "@v:domain",
        {
            "membership": "invite",
            "third_party_invite": {
                "display_name": "v@example.org",
                "signed": {"mxid": "@v:domain", "token": "t", "signatures": {}},
            },
        },
        {
            "membership": "invite",
            "third_party_invite": {"signed": {"mxid": "@v:domain", "token": "t", "signatures": {}}},
        },
        id="member-keeps-third-party-invite-signed-only",
    ),
    pytest.param(
        "m.room.member",
        "@v:domain",
        {"membership": "invite", "third_party_invite": {"display_name": "v"}},
        {"membership": "invite", "third_party_invite": {}},
        id="member-third-party-invite-without-signed",
    ),
    pytest.param(
        "m.room.join_rules",
        "",
        {"join_rule": "restricted", "allow": [{"type": "m.room_membership"}], "x": 1},
        {"join_rule": "restricted", "allow": [{"type": "m.room_membership"}]},
        id="join-rules-keeps-join-rule-and-allow",
    ),
    pytest.param(
        "m.room.power_levels",
        "",
        {
            "ban": 50,
            "events": {"m.room.name": 50},
            "events_default": 0,
            "invite": 0,
            "kick": 50,
            "redact": 50,
            "state_default": 50,
            "users": {"@u:domain": 100},
            "users_default": 0,
            "notifications": {"room": 50},
        },
        {
            "ban": 50,
            "events": {"m.room.name": 50},
            "events_default": 0,
            "invite": 0,
            "kick": 50,
            "redact": 50,
            "state_default": 50,
            "users": {"@u:domain": 100},
            "users_default": 0,
        },
        id="power-levels-keeps-invite-drops-notifications",
    ),
    pytest.param(
        "m.room.history_visibility",
        "",
        {"history_visibility": "shared", "x": 1},
        {"history_visibility": "shared"},
        id="history-visibility",
    ),
    pytest.param(
        "m.room.redaction",
        None,
        {"redacts": "$e", "reason": "spam"},
        {"redacts": "$e"},
        id="redaction-keeps-redacts",
    ),
    pytest.param(
        "m.room.aliases", "domain", {"aliases": ["#a:domain"]}, {}, id="aliases-lose-content-since-v6"
    ),
    pytest.param("m.room.name", "", {"name": "Room"}, {}, id="other-state-loses-content"),
]


@pytest.mark.parametrize(("event_type", "state_key", "content", "kept_content"), REDACTION_CASES)
def test_redact_content(
    event_type: str, state_key: str | None, content: dict[str, Any], kept_content: dict[str, Any]
) -> None:
    event: dict[str, Any] = {**ENVELOPE, "type": event_type, "content": content}
    if state_key is not None:
        event["state_key"] = state_key
    redacted = redact(event)
    assert redacted["content"] == kept_content
    assert {k: v for k, v in redacted.items() if k != "content"} == {
        k: v for k, v in event.items() if k != "content"
    }


@pytest.mark.parametrize(
    "dropped_key", ["origin", "membership", "prev_state", "unsigned", "redacts", "age_ts", "custom"]
)
def test_redact_drops_top_level_keys(dropped_key: str) -> None:
    # origin, membership and prev_state were protected before v11; redacts
    # moved into content in v11.
    event = {**ENVELOPE, "type": "m.room.message", "content": {}, dropped_key: "x"}
    assert dropped_key not in redact(event)


def test_redact_does_not_share_structure_with_input() -> None:
    event = {**ENVELOPE, "type": "m.room.create", "state_key": "", "content": {"a": {}}}
    redacted = redact(event)
    redacted["content"]["a"]["b"] = 1
    redacted["signatures"]["other"] = {}
    assert event["content"] == {"a": {}}
    assert "other" not in event["signatures"]


def test_redact_tolerates_non_object_content() -> None:
    event = {**ENVELOPE, "type": "m.room.member", "content": "nonsense"}
    assert redact(event)["content"] == {}
