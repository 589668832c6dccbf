"""Push rule evaluation: (a user's ruleset, an event, facts about the room) -> actions. Pure.

A ruleset is compiled once per change (the append path keeps each user's compiled ruleset),
an event is flattened once, then each recipient costs a walk over their rules with dict
look-ups and a few precompiled regular expressions.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from qasid.core.push_rules import KINDS, Ruleset

Actions = list[Any]
# The predefined rules that a message carrying `m.mentions` skips: it says whom it mentions.
LEGACY_MENTION_RULES = frozenset({".m.rule.contains_display_name", ".m.rule.roomnotif",
                                  ".m.rule.contains_user_name"})
DEFAULT_NOTIFICATION_LEVEL = 50
_WORD = "A-Za-z0-9_"
_MEMBER_COUNT = re.compile(r"(==|<=|>=|<|>)?([0-9]{1,9})")


@dataclass(frozen=True)
class FlatEvent:
    """An event flattened once for every recipient: dotted (escaped) keys to leaf values."""

    values: Mapping[str, Any]
    room_id: str
    sender: str
    body: str | None
    has_mentions: bool


@dataclass(frozen=True)
class RoomFacts:
    """What conditions need from the room at the event: member count and the sender's power."""

    member_count: int
    sender_power_level: int
    notification_levels: Mapping[str, int]


@dataclass(frozen=True)
class Recipient:
    """The user a ruleset belongs to, with their display name in the room."""

    user_id: str
    display_name: str | None


Condition = Callable[[FlatEvent, RoomFacts, Recipient], bool]


@dataclass(frozen=True)
class CompiledRule:
    """One enabled rule: all its conditions must hold."""

    rule_id: str
    conditions: tuple[Condition, ...]
    actions: Actions


@dataclass(frozen=True)
class CompiledRuleset:
    """A user's enabled rules in evaluation order."""

    rules: tuple[CompiledRule, ...]


def _escape(key: str) -> str:
    return key.replace("\\", "\\\\").replace(".", "\\.")


def flatten(event: Mapping[str, Any]) -> FlatEvent:
    """The event's properties under the spec's dotted keys (`.` and `\\` in names escaped)."""
    values: dict[str, Any] = {}

    def walk(prefix: str, obj: Mapping[str, Any]) -> None:
        for name, value in obj.items():
            key = prefix + _escape(str(name))
            if isinstance(value, Mapping):
                walk(key + ".", value)
            else:
                values[key] = value

    walk("", event)
    content = event.get("content")
    content = content if isinstance(content, Mapping) else {}
    body = content.get("body")
    return FlatEvent(values, str(event.get("room_id", "")), str(event.get("sender", "")),
                     body if isinstance(body, str) else None, "m.mentions" in content)


def _same(a: Any, b: Any) -> bool:
    # JSON equality: true is not 1, and only scalars are compared.
    return type(a) is type(b) and a == b


@functools.lru_cache(maxsize=4096)
def _glob(pattern: str, words: bool) -> re.Pattern[str]:
    parts = []
    for char in pattern:
        parts.append(".*?" if char == "*" else "." if char == "?" else re.escape(char))
    body = "".join(parts)
    if words:
        return re.compile(f"(?<![{_WORD}]){body}(?![{_WORD}])", re.IGNORECASE | re.DOTALL)
    return re.compile(f"(?:{body})\\Z", re.IGNORECASE | re.DOTALL)


def _never(event: FlatEvent, facts: RoomFacts, recipient: Recipient) -> bool:
    return False


def _event_match(key: str, pattern: str) -> Condition:
    # content.body matches anywhere between word boundaries; every other key as a whole.
    regex = _glob(pattern, words=key == "content.body")
    search = regex.search if key == "content.body" else regex.match

    def check(event: FlatEvent, facts: RoomFacts, recipient: Recipient) -> bool:
        value = event.values.get(key)
        return isinstance(value, str) and search(value) is not None

    return check


def _property_is(key: str, expected: Any) -> Condition:
    def check(event: FlatEvent, facts: RoomFacts, recipient: Recipient) -> bool:
        return key in event.values and _same(event.values[key], expected)

    return check


def _property_contains(key: str, expected: Any) -> Condition:
    def check(event: FlatEvent, facts: RoomFacts, recipient: Recipient) -> bool:
        value = event.values.get(key)
        return isinstance(value, list) and any(_same(item, expected) for item in value)

    return check


def _contains_display_name(event: FlatEvent, facts: RoomFacts, recipient: Recipient) -> bool:
    name = recipient.display_name
    if not name or event.body is None:
        return False
    return _glob_literal(name).search(event.body) is not None


