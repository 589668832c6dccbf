"""Profiles and presence follow the directory scope: out of scope and sharing no room, nothing is shown."""

from __future__ import annotations

from tests.gov.helpers import PASSWORD, Gov, Session


def profile_paths(user_id: str) -> list[str]:
    """Every GET route that shows something of `user_id` beyond their ID."""
    return [f"/profile/{user_id}", f"/profile/{user_id}/displayname", f"/profile/{user_id}/avatar_url",
            f"/profile/{user_id}/io.qasid.unit", f"/profile/{user_id}/io.qasid.designation",
            f"/presence/{user_id}/status"]


def refusals(gov: Gov, viewer: Session, user_id: str) -> list[tuple[str, int, dict[str, str]]]:
    """(path, status, body) of every route that did not answer 200."""
    found = []
    for path in profile_paths(user_id):
        response = gov.client("GET", path, viewer)
        if response.status_code != 200:
            found.append((path.replace(user_id, "{userId}"), response.status_code, response.json()))
    return found


def set_profile(gov: Gov, who: Session, name: str) -> None:
    assert gov.client("PUT", f"/profile/{who.user_id}/displayname", who, {"displayname": name}).status_code == 200
    assert gov.client("PUT", f"/profile/{who.user_id}/avatar_url", who,
                      {"avatar_url": "mxc://localhost/avatar"}).status_code == 200
    assert gov.client("PUT", f"/presence/{who.user_id}/status", who,
                      {"presence": "online", "status_msg": "in a meeting"}).status_code == 200


def test_profile_and_presence_outside_the_directory_scope_need_a_shared_room(gov: Gov) -> None:
    moj = gov.unit("MOJ", directory_scope="unit")
    mof = gov.unit("MOF")
    carol = gov.official("carol", moj)
    colleague = gov.official("colleague", moj)
    dave = gov.official("dave", mof, designation="Budget Director")
    for who, name in ((carol, "Carol C."), (colleague, "Colin C."), (dave, "Dave D.")):
        set_profile(gov, who, name)
    unknown = gov.server.user_id("nobody")

    # Out of scope and no shared room: every field and presence is refused, as for an unknown user.
    refused = refusals(gov, carol, dave.user_id)
    assert [path for path, _, _ in refused] == [p.replace(dave.user_id, "{userId}")
                                                for p in profile_paths(dave.user_id)], refused
    assert all(status == 403 and body["errcode"] == "M_FORBIDDEN" for _, status, body in refused), refused
    assert refused == refusals(gov, carol, unknown)
    assert all("Dave" not in str(body) and "Budget" not in str(body) for _, _, body in refused)

    # Within her scope (her own unit) she sees everything without a shared room.
    assert refusals(gov, carol, colleague.user_id) == []
    assert gov.client("GET", f"/profile/{colleague.user_id}", carol).json()["io.qasid.unit"]["code"] == "MOJ"

    # Her own profile and presence always answer.
    assert refusals(gov, carol, carol.user_id) == []
    assert gov.client("GET", f"/profile/{carol.user_id}", carol).json()["io.qasid.designation"] == "Officer"

    # Sharing a room (dave's unit may invite anyone): now she sees him; when she leaves, no longer.
    room = gov.client("POST", "/createRoom", dave, {"invite": [carol.user_id]}).json()["room_id"]
    assert refusals(gov, carol, dave.user_id) == refusals(gov, carol, unknown), "an invitation is not a shared room"
    assert gov.client("POST", f"/rooms/{room}/join", carol, {}).status_code == 200
    assert refusals(gov, carol, dave.user_id) == []
    profile = gov.client("GET", f"/profile/{dave.user_id}", carol).json()
    assert profile["displayname"] == "Dave D." and profile["io.qasid.designation"] == "Budget Director"
    presence = gov.client("GET", f"/presence/{dave.user_id}/status", carol).json()
    assert presence["presence"] == "online" and presence["status_msg"] == "in a meeting"
    assert gov.client("POST", f"/rooms/{room}/leave", carol, {}).status_code == 200
    assert refusals(gov, carol, dave.user_id) == refusals(gov, carol, unknown)

    # Dave's unit has the default scope ("anyone"): he sees carol without a shared room.
    assert refusals(gov, dave, carol.user_id) == []

    # An operator outside the organisation sees profiles as on a plain homeserver: 404 for nobody.
    gov.server.create_user("operator", PASSWORD)
    operator = gov.login("operator")
    assert refusals(gov, operator, dave.user_id) == []
    for path in profile_paths(unknown):
        response = gov.client("GET", path, operator)
        assert response.status_code == 404 and response.json()["errcode"] == "M_NOT_FOUND", (path, response.text)
    # No unit or designation: only the display name every new account gets (its localpart).
    assert gov.client("GET", f"/profile/{operator.user_id}", operator).json() == {"displayname": "operator"}
