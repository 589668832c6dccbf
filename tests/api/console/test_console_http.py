"""The console's security over plain HTTP: cookie, CSRF, scope, escaping, sign-in limits, catalogue."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from tests.api.console.helpers import CONSOLE, Console
from tests.gov.helpers import PASSWORD, Gov
from tests.server import ServerProcess

XSS = "<script>alert(1)</script>"


@pytest.fixture
def console(server: ServerProcess) -> Iterator[Console]:
    c = Console(server)
    yield c
    c.close()


def test_session_cookie_flags_and_headers(gov: Gov, console: Console) -> None:
    assert console.get("/").status_code == 303  # not signed in: to the sign-in page
    response = console.sign_in("root")
    assert response.status_code == 303
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and f"Path={CONSOLE}/" in cookie
    assert "Secure" not in cookie  # plain HTTP here; over TLS it is set
    session_id = cookie.split(";")[0].split("=", 1)[1]
    assert gov.root.token not in cookie and len(session_id) >= 40
    page = console.get("/")
    csp = page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp and "default-src 'none'" in csp
    assert page.headers["x-frame-options"] == "DENY"
    # The database keeps only the session ID's hash.
    assert session_id.encode() not in gov.server.dump_database()


def test_sign_out_ends_the_session_on_the_server(gov: Gov, console: Console) -> None:
    console.sign_in("root")
    stolen = console.http.cookies.get("qasid_console")
    assert console.post("/logout", {}).status_code == 303
    console.http.cookies.set("qasid_console", stolen or "", path=CONSOLE + "/")
    assert console.get("/").status_code == 303  # the old cookie no longer signs anyone in


def test_form_without_csrf_token_or_from_another_site_is_refused(gov: Gov, console: Console) -> None:
    console.sign_in("root")
    refused = console.post("/units", {"code": "MOX", "name": "X"}, with_csrf=False)
    assert refused.status_code == 403
    forged = console.http.post("/units", data={"csrf": console.csrf, "code": "MOY", "name": "Y"},
                               headers={"origin": "https://evil.example", "sec-fetch-site": "cross-site"})
    assert forged.status_code == 403
    assert [u["code"] for u in gov.ok("GET", "/units")["units"]] == []
    assert console.post("/units", {"code": "MOZ", "name": "Z"}).status_code == 303


def test_unit_admin_gets_404_for_another_ministrys_official(gov: Gov, console: Console) -> None:
    finance, health = gov.unit("MOF"), gov.unit("MOH")
    gov.server.create_user("fin_admin", PASSWORD)
    gov.ok("PUT", "/officials/@fin_admin:qasid.test", {"unit_id": finance})
    gov.ok("PUT", f"/units/{finance}/admins/@fin_admin:qasid.test", {"admin": True})
    nurse = gov.official("nurse", health)
    clerk = gov.official("clerk", finance)
    console.sign_in("fin_admin")
    assert console.get(f"/officials/{nurse.user_id}").status_code == 404
    assert console.get(f"/officials/{nurse.user_id}/offboard").status_code == 404
    assert console.post(f"/officials/{nurse.user_id}/offboard", {"confirm": nurse.user_id}).status_code == 404
    assert console.get(f"/units/{health}").status_code == 404
    assert console.get(f"/officials/{clerk.user_id}").status_code == 200
    listing = console.get("/officials").text
    assert clerk.user_id in listing and nurse.user_id not in listing
    assert gov.ok("GET", f"/officials/{nurse.user_id}")["deactivated"] is False


def test_names_render_as_text(gov: Gov, console: Console) -> None:
    unit = gov.unit("MOF", name=XSS)
    gov.ok("POST", "/officials", {"username": "eve", "unit_id": unit, "displayname": XSS})
    console.sign_in("root")
    for path in ("/units", f"/units/{unit}", "/officials", "/officials/@eve:qasid.test"):
        page = console.get(path)
        assert page.status_code == 200
        assert XSS not in page.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text


def test_failed_sign_ins_are_audited_and_locked_out(gov: Gov, console: Console) -> None:
    gov.server.create_user("plain", PASSWORD)
    assert console.sign_in("plain").status_code == 403  # right password, but not an admin
    for _ in range(4):
        assert console.sign_in("root", "wrong").status_code == 403
    # Five failures from this address: even the right password waits now.
    assert console.sign_in("root").status_code == 429
    actions = [e["action"] for e in gov.ok("GET", "/audit?limit=1000")["entries"]]
    assert actions.count("console.sign_in.failed") == 5
    assert "console.sign_in" not in actions


def test_every_template_string_has_an_urdu_translation() -> None:
    root = "qasid/api/console"
    with open(f"{root}/locale/ur/LC_MESSAGES/messages.po", "rb") as f:
        catalog = read_po(f, locale="ur")
    msgids = {m for _, _, m, _, _ in extract_from_dir(
        f"{root}/templates", method_map=[("**.html", "jinja2")],
        options_map={"**.html": {"extensions": "jinja2.ext.i18n"}})}
    missing = [m for m in msgids if not (catalog.get(m) and catalog.get(m).string)]
    assert msgids and not missing, missing


def test_every_console_route_refuses_without_a_session(gov: Gov) -> None:
    """Swept from the route table, so a page added later is covered: a GET goes to the sign-in
    page, a POST is refused, and neither shows anything of the server."""
    import re

    import qasid.app
    from qasid.api.http import ROUTES
    from tests.api.test_bad_input import is_console

    qasid.app.load_routes()
    public = {("GET", "/_qasid/admin/login"), ("POST", "/_qasid/admin/login"), ("GET", "/_qasid/admin/static/{name}")}
    routes = sorted({(m, r.path) for r in ROUTES.routes for m in r.methods
                     if m != "HEAD" and is_console(r.path) and (m, r.path) not in public})
    assert len(routes) >= 20
    for method, template in routes:
        path = re.sub(r"\{(\w+)(?::\w+)?\}", "1", template)
        response = gov.http.request(method, path, data={"x": "1"}, follow_redirects=False)
        if method == "GET":
            assert response.status_code == 303, (method, template, response.status_code)
            assert response.headers["location"].startswith("/_qasid/admin/login"), template
        else:
            assert response.status_code == 403, (method, template, response.status_code)
        assert gov.root.user_id not in response.text
