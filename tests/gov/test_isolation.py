"""A ministry-A admin can't see or touch ministry B, on every admin route of the app's own route table."""

from __future__ import annotations

import re

import qasid.app
from qasid.api.http import ROUTES
from tests.gov.helpers import ADMIN, Gov

qasid.app.load_routes()


def admin_endpoints() -> list[tuple[str, str]]:
    """(method, path template) of every admin route, so a route added later is swept too."""
    found = {(method, r.path) for r in ROUTES.routes for method in r.methods or ()
             if method != "HEAD" and r.path.startswith(ADMIN + "/")}
    return sorted(found, key=lambda e: (e[1], e[0]))


def test_every_admin_route_is_enumerated() -> None:
    paths = {p for _, p in admin_endpoints()}
    for expected in ("/units/{unit_id}", "/officials/{user_id}/devices/{device_id}", "/enrollment_tokens/{token}"):
        assert ADMIN + expected in paths


def test_ministry_a_admin_gets_403_or_404_for_ministry_b(gov: Gov) -> None:
    a = gov.unit("MIN-A")
    b = gov.unit("MIN-B")
    b_office = gov.unit("MIN-B-OFFICE", parent=b)
    a_admin = gov.official("a_admin", a)
    gov.ok("PUT", f"/units/{a}/admins/{a_admin.user_id}", {"admin": True})
    b_official = gov.official("b_official", b_office, designation="Deputy Secretary")
    b_token = gov.enrollment_token(b_office)
    secrets = [b_official.user_id, b_token, b_official.device_id, "Deputy Secretary"]
    before = {
        "official": gov.ok("GET", f"/officials/{b_official.user_id}"),
        "devices": gov.ok("GET", f"/officials/{b_official.user_id}/devices"),
        "unit": gov.ok("GET", f"/units/{b_office}"),
        "policy": gov.ok("GET", f"/units/{b_office}/policy"),
        "tokens": gov.ok("GET", f"/enrollment_tokens/{b_token}"),
        "officials": gov.ok("GET", f"/officials?unit_id={b_office}"),
    }
    secrets.append(before["tokens"]["token_id"])  # lists name a token by its ID, never the token
    values = {"unit_id": str(b_office), "user_id": b_official.user_id, "device_id": b_official.device_id,
              "token": b_token}
    body = {"unit_id": b_office, "parent_id": b_office, "code": "INTRUDE", "name": "Intruder unit",
            "username": "intruder", "designation": "Spy", "csv": "MIN-B-OFFICE,intruder,Intruder,Spy\n",
            "admin": True, "uses_allowed": 5, "encryption_required": False}
    swept = 0
    for method, template in admin_endpoints():
        path = re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: values.get(m.group(1), "1"), template)
        path = path.removeprefix(ADMIN)
        if template.endswith(("/officials", "/audit")):
            path += f"?unit_id={b_office}"
        response = gov.call(method, path, body if method in ("POST", "PUT") else None, as_=a_admin)
        swept += 1
        if response.status_code in (403, 404):
            assert set(response.json()) >= {"errcode", "error"}
            continue
        # Only routes with no object of B in them may answer, and then with nothing of B.
        assert response.status_code in (200, 400), f"{method} {template}: {response.status_code} {response.text}"
        for secret in secrets:
            assert secret not in response.text, f"{method} {template} leaked {secret!r}: {response.text[:300]}"
        if template.endswith("/import"):
            assert response.json()["created"] == []
    assert swept == len(admin_endpoints())
    # And nothing of B changed.
    assert before == {
        "official": gov.ok("GET", f"/officials/{b_official.user_id}"),
        "devices": {"devices": [{**d, "last_seen_ts": before["devices"]["devices"][0]["last_seen_ts"]}
                                for d in gov.ok("GET", f"/officials/{b_official.user_id}/devices")["devices"]]},
        "unit": gov.ok("GET", f"/units/{b_office}"),
        "policy": gov.ok("GET", f"/units/{b_office}/policy"),
        "tokens": gov.ok("GET", f"/enrollment_tokens/{b_token}"),
        "officials": gov.ok("GET", f"/officials?unit_id={b_office}"),
    }
    assert gov.client("GET", "/account/whoami", b_official).status_code == 200
    # B's audit entries exist, and the A admin sees none of them.
    assert any(e.get("unit_id") == b_office for e in gov.ok("GET", "/audit")["entries"])
    assert all(e.get("unit_id") == a for e in gov.ok("GET", "/audit", as_=a_admin)["entries"])
    # The A admin does administer A.
    assert gov.ok("GET", f"/units/{a}", as_=a_admin)["code"] == "MIN-A"
    assert [u["code"] for u in gov.ok("GET", "/units", as_=a_admin)["units"]] == ["MIN-A"]
