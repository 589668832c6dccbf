"""Bad input to every admin route: a clear Matrix error, and nothing half-done in the database."""

from __future__ import annotations

import re
import time
from typing import Any

from tests.gov.helpers import Gov
from tests.gov.test_isolation import admin_endpoints

ADMIN = "/_qasid/admin/v1"
TABLES = ("users", "officials", "units", "admin_roles", "enrollment_tokens", "registration_tokens",
          "unit_policies", "access_tokens", "pending_offboardings", "directives", "directive_acks",
          "pending_clearance_checks", "reports")


def _snapshot(gov: Gov) -> dict[str, list[Any]]:
    return {t: gov.server.query(f"SELECT * FROM {t} ORDER BY 1") for t in TABLES}


def test_bad_input_to_every_admin_route_is_refused_with_nothing_changed(gov: Gov) -> None:
    unit = gov.unit("MOF")
    official = gov.official("fiona", unit)
    token = gov.enrollment_token(unit)
    uid, U = official.user_id, f"/units/{unit}"
    # (method, path, body, status, errcode): one or more bad requests per route template.
    cases: list[tuple[str, str, Any, int, str]] = [
        ("POST", "/units", {"code": "MOF", "name": "Again"}, 409, "M_UNIT_IN_USE"),
        ("POST", "/units", {"code": "bad code!", "name": "x"}, 400, "M_INVALID_PARAM"),
        ("POST", "/units", {"code": "NEW", "name": "x", "parent_id": 999}, 404, "M_NOT_FOUND"),
        ("GET", "/units/999", None, 404, "M_NOT_FOUND"),
        ("GET", "/units/abc", None, 400, "M_INVALID_PARAM"),
        ("PUT", U, {"parent_id": unit}, 400, "M_INVALID_PARAM"),
        ("PUT", U, {"name": ""}, 400, "M_INVALID_PARAM"),
        ("GET", "/units/999/policy", None, 404, "M_NOT_FOUND"),
        ("PUT", U + "/policy", {"invite_scope": "galaxy"}, 400, "M_INVALID_PARAM"),
        ("PUT", U + "/policy", {"encryption_required": False, "no_such_key": 1}, 400, "M_INVALID_PARAM"),
        ("PUT", U + "/policy", {"password_min_length": 3}, 400, "M_INVALID_PARAM"),
        ("PUT", f"{U}/admins/@nobody:qasid.test", {"admin": True}, 404, "M_NOT_FOUND"),
        ("PUT", f"{U}/admins/{uid}", {"admin": "yes"}, 400, "M_INVALID_PARAM"),
        ("POST", "/enrollment_tokens", {"unit_id": 999}, 404, "M_NOT_FOUND"),
        ("POST", "/enrollment_tokens", {"unit_id": unit, "uses_allowed": 0}, 400, "M_INVALID_PARAM"),
        ("POST", "/enrollment_tokens", {"unit_id": unit, "expiry_days": -1}, 400, "M_INVALID_PARAM"),
        ("GET", "/enrollment_tokens/nope", None, 404, "M_NOT_FOUND"),
        ("DELETE", "/enrollment_tokens/nope", None, 404, "M_NOT_FOUND"),
        ("POST", "/officials", {"username": "fiona", "unit_id": unit}, 409, "M_USER_IN_USE"),
        ("POST", "/officials", {"username": "new", "unit_id": 999}, 404, "M_NOT_FOUND"),
        ("POST", "/officials", {"username": "new", "unit_id": unit, "password": "short"}, 400, "M_WEAK_PASSWORD"),
        ("POST", "/officials", {"unit_id": unit}, 400, "M_MISSING_PARAM"),
        ("POST", "/officials/import", {"csv": 42}, 400, "M_BAD_JSON"),
        ("GET", "/officials/@nobody:qasid.test", None, 404, "M_NOT_FOUND"),
        ("GET", "/officials/not-a-user-id", None, 400, "M_INVALID_PARAM"),
        ("PUT", f"/officials/{uid}", {"unit_id": 999}, 404, "M_NOT_FOUND"),
        ("GET", "/officials?unit_id=999", None, 404, "M_NOT_FOUND"),
        ("GET", "/officials?unit_id=x", None, 400, "M_INVALID_PARAM"),
        ("POST", "/officials/@nobody:qasid.test/offboard", None, 404, "M_NOT_FOUND"),
        ("PUT", f"/officials/{uid}/password", {"password": "short"}, 400, "M_WEAK_PASSWORD"),
        ("PUT", f"/officials/{uid}/password", {}, 400, "M_BAD_JSON"),
        ("PUT", f"/officials/{uid}/read_only", {}, 400, "M_BAD_JSON"),
        ("PUT", f"/officials/{uid}/read_only", {"read_only": 1}, 400, "M_BAD_JSON"),
        ("PUT", f"/officials/{uid}/read_only", [True], 400, "M_BAD_JSON"),
        ("PUT", "/officials/@nobody:qasid.test/read_only", {"read_only": True}, 404, "M_NOT_FOUND"),
        ("PUT", f"/officials/{uid}/clearance", {"level": "Cosmic"}, 400, "M_INVALID_PARAM"),
        ("PUT", f"/officials/{uid}/clearance", {"level": "secret"}, 400, "M_INVALID_PARAM"),
        ("PUT", f"/officials/{uid}/clearance", {}, 400, "M_INVALID_PARAM"),
        ("PUT", f"/officials/{uid}/clearance", ["Secret"], 400, "M_BAD_JSON"),
        ("PUT", "/officials/@nobody:qasid.test/clearance", {"level": "Secret"}, 404, "M_NOT_FOUND"),
        ("PUT", U + "/policy", {"min_room_classification": "Cosmic"}, 400, "M_INVALID_PARAM"),
        ("POST", "/officials/@nobody:qasid.test/suspend", None, 404, "M_NOT_FOUND"),
        ("POST", "/officials/@nobody:qasid.test/unsuspend", None, 404, "M_NOT_FOUND"),
        ("GET", "/officials/@nobody:qasid.test/devices", None, 404, "M_NOT_FOUND"),
        ("DELETE", f"/officials/{uid}/devices/NOSUCHDEVICE", None, 404, "M_NOT_FOUND"),
        ("POST", "/maintenance/run", [], 400, "M_BAD_JSON"),
        ("POST", "/directives", {"title": "T", "unit_ids": [999], "deadline_ts": 2**52}, 400, "M_INVALID_PARAM"),
        ("POST", "/directives", {"title": "T", "unit_ids": [999], "deadline_ts": int(time.time() * 1000) + 60_000},
         404, "M_NOT_FOUND"),
        ("POST", "/directives", {"title": "", "unit_ids": [unit], "deadline_ts": 1}, 400, "M_MISSING_PARAM"),
        ("POST", "/directives", {"title": "T", "unit_ids": [], "deadline_ts": 1}, 400, "M_INVALID_PARAM"),
        ("POST", "/directives", {"title": "T", "unit_ids": [unit, unit], "deadline_ts": 1}, 400, "M_INVALID_PARAM"),
        ("POST", "/directives", {"title": "T", "unit_ids": [unit], "deadline_ts": 1}, 400, "M_INVALID_PARAM"),
        ("POST", "/directives", {"title": "T", "unit_ids": [unit], "deadline_ts": True}, 400, "M_INVALID_PARAM"),
        ("POST", "/directives", {"title": "a\nb", "unit_ids": [unit], "deadline_ts": 1}, 400, "M_INVALID_PARAM"),
        ("GET", "/directives?access_token=x", None, 401, "M_MISSING_TOKEN"),
        ("GET", "/directives/nope", None, 404, "M_NOT_FOUND"),
        ("GET", "/directives/..%2F..", None, 404, "M_NOT_FOUND"),
        ("POST", "/directives/nope/remind", None, 404, "M_NOT_FOUND"),
        # Routes that take no input: a token in the query string is the bad input they can get.
        ("GET", "/openapi.json?access_token=x", None, 401, "M_MISSING_TOKEN"),
        ("GET", "/units?access_token=x", None, 401, "M_MISSING_TOKEN"),
        ("GET", "/enrollment_tokens?access_token=x", None, 401, "M_MISSING_TOKEN"),
        ("GET", "/audit?limit=x", None, 400, "M_INVALID_PARAM"),
        ("POST", "/audit/verify", {"anchor": "nonsense"}, 400, "M_BAD_JSON"),
        ("GET", "/reports?state=pending", None, 400, "M_INVALID_PARAM"),
        ("GET", "/reports?after=x", None, 400, "M_INVALID_PARAM"),
        ("GET", "/reports/999", None, 404, "M_NOT_FOUND"),
        ("GET", "/reports/abc", None, 400, "M_INVALID_PARAM"),
        ("POST", "/reports/999/resolve", None, 404, "M_NOT_FOUND"),
        ("POST", "/reports/1/resolve", [], 400, "M_BAD_JSON"),
        ("GET", "/audit/export?since=yesterday", None, 400, "M_INVALID_PARAM"),
        ("GET", "/audit/export?until=1.5", None, 400, "M_INVALID_PARAM"),
    ]
    covered = {(m, ADMIN + p.split("?")[0]) for m, p, *_ in cases}
    for method, template in admin_endpoints():
        pattern = "^" + re.sub(r"\{\w+\}", "[^/]+", template) + "$"
        assert any(m == method and re.match(pattern, p) for m, p in covered), f"no bad-input case for {method} {template}"
    before = _snapshot(gov)
    for method, path, body, status, errcode in cases:
        response = gov.call(method, path, body)
        assert response.status_code == status, f"{method} {path}: {response.status_code} {response.text}"
        error = response.json()
        assert error["errcode"] == errcode and error["error"], (method, path, error)
    after = _snapshot(gov)
    for table in TABLES:
        assert after[table] == before[table], table
    assert gov.ok("GET", f"/enrollment_tokens/{token}")["completed"] == 0


def test_expired_and_used_up_enrollment_tokens_create_nothing(gov: Gov) -> None:
    unit = gov.unit("MOW")
    single = gov.enrollment_token(unit, uses_allowed=1)
    assert gov.register("first", single).status_code == 200
    used_up = gov.register("second", single)
    assert used_up.status_code == 401 and "access_token" not in used_up.json(), used_up.text
    brief = gov.enrollment_token(unit, expiry_days=1 / 86400)
    time.sleep(1.5)
    expired = gov.register("third", brief)
    assert expired.status_code == 401, expired.text
    revoked = gov.enrollment_token(unit)
    gov.ok("DELETE", f"/enrollment_tokens/{revoked}")
    assert gov.register("fourth", revoked).status_code == 401
    for name in ("second", "third", "fourth"):
        assert gov.call("GET", f"/officials/@{name}:qasid.test").status_code == 404
    assert [o["user_id"] for o in gov.ok("GET", f"/officials?unit_id={unit}")["officials"]] == ["@first:qasid.test"]
