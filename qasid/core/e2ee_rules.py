"""Pure checks of what clients upload for end-to-end encryption: shapes and ed25519 signatures.

Nothing here touches storage; each check takes the objects and returns a cleaned copy or raises
a MatrixError saying exactly what was wrong.
"""

from __future__ import annotations

from typing import Any

from signedjson.key import decode_verify_key_base64
from signedjson.sign import SignatureVerifyException, verify_signed_json

from qasid.core.errors import MatrixError, bad_json, invalid_param, missing_param

CROSS_SIGNING_TYPES = ("master", "self_signing", "user_signing")
MAX_KEYS_PER_UPLOAD = 500


def signature_valid(signed: dict[str, Any], signer: str, key_id: str, public_key: str) -> bool:
    """Whether `signed` carries a valid ed25519 signature by `signer` under `key_id` ("ed25519:<id>")."""
    algorithm, _, version = key_id.partition(":")
    if algorithm != "ed25519" or not version:
        return False
    try:
        verify_signed_json(signed, signer, decode_verify_key_base64("ed25519", version, public_key))
    except (SignatureVerifyException, ValueError, TypeError):  # bad key, base64 or signature alike
        return False
    return True


def without_signatures(signed: dict[str, Any]) -> dict[str, Any]:
    """The signed part of an object: what a signature covers."""
    return {k: v for k, v in signed.items() if k not in ("signatures", "unsigned")}


def _check_signatures_shape(value: Any, what: str) -> dict[str, dict[str, str]]:
    if not isinstance(value, dict) or not all(
        isinstance(by_key, dict) and all(isinstance(k, str) and isinstance(s, str) for k, s in by_key.items())
        for by_key in value.values()
    ):
        raise bad_json(f"{what}.signatures must map user IDs to maps of key IDs to signatures")
    return value


def check_device_keys(device_keys: Any, user_id: str, device_id: str) -> dict[str, Any]:
    """device_keys of /keys/upload: this user's and device's, and signed by the device's own ed25519 key."""
    if not isinstance(device_keys, dict):
        raise bad_json("device_keys must be an object")
    for field, kind in (("user_id", str), ("device_id", str), ("algorithms", list), ("keys", dict),
                        ("signatures", dict)):
        if field not in device_keys:
            raise missing_param(f"device_keys.{field} is required")
        if not isinstance(device_keys[field], kind):
            raise bad_json(f"device_keys.{field} has the wrong type")
    if device_keys["user_id"] != user_id:
        raise invalid_param("device_keys.user_id does not match the access token's user")
    if device_keys["device_id"] != device_id:
        raise invalid_param("device_keys.device_id does not match the access token's device")
    if not all(isinstance(a, str) for a in device_keys["algorithms"]):
        raise bad_json("device_keys.algorithms must be a list of strings")
    keys = device_keys["keys"]
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in keys.items()):
        raise bad_json("device_keys.keys must map key IDs to strings")
    ed25519_id = f"ed25519:{device_id}"
    if ed25519_id not in keys:
        raise invalid_param(f"device_keys.keys must contain {ed25519_id}")
    _check_signatures_shape(device_keys["signatures"], "device_keys")
    cleaned = without_signatures(device_keys) | {"signatures": device_keys["signatures"]}
    if not signature_valid(cleaned, user_id, ed25519_id, keys[ed25519_id]):
        raise invalid_param(f"device_keys is not validly signed by its own key {ed25519_id}")
    return cleaned


def check_one_time_keys(
    keys: Any, field: str, user_id: str, device_id: str, device_ed25519: str | None,
) -> list[tuple[str, str, Any]]:
    """one_time_keys or fallback_keys of /keys/upload as (algorithm, key_id, key); signed keys must verify."""
    if not isinstance(keys, dict):
        raise bad_json(f"{field} must be an object")
    if len(keys) > MAX_KEYS_PER_UPLOAD:
        raise invalid_param(f"{field}: at most {MAX_KEYS_PER_UPLOAD} keys per upload")
    checked = []
    for name, key in keys.items():
        algorithm, _, key_id = name.partition(":")
        if not algorithm or not key_id:
            raise invalid_param(f"{field}: key name {name!r} must be <algorithm>:<key_id>")
        if isinstance(key, dict):
            if not isinstance(key.get("key"), str):
                raise bad_json(f"{field}.{name}.key must be a string")
            _check_signatures_shape(key.get("signatures"), f"{field}.{name}")
        elif not isinstance(key, str):
            raise bad_json(f"{field}.{name} must be a string or a key object")
        # Every key must be signed, whatever its algorithm name: an unsigned key (the legacy
        # `curve25519`) could be swapped by the server, which end-to-end encryption must rule out.
        if not isinstance(key, dict):
            raise invalid_param(f"{field}.{name} must be a signed key object")
        if device_ed25519 is None:
            raise invalid_param(f"{field}: upload device_keys before signed keys, so they can be verified")
        if not signature_valid(key, user_id, f"ed25519:{device_id}", device_ed25519):
            raise invalid_param(f"{field}.{name} is not validly signed by the device's ed25519 key")
        checked.append((algorithm, key_id, key))
    return checked


