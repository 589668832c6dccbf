"""Push rules: the spec's predefined rules for a user, and the user's changes applied to them.

A user's changes are kept as one document (stored as their `m.push_rules` account data):
`{"user": {kind: [rule, ...]}, "defaults": {rule_id: {"enabled"?: bool, "actions"?: [...]}}}`.
The ruleset clients see is always computed from the current predefined rules plus that
document, so a newer server's predefined rules reach every user without a data migration.
Everything here is pure: (document, request) -> new document, or a MatrixError.
"""

from __future__ import annotations

import copy
from typing import Any

from qasid.core.errors import MatrixError, invalid_param, missing_param, not_found

KINDS = ("override", "content", "room", "sender", "underride")
# Predefined override rules evaluated before any user-defined override rule.
LEADING_OVERRIDES = (".m.rule.master",)

Rule = dict[str, Any]
Ruleset = dict[str, list[Rule]]

_SOUND_DEFAULT = {"set_tweak": "sound", "value": "default"}
_HIGHLIGHT = {"set_tweak": "highlight"}


def _match(key: str, pattern: str) -> dict[str, Any]:
    return {"kind": "event_match", "key": key, "pattern": pattern}


def _rule(rule_id: str, conditions: list[dict[str, Any]], actions: list[Any], enabled: bool = True) -> Rule:
    return {"rule_id": rule_id, "default": True, "enabled": enabled, "conditions": conditions, "actions": actions}


def predefined_rules(user_id: str) -> Ruleset:
    """The spec's "Predefined Rules" for `user_id`, in evaluation order (deprecated rules omitted)."""
    override = [
        _rule(".m.rule.master", [], [], enabled=False),
        _rule(".m.rule.suppress_notices", [_match("content.msgtype", "m.notice")], []),
        _rule(
            ".m.rule.invite_for_me",
            [_match("type", "m.room.member"), _match("content.membership", "invite"),
             _match("state_key", user_id)],
            ["notify", _SOUND_DEFAULT],
        ),
        _rule(".m.rule.member_event", [_match("type", "m.room.member")], []),
        _rule(
            ".m.rule.is_user_mention",
            [{"kind": "event_property_contains", "key": "content.m\\.mentions.user_ids", "value": user_id}],
            ["notify", _SOUND_DEFAULT, _HIGHLIGHT],
        ),
        _rule(
            ".m.rule.is_room_mention",
            [{"kind": "event_property_is", "key": "content.m\\.mentions.room", "value": True},
             {"kind": "sender_notification_permission", "key": "room"}],
            ["notify", _HIGHLIGHT],
        ),
        _rule(".m.rule.tombstone", [_match("type", "m.room.tombstone"), _match("state_key", "")],
              ["notify", _HIGHLIGHT]),
        _rule(".m.rule.reaction", [_match("type", "m.reaction")], []),
        _rule(".m.rule.room.server_acl", [_match("type", "m.room.server_acl"), _match("state_key", "")], []),
        _rule(
            ".m.rule.suppress_edits",
            [{"kind": "event_property_is", "key": "content.m\\.relates_to.rel_type", "value": "m.replace"}],
            [],
        ),
    ]
    one_to_one = {"kind": "room_member_count", "is": "2"}
    underride = [
        _rule(".m.rule.call", [_match("type", "m.call.invite")],
              ["notify", {"set_tweak": "sound", "value": "ring"}]),
        _rule(".m.rule.encrypted_room_one_to_one", [one_to_one, _match("type", "m.room.encrypted")],
              ["notify", _SOUND_DEFAULT]),
        _rule(".m.rule.room_one_to_one", [one_to_one, _match("type", "m.room.message")],
              ["notify", _SOUND_DEFAULT]),
        _rule(".m.rule.message", [_match("type", "m.room.message")], ["notify"]),
        _rule(".m.rule.encrypted", [_match("type", "m.room.encrypted")], ["notify"]),
    ]
    return {"override": override, "content": [], "room": [], "sender": [], "underride": underride}


def empty_changes() -> dict[str, Any]:
    """The change document of a user who never touched their push rules."""
    return {"user": {kind: [] for kind in KINDS}, "defaults": {}}


def _normalise(changes: dict[str, Any] | None) -> dict[str, Any]:
    doc = empty_changes()
    if changes:
        for kind in KINDS:
            rules = changes.get("user", {}).get(kind)
            if isinstance(rules, list):
                doc["user"][kind] = copy.deepcopy(rules)
        defaults = changes.get("defaults")
        if isinstance(defaults, dict):
            doc["defaults"] = copy.deepcopy(defaults)
    return doc


def merged_ruleset(user_id: str, changes: dict[str, Any] | None) -> Ruleset:
    """The `global` ruleset a client sees: predefined rules with the user's changes, in priority order."""
    doc = _normalise(changes)
    base = predefined_rules(user_id)
    for rules in base.values():
        for rule in rules:
            tweak = doc["defaults"].get(rule["rule_id"], {})
            if "enabled" in tweak:
                rule["enabled"] = tweak["enabled"]
            if "actions" in tweak:
                rule["actions"] = tweak["actions"]
    result: Ruleset = {}
    for kind in KINDS:
        user_rules = doc["user"][kind]
        if kind == "override":
            leading = [r for r in base[kind] if r["rule_id"] in LEADING_OVERRIDES]
            trailing = [r for r in base[kind] if r["rule_id"] not in LEADING_OVERRIDES]
            result[kind] = leading + user_rules + trailing
        else:
            result[kind] = user_rules + base[kind]
    return result


