"""Push rule evaluation is pure: (ruleset, event, room facts) -> actions, one row per case."""

from __future__ import annotations

from typing import Any

import pytest

from qasid.core import push_eval, push_rules
from qasid.store.sqlite.push import PusherRow, QueuedPush

ALICE = "@alice:qasid.test"
BOB = "@bob:qasid.test"
ROOM = "!room:qasid.test"
HIGHLIGHT = {"set_tweak": "highlight"}
SOUND = {"set_tweak": "sound", "value": "default"}


def message(body: str = "hello", **content: Any) -> dict[str, Any]:
    return {"type": "m.room.message", "room_id": ROOM, "sender": BOB,
            "content": {"msgtype": "m.text", "body": body, **content}}


def default_rule(event: dict[str, Any], members: int = 3, sender_level: int = 0,
                 changes: dict[str, Any] | None = None, display_name: str | None = "Alice Smith",
                 notifications: dict[str, int] | None = None) -> tuple[str | None, list[Any]]:
    """Which rule of Alice's ruleset decides, and its actions."""
    ruleset = push_rules.merged_ruleset(ALICE, changes)
    compiled = push_eval.compile_ruleset(ruleset)
    flat = push_eval.flatten(event)
    facts = push_eval.RoomFacts(members, sender_level, notifications or {})
    recipient = push_eval.Recipient(ALICE, display_name)
    for rule in compiled.rules:
        if all(c(flat, facts, recipient) for c in rule.conditions):
            return rule.rule_id, rule.actions
    return None, []


# --- the predefined rules --------------------------------------------------------------------


@pytest.mark.parametrize(("event", "members", "sender_level", "rule_id", "notify", "highlight"), [
    (message(), 3, 0, ".m.rule.message", True, False),
    (message(), 2, 0, ".m.rule.room_one_to_one", True, False),
    ({"type": "m.room.encrypted", "room_id": ROOM, "sender": BOB, "content": {"ciphertext": "x"}}, 5, 0,
     ".m.rule.encrypted", True, False),
    ({"type": "m.room.encrypted", "room_id": ROOM, "sender": BOB, "content": {"ciphertext": "x"}}, 2, 0,
     ".m.rule.encrypted_room_one_to_one", True, False),
    (message(msgtype="m.notice"), 3, 0, ".m.rule.suppress_notices", False, False),
    (message("hey", **{"m.mentions": {"user_ids": [ALICE]}}), 3, 0, ".m.rule.is_user_mention", True, True),
    (message("hey", **{"m.mentions": {"user_ids": [BOB]}}), 3, 0, ".m.rule.message", True, False),
    (message("all", **{"m.mentions": {"room": True}}), 3, 50, ".m.rule.is_room_mention", True, True),
    (message("all", **{"m.mentions": {"room": True}}), 3, 0, ".m.rule.message", True, False),
    ({"type": "m.room.member", "room_id": ROOM, "sender": BOB, "state_key": ALICE,
      "content": {"membership": "invite"}}, 3, 0, ".m.rule.invite_for_me", True, False),
    ({"type": "m.room.member", "room_id": ROOM, "sender": BOB, "state_key": BOB,
      "content": {"membership": "join"}}, 3, 0, ".m.rule.member_event", False, False),
    ({"type": "m.room.tombstone", "room_id": ROOM, "sender": BOB, "state_key": "",
      "content": {"body": "moved"}}, 3, 100, ".m.rule.tombstone", True, True),
    ({"type": "m.reaction", "room_id": ROOM, "sender": BOB, "content": {}}, 3, 0, ".m.rule.reaction", False, False),
    (message("* fixed", **{"m.relates_to": {"rel_type": "m.replace", "event_id": "$x"}}), 3, 0,
     ".m.rule.suppress_edits", False, False),
    ({"type": "m.call.invite", "room_id": ROOM, "sender": BOB, "content": {}}, 2, 0, ".m.rule.call", True, False),
    ({"type": "org.example.custom", "room_id": ROOM, "sender": BOB, "content": {}}, 3, 0, None, False, False),
])
def test_predefined_rules(event: dict[str, Any], members: int, sender_level: int, rule_id: str | None,
                          notify: bool, highlight: bool) -> None:
    found, actions = default_rule(event, members, sender_level)
    assert found == rule_id
    assert push_eval.notifies(actions) is notify
    assert push_eval.highlights(actions) is highlight


def test_master_rule_mutes_everything_and_the_public_evaluate_agrees() -> None:
    changes = push_rules.set_attribute(ALICE, None, "override", ".m.rule.master", "enabled", True)
    assert default_rule(message("hey", **{"m.mentions": {"user_ids": [ALICE]}}), changes=changes) == (
        ".m.rule.master", [])
    compiled = push_eval.compile_ruleset(push_rules.merged_ruleset(ALICE, changes))
    facts = push_eval.RoomFacts(3, 0, {})
    assert push_eval.evaluate(compiled, push_eval.flatten(message()), facts, push_eval.Recipient(ALICE, None)) == []


