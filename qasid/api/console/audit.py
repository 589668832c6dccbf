"""Console: the audit log — filter by actor, action, unit and date, page through, verify the chain."""

from __future__ import annotations

import calendar
import time
import urllib.parse
from typing import Any

from qasid.api.asgi import Request, Response
from qasid.api.console.web import Page, console_route, form_int
from qasid.core.errors import MatrixError
from qasid.gov.audit import DAY_MS

PAGE_SIZE = 50


def day_ms(raw: str, name: str) -> int | None:
    """Midnight UTC of a YYYY-MM-DD date, in ms; None when empty."""
    if not raw.strip():
        return None
    try:
        return calendar.timegm(time.strptime(raw.strip(), "%Y-%m-%d")) * 1000
    except ValueError:
        raise MatrixError(400, "M_INVALID_PARAM", f"{name} must be a date (YYYY-MM-DD)") from None


async def _page(request: Request, page: Page, verified: Any = None) -> Response:
    params = request.query_params
    gov, scope = page.gov, page.scope
    unit_id = form_int(params, "unit_id", required=False)
    if unit_id is not None:
        gov.org.unit_in_scope(scope, unit_id)
    since = day_ms(params.get("from", ""), "from")
    until = day_ms(params.get("to", ""), "to")
    after = form_int(params, "after", required=False) or 0
    entries = await gov.audit.entries(
        unit_ids=scope.unit_ids, after_seq=after, limit=PAGE_SIZE, action=params.get("action") or None,
        actor=params.get("actor") or None, unit_id=unit_id, since_ts=since,
        until_ts=None if until is None else until + DAY_MS)
    filters = {k: params.get(k, "") for k in ("actor", "action", "unit_id", "from", "to")}
    next_query = None
    if len(entries) == PAGE_SIZE:
        next_query = urllib.parse.urlencode({**{k: v for k, v in filters.items() if v}, "after": entries[-1]["seq"]})
    return page.render("audit.html", entries=entries, filters=filters, next_query=next_query,
                       units=gov.org.list_units(scope), verified=verified, first=after == 0)


@console_route("GET", "/audit")
async def audit_page(request: Request, page: Page) -> Response:
    """GET /_qasid/admin/audit?actor=&action=&unit_id=&from=&to=&after= — entries of the admin's units, oldest first."""
    return await _page(request, page)


@console_route("POST", "/audit/verify")
async def verify(request: Request, page: Page) -> Response:
    """POST /_qasid/admin/audit/verify — recompute the whole chain (national admins); the check is recorded."""
    result = await page.gov.audit.verify_as(page.scope)
    return await _page(request, page, verified=result)
