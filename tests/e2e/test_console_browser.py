"""The admin console in a real browser (Debian's Chromium driven by Playwright), English then Urdu.

A national admin builds a ministry and a division and appoints a unit admin, who sees only their
subtree, issues an enrollment token whose printed QR code decodes to it, watches the official
enroll, signs out one of their devices and offboards them; the audit chain then verifies. No
console response loads anything from another origin. Screenshots land in the test's tmp_path.
"""

from __future__ import annotations

import io
import shutil
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.console.helpers import CONSOLE
from tests.gov.helpers import PASSWORD, V3, Gov
from tests.server import ServerProcess

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture
def gov(server: ServerProcess) -> Iterator[Gov]:
    g = Gov(server)
    yield g
    g.http.close()


@pytest.fixture
def browser() -> Iterator[Any]:
    if shutil.which(CHROMIUM) is None:
        pytest.skip(f"the console browser test needs Chromium at {CHROMIUM} (Debian package chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("the console browser test needs the playwright package (pip install -e .[test])")
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield launched
        launched.close()


class Admin:
    """One browser tab signed in to the console, recording every URL it loads."""

    def __init__(self, browser: Any, server: ServerProcess, shots: Path, width: int = 1280) -> None:
        self.base = server.base_url
        self.context = browser.new_context(base_url=server.base_url, viewport={"width": width, "height": 900})
        self.page = self.context.new_page()
        self.page.set_default_timeout(20_000)
        self.loaded: list[str] = []
        self.page.on("request", lambda request: self.loaded.append(request.url))
        self.shots = shots

    def go(self, path: str) -> None:
        self.page.goto(CONSOLE + path)

    def shot(self, name: str) -> None:
        self.page.screenshot(path=str(self.shots / f"{name}.png"), full_page=True)

    def sign_in(self, user: str) -> None:
        self.go("/login")
        self.page.fill("#user", user)
        self.page.fill("#password", PASSWORD)
        self.page.click("form[action$='/login'] button")
        self.page.wait_for_selector("#sign-out")

    def sign_out(self) -> None:
        self.page.click("#sign-out")
        self.page.wait_for_selector("#password")

    def foreign(self) -> list[str]:
        return [url for url in self.loaded if not url.startswith((self.base + "/", "data:"))]


def decode_qr(png: bytes) -> str:
    import zxingcpp
    from PIL import Image

    found = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    assert found, "no QR code found in the letter"
    return str(found[0].text)


def test_console_end_to_end(browser: Any, gov: Gov, tmp_path: Path) -> None:
    shots = tmp_path / "screenshots"
    shots.mkdir()
    root = Admin(browser, gov.server, shots)
    root.sign_in("root")
    root.shot("01-dashboard")

    # The national admin: a ministry, a division under it, another ministry.
    for code, name, parent in (("MOF", "Ministry of Finance", None), ("MOF-BUD", "Budget Division", "MOF"),
                               ("MOH", "Ministry of Health", None)):
        root.go("/units")
        root.page.fill("#code", code)
        root.page.fill("#name", name)
        if parent:
            root.page.select_option("#parent_id", label=f"{'Ministry of Finance'} ({parent})")
        root.page.click("form[action$='/units'] button")
        root.page.wait_for_selector("h1 >> text=" + name)
    division = int(root.page.url.split("/units/")[1].split("?")[0]) - 1  # MOF-BUD was created second
    root.go("/units")
    root.shot("02-units")
    root.go(f"/units/{division}")
    assert root.page.locator("td em.inherited").count() > 0  # inherited policy values say so
    root.shot("03-unit")

    # A unit admin for the division, created with a password and appointed.
    root.go("/officials")
    root.page.fill("#username", "budget_admin")
    root.page.fill("#displayname", "Budget Admin")
    root.page.select_option("#new-unit", label="Budget Division (MOF-BUD)")
    root.page.fill("#new-password", PASSWORD)
    root.page.click("form[method=post][action$='/officials'] button")
    root.page.wait_for_selector("#state")
    root.go(f"/units/{division}")
    root.page.fill("#admin-user", "@budget_admin:qasid.test")
    root.page.click("form[action$='/admins'] button")
    root.page.wait_for_selector(".notice")
    root.sign_out()

    # The unit admin sees only their subtree.
    unit_admin = Admin(browser, gov.server, shots, width=390)  # a phone's width
    unit_admin.sign_in("budget_admin")
    unit_admin.go("/units")
    tree = unit_admin.page.locator(".tree").inner_text()
    assert "Budget Division" in tree and "Ministry of Finance" not in tree and "Ministry of Health" not in tree
    unit_admin.shot("04-units-unit-admin-phone")

    # An enrollment token for a named person: the letter's QR code decodes to the server and the token.
    unit_admin.go("/tokens")
    unit_admin.page.fill("#person_name", "Sara Khan")
    unit_admin.page.fill("#token-designation", "Budget Officer")
    unit_admin.page.click("form[action$='/tokens'] button")
    token = unit_admin.page.inner_text("#letter-token").strip()
    unit_admin.shot("05-letter")
    payload = decode_qr(unit_admin.page.locator("#letter-qr").screenshot())
    assert payload.startswith("qasid-enroll:?")
    query = urllib.parse.parse_qs(payload.split("?", 1)[1])
    assert query == {"server": [gov.server.base_url], "token": [token]}

    # The official enrolls with it (the spec's registration-token flow) and appears in the list.
    registered = gov.register("sara", token)
    assert registered.status_code == 200, registered.text
    sara = registered.json()
    second = gov.login("sara", device_id="PHONE")
    unit_admin.go("/tokens")
    assert unit_admin.page.locator("#tokens .uses-left").first.inner_text() == "0"
    unit_admin.shot("06-tokens")
    unit_admin.go("/officials")
    assert "@sara:qasid.test" in unit_admin.page.locator("#officials").inner_text()
    unit_admin.shot("07-officials")

    # One of her devices is signed out: that client's next request is refused.
    unit_admin.go("/officials/@sara:qasid.test")
    assert unit_admin.page.locator("#devices tbody tr").count() == 2
    unit_admin.shot("08-official")
    unit_admin.page.click(f"button[aria-label='Sign out device {sara['device_id']}']")
    unit_admin.page.wait_for_selector(".notice")
    whoami = httpx.get(gov.server.base_url + V3 + "/account/whoami",
                       headers={"authorization": f"Bearer {sara['access_token']}"})
    assert whoami.status_code == 401
    assert gov.client("GET", "/account/whoami", second).status_code == 200

    # Offboarding asks first, naming the person.
    unit_admin.page.click("text=Offboard…")
    assert "Sara Khan" in unit_admin.page.inner_text("h1")
    unit_admin.shot("09-offboard-confirm")
    unit_admin.page.click("#confirm-offboard")
    assert unit_admin.page.inner_text("#state") == "offboarded"
    assert gov.client("GET", "/account/whoami", second).status_code == 401

    unit_admin.go("/audit")
    log = unit_admin.page.locator("#audit").inner_text()
    for action in ("enrollment_token.issue", "device.sign_out", "account.offboard"):
        assert action in log
    unit_admin.shot("10-audit-unit-admin")
    assert unit_admin.page.locator("#verify").count() == 0  # the whole chain is for national admins
    unit_admin.go("/")
    unit_admin.shot("11-dashboard-unit-admin")

    # The national admin verifies the chain, then switches to Urdu.
    root.sign_in("root")
    root.go("/audit")
    root.page.click("#verify")
    assert "The chain holds" in root.page.inner_text("#verify-result")
    root.shot("12-audit-verified")
    root.page.select_option("#language", "ur")
    root.page.click("form[action$='/language'] button")
    root.page.wait_for_selector("html[dir=rtl]", state="attached")
    assert root.page.get_attribute("html", "lang") == "ur"
    assert root.page.inner_text("h1") == "آڈٹ لاگ"
    root.page.click("#verify")
    assert "زنجیر درست ہے" in root.page.inner_text("#verify-result")
    root.shot("13-audit-urdu")
    for path, heading in (("/", "ڈیش بورڈ"), ("/units", "یونٹس"), ("/officials", "افسران"),
                          ("/tokens", "اندراج ٹوکن")):
        root.go(path)
        assert root.page.inner_text("h1") == heading
        assert root.page.get_attribute("html", "dir") == "rtl"
        root.shot("14-urdu" + path.replace("/", "-"))
    # Remembered: a new session opens in Urdu.
    root.sign_out()
    root.sign_in("root")
    assert root.page.get_attribute("html", "dir") == "rtl"

    # Nothing came from anywhere but this server (and the QR code's data: URI).
    assert root.foreign() == [] and unit_admin.foreign() == []
    assert root.loaded and unit_admin.loaded