def test_a_room_rule_mutes_one_room_and_a_sender_rule_one_sender() -> None:
    muted = push_rules.put_rule(None, "room", ROOM, {"actions": []})
    assert default_rule(message(), changes=muted) == (ROOM, [])
    assert default_rule(dict(message(), room_id="!other:qasid.test"), changes=muted)[0] == ".m.rule.message"
    loud = push_rules.put_rule(None, "sender", BOB, {"actions": ["notify", HIGHLIGHT]})
    assert default_rule(message(), changes=loud) == (BOB, ["notify", HIGHLIGHT])


# --- each condition kind ---------------------------------------------------------------------


def only(condition: dict[str, Any], event: dict[str, Any], members: int = 3, sender_level: int = 0,
         display_name: str | None = "Alice Smith", notifications: dict[str, int] | None = None) -> bool:
    check = push_eval.compile_condition(condition)
    facts = push_eval.RoomFacts(members, sender_level, notifications or {})
    return check(push_eval.flatten(event), facts, push_eval.Recipient(ALICE, display_name))


def match(key: str, pattern: str) -> dict[str, Any]:
    return {"kind": "event_match", "key": key, "pattern": pattern}


@pytest.mark.parametrize(("condition", "event", "expected"), [
    (match("type", "m.room.message"), message(), True),
    (match("type", "M.ROOM.MESSAGE"), message(), True),  # case-insensitive
    (match("type", "m.room.*"), message(), True),
    (match("type", "m.room"), message(), False),  # the whole value, not a prefix
    (match("type", "m.room.messag?"), message(), True),
    (match("content.body", "budget"), message("the Budget is due"), True),  # body: a word anywhere
    (match("content.body", "budget"), message("budgetary"), False),  # ... at word boundaries
    (match("content.body", "bud*"), message("a budgetary note"), True),
    (match("content.msgtype", "*"), message(), True),
    (match("content.missing", "*"), message(), False),  # absent never matches, even with *
    (match("content.n", "*"), message(n=5), False),  # not a string
    (match("content.m\\.relates_to.rel_type", "m.thread"),
     message(**{"m.relates_to": {"rel_type": "m.thread", "event_id": "$root"}}), True),  # escaped dot
    (match("content.m.relates_to.rel_type", "m.thread"),
     message(**{"m.relates_to": {"rel_type": "m.thread", "event_id": "$root"}}), False),
    ({"kind": "event_match", "key": "type"}, message(), False),  # no pattern
    ({"kind": "event_property_is", "key": "content.flag", "value": True}, message(flag=True), True),
    ({"kind": "event_property_is", "key": "content.flag", "value": 1}, message(flag=True), False),  # true is not 1
    ({"kind": "event_property_is", "key": "content.n", "value": 1}, message(n=1), True),
    ({"kind": "event_property_is", "key": "content.n", "value": None}, message(n=None), True),
    ({"kind": "event_property_is", "key": "content.n", "value": None}, message(), False),  # absent is not null
    ({"kind": "event_property_is", "key": "content.body", "value": "HELLO"}, message("hello"), False),  # exact
    ({"kind": "event_property_is", "key": "content.o", "value": {}}, message(o={}), False),  # scalars only
    ({"kind": "event_property_contains", "key": "content.m\\.mentions.user_ids", "value": ALICE},
     message(**{"m.mentions": {"user_ids": [BOB, ALICE]}}), True),
    ({"kind": "event_property_contains", "key": "content.m\\.mentions.user_ids", "value": ALICE},
     message(**{"m.mentions": {"user_ids": ALICE}}), False),  # not an array
    ({"kind": "event_property_contains", "key": "content.tags", "value": 1}, message(tags=[True]), False),
    ({"kind": "contains_display_name"}, message("ask alice smith, please"), True),
    ({"kind": "contains_display_name"}, message("ask alice smithers"), False),
    ({"kind": "room_member_count", "is": "2"}, message(), False),
    ({"kind": "room_member_count", "is": "==3"}, message(), True),
    ({"kind": "room_member_count", "is": "<4"}, message(), True),
    ({"kind": "room_member_count", "is": ">3"}, message(), False),
    ({"kind": "room_member_count", "is": ">=3"}, message(), True),
    ({"kind": "room_member_count", "is": "<=2"}, message(), False),
    ({"kind": "room_member_count", "is": "about 3"}, message(), False),  # malformed never matches
    ({"kind": "sender_notification_permission", "key": "room"}, message(), False),  # level 0 < 50
    ({"kind": "org.example.unknown"}, message(), False),  # an unknown kind never matches
])
def test_conditions(condition: dict[str, Any], event: dict[str, Any], expected: bool) -> None:
    assert only(condition, event) is expected


