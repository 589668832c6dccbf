"""Room version 11 PDUs: redaction, content and reference hashes, signing, verification.

Pure functions over JSON-shaped dicts; the hashing path copies nothing it does not change.
Keys and verification come from the ecosystem libraries (signedjson, unpaddedbase64); the
canonical encoding is orjson's, tested byte-for-byte against canonicaljson's.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Mapping
from typing import Any

import orjson
from signedjson.sign import SignatureVerifyException, verify_signed_json
from signedjson.types import SigningKey, VerifyKey
from unpaddedbase64 import encode_base64

ROOM_VERSION = "11"

# Room v11 dropped `origin`, `membership` and `prev_state` from this list.
_KEPT_TOP_LEVEL_KEYS = frozenset(
    {
        "event_id",
        "type",
        "room_id",
        "sender",
        "state_key",
        "content",
        "hashes",
        "signatures",
        "depth",
        "prev_events",
        "auth_events",
        "origin_server_ts",
    }
)

# Content keys that survive redaction, per event type. m.room.create keeps all
# of its content in v11 and is handled separately; m.room.member's
# third_party_invite is handled separately because only its `signed` survives.
_KEPT_CONTENT_KEYS: dict[str, frozenset[str]] = {
    "m.room.member": frozenset({"membership", "join_authorised_via_users_server"}),
    "m.room.join_rules": frozenset({"join_rule", "allow"}),
    "m.room.power_levels": frozenset(
        {
            "ban",
            "events",
            "events_default",
            "invite",
            "kick",
            "redact",
            "state_default",
            "users",
            "users_default",
        }
    ),
    "m.room.history_visibility": frozenset({"history_visibility"}),
    "m.room.redaction": frozenset({"redacts"}),
}


def canonical_json(value: Any) -> bytes:
    """Matrix canonical JSON: sorted keys, no whitespace, UTF-8.

    orjson with sorted keys gives the same bytes as canonicaljson for every value an event can
    hold (integers within the canonical range, strings, objects, arrays; tested against it) at a
    fraction of the cost, and events are hashed on every send.
    """
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def redact(event: Mapping[str, Any]) -> dict[str, Any]:
    """A new dict holding what the room v11 redaction algorithm keeps of `event`, sharing nothing with it."""
    return copy.deepcopy(_redacted_view(event))


def _redacted_view(event: Mapping[str, Any]) -> dict[str, Any]:
    # The redaction algorithm without copying nested values: for hashing, where nothing is kept.
    redacted = {key: value for key, value in event.items() if key in _KEPT_TOP_LEVEL_KEYS}
    content = event.get("content")
    if not isinstance(content, Mapping):
        content = {}
    event_type = event.get("type")

    if event_type == "m.room.create":
        redacted["content"] = dict(content)
        return redacted

    kept = _KEPT_CONTENT_KEYS.get(str(event_type), frozenset())
    new_content = {key: value for key, value in content.items() if key in kept}
    if event_type == "m.room.member":
        third_party_invite = content.get("third_party_invite")
        # Synapse keeps an empty object when `signed` is missing; we do the same
        # so that reference hashes (and so event IDs) agree with it.
        if isinstance(third_party_invite, Mapping):
            new_content["third_party_invite"] = {
                key: value for key, value in third_party_invite.items() if key == "signed"
            }
    redacted["content"] = new_content
    return redacted


def compute_content_hash(event: Mapping[str, Any]) -> str:
    """The content hash of `event` (`hashes.sha256`): unpadded standard base64."""
    hashed = {key: value for key, value in event.items() if key not in ("unsigned", "signatures", "hashes")}
    return encode_base64(hashlib.sha256(canonical_json(hashed)).digest())


def _reference_bytes(event: Mapping[str, Any]) -> bytes:
    # What both the signature and the reference hash cover: the redacted event without
    # signatures and unsigned (where age_ts lives).
    redacted = _redacted_view(event)
    redacted.pop("signatures", None)
    redacted.pop("unsigned", None)
    return canonical_json(redacted)


def compute_event_id(event: Mapping[str, Any]) -> str:
    """The room v11 event ID: "$" + URL-safe unpadded base64 of the reference hash."""
    return "$" + encode_base64(hashlib.sha256(_reference_bytes(event)).digest(), urlsafe=True)


def _signature(reference_bytes: bytes, signing_key: SigningKey) -> str:
    return encode_base64(signing_key.sign(reference_bytes).signature)


def sign_event(event: Mapping[str, Any], server_name: str, signing_key: SigningKey) -> dict[str, Any]:
    """A copy of `event` plus `server_name`'s signature over its redacted form."""
    # The signature covers the redacted event so that it still verifies after
    # a redaction; the full content is protected by the content hash instead.
    signed = dict(event)
    signatures = {name: dict(sigs) for name, sigs in dict(event.get("signatures", {})).items()}
    key_id = f"{signing_key.alg}:{signing_key.version}"
    signatures.setdefault(server_name, {})[key_id] = _signature(_reference_bytes(event), signing_key)
    signed["signatures"] = signatures
    return signed


def finalise_pdu(
    partial: Mapping[str, Any], server_name: str, signing_key: SigningKey
) -> tuple[str, dict[str, Any]]:
    """Add the content hash and our signature to `partial`; return (event_id, pdu)."""
    if "event_id" in partial:
        # In v11 the event ID is derived from the PDU, so one in the body is a
        # caller's mistake and would change the reference hash.
        raise ValueError("a room v11 PDU must not carry an event_id")
    pdu = dict(partial)
    pdu.pop("signatures", None)
    pdu["hashes"] = {"sha256": compute_content_hash(pdu)}
    # Unsigned so far, so the bytes the signature covers are the reference-hash bytes too.
    reference = _reference_bytes(pdu)
    key_id = f"{signing_key.alg}:{signing_key.version}"
    pdu["signatures"] = {server_name: {key_id: _signature(reference, signing_key)}}
    return "$" + encode_base64(hashlib.sha256(reference).digest(), urlsafe=True), pdu


def verify_event(pdu: Mapping[str, Any], server_name: str, verify_key: VerifyKey) -> bool:
    """True if the content hash matches and `verify_key` of `server_name` signed it."""
    hashes = pdu.get("hashes")
    expected_hash = compute_content_hash(pdu)
    if not isinstance(hashes, Mapping) or hashes.get("sha256") != expected_hash:
        return False
    try:
        verify_signed_json(redact(pdu), server_name, verify_key)
    # TypeError: a malformed `signatures` (say, a list) from a remote server is
    # a failed check, not a crash.
    except (SignatureVerifyException, TypeError):
        return False
    return True


def to_client_event(pdu: Mapping[str, Any], event_id: str) -> dict[str, Any]:
    """The client-server "ClientEvent" form of `pdu`, without federation fields."""
    client_event: dict[str, Any] = {
        "content": pdu.get("content", {}),
        "event_id": event_id,
        "origin_server_ts": pdu["origin_server_ts"],
        "room_id": pdu["room_id"],
        "sender": pdu["sender"],
        "type": pdu["type"],
    }
    if "state_key" in pdu:
        client_event["state_key"] = pdu["state_key"]
    if "unsigned" in pdu:
        client_event["unsigned"] = dict(pdu["unsigned"])
    # v11 moved `redacts` into content; the spec asks servers to repeat it at
    # the top level so that older clients still find it.
    content = client_event["content"]
    is_redaction = pdu["type"] == "m.room.redaction"
    if is_redaction and isinstance(content, Mapping) and "redacts" in content:
        client_event["redacts"] = content["redacts"]
    return client_event
