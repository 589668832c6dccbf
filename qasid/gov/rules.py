"""Unit policy: the keys, their defaults, validation, inheritance, and the pure checks on them."""

from __future__ import annotations

import math
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from qasid.core.errors import MatrixError
from qasid.gov.classification import DEFAULT_LEVELS

SCOPES = ("unit", "ministry", "anyone")
MAX_UPLOAD_LIMIT = 1 << 40  # the most the server's own max_upload_bytes may be

# Every key a unit may set, with the value it has when no ancestor sets it.
DEFAULTS: dict[str, Any] = {
    "encryption_required": True,
    "secure_backup_required": False,
    "invite_scope": "anyone",
    "directory_scope": "anyone",
    "max_devices": None,
    "device_inactive_days": None,
    "retention_days": None,
    "password_min_length": 8,
    "password_require_digit": False,
    "password_require_symbol": False,
    "password_require_uppercase": False,
    "password_require_lowercase": False,
    # Voice and video calls: off, /voip/turnServer and /openid/request_token refuse, and no
    # MatrixRTC call membership may be joined.
    "calls_enabled": True,
    # Designations whose holders may issue directives to this unit's subtree, from a unit at or above
    # it (unit admins always may). Unordered: a unit below may name others.
    "directive_designations": [],
    # The lowest classification level a room created by the unit's officials may have (null: any).
    "min_room_classification": None,
    # Whether an official may deactivate their own account (POST /account/deactivate); otherwise
    # only an admin offboards them.
    "self_deactivation": False,
    # The largest file an official may upload, in bytes (null: the server's max_upload_bytes).
    "max_upload_bytes": None,
    # Keys the unit lets the units below it set looser than it has them (itself not inherited).
    "allow_loosening": [],
}

_BOOLS = {"encryption_required", "secure_backup_required", "password_require_digit",
          "password_require_symbol", "password_require_uppercase", "password_require_lowercase", "calls_enabled",
          "self_deactivation"}
# Days may be fractional (a test, or a very strict unit, may keep minutes).
_OPTIONAL_DAYS = {"device_inactive_days", "retention_days"}


@dataclass(frozen=True)
class Order:
    """Which way a key's values tighten: `rank` (of a value, given the classification levels) is higher
    for a stricter value."""

    stricter: str
    rank: Callable[[Any, Sequence[str]], float]


TRUE_IS_STRICTER = Order("true", lambda v, _: float(bool(v)))
FALSE_IS_STRICTER = Order("false", lambda v, _: -float(bool(v)))
NARROWER_IS_STRICTER = Order("unit < ministry < anyone", lambda v, _: float(SCOPES[::-1].index(v)))
LOWER_IS_STRICTER = Order("lower (null: no limit, loosest)", lambda v, _: -math.inf if v is None else -float(v))
HIGHER_IS_STRICTER = Order("higher", lambda v, _: float(v))
# A level the setting no longer names counts as none (the lowest).
HIGHER_LEVEL_IS_STRICTER = Order("a higher classification level (null: the lowest)",
                                 lambda v, levels: float(levels.index(v)) if v in levels else 0.0)