def check_cross_signing_key(key: Any, user_id: str, key_type: str) -> tuple[dict[str, Any], str]:
    """A cross-signing key of /keys/device_signing/upload and its unpadded-base64 public key."""
    field = f"{key_type}_key"
    if not isinstance(key, dict):
        raise bad_json(f"{field} must be an object")
    for name, kind in (("user_id", str), ("usage", list), ("keys", dict)):
        if name not in key:
            raise missing_param(f"{field}.{name} is required")
        if not isinstance(key[name], kind):
            raise bad_json(f"{field}.{name} has the wrong type")
    if key["user_id"] != user_id:
        raise invalid_param(f"{field}.user_id must be the requester's user ID")
    if key_type not in key["usage"] or not all(isinstance(u, str) for u in key["usage"]):
        raise invalid_param(f"{field}.usage must include {key_type!r}")
    if len(key["keys"]) != 1:
        raise invalid_param(f"{field}.keys must have exactly one key")
    ((key_id, public_key),) = key["keys"].items()
    if not isinstance(public_key, str) or key_id != f"ed25519:{public_key}":
        raise invalid_param(f"{field}.keys must be {{'ed25519:<public key>': '<public key>'}}")
    if "signatures" in key:
        _check_signatures_shape(key["signatures"], field)
    return dict(key), public_key


def public_key_of(cross_signing_key: dict[str, Any]) -> str:
    """The public key of a stored cross-signing key."""
    return str(next(iter(cross_signing_key["keys"].values())))


def visible_signatures(key_json: dict[str, Any], owner: str, viewer: str) -> dict[str, Any]:
    """A key as `viewer` may see it: signatures by its owner and by the viewer, nobody else's."""
    signatures = key_json.get("signatures")
    if not isinstance(signatures, dict):
        return key_json
    return key_json | {"signatures": {s: v for s, v in signatures.items() if s in (owner, viewer)}}


def check_backup_key_data(value: Any, where: str) -> dict[str, Any]:
    """KeyBackupData: first_message_index, forwarded_count, is_verified, session_data."""
    if not isinstance(value, dict):
        raise bad_json(f"{where} must be an object")
    for name, kind in (("first_message_index", int), ("forwarded_count", int), ("is_verified", bool),
                       ("session_data", dict)):
        if name not in value:
            raise missing_param(f"{where}.{name} is required")
        item = value[name]
        if not isinstance(item, kind) or (kind is int and isinstance(item, bool)):
            raise bad_json(f"{where}.{name} has the wrong type")
    return value


def keep_existing_backup_key(existing: dict[str, Any], new: dict[str, Any]) -> bool:
    """The spec's rule for a session already backed up: prefer verified, then a lower first_message_index,
    then a lower forwarded_count; on a full tie the new upload replaces the old."""

    def rank(key: dict[str, Any]) -> tuple[int, int, int]:
        return (0 if key.get("is_verified") else 1, int(key.get("first_message_index", 0)),
                int(key.get("forwarded_count", 0)))

    return rank(existing) < rank(new)


def megolm_over_to_device(event_type: str, content: dict[str, Any]) -> bool:
    """Room (megolm) ciphertext sent as a to-device message: never legitimate, so refused."""
    return event_type == "m.room.encrypted" and content.get("algorithm") == "m.megolm.v1.aes-sha2"


def require_object(value: Any, what: str) -> dict[str, Any]:
    """`value` as a JSON object, or M_BAD_JSON naming `what`."""
    if not isinstance(value, dict):
        raise MatrixError(400, "M_BAD_JSON", f"{what} must be an object")
    return value
