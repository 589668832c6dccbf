"""Console: sign-in, sign-out, the admin's language, and the console's own static files."""

from __future__ import annotations

import functools
from importlib import resources

from qasid.api.asgi import Request, Response
from qasid.api.console.web import (
    PREFIX,
    Page,
    cleared_cookie,
    console_route,
    redirect,
    safe_next,
    session_cookie,
)
from qasid.api.http import client_ip
from qasid.core.errors import MatrixError

STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}


@console_route("GET", "/login", public=True)
async def login_page(request: Request, page: Page) -> Response:
    """GET /_qasid/admin/login — the sign-in form (a signed-in admin goes straight to the dashboard)."""
    if page.session is not None:
        return redirect(PREFIX + "/")
    return page.render("login.html", next=safe_next(request.query_params.get("next")), error=None, user="")


@console_route("POST", "/login", public=True)
async def login(request: Request, page: Page) -> Response:
    """POST /_qasid/admin/login

    - A national or unit admin's Matrix user and password; no device or access token is created.
    - Failures are audited and, per address and per name, locked out after a few (429).
    """
    user, password = page.form.get("user", ""), page.form.get("password", "")
    target = safe_next(page.form.get("next"))
    try:
        if not user.strip() or not password:
            raise MatrixError(400, "M_MISSING_PARAM", "Enter your user name and password")
        session_id = await page.gov.console.sign_in(user, password, client_ip(request))
    except MatrixError as e:
        return page.render("login.html", status=e.status, next=target, user=user,
                           error="locked" if e.status == 429 else "invalid")
    return redirect(target, {"set-cookie": session_cookie(request, session_id)})


@console_route("POST", "/logout")
async def logout(request: Request, page: Page) -> Response:
    """POST /_qasid/admin/logout — ends the session on the server and clears the cookie."""
    assert page.session is not None
    await page.gov.console.sign_out(page.session, client_ip(request))
    return redirect(PREFIX + "/login", {"set-cookie": cleared_cookie(request)})


@console_route("POST", "/language")
async def set_language(request: Request, page: Page) -> Response:
    """POST /_qasid/admin/language — remembers the admin's language for every later session."""
    assert page.session is not None
    await page.gov.console.set_language(page.session.user_id, page.form.get("language", ""))
    return redirect(safe_next(page.form.get("next")))


@console_route("GET", "/static/{name}", public=True)
async def static(request: Request, page: Page) -> Response:
    """GET /_qasid/admin/static/{name} — the console's stylesheet and script, shipped in the package."""
    name = request.path_params["name"]
    found = _static_file(name)
    if found is None:
        raise MatrixError(404, "M_NOT_FOUND", "No such file")
    return Response(found[0], headers={"cache-control": "no-cache", "x-content-type-options": "nosniff"},
                    media_type=found[1])


@functools.lru_cache(maxsize=32)
def _static_file(name: str) -> tuple[bytes, str] | None:
    suffix = name[name.rfind("."):] if "." in name else ""
    if suffix not in STATIC_TYPES or "/" in name or name.startswith("."):
        return None
    path = resources.files("qasid.api.console") / "static" / name
    return (path.read_bytes(), STATIC_TYPES[suffix]) if path.is_file() else None


