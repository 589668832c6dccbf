"""Signed exports of the audit log, and their offline verification.

An export is one JSON document: the entries exactly as stored (so each hash can be recomputed)
and a manifest signed with the server's ed25519 key. The manifest names the server and its
public key, the range, the hash before the first entry, and every entry's hash in order. The
chain makes each entry commit to everything before it; the signed list of hashes lets a verifier
name the first entry that differs even when someone rewrote it *and* every hash after it.

Verification needs nothing but the file (and, to be sure who signed it, the server's public key,
obtained separately: `qasid admin audit key`). It checks, in this order of trust: the signature
over the manifest; each entry's hash over its own fields; each link to the entry before; the
sequence numbers (none missing, none out of order); and that the entries are exactly the signed ones.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from signedjson.key import decode_verify_key_base64, encode_verify_key_base64, get_verify_key
from signedjson.sign import SignatureVerifyException, sign_json, verify_signed_json
from signedjson.types import SigningKey

from qasid.gov.audit import GENESIS_HASH, HASH_VERSION, AuditLog, VerifyResult, entry_hash
from qasid.store.sqlite.audit import AuditEntry

FORMAT = "qasid-audit-export-1"
FIELDS = AuditEntry._fields
_TEXT = (str,)
_OPT_TEXT = (str, type(None))
_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "seq": (int,), "ts": (int,), "actor": _TEXT, "actor_device": _OPT_TEXT, "action": _TEXT,
    "target": _OPT_TEXT, "source_ip": _OPT_TEXT, "unit_id": (int, type(None)), "details": _TEXT,
    "prev_hash": _TEXT, "entry_hash": _TEXT,
}


@dataclass(frozen=True)
class ExportKey:
    """Who signed an export: the server name, the key's ID and its public half (unpadded base64)."""

    server_name: str
    key_id: str
    public_key: str


def signing_identity(server_name: str, key: SigningKey) -> ExportKey:
    """The public identity of the server's signing key, as exports carry it."""
    return ExportKey(server_name, f"{key.alg}:{key.version}", encode_verify_key_base64(get_verify_key(key)))


def build_export(
    rows: Sequence[AuditEntry], head: tuple[int, str] | None, *, server_name: str, key: SigningKey,
    exported_ts: int, since_ts: int | None, until_ts: int | None,
) -> dict[str, Any]:
    """The signed export of `rows` (a contiguous slice of the chain, oldest first).

    Refuses (ValueError naming the entry) to sign a slice that doesn't verify: the server never
    vouches for a log someone has already edited.
    """
    entries = [dict(zip(FIELDS, row, strict=True)) for row in rows]
    problem = check_entries(entries, rows[0].seq if rows else None, rows[0].prev_hash if rows else None, None)
    if problem is not None:
        raise ValueError(f"the audit log is broken at entry {problem[0]}: {problem[1]}; refusing to sign it")
    identity = signing_identity(server_name, key)
    manifest: dict[str, Any] = {
        "format": FORMAT, "hash_version": HASH_VERSION, "server_name": server_name,
        "key": {"key_id": identity.key_id, "public_key": identity.public_key},
        "exported_ts": exported_ts, "since_ts": since_ts, "until_ts": until_ts,
        "first_seq": entries[0]["seq"] if entries else None,
        "last_seq": entries[-1]["seq"] if entries else None,
        "prev_hash": entries[0]["prev_hash"] if entries else None,
        "count": len(entries), "entry_hashes": [e["entry_hash"] for e in entries],
        "log_head": None if head is None else {"seq": head[0], "entry_hash": head[1]},
    }
    return {"manifest": sign_json(manifest, server_name, key), "entries": entries}


