"""Admin API: read the audit log (scoped to the admin's units), verify its hash chain, export it signed."""

from __future__ import annotations

import re
from typing import Any

from qasid.api.admin.auth import government
from qasid.api.admin.routing import BOOL, INT, STR, admin_request, admin_route, obj
from qasid.api.asgi import Request, Response
from qasid.api.http import json_response, optional, query_int
from qasid.core.errors import MatrixError, forbidden
from qasid.gov.audit import MAX_LIMIT, VerifyResult

_HASH = re.compile(r"[0-9a-f]{64}")
NULLABLE_STR = {"type": ["string", "null"]}
ENTRY = obj({
    "seq": INT, "ts": INT, "time": STR, "actor": STR, "actor_device": NULLABLE_STR, "action": STR,
    "target": NULLABLE_STR, "source_ip": NULLABLE_STR, "unit_id": {"type": ["integer", "null"]},
    "details": {"type": "object"}, "prev_hash": STR, "entry_hash": STR,
})
HEAD = obj({"seq": INT, "entry_hash": STR}, ["seq", "entry_hash"])
VERIFIED = obj({"ok": BOOL, "entries_checked": INT, "first_broken_seq": {"type": ["integer", "null"]},
                "reason": STR, "head": HEAD})


@admin_route("GET", "/audit", response=obj({"entries": {"type": "array", "items": ENTRY},
                                            "next_after": {"type": ["integer", "null"]}}))
async def list_entries(request: Request) -> Response:
    """GET /_qasid/admin/v1/audit

    - Entries oldest first after `after` (a seq; default 0), at most `limit` (1-1000, default 100).
    - Filters: `action`, `actor`, `target` (exact, on the stored escaped value) and `unit_id`.
    - A unit admin sees only entries filed under their subtree's units; entries with no unit are
      for national admins only. A unit_id that doesn't exist or lies outside the admin's subtree
      is 404 M_NOT_FOUND, the answer of /units/{unit_id}, so the route doesn't reveal which exist.
    - `next_after` is the `after` for the next page, or null at the end.
    """
    scope, _ = await admin_request(request)
    after = query_int(request, "after", 0) or 0
    limit = query_int(request, "limit", 100, lo=1, hi=MAX_LIMIT) or 100
    unit_id = query_int(request, "unit_id", None)
    if unit_id is not None:  # 404 as /units/{id} answers: whether the unit exists isn't told
        government(request).org.unit_in_scope(scope, unit_id)
    params = request.query_params
    entries = await government(request).audit.entries(
        unit_ids=scope.unit_ids, after_seq=after, limit=limit, action=params.get("action"),
        actor=params.get("actor"), target=params.get("target"), unit_id=unit_id,
    )
    next_after = entries[-1]["seq"] if len(entries) == limit else None
    return json_response({"entries": entries, "next_after": next_after})


@admin_route("POST", "/audit/verify", body=obj({"anchor": HEAD}), response=VERIFIED)
async def verify(request: Request) -> Response:
    """POST /_qasid/admin/v1/audit/verify

    - Recomputes the whole chain: `ok`, `entries_checked`, `first_broken_seq` (the first bad entry),
      `reason`, and the `head` (seq and entry_hash) to keep off the machine as a later anchor.
    - With `anchor` ({"seq", "entry_hash"} from an earlier head) also proves the log still extends it.
    - National admins only (403 M_FORBIDDEN otherwise): the chain spans every unit. Each check is
      itself recorded.
    """
    scope, body = await admin_request(request, with_body=True)
    if not scope.is_national:
        raise forbidden("Only a national admin can verify the whole audit chain")
    result: VerifyResult = await government(request).audit.verify_as(scope, _anchor(optional(body, "anchor", dict)))
    return json_response(result.to_json())


EXPORT = obj({"manifest": {"type": "object"}, "entries": {"type": "array", "items": {"type": "object"}}})
MAX_TS = 2**53


@admin_route("GET", "/audit/export", response=EXPORT)
async def export(request: Request) -> Response:
    """GET /_qasid/admin/v1/audit/export

    - The entries written from `since` to before `until` (ms since the epoch; both optional), exactly
      as stored, with a manifest signed by the server's ed25519 key: `qasid admin audit verify --file`
      checks it offline. The slice is contiguous, so its chain verifies on its own.
    - National admins only (403 M_FORBIDDEN otherwise). At most 100,000 entries (400 M_TOO_LARGE:
      narrow the range). Each export is itself recorded.
    """
    scope, _ = await admin_request(request)
    since = query_int(request, "since", None, hi=MAX_TS)
    until = query_int(request, "until", None, hi=MAX_TS)
    document = await government(request).export_audit(scope, since, until)
    return json_response(document, headers={
        "content-disposition": 'attachment; filename="qasid-audit.json"'})


def _anchor(value: dict[str, Any] | None) -> tuple[int, str] | None:
    if value is None:
        return None
    seq, digest = value.get("seq"), value.get("entry_hash")
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0 \
            or not isinstance(digest, str) or not _HASH.fullmatch(digest):
        raise MatrixError(400, "M_INVALID_PARAM", "anchor needs seq (an integer >= 0) and entry_hash (64 hex digits)")
    return seq, digest
