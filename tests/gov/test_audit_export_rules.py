"""Signed audit exports without a server: every kind of tampering fails, naming the first bad entry."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest
from signedjson.key import encode_verify_key_base64, generate_signing_key, get_verify_key
from signedjson.sign import sign_json

from qasid.gov.audit import GENESIS_HASH, entry_hash
from qasid.gov.audit_export import build_export, signing_identity, verify_export
from qasid.store.sqlite.audit import AuditEntry

KEY = generate_signing_key("a_test")
OTHER_KEY = generate_signing_key("a_other")
PUBLIC = encode_verify_key_base64(get_verify_key(KEY))


def chain(count: int, first: int = 1, prev: str = GENESIS_HASH) -> list[AuditEntry]:
    rows = []
    for seq in range(first, first + count):
        fields = (seq, 1_700_000_000_000 + seq, "@root:test", "DEV", "unit.create", f"U{seq}", "127.0.0.1",
                  seq % 3 or None, json.dumps({"n": seq}), prev)
        digest = entry_hash(*fields)
        rows.append(AuditEntry(*fields, digest))
        prev = digest
    return rows


def export(count: int = 6, first: int = 1) -> dict[str, Any]:
    rows = chain(count + first - 1)[first - 1:]
    head = (rows[-1].seq, rows[-1].entry_hash) if rows else None
    return build_export(rows, head, server_name="test", key=KEY, exported_ts=1, since_ts=None, until_ts=None)


def rehash_from(doc: dict[str, Any], index: int) -> None:
    """What a careful forger does: recompute the edited entry's hash and every later one."""
    entries = doc["entries"]
    prev = entries[index - 1]["entry_hash"] if index else entries[0]["prev_hash"]
    for entry in entries[index:]:
        entry["prev_hash"] = prev
        entry["entry_hash"] = entry_hash(*(entry[name] for name in AuditEntry._fields[:10]))
        prev = entry["entry_hash"]


def edit(doc: dict[str, Any]) -> None:
    doc["entries"][2]["action"] = "unit.delete"


def edit_and_rehash(doc: dict[str, Any]) -> None:
    doc["entries"][2]["target"] = "FORGED"
    rehash_from(doc, 2)


def remove(doc: dict[str, Any]) -> None:
    del doc["entries"][3]


def remove_and_relink(doc: dict[str, Any]) -> None:
    del doc["entries"][3]
    for entry in doc["entries"][3:]:
        entry["seq"] -= 1
    rehash_from(doc, 3)


def remove_first(doc: dict[str, Any]) -> None:
    del doc["entries"][0]


def remove_last(doc: dict[str, Any]) -> None:
    del doc["entries"][-1]


def reorder(doc: dict[str, Any]) -> None:
    entries = doc["entries"]
    entries[1], entries[4] = entries[4], entries[1]


def append_forged(doc: dict[str, Any]) -> None:
    extra = copy.deepcopy(doc["entries"][-1])
    extra["seq"] += 1
    extra["prev_hash"] = doc["entries"][-1]["entry_hash"]
    extra["entry_hash"] = entry_hash(*(extra[name] for name in AuditEntry._fields[:10]))
    doc["entries"].append(extra)


def change_signature(doc: dict[str, Any]) -> None:
    signature = doc["manifest"]["signatures"]["test"]["ed25519:a_test"]
    doc["manifest"]["signatures"]["test"]["ed25519:a_test"] = ("A" if signature[0] != "A" else "B") + signature[1:]


def change_manifest(doc: dict[str, Any]) -> None:
    doc["manifest"]["since_ts"] = 5


def resign_with_other_key(doc: dict[str, Any]) -> None:
    manifest = doc["manifest"]
    del manifest["signatures"]
    identity = signing_identity("test", OTHER_KEY)
    manifest["key"] = {"key_id": identity.key_id, "public_key": identity.public_key}
    doc["manifest"] = sign_json(manifest, "test", OTHER_KEY)


def malformed_entry(doc: dict[str, Any]) -> None:
    doc["entries"][1]["seq"] = "2"


