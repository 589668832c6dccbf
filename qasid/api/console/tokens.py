"""Console: enrollment tokens — issue (with a printable letter and QR code), list with uses left, revoke.

The QR code carries `qasid-enroll:?server=<base URL>&token=<token>`: a client (or a person typing)
needs exactly the server address and the token. The token is shown once, on the page that issues
it: the server keeps only its hash.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

from qasid.api.asgi import Request, Response
from qasid.api.console.web import PREFIX, Page, console_route, form_int, redirect
from qasid.api.http import services
from qasid.core.errors import MatrixError
from qasid.gov.enrollment import token_json


def enrollment_uri(base_url: str, token: str) -> str:
    """What the letter's QR code encodes: the server's address and the token."""
    return "qasid-enroll:?" + urllib.parse.urlencode({"server": base_url, "token": token})


def qr_data_uri(text: str) -> str:
    """The QR code of `text` as an SVG data: URI (an image, so the page needs no inline markup or script)."""
    import segno

    return str(segno.make(text, error="m").svg_data_uri(scale=6, border=4, dark="#000", light="#fff"))


@console_route("GET", "/tokens")
async def tokens_page(request: Request, page: Page) -> Response:
    """GET /_qasid/admin/tokens — tokens of the admin's units, newest first, with uses left."""
    gov = page.gov
    units = {u.unit_id: u for u in gov.org.list_units(page.scope)}
    tokens = [token_json(t) for t in gov.enrollment.list_tokens(page.scope)]
    for t in tokens:
        t["uses_left"] = None if t["uses_allowed"] is None else max(0, t["uses_allowed"] - t["completed"])
    return page.render("tokens.html", tokens=tokens, units=units, now=gov.org.clock.now_ms())


@console_route("POST", "/tokens")
async def issue_token(request: Request, page: Page) -> Response:
    """POST /_qasid/admin/tokens — issues a token; the answer is the enrollment letter, the token's only showing."""
    form = page.form
    body: dict[str, Any] = {"unit_id": form_int(form, "unit_id"), "uses_allowed": form_int(form, "uses_allowed", required=False) or 1,
                            "person_name": form.get("person_name", ""), "designation": form.get("designation", "")}
    days = form.get("expiry_days", "").strip() or "7"
    try:
        body["expiry_days"] = float(days)
    except ValueError:
        raise MatrixError(400, "M_INVALID_PARAM", "expiry_days must be a number") from None
    token, issued = await page.gov.enrollment.issue_token(page.scope, body)
    base_url = services(request).settings.base_url
    unit = page.gov.org.unit_in_scope(page.scope, issued.unit_id)
    return page.render("letter.html", token=token, issued=token_json(issued), unit=unit, server=base_url,
                       server_name=services(request).settings.server_name,
                       qr=qr_data_uri(enrollment_uri(base_url, token)))


@console_route("POST", "/tokens/{token_id}/revoke")
async def revoke_token(request: Request, page: Page) -> Response:
    """POST /_qasid/admin/tokens/{token_id}/revoke — the token can't be redeemed any more."""
    await page.gov.enrollment.revoke_token(page.scope, request.path_params["token_id"])
    return redirect(f"{PREFIX}/tokens?done=1")