# Inheritance only tightens: a unit may set a key at least as strict as the value in force at its
# parent, never looser, unless an ancestor lists the key in its allow_loosening. A later policy
# key with an order (calls, media size, classification…) is one more row here.
ORDER: dict[str, Order] = {
    "encryption_required": TRUE_IS_STRICTER,
    "secure_backup_required": TRUE_IS_STRICTER,
    "invite_scope": NARROWER_IS_STRICTER,
    "directory_scope": NARROWER_IS_STRICTER,
    "max_devices": LOWER_IS_STRICTER,
    "device_inactive_days": LOWER_IS_STRICTER,
    "retention_days": LOWER_IS_STRICTER,
    "password_min_length": HIGHER_IS_STRICTER,
    "password_require_digit": TRUE_IS_STRICTER,
    "password_require_symbol": TRUE_IS_STRICTER,
    "password_require_uppercase": TRUE_IS_STRICTER,
    "password_require_lowercase": TRUE_IS_STRICTER,
    "calls_enabled": FALSE_IS_STRICTER,
    "min_room_classification": HIGHER_LEVEL_IS_STRICTER,
    "self_deactivation": FALSE_IS_STRICTER,
    "max_upload_bytes": LOWER_IS_STRICTER,
}
_TYPES = {
    **{key: "boolean" for key in _BOOLS},
    "invite_scope": " | ".join(SCOPES), "directory_scope": " | ".join(SCOPES),
    "max_devices": "integer 1-1000, or null", "device_inactive_days": "days (0-36500], or null",
    "retention_days": "days (0-36500], or null", "password_min_length": "integer 8-128",
    "min_room_classification": "a classification level, or null",
    "max_upload_bytes": "integer bytes 1-2^40, or null",
    "allow_loosening": "list of policy keys",
    "directive_designations": "list of designations",
}


def validate_policy(values: Any, levels: Sequence[str] = DEFAULT_LEVELS) -> dict[str, Any]:
    """The keys a unit sets, checked; M_BAD_JSON / M_INVALID_PARAM name the first bad one."""
    if not isinstance(values, dict):
        raise MatrixError(400, "M_BAD_JSON", "policy must be a JSON object")
    for key, value in values.items():
        if key not in DEFAULTS:
            raise MatrixError(400, "M_INVALID_PARAM", f"Unknown policy key {key!r}")
        if key in _BOOLS and not isinstance(value, bool):
            raise MatrixError(400, "M_INVALID_PARAM", f"{key} must be true or false")
        if key in ("invite_scope", "directory_scope") and value not in SCOPES:
            raise MatrixError(400, "M_INVALID_PARAM", f"{key} must be one of {', '.join(SCOPES)}")
        if key in _OPTIONAL_DAYS and value is not None and (
                not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 < value <= 36500):
            raise MatrixError(400, "M_INVALID_PARAM", f"{key} must be null or a number of days above 0, at most 36500")
        if key == "max_devices" and value is not None and (
                not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 1000):
            raise MatrixError(400, "M_INVALID_PARAM", "max_devices must be null or an integer from 1 to 1000")
        if key == "max_upload_bytes" and value is not None and (
                not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_UPLOAD_LIMIT):
            raise MatrixError(400, "M_INVALID_PARAM", "max_upload_bytes must be null or a number of bytes from 1"
                                                      f" to {MAX_UPLOAD_LIMIT}")
        if key == "password_min_length" and (
                not isinstance(value, int) or isinstance(value, bool) or not 8 <= value <= 128):
            raise MatrixError(400, "M_INVALID_PARAM", "password_min_length must be an integer from 8 to 128")
        if key == "min_room_classification" and value is not None and value not in levels:
            raise MatrixError(400, "M_INVALID_PARAM", f"{key} must be null or one of {', '.join(levels)}")
        if key == "allow_loosening" and (not isinstance(value, list) or len(set(map(str, value))) != len(value)
                                         or any(k not in ORDER for k in value)):
            raise MatrixError(400, "M_INVALID_PARAM", "allow_loosening must be a list of distinct policy keys"
                                                      f" among {', '.join(ORDER)}")
        if key == "directive_designations" and (
                not isinstance(value, list) or len(value) > 50 or len(set(map(str, value))) != len(value)
                or not all(isinstance(v, str) and v.strip() and len(v) <= 200 for v in value)):
            raise MatrixError(400, "M_INVALID_PARAM", "directive_designations must be a list of at most 50"
                                                      " distinct designations (non-empty strings)")
    return dict(values)


def is_looser(key: str, value: Any, than: Any, levels: Sequence[str] = DEFAULT_LEVELS) -> bool:
    """True if `value` is looser than `than` for an ordered key."""
    order = ORDER[key]
    return order.rank(value, levels) < order.rank(than, levels)


