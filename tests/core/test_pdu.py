"""Room v11 PDUs, checked against the spec appendix's test vectors where it has them."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from signedjson.key import decode_signing_key_base64, get_verify_key
from signedjson.sign import sign_json

from qasid.core.pdu import (
    ROOM_VERSION,
    compute_content_hash,
    compute_event_id,
    finalise_pdu,
    redact,
    sign_event,
    to_client_event,
    verify_event,
)

# The appendix "Cryptographic Test Vectors" key.
SEED = "YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1"
SERVER = "domain"
SIGNING_KEY = decode_signing_key_base64("ed25519", "1", SEED)
VERIFY_KEY = get_verify_key(SIGNING_KEY)


def test_room_version() -> None:
    assert ROOM_VERSION == "11"


# --- Appendix: JSON signing ---------------------------------------------------


@pytest.mark.parametrize(
    ("unsigned_json", "signature"),
    [
        pytest.param(
            {},
            "K8280/U9SSy9IVtjBuVeLr+HpOB4BQFWbg+UZaADMtTdGYI7Geitb76LTrr5QV/7Xg4ahLwYGYZzuHGZKM5ZAQ",
            id="empty-object",
        ),
        pytest.param(
            {"one": 1, "two": "Two"},
            "KqmLSbO39/Bzb0QIYE82zqLwsA+PDzYIpIRA2sRQ4sL53+sN6/fpNSoqE7BP7vBZhG6kYdD13EIMJpvhJI+6Bw",
            id="object-with-data",
        ),
    ],
)
def test_appendix_json_signing(unsigned_json: dict[str, Any], signature: str) -> None:
    signed = sign_json(copy.deepcopy(unsigned_json), SERVER, SIGNING_KEY)
    assert signed == {**unsigned_json, "signatures": {SERVER: {"ed25519:1": signature}}}


# --- Appendix: event signing --------------------------------------------------

MINIMAL_EVENT: dict[str, Any] = {
    "room_id": "!x:domain",
    "sender": "@a:domain",
    "origin": "domain",
    "origin_server_ts": 1000000,
    "signatures": {},
    "hashes": {},
    "type": "X",
    "content": {},
    "prev_events": [],
    "auth_events": [],
    "depth": 3,
    "unsigned": {"age_ts": 1000000},
}

REDACTABLE_EVENT: dict[str, Any] = {
    "content": {"body": "Here is the message content"},
    "event_id": "$0:domain",
    "origin": "domain",
    "origin_server_ts": 1000000,
    "type": "m.room.message",
    "room_id": "!r:domain",
    "sender": "@u:domain",
    "signatures": {},
    "unsigned": {"age_ts": 1000000},
}

APPENDIX_EVENTS = [
    pytest.param(
        MINIMAL_EVENT,
        "5jM4wQpv6lnBo7CLIghJuHdW+s2CMBJPUOGOC89ncos",
        "KxwGjPSDEtvnFgU00fwFz+l6d2pJM6XBIaMEn81SXPTRl16AqLAYqfIReFGZlHi5KLjAWbOoMszkwsQma+lYAg",
        id="minimal-event",
    ),
    pytest.param(
        REDACTABLE_EVENT,
        "onLKD1bGljeBWQhWZ1kaP9SorVmRQNdN5aM2JYU2n/g",
        "Wm+VzmOUOz08Ds+0NTWb1d4CZrVsJSikkeRxh6aCcUwu6pNC78FunoD7KNWzqFn241eYHYMGCA5McEiVPdhzBA",
        id="redactable-event",
    ),
]


@pytest.mark.parametrize(("event", "content_hash", "signature"), APPENDIX_EVENTS)
def test_appendix_content_hash(event: dict[str, Any], content_hash: str, signature: str) -> None:
    assert compute_content_hash(event) == content_hash


@pytest.mark.parametrize(("event", "content_hash", "signature"), APPENDIX_EVENTS)
def test_appendix_signature_differs_from_v11_only_by_origin(
    event: dict[str, Any], content_hash: str, signature: str
) -> None:
    # The appendix vectors were made with the pre-v11 redaction algorithm,
    # which kept the top-level `origin`. Putting `origin` back into our v11
    # redacted form must give exactly the appendix signature: that proves the
    # rest of our redaction and signing bytes match the spec.
    hashed = {**event, "hashes": {"sha256": content_hash}}
    pre_v11_redacted = {**redact(hashed), "origin": event["origin"]}
    signed = sign_json(pre_v11_redacted, SERVER, SIGNING_KEY)
    assert signed["signatures"] == {SERVER: {"ed25519:1": signature}}

    # And v11 itself signs without `origin`, so its signature must differ.
    v11_signed = sign_event(hashed, SERVER, SIGNING_KEY)
    assert v11_signed["signatures"][SERVER]["ed25519:1"] != signature
    assert verify_event(v11_signed, SERVER, VERIFY_KEY)


@pytest.mark.parametrize(("event", "content_hash", "signature"), APPENDIX_EVENTS)
def test_sign_event_keeps_everything_else(event: dict[str, Any], content_hash: str, signature: str) -> None:
    hashed = {**event, "hashes": {"sha256": content_hash}}
    signed = sign_event(hashed, SERVER, SIGNING_KEY)
    assert {k: v for k, v in signed.items() if k != "signatures"} == {
        k: v for k, v in hashed.items() if k != "signatures"
    }
    assert hashed["signatures"] == {}, "the input must not be mutated"


# --- Hashes, IDs, finalise and verify -------------------------------------------

PARTIAL: dict[str, Any] = {
    "type": "m.room.message",
    "room_id": "!r:domain",
    "sender": "@u:domain",
    "origin_server_ts": 1700000000000,
    "depth": 5,
    "prev_events": ["$prev"],
    "auth_events": ["$create", "$power", "$member"],
    "content": {"msgtype": "m.text", "body": "hello"},
}


def test_finalise_then_verify_round_trip() -> None:
    event_id, pdu = finalise_pdu(PARTIAL, SERVER, SIGNING_KEY)
    assert "event_id" not in pdu
    assert pdu["hashes"]["sha256"] == compute_content_hash(PARTIAL)
    assert pdu["content"] == PARTIAL["content"]
    assert event_id == compute_event_id(pdu)
    assert verify_event(pdu, SERVER, VERIFY_KEY)


def test_event_id_shape() -> None:
    event_id, _ = finalise_pdu(PARTIAL, SERVER, SIGNING_KEY)
    # "$" + 43 characters of URL-safe unpadded base64 of a 32-byte hash.
    assert event_id.startswith("$") and len(event_id) == 44
    assert not set(event_id[1:]) & set("+/=")


def test_event_id_is_stable_under_redaction_and_unsigned() -> None:
    event_id, pdu = finalise_pdu(PARTIAL, SERVER, SIGNING_KEY)
    assert compute_event_id(redact(pdu)) == event_id
    assert compute_event_id({**pdu, "unsigned": {"age_ts": 5}}) == event_id
    other_signature = {**pdu, "signatures": {"elsewhere": {"ed25519:x": "sig"}}}
    assert compute_event_id(other_signature) == event_id


def test_event_id_changes_with_the_content_hash() -> None:
    first, _ = finalise_pdu(PARTIAL, SERVER, SIGNING_KEY)
    changed = {**PARTIAL, "content": {"msgtype": "m.text", "body": "bye"}}
    second, _ = finalise_pdu(changed, SERVER, SIGNING_KEY)
    assert first != second


def test_finalise_refuses_an_event_id_in_the_body() -> None:
    with pytest.raises(ValueError, match="event_id"):
        finalise_pdu({**PARTIAL, "event_id": "$x"}, SERVER, SIGNING_KEY)


def test_signature_survives_redaction() -> None:
    _, pdu = finalise_pdu(PARTIAL, SERVER, SIGNING_KEY)
    redacted = redact(pdu)
    # The content hash no longer matches, so verify_event refuses, but the
    # signature itself (over the redacted form) is still good.
    assert not verify_event(redacted, SERVER, VERIFY_KEY)
    redacted_only_signature = sign_json(
        {k: v for k, v in redacted.items() if k != "signatures"}, SERVER, SIGNING_KEY
    )
    assert redacted_only_signature["signatures"] == redacted["signatures"]


def _tamper(pdu: dict[str, Any], how: str) -> dict[str, Any]:
    tampered = copy.deepcopy(pdu)
    if how == "content":
        tampered["content"]["body"] = "forged"
    elif how == "hash":
        tampered["hashes"]["sha256"] = "A" * 43
    elif how == "no-hashes":
        del tampered["hashes"]
    elif how == "sender":
        tampered["sender"] = "@mallory:domain"
    elif how == "no-signature":
        tampered["signatures"] = {}
    elif how == "bad-signature-base64":
        tampered["signatures"][SERVER]["ed25519:1"] = "!!!"
    elif how == "malformed-signatures":
        tampered["signatures"] = {SERVER: ["not", "an", "object"]}
    return tampered


@pytest.mark.parametrize(
    "how",
    [
        "content",
        "hash",
        "no-hashes",
        "sender",
        "no-signature",
        "bad-signature-base64",
        "malformed-signatures",
    ],
)
def test_verify_refuses_tampering(how: str) -> None:
    _, pdu = finalise_pdu(PARTIAL, SERVER, SIGNING_KEY)
    assert not verify_event(_tamper(pdu, how), SERVER, VERIFY_KEY)


def test_verify_refuses_another_server_name() -> None:
    _, pdu = finalise_pdu(PARTIAL, SERVER, SIGNING_KEY)
    assert not verify_event(pdu, "elsewhere", VERIFY_KEY)


def test_sign_event_adds_to_existing_signatures() -> None:
    _, pdu = finalise_pdu(PARTIAL, SERVER, SIGNING_KEY)
    other_key = decode_signing_key_base64("ed25519", "2", "A" * 43)
    cosigned = sign_event(pdu, "resident", other_key)
    assert set(cosigned["signatures"]) == {SERVER, "resident"}
    assert verify_event(cosigned, SERVER, VERIFY_KEY)
    assert verify_event(cosigned, "resident", get_verify_key(other_key))


# --- Client events ------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "expected_extra"),
    [
        pytest.param({}, {}, id="message"),
        pytest.param({"state_key": ""}, {"state_key": ""}, id="state-event"),
        pytest.param({"unsigned": {"age": 3}}, {"unsigned": {"age": 3}}, id="with-unsigned"),
    ],
)
def test_to_client_event(extra: dict[str, Any], expected_extra: dict[str, Any]) -> None:
    _, pdu = finalise_pdu({**PARTIAL, **extra}, SERVER, SIGNING_KEY)
    assert to_client_event(pdu, "$id") == {
        "content": PARTIAL["content"],
        "event_id": "$id",
        "origin_server_ts": PARTIAL["origin_server_ts"],
        "room_id": PARTIAL["room_id"],
        "sender": PARTIAL["sender"],
        "type": PARTIAL["type"],
        **expected_extra,
    }


def test_to_client_event_repeats_redacts_at_top_level() -> None:
    redaction = {**PARTIAL, "type": "m.room.redaction", "content": {"redacts": "$e"}}
    client_event = to_client_event(redaction, "$r")
    assert client_event["redacts"] == "$e"
    assert client_event["content"] == {"redacts": "$e"}