@pytest.mark.parametrize(("sender_level", "levels", "expected"), [
    (50, {}, True),  # default notifications.room is 50
    (49, {}, False),
    (10, {"room": 10}, True),
    (10, {"room": 20}, False),
])
def test_sender_notification_permission(sender_level: int, levels: dict[str, int], expected: bool) -> None:
    condition = {"kind": "sender_notification_permission", "key": "room"}
    assert only(condition, message(), sender_level=sender_level, notifications=levels) is expected


def test_display_name_needs_a_name() -> None:
    assert only({"kind": "contains_display_name"}, message("hello"), display_name=None) is False
    assert only({"kind": "contains_display_name"}, message("hello"), display_name="") is False


# --- rule kinds and the legacy mention rules -------------------------------------------------


def test_disabled_rules_are_skipped_and_content_rules_match_words_of_the_body() -> None:
    changes = push_rules.put_rule(None, "content", "budget", {"actions": ["notify", HIGHLIGHT], "pattern": "budget"})
    assert default_rule(message("the budget"), changes=changes)[0] == "budget"
    changes = push_rules.set_attribute(ALICE, changes, "content", "budget", "enabled", False)
    assert default_rule(message("the budget"), changes=changes)[0] == ".m.rule.message"


def test_legacy_mention_rules_step_aside_for_messages_with_m_mentions() -> None:
    legacy = {"rule_id": ".m.rule.contains_display_name", "default": True, "enabled": True,
              "conditions": [{"kind": "contains_display_name"}], "actions": ["notify", HIGHLIGHT]}
    ruleset = push_rules.merged_ruleset(ALICE, None)
    ruleset["override"].insert(1, legacy)
    compiled = push_eval.compile_ruleset(ruleset)
    facts = push_eval.RoomFacts(3, 0, {})
    me = push_eval.Recipient(ALICE, "Alice")
    plain = push_eval.flatten(message("hi Alice"))
    intentional = push_eval.flatten(message("hi Alice", **{"m.mentions": {}}))
    assert push_eval.highlights(push_eval.evaluate(compiled, plain, facts, me))
    assert not push_eval.highlights(push_eval.evaluate(compiled, intentional, facts, me))


# --- actions, threads and the gateway payload ------------------------------------------------


@pytest.mark.parametrize(("actions", "notify", "highlight", "tweaks"), [
    (["notify"], True, False, {}),
    ([], False, False, {}),
    (["notify", HIGHLIGHT, SOUND], True, True, {"highlight": True, "sound": "default"}),
    (["notify", {"set_tweak": "highlight", "value": False}], True, False, {"highlight": False}),
    (["dont_notify"], False, False, {}),
])
def test_actions(actions: list[Any], notify: bool, highlight: bool, tweaks: dict[str, Any]) -> None:
    assert push_eval.notifies(actions) is notify
    assert push_eval.highlights(actions) is highlight
    assert push_eval.tweaks(actions) == tweaks


@pytest.mark.parametrize(("content", "thread"), [
    ({"body": "x"}, "main"),
    ({"m.relates_to": {"rel_type": "m.thread", "event_id": "$root"}}, "$root"),
    ({"m.relates_to": {"rel_type": "m.replace", "event_id": "$root"}}, "main"),
    ({"m.relates_to": {"rel_type": "m.thread", "event_id": 5}}, "main"),
])
def test_thread_of(content: dict[str, Any], thread: str) -> None:
    assert push_eval.thread_of({"content": content}) == thread


def test_event_id_only_payload_carries_no_content_sender_or_tweaks() -> None:
    from qasid.core.push_sender import notification_payload

    pusher = PusherRow(1, ALICE, "DEV", "http", "org.example.app", "key1", "App", "Phone", None, "en",
                       {"url": "https://push.example/_matrix/push/v1/notify", "format": "event_id_only"}, 1_700_000_000_000)
    item = QueuedPush(1, 5, ROOM, "$event", ["notify", HIGHLIGHT])
    payload = notification_payload(pusher, item, 3, None)
    assert payload == {"notification": {
        "event_id": "$event", "room_id": ROOM, "counts": {"unread": 3}, "prio": "high",
        "devices": [{"app_id": "org.example.app", "pushkey": "key1", "pushkey_ts": 1_700_000_000,
                     "data": {"format": "event_id_only"}}]}}
    full = notification_payload(pusher, item, 3, {"type": "m.room.message", "sender": BOB, "content": {"body": "x"}})
    assert full["notification"]["devices"][0]["tweaks"] == {"highlight": True}
    assert full["notification"]["content"] == {"body": "x"}
