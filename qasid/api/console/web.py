"""How a console page is served: its session, CSRF check, security headers, forms and errors.

Every console handler is `async def page(request, page: Page) -> Response`, registered with
`console_route`. Unless it is public, the wrapper finds the signed-in admin from the session
cookie (or redirects to sign-in), checks a POST's CSRF token and origin, and renders any
MatrixError as an HTML page in the admin's language. Console routes are registered after every
Matrix route, so the Matrix hot path never tries their patterns.
"""

from __future__ import annotations

import dataclasses
import hmac
import logging
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http.cookies import CookieError, SimpleCookie
from typing import Any

from qasid.api.admin.auth import government
from qasid.api.asgi import ClientDisconnect, Request, Response
from qasid.api.console.i18n import choose
from qasid.api.console.render import render
from qasid.api.http import ROUTES, client_ip, read_body, services
from qasid.core.errors import MatrixError
from qasid.store.groupcommit import UnstorableText
from qasid.gov.console import IDLE_TIMEOUT_MS, ConsoleSession
from qasid.gov.government import Government
from qasid.gov.scope import AdminScope

log = logging.getLogger("qasid.console")

PREFIX = "/_qasid/admin"
COOKIE = "qasid_console"
MAX_FORM_BYTES = 4 * 1024 * 1024
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self';"
       " frame-ancestors 'none'; base-uri 'none'")
SECURITY_HEADERS = {
    "content-security-policy": CSP, "x-frame-options": "DENY", "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer", "cache-control": "no-store",
}


@dataclass
class Page:
    """What a console handler is given: the admin's session (None on public pages) and language."""

    request: Request
    session: ConsoleSession | None
    language: str
    form: dict[str, str] = field(default_factory=dict)

    @property
    def gov(self) -> Government:
        return government(self.request)

    @property
    def scope(self) -> AdminScope:
        """The signed-in admin's scope, with where they act from for the audit log."""
        assert self.session is not None
        return dataclasses.replace(self.session.scope, source_ip=client_ip(self.request))

    @property
    def back(self) -> str:
        """Where the language form returns to: this page, or for a form's answer the page above it."""
        path = self.request.path
        return path if self.request.method == "GET" else path.rsplit("/", 1)[0]

    def render(self, template: str, status: int = 200, **context: Any) -> Response:
        """An HTML page, with the admin, the CSRF token and any notice in its context."""
        session = self.session
        context.setdefault("notice", self.request.query_params.get("done"))
        body = render(self.language, template, {
            "admin": session.user_id if session else None,
            "national": session.scope.is_national if session else False,
            "csrf": session.csrf_secret if session else "", "prefix": PREFIX, "path": self.back,
            **context})
        return html(body, status)


ConsoleHandler = Callable[[Request, Page], Awaitable[Response]]


def console_route(method: str, suffix: str, *, public: bool = False) -> Callable[[ConsoleHandler], ConsoleHandler]:
    """Register a console page or form action at PREFIX + suffix."""

    def decorate(fn: ConsoleHandler) -> ConsoleHandler:
        async def wrapped(request: Request) -> Response:
            try:
                return await _serve(request, fn, method, public)
            except ClientDisconnect:
                return Response(status_code=499)

        wrapped.__name__ = fn.__name__
        ROUTES.add([method], [PREFIX + suffix], wrapped)
        return fn

    return decorate


async def _serve(request: Request, fn: ConsoleHandler, method: str, public: bool) -> Response:
    gov = government(request)
    session_id = cookie(request, COOKIE)
    session = await gov.console.session(session_id) if session_id else None
    language = (gov.console.language(session.user_id) if session else None) or \
        choose(request.header(b"accept-language"), request.query_params.get("lang"))
    page = Page(request, session, language)
    try:
        if session is None and not public:
            if method != "GET":
                raise MatrixError(403, "M_FORBIDDEN", "Your session has ended; sign in again")
            return redirect(f"{PREFIX}/login?next={urllib.parse.quote(_local(request))}")
        if method == "POST":
            page.form = await read_form(request)
            check_origin(request)
            if session is not None and not hmac.compare_digest(
                    page.form.get("csrf", "").encode(), session.csrf_secret.encode()):
                raise MatrixError(403, "M_FORBIDDEN", "This form has expired or came from another site; reload the page")
        return await fn(request, page)
    except MatrixError as e:
        return page.render("error.html", status=e.status, status_code=e.status, message=e.message)
    except UnstorableText as e:
        return page.render("error.html", status=400, status_code=400, message=str(e))
    except ClientDisconnect:
        raise
    except Exception:
        log.exception("unhandled error in console %s %s", request.method, request.path)
        return page.render("error.html", status=500, status_code=500, message="Internal server error")