def verify_export(
    document: Any, expected_key: str | None = None, anchor: tuple[int, str] | None = None,
) -> VerifyResult:
    """Verify an export offline; `expected_key` (unpadded or padded base64) pins who must have signed it.

    `anchor` (seq, hash), e.g. the last entry of the previous export, must be in this one or be
    the entry just before it: consecutive exports then prove one unbroken chain."""
    try:
        manifest, entries = _parts(document)
        identity = _identity(manifest)
    except NotAnExport as e:
        return VerifyResult(False, 0, None, f"not a qasid audit export: {e}")
    if expected_key is not None and _b64(expected_key) != _b64(identity.public_key):
        return VerifyResult(False, 0, None, f"signed with key {identity.public_key} ({identity.key_id}),"
                            f" not the expected key {expected_key.strip()}")
    signed = _signature_ok(manifest, identity)
    first_seq, prev_hash = manifest.get("first_seq"), manifest.get("prev_hash")
    if not isinstance(first_seq, int) or not isinstance(prev_hash, str):
        first_seq = prev_hash = None
    listed = manifest.get("entry_hashes")
    trusted = listed if signed and isinstance(listed, list) else None
    problem = check_entries(entries, first_seq, prev_hash, trusted)
    checked = problem[2] if problem else len(entries)
    last = entries[checked - 1] if checked and isinstance(entries[checked - 1], dict) else {}
    head_seq, head_hash = int(last.get("seq", 0) or 0), str(last.get("entry_hash", GENESIS_HASH))
    if not signed:
        why = ("the signature does not verify: the manifest was changed after it was signed,"
               f" or it was not signed by {identity.server_name}'s key {identity.key_id}")
        if problem is not None:
            why += f"; entry {problem[0]} is also bad: {problem[1]}"
        return VerifyResult(False, checked, problem[0] if problem else None, why, head_seq, head_hash)
    if problem is not None:
        return VerifyResult(False, checked, problem[0], problem[1], head_seq, head_hash)
    if anchor is not None and (off := _off_anchor(entries, first_seq, prev_hash, anchor)) is not None:
        return VerifyResult(False, checked, anchor[0], off, head_seq, head_hash)
    span = f" (entries {entries[0]['seq']} to {entries[-1]['seq']})" if entries else ""
    return VerifyResult(True, checked, None, f"intact: {checked} entries{span}, signed by {identity.server_name}"
                        f" with {identity.key_id} ({identity.public_key})", head_seq, head_hash)


def check_entries(
    entries: list[Any], first_seq: int | None, prev_hash: str | None, signed_hashes: list[Any] | None,
) -> tuple[int, str, int] | None:
    """The first bad entry as (seq, why, entries good before it), or None if the slice is whole.

    `first_seq` and `prev_hash` are where the slice must start (None: wherever its first entry
    says); `signed_hashes`, when trusted, are the hashes the entries must be, in order.
    """
    expected = first_seq
    for index, entry in enumerate(entries):
        where = expected if expected is not None else index + 1
        if not isinstance(entry, dict) or set(entry) != set(FIELDS):
            return where, f"entry {where} is malformed: it must have exactly the fields {', '.join(FIELDS)}", index
        for name, types in _FIELD_TYPES.items():
            if not isinstance(entry[name], types) or isinstance(entry[name], bool):
                return where, f"entry {where} is malformed: {name} has the wrong type", index
        seq = entry["seq"]
        if expected is None:
            expected = seq
        if seq != expected:
            later = {e.get("seq") for e in entries[index + 1:] if isinstance(e, dict)}
            if seq < expected or expected in later:
                return expected, (f"entry {seq} stands where entry {expected} belongs"
                                  " (entries were reordered)"), index
            return expected, (f"entry {expected} is missing: entry {seq} follows entry {expected - 1}"
                              " (an entry was removed)"), index
        if entry_hash(*(entry[name] for name in FIELDS[:10])) != entry["entry_hash"]:
            return seq, f"entry {seq} does not match its hash (the entry was edited)", index
        if prev_hash is not None and entry["prev_hash"] != prev_hash:
            return seq, (f"entry {seq} does not link to the entry before it: its prev_hash differs from"
                         f" that entry's hash (entry {seq - 1} was rewritten, or entry {seq} was forged)"), index
        if signed_hashes is not None and (index >= len(signed_hashes) or signed_hashes[index] != entry["entry_hash"]):
            what = "was not in the signed export" if index >= len(signed_hashes) else "differs from the signed one"
            return seq, f"entry {seq} {what} (it was rewritten, with every hash after it)", index
        prev_hash, expected = entry["entry_hash"], seq + 1
    if signed_hashes is not None and len(signed_hashes) > len(entries):
        missing = (expected if expected is not None else first_seq) or len(entries) + 1
        return missing, (f"entries from {missing} on are missing: the export signed {len(signed_hashes)}"
                         f" entries but holds {len(entries)} (the tail was removed)"), len(entries)
    return None