@functools.lru_cache(maxsize=4096)
def _glob_literal(text: str) -> re.Pattern[str]:
    return re.compile(f"(?<![{_WORD}]){re.escape(text)}(?![{_WORD}])", re.IGNORECASE)


def _member_count(spec: str) -> Condition:
    match = _MEMBER_COUNT.fullmatch(spec)
    if match is None:
        return _never
    op, number = match.group(1) or "==", int(match.group(2))
    compare: Callable[[int], bool] = {
        "==": lambda n: n == number, "<": lambda n: n < number, ">": lambda n: n > number,
        "<=": lambda n: n <= number, ">=": lambda n: n >= number,
    }[op]

    def check(event: FlatEvent, facts: RoomFacts, recipient: Recipient) -> bool:
        return compare(facts.member_count)

    return check


def _sender_permission(key: str) -> Condition:
    def check(event: FlatEvent, facts: RoomFacts, recipient: Recipient) -> bool:
        required = facts.notification_levels.get(key, DEFAULT_NOTIFICATION_LEVEL)
        return facts.sender_power_level >= required

    return check


def compile_condition(condition: Mapping[str, Any]) -> Condition:
    """One condition as a function; an unknown kind or malformed condition never matches."""
    kind = condition.get("kind")
    key = condition.get("key")
    if kind == "event_match" and isinstance(key, str) and isinstance(condition.get("pattern"), str):
        return _event_match(key, condition["pattern"])
    scalar = "value" in condition and (condition["value"] is None
                                       or isinstance(condition["value"], str | int | bool))
    if kind == "event_property_is" and isinstance(key, str) and scalar:
        return _property_is(key, condition["value"])
    if kind == "event_property_contains" and isinstance(key, str) and scalar:
        return _property_contains(key, condition["value"])
    if kind == "contains_display_name":
        return _contains_display_name
    if kind == "room_member_count" and isinstance(condition.get("is"), str):
        return _member_count(condition["is"])
    if kind == "sender_notification_permission" and isinstance(key, str):
        return _sender_permission(key)
    return _never


def _legacy_skip(event: FlatEvent, facts: RoomFacts, recipient: Recipient) -> bool:
    return not event.has_mentions


def compile_ruleset(ruleset: Ruleset) -> CompiledRuleset:
    """The enabled rules of a merged ruleset, in the spec's order, ready to evaluate."""
    compiled: list[CompiledRule] = []
    for kind in KINDS:
        for rule in ruleset.get(kind, []):
            if not rule.get("enabled", True) or not isinstance(rule.get("actions"), list):
                continue
            rule_id = str(rule.get("rule_id", ""))
            conditions: list[Condition] = []
            if rule_id in LEGACY_MENTION_RULES:
                conditions.append(_legacy_skip)
            if kind in ("override", "underride"):
                raw = rule.get("conditions", [])
                if not isinstance(raw, list):
                    continue
                conditions += [compile_condition(c) if isinstance(c, Mapping) else _never for c in raw]
            elif kind == "content":
                pattern = rule.get("pattern")
                conditions.append(_event_match("content.body", pattern) if isinstance(pattern, str) else _never)
            elif kind == "room":
                conditions.append(_event_match("room_id", rule_id))
            elif kind == "sender":
                conditions.append(_event_match("sender", rule_id))
            compiled.append(CompiledRule(rule_id, tuple(conditions), rule["actions"]))
    return CompiledRuleset(tuple(compiled))


def evaluate(rules: CompiledRuleset, event: FlatEvent, facts: RoomFacts, recipient: Recipient) -> Actions:
    """The actions of the first rule whose conditions all hold; [] when none does."""
    for rule in rules.rules:
        if all(condition(event, facts, recipient) for condition in rule.conditions):
            return rule.actions
    return []


def notifies(actions: Actions) -> bool:
    """Whether the actions ask for a notification."""
    return "notify" in actions


def tweaks(actions: Actions) -> dict[str, Any]:
    """The set_tweak actions as {tweak: value}; `highlight` without a value means true."""
    found: dict[str, Any] = {}
    for action in actions:
        if isinstance(action, Mapping) and isinstance(action.get("set_tweak"), str):
            found[action["set_tweak"]] = action.get("value", True if action["set_tweak"] == "highlight" else None)
    return found


def highlights(actions: Actions) -> bool:
    """Whether the actions set the highlight tweak (to anything but false)."""
    return tweaks(actions).get("highlight", False) is not False


def thread_of(event: Mapping[str, Any]) -> str:
    """The thread a notification belongs to: its root's event ID, or "main"."""
    content = event.get("content")
    relates = content.get("m.relates_to") if isinstance(content, Mapping) else None
    if isinstance(relates, Mapping) and relates.get("rel_type") == "m.thread":
        root = relates.get("event_id")
        if isinstance(root, str) and root.startswith("$"):
            return root
    return "main"
