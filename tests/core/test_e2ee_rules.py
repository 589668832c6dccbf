"""The pure E2EE upload checks, table-driven, without a server."""

from __future__ import annotations

from typing import Any

import pytest
from signedjson.key import encode_verify_key_base64, generate_signing_key, get_verify_key
from signedjson.sign import sign_json

from qasid.core.e2ee_rules import (
    check_backup_key_data,
    check_cross_signing_key,
    check_device_keys,
    keep_existing_backup_key,
    megolm_over_to_device,
    signature_valid,
    visible_signatures,
)
from qasid.core.errors import MatrixError

USER = "@alice:qasid.test"


def key(index: int, forwarded: int = 0, verified: bool = False) -> dict[str, Any]:
    return {"first_message_index": index, "forwarded_count": forwarded, "is_verified": verified,
            "session_data": {}}


@pytest.mark.parametrize(("existing", "new", "kept"), [
    (key(0, verified=True), key(0), True),            # verified beats unverified
    (key(5), key(0, verified=True), False),           # ... whatever the index
    (key(3), key(4), True),                           # lower first_message_index wins
    (key(4), key(3), False),
    (key(3, forwarded=1), key(3, forwarded=2), True),  # then fewer forwards
    (key(3, forwarded=2), key(3, forwarded=1), False),
    (key(3), key(3), False),                          # a full tie: the new upload replaces
])
def test_backup_key_preference(existing: dict[str, Any], new: dict[str, Any], kept: bool) -> None:
    assert keep_existing_backup_key(existing, new) is kept


@pytest.mark.parametrize(("event_type", "content", "refused"), [
    ("m.room.encrypted", {"algorithm": "m.megolm.v1.aes-sha2"}, True),
    ("m.room.encrypted", {"algorithm": "m.olm.v1.curve25519-aes-sha2"}, False),
    ("m.room_key_request", {"algorithm": "m.megolm.v1.aes-sha2"}, False),
])
def test_megolm_over_to_device(event_type: str, content: dict[str, Any], refused: bool) -> None:
    assert megolm_over_to_device(event_type, content) is refused


def device_keys(device_id: str = "DEV") -> tuple[dict[str, Any], str]:
    signing = generate_signing_key(device_id)
    public = encode_verify_key_base64(get_verify_key(signing))
    obj = {"user_id": USER, "device_id": device_id, "algorithms": ["m.olm.v1.curve25519-aes-sha2"],
           "keys": {f"ed25519:{device_id}": public, f"curve25519:{device_id}": "c"}}
    return sign_json(obj, USER, signing), public


def test_device_keys_accepted_and_unsigned_dropped() -> None:
    keys, public = device_keys()
    cleaned = check_device_keys(keys | {"unsigned": {"x": 1}}, USER, "DEV")
    assert "unsigned" not in cleaned
    assert signature_valid(cleaned, USER, "ed25519:DEV", public)


@pytest.mark.parametrize(("change", "errcode"), [
    ({"user_id": "@bob:qasid.test"}, "M_INVALID_PARAM"),
    ({"device_id": "OTHER"}, "M_INVALID_PARAM"),
    ({"algorithms": []}, "M_INVALID_PARAM"),          # tampered after signing
    ({"keys": {"curve25519:DEV": "c"}}, "M_INVALID_PARAM"),
    ({"keys": "k"}, "M_BAD_JSON"),
    ({"signatures": {USER: {"ed25519:DEV": 5}}}, "M_BAD_JSON"),
])
def test_device_keys_refused(change: dict[str, Any], errcode: str) -> None:
    keys, _ = device_keys()
    with pytest.raises(MatrixError) as raised:
        check_device_keys(keys | change, USER, "DEV")
    assert raised.value.errcode == errcode


@pytest.mark.parametrize(("change", "errcode"), [
    ({"usage": ["self_signing"]}, "M_INVALID_PARAM"),
    ({"user_id": "@bob:qasid.test"}, "M_INVALID_PARAM"),
    ({"keys": {"ed25519:A": "B"}}, "M_INVALID_PARAM"),
    ({"keys": {"ed25519:A": "A", "ed25519:B": "B"}}, "M_INVALID_PARAM"),
    ({"usage": "master"}, "M_BAD_JSON"),
])
def test_cross_signing_key_refused(change: dict[str, Any], errcode: str) -> None:
    good = {"user_id": USER, "usage": ["master"], "keys": {"ed25519:PUB": "PUB"}}
    assert check_cross_signing_key(good, USER, "master")[1] == "PUB"
    with pytest.raises(MatrixError) as raised:
        check_cross_signing_key(good | change, USER, "master")
    assert raised.value.errcode == errcode


def test_backup_key_data_types() -> None:
    check_backup_key_data(key(0), "k")
    for bad in (key(0) | {"first_message_index": True}, key(0) | {"session_data": "x"}):
        with pytest.raises(MatrixError):
            check_backup_key_data(bad, "k")


def test_only_owner_and_viewer_signatures_are_visible() -> None:
    signed = {"keys": {}, "signatures": {USER: {"a": "1"}, "@bob:x": {"b": "2"}, "@eve:x": {"c": "3"}}}
    assert set(visible_signatures(signed, USER, "@bob:x")["signatures"]) == {USER, "@bob:x"}
