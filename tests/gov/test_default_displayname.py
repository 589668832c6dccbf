"""A new account's display name: its localpart unless it was enrolled or imported with a name."""

from __future__ import annotations

from typing import Any

from tests.gov.helpers import V3, Gov


def profile(gov: Gov, user_id: str) -> Any:
    return gov.http.get(V3 + f"/profile/{user_id}", headers=gov.root.auth).json()


def test_a_registered_account_is_named_by_its_localpart(gov: Gov) -> None:
    login = gov.server.register("alice")
    assert profile(gov, login["user_id"]) == {"displayname": "alice"}
    headers = {"authorization": f"Bearer {login['access_token']}"}
    room = gov.http.post(V3 + "/createRoom", json={}, headers=headers).json()["room_id"]
    member = gov.http.get(V3 + f"/rooms/{room}/state/m.room.member/{login['user_id']}", headers=headers).json()
    assert member["displayname"] == "alice"


def test_officials_keep_the_name_they_were_given(gov: Gov) -> None:
    unit = gov.unit("MOF")
    named = gov.register("named", gov.enrollment_token(unit, person_name="Nadia Named"))
    assert named.status_code == 200, named.text
    assert profile(gov, named.json()["user_id"])["displayname"] == "Nadia Named"
    plain = gov.official("plain", unit)
    assert profile(gov, plain.user_id)["displayname"] == "plain"

    created = gov.ok("POST", "/officials", {"username": "made", "unit_id": unit, "displayname": "Made Byadmin"})
    assert profile(gov, created["user_id"])["displayname"] == "Made Byadmin"
    bare = gov.ok("POST", "/officials", {"username": "bare", "unit_id": unit})
    assert profile(gov, bare["user_id"])["displayname"] == "bare"
    gov.ok("POST", "/officials/import", {"csv": "MOF,imported,Ian Imported,Clerk\nMOF,nameless,,Clerk"})
    assert profile(gov, "@imported:qasid.test")["displayname"] == "Ian Imported"
    assert profile(gov, "@nameless:qasid.test")["displayname"] == "nameless"
    # The operator's own CLI-created accounts too.
    assert profile(gov, gov.root.user_id)["displayname"] == "root"