def policy_limits(
    chain: list[dict[str, Any]], levels: Sequence[str] = DEFAULT_LEVELS,
) -> tuple[dict[str, Any], dict[str, tuple[Any, int]]]:
    """The policy in force at the last unit of `chain` (own values, root first), and the limits below it.

    Each unit's own values overlay its parent's, clamped to the limits from above: so a parent
    that tightens later overrides a child's looser value. A unit's effective values then limit
    its whole subtree, except the keys it lists in allow_loosening. A limit is (value, index in
    `chain` of the highest unit imposing it).
    """
    result = dict(DEFAULTS)
    limits: dict[str, tuple[Any, int]] = {}
    for index, values in enumerate(chain):
        result.update({key: value for key, value in values.items() if key in DEFAULTS})
        result["allow_loosening"] = list(values.get("allow_loosening", []))
        for key, (limit, _) in limits.items():
            if is_looser(key, result[key], limit, levels):
                result[key] = limit
        for key in ORDER:
            if key not in result["allow_loosening"] and (
                    key not in limits or is_looser(key, limits[key][0], result[key], levels)):
                limits[key] = (result[key], index)
    return result, limits


def effective_policy(chain: list[dict[str, Any]], levels: Sequence[str] = DEFAULT_LEVELS) -> dict[str, Any]:
    """The policy in force at a unit: defaults, overlaid by each ancestor from the root down, only ever tightened."""
    return policy_limits(chain, levels)[0]


def policy_key_table() -> list[dict[str, Any]]:
    """Every policy key with its type, which way is stricter, and its default (for `qasid admin policy keys`)."""
    return [{"key": key, "type": _TYPES[key], "stricter": ORDER[key].stricter if key in ORDER else "-",
             "default": default} for key, default in DEFAULTS.items()]


def password_problem(policy: dict[str, Any], password: str) -> str | None:
    """Why the password breaks the policy's rules, or None."""
    if len(password) < policy["password_min_length"]:
        return f"Password must be at least {policy['password_min_length']} characters"
    checks = (
        ("password_require_digit", lambda c: c.isdigit(), "a digit"),
        ("password_require_symbol", lambda c: c in string.punctuation or not c.isalnum() and not c.isspace(),
         "a symbol"),
        ("password_require_uppercase", str.isupper, "an uppercase letter"),
        ("password_require_lowercase", str.islower, "a lowercase letter"),
    )
    for key, test, what in checks:
        if policy[key] and not any(test(c) for c in password):
            return f"Password must contain {what}"
    return None


def password_policy_json(policy: dict[str, Any]) -> dict[str, Any]:
    """The rules in the form Element reads from /password_policy."""
    return {
        "m.minimum_length": policy["password_min_length"],
        "m.require_digit": policy["password_require_digit"],
        "m.require_symbol": policy["password_require_symbol"],
        "m.require_uppercase": policy["password_require_uppercase"],
        "m.require_lowercase": policy["password_require_lowercase"],
    }


# Non-state events that may travel in a room that requires encryption, and the only content
# keys each may carry: the Megolm ciphertext itself; reactions, which clients (matrix-js-sdk,
# Element) deliberately leave unencrypted because relation data is in the clear anyway; and
# redactions. A key outside these (a `body`, say) would be plaintext beside the ciphertext.
CLEAR_EVENT_KEYS: dict[str, frozenset[str]] = {
    "m.room.encrypted": frozenset({"algorithm", "ciphertext", "session_id", "sender_key", "device_id",
                                   "m.relates_to"}),
    "m.reaction": frozenset({"m.relates_to"}),
    "m.room.redaction": frozenset({"redacts", "reason"}),
}
# What a relation may say in the clear (the spec's m.relates_to, with a thread's reply fallback).
RELATION_KEYS = frozenset({"rel_type", "event_id", "key", "is_falling_back", "m.in_reply_to"})
MEGOLM = "m.megolm.v1.aes-sha2"
ROOM_POLICY_EVENT = "io.qasid.policy"
# A MatrixRTC participant's state event (MSC3401/MSC4143); empty content means "left the call".
CALL_MEMBER_EVENT = "org.matrix.msc3401.call.member"
CALLS_OFF = "Your unit's policy does not allow calls"