class NotAnExport(Exception):
    """The document is not an audit export this qasid can read; the message says why."""


def _off_anchor(
    entries: list[Any], first_seq: int | None, prev_hash: str | None, anchor: tuple[int, str],
) -> str | None:
    """Why the export doesn't extend the anchor, or None if it does."""
    known = {int(e["seq"]): str(e["entry_hash"]) for e in entries}
    if first_seq is not None and prev_hash is not None:
        known[first_seq - 1] = prev_hash
    seq, digest = anchor
    if seq not in known:
        span = f"entries {min(known)} to {max(known)}" if known else "no entries"
        return f"the export does not reach the anchor entry {seq}: it covers {span} (counting the one it links to)"
    if known[seq] != digest.lower():
        return f"entry {seq} differs from the anchored hash: history was rewritten, or the exports are of different logs"
    return None


def _parts(document: Any) -> tuple[dict[str, Any], list[Any]]:
    if not isinstance(document, dict) or not isinstance(document.get("manifest"), dict) \
            or not isinstance(document.get("entries"), list):
        raise NotAnExport("expected an object with a manifest and a list of entries")
    manifest = document["manifest"]
    if manifest.get("format") != FORMAT:
        raise NotAnExport(f"unknown format {manifest.get('format')!r} (this qasid reads {FORMAT})")
    if manifest.get("hash_version") != HASH_VERSION:
        raise NotAnExport(f"unknown hash version {manifest.get('hash_version')!r}")
    return manifest, document["entries"]


def _identity(manifest: dict[str, Any]) -> ExportKey:
    key, server_name = manifest.get("key"), manifest.get("server_name")
    if not isinstance(server_name, str) or not isinstance(key, dict):
        raise NotAnExport("the manifest names no server or key")
    key_id, public_key = key.get("key_id"), key.get("public_key")
    if not isinstance(key_id, str) or not key_id.startswith("ed25519:") or not isinstance(public_key, str):
        raise NotAnExport("the manifest's key must be an ed25519 key_id and a public_key")
    if len(_b64(public_key)) != 32:
        raise NotAnExport("the manifest's public_key is not a 32-byte ed25519 key in base64")
    return ExportKey(server_name, key_id, public_key)


def _signature_ok(manifest: dict[str, Any], identity: ExportKey) -> bool:
    version = identity.key_id.split(":", 1)[1]
    try:
        verify_signed_json(manifest, identity.server_name,
                           decode_verify_key_base64("ed25519", version, identity.public_key))
    except (SignatureVerifyException, ValueError, TypeError, KeyError, AttributeError):
        return False
    return True


def _b64(text: str) -> bytes:
    """Bytes of standard base64 with or without padding; b'' for anything else."""
    cleaned = text.strip()
    try:
        return base64.b64decode(cleaned + "=" * (-len(cleaned) % 4), validate=True)
    except ValueError:
        return b""


async def export_signed(
    audit: AuditLog, *, actor: str, key: SigningKey, server_name: str, since_ts: int | None,
    until_ts: int | None, max_entries: int | None = None, actor_device: str | None = None,
    source_ip: str | None = None,
) -> dict[str, Any]:
    """Read the range in one snapshot, sign it, and record that it was exported (the entry is the whole
    event: nothing else changed). TooManyEntries past `max_entries`; ValueError if the slice is broken."""
    head, rows = await asyncio.to_thread(audit.store.read_range, since_ts, until_ts, max_entries)
    document = build_export(rows, head, server_name=server_name, key=key, exported_ts=audit.clock.now_ms(),
                            since_ts=since_ts, until_ts=until_ts)
    manifest = document["manifest"]
    await audit.record(actor=actor, actor_device=actor_device, source_ip=source_ip, action="audit.export",
                       details={"first_seq": manifest["first_seq"], "last_seq": manifest["last_seq"],
                                "count": manifest["count"], "since_ts": since_ts, "until_ts": until_ts})
    return document