def _local(request: Request) -> str:
    query = request.scope["query_string"].decode("latin-1")
    return request.path + (f"?{query}" if query else "")


def safe_next(target: str | None) -> str:
    """Where to go after sign-in: a console path only (never another site)."""
    if target and target.startswith(PREFIX + "/") and not target.startswith("//") and "\\" not in target:
        return target
    return PREFIX + "/"


def cookie(request: Request, name: str) -> str | None:
    """One cookie's value, or None."""
    raw = request.header(b"cookie")
    if not raw:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(raw)
    except CookieError:
        return None
    morsel = jar.get(name)
    return morsel.value if morsel is not None else None


def is_tls(request: Request) -> bool:
    """Whether the browser reached us over HTTPS (directly or through a proxy that says so)."""
    return request.scope.get("scheme") == "https" or services(request).settings.public_baseurl.startswith("https:")


def session_cookie(request: Request, session_id: str) -> str:
    """The Set-Cookie value of a new session: HttpOnly, SameSite=Strict, Secure over TLS, console paths only."""
    secure = "; Secure" if is_tls(request) else ""
    return (f"{COOKIE}={session_id}; Path={PREFIX}/; Max-Age={IDLE_TIMEOUT_MS // 1000 * 16}; HttpOnly;"
            f" SameSite=Strict{secure}")


def cleared_cookie(request: Request) -> str:
    """The Set-Cookie value that removes the session cookie."""
    secure = "; Secure" if is_tls(request) else ""
    return f"{COOKIE}=; Path={PREFIX}/; Max-Age=0; HttpOnly; SameSite=Strict{secure}"


def check_origin(request: Request) -> None:
    """Refuse a form posted from another site (before any session or token is looked at)."""
    if request.header(b"sec-fetch-site") == "cross-site":
        raise MatrixError(403, "M_FORBIDDEN", "Cross-site form posts are refused")
    origin = request.header(b"origin")
    if origin and origin != "null":
        host = request.header(b"host") or ""
        if urllib.parse.urlsplit(origin).netloc != host:
            raise MatrixError(403, "M_FORBIDDEN", "Cross-site form posts are refused")


async def read_form(request: Request) -> dict[str, str]:
    """An application/x-www-form-urlencoded body (the last of a repeated name wins)."""
    content_type = (request.header(b"content-type") or "").split(";")[0].strip().lower()
    raw = await read_body(request, MAX_FORM_BYTES)
    if content_type != "application/x-www-form-urlencoded":
        raise MatrixError(400, "M_NOT_JSON", "Expected a form")
    try:
        pairs = urllib.parse.parse_qsl(raw.decode("utf-8"), keep_blank_values=True, max_num_fields=1000)
    except (UnicodeDecodeError, ValueError):
        raise MatrixError(400, "M_INVALID_PARAM", "The form is not valid") from None
    return dict(pairs)


def html(body: str, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """An HTML response with the console's security headers."""
    return Response(body.encode(), status, headers={**SECURITY_HEADERS, **(headers or {})},
                    media_type="text/html; charset=utf-8")


def redirect(location: str, headers: dict[str, str] | None = None) -> Response:
    """303 See Other: after a form action, the browser loads `location` with GET."""
    return Response(b"", 303, headers={**SECURITY_HEADERS, "location": location, **(headers or {})})


def form_int(form: dict[str, str], name: str, *, required: bool = True) -> int | None:
    """An integer form field; M_INVALID_PARAM for anything else."""
    raw = form.get(name, "").strip()
    if not raw:
        if required:
            raise MatrixError(400, "M_MISSING_PARAM", f"{name} is required")
        return None
    if not raw.isdigit() or len(raw) > 15:
        raise MatrixError(400, "M_INVALID_PARAM", f"{name} must be a whole number")
    return int(raw)