def find_rule(ruleset: Ruleset, kind: str, rule_id: str) -> Rule:
    """One rule of a merged ruleset, or M_NOT_FOUND."""
    check_kind(kind)
    for rule in ruleset[kind]:
        if rule["rule_id"] == rule_id:
            return rule
    raise not_found(f"No push rule {kind}/{rule_id}")


def check_kind(kind: str) -> None:
    """Refuse a kind the spec does not define."""
    if kind not in KINDS:
        raise invalid_param(f"Unknown push rule kind: {kind}")


KNOWN_ACTIONS = ("notify", "dont_notify", "coalesce")


def _check_actions(actions: Any) -> list[Any]:
    if not isinstance(actions, list):
        raise MatrixError(400, "M_BAD_JSON", "actions must be an array")
    for action in actions:
        if isinstance(action, str):
            # dont_notify and coalesce are deprecated no-ops that older clients still send.
            if action not in KNOWN_ACTIONS:
                raise invalid_param(f"Unknown push rule action: {action}")
            continue
        if not (isinstance(action, dict) and isinstance(action.get("set_tweak"), str)):
            raise MatrixError(400, "M_BAD_JSON", "Each action is a string or a set_tweak object")
    return actions


def put_rule(
    changes: dict[str, Any] | None, kind: str, rule_id: str, body: dict[str, Any],
    before: str | None = None, after: str | None = None,
) -> dict[str, Any]:
    """Create or replace a user-defined rule; a new rule goes first among the user's rules of its kind."""
    check_kind(kind)
    if not rule_id or rule_id.startswith(".") or "/" in rule_id or "\\" in rule_id:
        raise invalid_param("Rule IDs may not start with '.' or contain '/' or '\\'")
    if "actions" not in body:
        raise missing_param("Missing field: actions")
    rule: Rule = {"rule_id": rule_id, "default": False, "enabled": True,
                  "actions": _check_actions(body["actions"])}
    if kind == "content":
        pattern = body.get("pattern")
        if not isinstance(pattern, str) or not pattern:
            raise missing_param("Content rules need a pattern")
        rule["pattern"] = pattern
    elif kind in ("override", "underride"):
        conditions = body.get("conditions", [])
        if not isinstance(conditions, list) or not all(
            isinstance(c, dict) and isinstance(c.get("kind"), str) for c in conditions
        ):
            raise MatrixError(400, "M_BAD_JSON", "conditions must be an array of objects with a kind")
        rule["conditions"] = conditions
    doc = _normalise(changes)
    rules: list[Rule] = doc["user"][kind]
    existing = next((i for i, r in enumerate(rules) if r["rule_id"] == rule_id), None)
    anchor = before or after
    if existing is not None:
        rule["enabled"] = rules[existing].get("enabled", True)
    if anchor is not None:
        if anchor.startswith("."):
            raise invalid_param("Rules cannot be placed relative to a server-default rule")
        if existing is not None:
            rules.pop(existing)
        position = next((i for i, r in enumerate(rules) if r["rule_id"] == anchor), None)
        if position is None:
            raise invalid_param(f"No user-defined {kind} rule {anchor} to place this rule next to")
        rules.insert(position if before else position + 1, rule)
    elif existing is not None:
        rules[existing] = rule
    else:
        rules.insert(0, rule)
    return doc


def delete_rule(changes: dict[str, Any] | None, kind: str, rule_id: str) -> dict[str, Any]:
    """Remove a user-defined rule; server-default rules cannot be deleted."""
    check_kind(kind)
    if rule_id.startswith("."):
        raise MatrixError(400, "M_INVALID_PARAM", "Server-default rules cannot be deleted")
    doc = _normalise(changes)
    rules: list[Rule] = doc["user"][kind]
    remaining = [r for r in rules if r["rule_id"] != rule_id]
    if len(remaining) == len(rules):
        raise not_found(f"No push rule {kind}/{rule_id}")
    doc["user"][kind] = remaining
    return doc


def set_attribute(
    user_id: str, changes: dict[str, Any] | None, kind: str, rule_id: str, attribute: str, value: Any,
) -> dict[str, Any]:
    """Set `enabled` or `actions` of any rule, predefined or user-defined."""
    if attribute == "enabled":
        if not isinstance(value, bool):
            raise MatrixError(400, "M_BAD_JSON", "enabled must be a boolean")
    else:
        value = _check_actions(value)
    doc = _normalise(changes)
    find_rule(merged_ruleset(user_id, doc), kind, rule_id)  # M_NOT_FOUND for unknown rules
    if rule_id.startswith("."):
        doc["defaults"].setdefault(rule_id, {})[attribute] = value
    else:
        for rule in doc["user"][kind]:
            if rule["rule_id"] == rule_id:
                rule[attribute] = value
    return doc
