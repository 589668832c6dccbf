"""Admin API: reports of events, rooms and users, scoped to the reported officials' units."""

from __future__ import annotations

from qasid.api.admin.auth import government
from qasid.api.admin.routing import INT, STR, admin_request, admin_route, obj, path_int
from qasid.api.asgi import Request, Response
from qasid.api.http import json_response, query_int
from qasid.core.errors import MatrixError
from qasid.gov.audit import MAX_LIMIT

NULLABLE_STR = {"type": ["string", "null"]}
NULLABLE_INT = {"type": ["integer", "null"]}
REPORT = obj({
    "report_id": INT, "kind": STR, "reporter": STR, "reported_user": STR, "room_id": NULLABLE_STR,
    "event_id": NULLABLE_STR, "unit_id": NULLABLE_INT, "reason": STR, "score": NULLABLE_INT, "created_ts": INT,
    "time": STR, "resolved_ts": NULLABLE_INT, "resolved_by": NULLABLE_STR,
    "event": {"type": ["object", "null"]},
})


@admin_route("GET", "/reports", response=obj({"reports": {"type": "array", "items": REPORT},
                                              "next_after": NULLABLE_INT}))
async def list_reports(request: Request) -> Response:
    """GET /_qasid/admin/v1/reports

    - Reports oldest first after `after` (a report_id), at most `limit` (1-1000, default 100);
      `state=open|resolved` narrows them.
    - A unit admin sees reports about the officials of their subtree whom they outrank; reports
      about accounts outside the tree are for national admins only.
    """
    scope, _ = await admin_request(request)
    after = query_int(request, "after", 0) or 0
    limit = query_int(request, "limit", 100, lo=1, hi=MAX_LIMIT) or 100
    state = request.query_params.get("state")
    if state not in (None, "open", "resolved"):
        raise MatrixError(400, "M_INVALID_PARAM", "state must be 'open' or 'resolved'")
    reports = government(request).reports.list_reports(
        scope, after_id=after, limit=limit, resolved=None if state is None else state == "resolved")
    return json_response({"reports": reports, "next_after": reports[-1]["report_id"] if len(reports) == limit else None})


@admin_route("GET", "/reports/{report_id}", response=REPORT)
async def show_report(request: Request) -> Response:
    """GET /_qasid/admin/v1/reports/{report_id}

    - One report; for an event, its type, sender and time (never its content).
    - 404 M_NOT_FOUND for a report that doesn't exist or lies outside the admin's scope alike.
    """
    scope, _ = await admin_request(request)
    return json_response(await government(request).reports.show(scope, path_int(request, "report_id")))


@admin_route("POST", "/reports/{report_id}/resolve", response=REPORT)
async def resolve_report(request: Request) -> Response:
    """POST /_qasid/admin/v1/reports/{report_id}/resolve

    - Marks the report handled, with who and when; recorded in the audit log. Already resolved: 400.
    """
    scope, _ = await admin_request(request, with_body=True)
    return json_response(await government(request).reports.resolve(scope, path_int(request, "report_id")))
