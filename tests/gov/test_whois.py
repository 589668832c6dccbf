"""GET /admin/whois/{userId}: a user sees themselves; admins see the officials they administer."""

from __future__ import annotations

from urllib.parse import quote

import httpx

from tests.gov.helpers import Gov, Session


def whois(gov: Gov, viewer: Session, user_id: str) -> httpx.Response:
    return gov.client("GET", f"/admin/whois/{quote(user_id)}", viewer)


def test_whois_follows_the_unit_admin_scope(gov: Gov) -> None:
    ministry = gov.unit("MOF")
    budget, tax = gov.unit("BUD", parent=ministry), gov.unit("TAX", parent=ministry)
    admin = gov.official("budadmin", budget)
    gov.ok("PUT", f"/units/{budget}/admins/{admin.user_id}", {"admin": True})
    clerk, outsider = gov.official("clerk", budget), gov.official("taxman", tax)
    second = gov.login("clerk", device_id="PHONE")

    seen = whois(gov, admin, clerk.user_id)
    assert seen.status_code == 200, seen.text
    body = seen.json()
    assert body["user_id"] == clerk.user_id
    assert set(body["devices"]) == {clerk.device_id, second.device_id}
    connection = body["devices"][second.device_id]["sessions"][0]["connections"][0]
    assert connection["ip"] == "127.0.0.1" and isinstance(connection["last_seen"], int)

    # Outside the admin's units, another user, or nobody at all: the same 403.
    for viewer, target in ((admin, outsider.user_id), (admin, "@nobody:qasid.test"),
                           (clerk, outsider.user_id), (clerk, admin.user_id), (outsider, "@nobody:qasid.test")):
        refused = whois(gov, viewer, target)
        assert (refused.status_code, refused.json()["errcode"]) == (403, "M_FORBIDDEN"), (viewer, target)
    assert whois(gov, admin, gov.root.user_id).status_code == 403  # a unit admin doesn't outrank the nation's

    # Oneself, always; the national admin, everyone.
    own = whois(gov, outsider, outsider.user_id)
    assert own.status_code == 200 and set(own.json()["devices"]) == {outsider.device_id}
    for target in (clerk.user_id, outsider.user_id, admin.user_id):
        assert whois(gov, gov.root, target).status_code == 200
    bad = whois(gov, gov.root, "not-a-user-id")
    assert (bad.status_code, bad.json()["errcode"]) == (400, "M_INVALID_PARAM")
