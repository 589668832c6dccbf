"""POST /account/deactivate for an account outside the tree: password first, then gone for good."""

from __future__ import annotations

import httpx

from tests.hardening.client import PASSWORD, error, new_user, query_db
from tests.server import ServerProcess

V3 = "/_matrix/client/v3"


def _login(server: ServerProcess, user: str) -> httpx.Response:
    return httpx.post(server.base_url + V3 + "/login", timeout=30, json={
        "type": "m.login.password", "identifier": {"type": "m.id.user", "user": user}, "password": PASSWORD})


def test_deactivation_asks_for_the_password_then_ends_the_account(server: ServerProcess) -> None:
    leaving, friend = new_user(server, "leaving"), new_user(server, "friend")
    second = _login(server, "leaving").json()
    room = friend.create_room()
    assert friend.post(f"/rooms/{room}/invite", {"user_id": leaving.user_id}).status_code == 200
    leaving.join(room)
    assert leaving.put(f"/profile/{leaving.user_id}/displayname", {"displayname": "Leaving L."}).status_code == 200

    first = leaving.post("/account/deactivate", {})
    assert first.status_code == 401
    challenge = first.json()
    assert {"stages": ["m.login.password"]} in challenge["flows"]
    auth = {"type": "m.login.password", "identifier": {"type": "m.id.user", "user": leaving.user_id},
            "session": challenge["session"]}
    wrong = leaving.post("/account/deactivate", {"auth": auth | {"password": "not it"}})
    assert error(wrong) == (401, "M_FORBIDDEN")
    assert error(leaving.post("/account/deactivate", {"erase": "yes"})) == (400, "M_BAD_JSON")
    # The session is bound to the request that began it: it can't authorise another body.
    other = leaving.post("/account/deactivate", {"erase": True, "auth": auth | {"password": PASSWORD}})
    assert error(other) == (403, "M_FORBIDDEN")
    assert leaving.get("/account/whoami").status_code == 200

    first = leaving.post("/account/deactivate", {})
    done = leaving.post("/account/deactivate", {"auth": auth | {"session": first.json()["session"],
                                                                "password": PASSWORD}})
    assert done.status_code == 200, done.text
    assert done.json() == {"id_server_unbind_result": "no-support"}

    assert error(leaving.get("/account/whoami")) == (401, "M_UNKNOWN_TOKEN")
    other_device = httpx.get(server.base_url + V3 + "/account/whoami", timeout=30,
                             headers={"authorization": f"Bearer {second['access_token']}"})
    assert error(other_device) == (401, "M_UNKNOWN_TOKEN")
    assert _login(server, "leaving").status_code == 403
    member = friend.get(f"/rooms/{room}/state/m.room.member/{leaving.user_id}").json()
    assert member["membership"] == "leave"
    assert query_db(server, "SELECT count(*) FROM devices WHERE user_id = ?", (leaving.user_id,)) == [(0,)]
    # Not erased: the profile stays.
    assert query_db(server, "SELECT displayname, erased FROM users WHERE user_id = ?",
                    (leaving.user_id,)) == [("Leaving L.", 0)]
    audit = query_db(server, "SELECT action, details FROM audit_log WHERE action = 'account.deactivate'"
                     " AND target = ?", (leaving.user_id,))
    assert len(audit) == 1 and '"erase":false' in audit[0][1]


def test_erase_clears_the_profile_and_the_accounts_own_data(server: ServerProcess) -> None:
    user = new_user(server, "eraser")
    assert user.put(f"/profile/{user.user_id}/displayname", {"displayname": "Erase Me"}).status_code == 200
    assert user.put(f"/user/{user.user_id}/account_data/org.example.notes", {"a": 1}).status_code == 200
    first = user.post("/account/deactivate", {"erase": True})
    auth = {"type": "m.login.password", "identifier": {"type": "m.id.user", "user": user.user_id},
            "password": PASSWORD, "session": first.json()["session"]}
    assert user.post("/account/deactivate", {"erase": True, "auth": auth}).status_code == 200
    assert query_db(server, "SELECT displayname, avatar_url, erased, deactivated FROM users WHERE user_id = ?",
                    (user.user_id,)) == [(None, None, 1, 1)]
    assert query_db(server, "SELECT count(*) FROM account_data WHERE user_id = ?", (user.user_id,)) == [(0,)]
    watcher = new_user(server, "watcher")
    profile = watcher.get(f"/profile/{user.user_id}")
    assert profile.status_code == 404 or "displayname" not in profile.json()