# (tampering, the first bad seq it must name, words the reason must hold)
CASES: list[tuple[Callable[[dict[str, Any]], None], int | None, str]] = [
    (edit, 3, "entry 3 does not match its hash"),
    (edit_and_rehash, 3, "entry 3 differs from the signed one"),
    (remove, 4, "entry 4 is missing"),
    (remove_and_relink, 4, "entry 4 differs from the signed one"),
    (remove_first, 1, "entry 1 is missing"),
    (remove_last, 6, "entries from 6 on are missing"),
    (reorder, 2, "entry 5 stands where entry 2 belongs"),
    (append_forged, 7, "entry 7 was not in the signed export"),
    (change_signature, None, "the signature does not verify"),
    (change_manifest, None, "the signature does not verify"),
    (malformed_entry, 2, "entry 2 is malformed"),
]


def test_an_untouched_export_verifies_with_its_own_key_and_a_pinned_one() -> None:
    doc = export()
    for key in (None, PUBLIC, PUBLIC + "="):
        result = verify_export(json.loads(json.dumps(doc)), key)
        assert result.ok, result.reason
        assert result.entries_checked == 6 and result.head_seq == 6
        assert "signed by test" in result.reason


def test_a_slice_from_the_middle_verifies_on_its_own() -> None:
    doc = export(count=4, first=5)
    assert doc["manifest"]["first_seq"] == 5 and doc["manifest"]["prev_hash"] == chain(4)[-1].entry_hash
    assert verify_export(doc).ok


def test_an_empty_export_verifies() -> None:
    doc = export(count=0)
    result = verify_export(doc, PUBLIC)
    assert result.ok and result.entries_checked == 0


@pytest.mark.parametrize(("tamper", "first_bad", "words"), CASES, ids=[c[0].__name__ for c in CASES])
def test_tampering_fails_naming_the_first_bad_entry(
    tamper: Callable[[dict[str, Any]], None], first_bad: int | None, words: str,
) -> None:
    doc = json.loads(json.dumps(export()))
    tamper(doc)
    result = verify_export(doc)
    assert not result.ok
    assert result.first_broken_seq == first_bad, result.reason
    assert words in result.reason, result.reason


def test_a_file_signed_by_another_key_fails_against_the_pinned_key() -> None:
    doc = json.loads(json.dumps(export()))
    resign_with_other_key(doc)
    assert verify_export(doc).ok  # consistent on its own: only the pinned key tells
    result = verify_export(doc, PUBLIC)
    assert not result.ok and "not the expected key" in result.reason


@pytest.mark.parametrize("document", [None, [], {}, {"manifest": {}, "entries": []},
                                      {"manifest": {"format": "qasid-audit-export-1"}, "entries": []}])
def test_what_is_no_export_says_so(document: Any) -> None:
    result = verify_export(document)
    assert not result.ok and result.reason.startswith("not a qasid audit export")


def test_the_server_refuses_to_sign_a_broken_slice() -> None:
    rows = chain(4)
    rows[1] = rows[1]._replace(action="edited")
    with pytest.raises(ValueError, match="broken at entry 2"):
        build_export(rows, None, server_name="test", key=KEY, exported_ts=1, since_ts=None, until_ts=None)


def test_consecutive_exports_chain_through_an_anchor() -> None:
    first = export(count=4)
    second = export(count=3, first=5)
    last = first["entries"][-1]
    assert verify_export(second, PUBLIC, (last["seq"], last["entry_hash"])).ok  # the entry it links to
    assert verify_export(first, PUBLIC, (2, first["entries"][1]["entry_hash"])).ok  # an entry inside
    rewritten = verify_export(second, PUBLIC, (4, "f" * 64))
    assert not rewritten.ok and rewritten.first_broken_seq == 4 and "differs from the anchored hash" in rewritten.reason
    gap = verify_export(export(count=2, first=7), PUBLIC, (4, last["entry_hash"]))
    assert not gap.ok and "does not reach the anchor entry 4" in gap.reason