def check_encryption_change(current: dict[str, Any] | None, new: dict[str, Any]) -> str | None:
    """Why a new m.room.encryption content removes or weakens encryption, or None if it doesn't."""
    if new.get("algorithm") != MEGOLM:
        return f"m.room.encryption must keep the algorithm {MEGOLM}"
    if current is None:
        return None
    for key, default in (("rotation_period_ms", 604_800_000), ("rotation_period_msgs", 100)):
        old_value = current.get(key, default)
        new_value = new.get(key, default)
        if not isinstance(new_value, int) or (isinstance(old_value, int) and new_value > old_value):
            return f"m.room.encryption {key} may not be lengthened"
    return None


def room_policy_problem(content: dict[str, Any]) -> str | None:
    """Why a room policy marker's content is malformed, or None."""
    seconds = content.get("retention_seconds")
    if set(content) != {"encryption_required", "retention_seconds"} or not isinstance(
            content["encryption_required"], bool) or not (seconds is None or (
                isinstance(seconds, int) and not isinstance(seconds, bool) and seconds >= 1)):
        return "io.qasid.policy needs encryption_required (boolean) and retention_seconds (null or seconds)"
    return None


def room_policy_looser(content: dict[str, Any], than: dict[str, Any]) -> bool:
    """True if a room policy marker is looser than another in any field."""
    if than["encryption_required"] and not content["encryption_required"]:
        return True
    limit, kept = than["retention_seconds"], content["retention_seconds"]
    return limit is not None and (kept is None or kept > limit)


def stricter_room_policy(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """The marker as strict as both: encryption if either requires it, the shorter retention."""
    kept = [s for s in (a["retention_seconds"], b["retention_seconds"]) if s is not None]
    return {"encryption_required": bool(a["encryption_required"] or b["encryption_required"]),
            "retention_seconds": min(kept) if kept else None}


ROOM_REQUIRES = "This room requires end-to-end encryption"
UNIT_REQUIRES = "Your unit's policy requires end-to-end encryption"


def plaintext_problem(event_type: str, content: dict[str, Any], why: str = ROOM_REQUIRES) -> str | None:
    """Why a non-state event would put readable content into a room that requires encryption (or from a
    sender who must encrypt, `why` then saying so), or None."""
    allowed = CLEAR_EVENT_KEYS.get(event_type)
    if allowed is None:
        return f"{why}: {event_type} must be sent encrypted"
    extra = sorted(set(content) - allowed)
    if extra:
        return f"{why}: {event_type} may not carry {', '.join(extra)}"
    if event_type == "m.room.encrypted":
        if content.get("algorithm") != MEGOLM:
            return f"{why}: m.room.encrypted must use {MEGOLM}"
        if not all(isinstance(content.get(key), str) and content[key] for key in ("ciphertext", "session_id")):
            return "m.room.encrypted needs a ciphertext and a session_id"
    relation = content.get("m.relates_to")
    if relation is not None:
        if not isinstance(relation, dict) or set(relation) - RELATION_KEYS:
            return f"{why}: m.relates_to may carry only {', '.join(sorted(RELATION_KEYS))}"
        reply = relation.get("m.in_reply_to")
        if reply is not None and (not isinstance(reply, dict) or set(reply) - {"event_id"}):
            return f"{why}: m.in_reply_to may carry only event_id"
        if event_type == "m.reaction" and relation.get("rel_type") != "m.annotation":
            return "A reaction's m.relates_to must be an m.annotation"
    elif event_type == "m.reaction":
        return "A reaction needs an m.relates_to"
    return None
