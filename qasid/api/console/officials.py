"""Console: officials — search, create, CSV import, designation and unit, suspension, devices, offboarding."""

from __future__ import annotations

import urllib.parse
from typing import Any

from qasid.api.asgi import Request, Response
from qasid.api.console.web import PREFIX, Page, console_route, form_int, redirect
from qasid.core.errors import MatrixError

MAX_LISTED = 500


def official_url(user_id: str, suffix: str = "") -> str:
    """The console page of one official."""
    return f"{PREFIX}/officials/{urllib.parse.quote(user_id, safe='@:')}{suffix}"


@console_route("GET", "/officials")
async def officials_page(request: Request, page: Page) -> Response:
    """GET /_qasid/admin/officials?q=&unit_id= — officials the admin administers, searched by ID, name or designation."""
    gov, params = page.gov, request.query_params
    unit_id = form_int(params, "unit_id", required=False)
    officials = gov.lifecycle.list_officials(page.scope, unit_id)
    names = {}
    for official in officials[:MAX_LISTED * 4]:
        user = await gov.lifecycle.accounts.store.get_user(official["user_id"])
        names[official["user_id"]] = (user.displayname if user else None) or ""
    query = params.get("q", "").strip().lower()
    if query:
        officials = [o for o in officials if query in o["user_id"].lower() or query in (o["designation"] or "").lower()
                     or query in names.get(o["user_id"], "").lower()]
    units = {u.unit_id: u for u in gov.org.list_units(page.scope)}
    return page.render("officials.html", officials=officials[:MAX_LISTED], more=len(officials) > MAX_LISTED,
                       names=names, units=units, query=params.get("q", ""), unit_id=unit_id, url=official_url)


@console_route("POST", "/officials")
async def create_official(request: Request, page: Page) -> Response:
    """POST /_qasid/admin/officials — an account in a covered unit (without a password: it enrolls or gets one later)."""
    form = page.form
    body: dict[str, Any] = {"username": form.get("username", "").strip(), "unit_id": form_int(form, "unit_id"),
                            "designation": form.get("designation", ""), "displayname": form.get("displayname", "")}
    if form.get("password"):
        body["password"] = form["password"]
    user_id = await page.gov.enrollment.create_official(page.scope, body)
    return redirect(official_url(user_id, "?done=1"))


@console_route("POST", "/officials/import")
async def import_officials(request: Request, page: Page) -> Response:
    """POST /_qasid/admin/officials/import — CSV rows; the report lists what was created, skipped and refused."""
    report = await page.gov.enrollment.import_csv(page.scope, page.form.get("csv", ""),
                                                  page.form.get("all_or_nothing") == "1")
    return page.render("import_report.html", report=report, url=official_url)


@console_route("GET", "/officials/{user_id}")
async def official_page(request: Request, page: Page) -> Response:
    """GET /_qasid/admin/officials/{user_id} — 404 for an account the admin doesn't administer."""
    gov, user_id = page.gov, request.path_params["user_id"]
    official = await gov.lifecycle.describe(page.scope, user_id)
    devices = await gov.lifecycle.devices(page.scope, user_id)
    states = gov.store.account_states([user_id])
    return page.render("official.html", official=official, devices=devices, state=states.get(user_id, "active"),
                       units=gov.org.list_units(page.scope), url=official_url, self_=user_id == page.scope.user_id,
                       levels=gov.org.levels)


@console_route("POST", "/officials/{user_id}")
async def update_official(request: Request, page: Page) -> Response:
    """POST /_qasid/admin/officials/{user_id} — a new designation and/or unit."""
    user_id = request.path_params["user_id"]
    body = {"designation": page.form.get("designation", ""), "unit_id": form_int(page.form, "unit_id")}
    await page.gov.lifecycle.update(page.scope, user_id, body)
    return redirect(official_url(user_id, "?done=1"))


@console_route("POST", "/officials/{user_id}/clearance")
async def set_clearance(request: Request, page: Page) -> Response:
    """POST /_qasid/admin/officials/{user_id}/clearance — the level the official is cleared to (level)."""
    user_id = request.path_params["user_id"]
    await page.gov.clearance.set_clearance(page.scope, user_id, page.form.get("level", ""))
    return redirect(official_url(user_id, "?done=1"))


@console_route("POST", "/officials/{user_id}/suspend")
async def suspend(request: Request, page: Page) -> Response:
    """POST /_qasid/admin/officials/{user_id}/suspend — suspended=1 suspends, 0 lifts it."""
    user_id = request.path_params["user_id"]
    await page.gov.lifecycle.set_suspended(page.scope, user_id, page.form.get("suspended") == "1")
    return redirect(official_url(user_id, "?done=1"))


@console_route("POST", "/officials/{user_id}/devices/{device_id}/sign_out")
async def sign_out_device(request: Request, page: Page) -> Response:
    """POST /_qasid/admin/officials/{user_id}/devices/{device_id}/sign_out — the device's token stops working."""
    user_id = request.path_params["user_id"]
    await page.gov.lifecycle.sign_out_device(page.scope, user_id, request.path_params["device_id"])
    return redirect(official_url(user_id, "?done=1"))


@console_route("GET", "/officials/{user_id}/offboard")
async def offboard_page(request: Request, page: Page) -> Response:
    """GET /_qasid/admin/officials/{user_id}/offboard — the confirmation, naming the person."""
    user_id = request.path_params["user_id"]
    await page.gov.lifecycle.official_in_scope(page.scope, user_id)
    official = await page.gov.lifecycle.describe(page.scope, user_id)
    return page.render("offboard.html", official=official, url=official_url)


@console_route("POST", "/officials/{user_id}/offboard")
async def offboard(request: Request, page: Page) -> Response:
    """POST /_qasid/admin/officials/{user_id}/offboard — only with the confirmation's `confirm` field naming the account."""
    user_id = request.path_params["user_id"]
    if page.form.get("confirm") != user_id:
        raise MatrixError(400, "M_INVALID_PARAM", "Offboarding needs the confirmation page")
    await page.gov.lifecycle.offboard(page.scope, user_id)
    return redirect(official_url(user_id, "?done=1"))
