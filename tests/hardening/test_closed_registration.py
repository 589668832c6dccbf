"""Item 13: registration completes only through a valid token; a single-use token makes one account, however raced.

(tests/api/test_bad_input.py covers malformed registration bodies.)
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import httpx

from tests.hardening.client import V3, error, new_user, query_db
from tests.server import ServerProcess

RACERS = 50
PASSWORD = "correct horse battery"


def sha256(token: str) -> bytes:
    """The database keeps a registration token only as this hash."""
    return hashlib.sha256(token.encode()).digest()


def users(server: ServerProcess) -> list[str]:
    return [user_id for (user_id,) in query_db(server, "SELECT user_id FROM users ORDER BY user_id")]


def start(http: httpx.Client, username: str) -> str:
    first = http.post(V3 + "/register", json={"username": username, "password": PASSWORD})
    assert first.status_code == 401, first.text
    assert first.json()["flows"] == [{"stages": ["m.login.registration_token", "m.login.dummy"]}]
    return str(first.json()["session"])


def stage(http: httpx.Client, username: str, session: str, auth: dict[str, Any]) -> httpx.Response:
    return http.post(V3 + "/register", json={"username": username, "password": PASSWORD,
                                             "auth": auth | {"session": session}})


def test_no_flow_completes_without_a_valid_token(server: ServerProcess) -> None:
    revoked = server.create_token()
    server.cli("token", "revoke", revoked)
    with httpx.Client(base_url=server.base_url, timeout=60) as http:
        attempts = {
            "dummy-only": [{"type": "m.login.dummy"}],
            "dummy-twice": [{"type": "m.login.dummy"}, {"type": "m.login.dummy"}],
            "wrong-token": [{"type": "m.login.registration_token", "token": "guessed"}, {"type": "m.login.dummy"}],
            "revoked-token": [{"type": "m.login.registration_token", "token": revoked}, {"type": "m.login.dummy"}],
            "token-not-a-string": [{"type": "m.login.registration_token", "token": ["x"]},
                                   {"type": "m.login.dummy"}],
            "password-stage": [{"type": "m.login.password", "password": PASSWORD}, {"type": "m.login.dummy"}],
            "no-stage-type": [{"token": "x"}, {"type": "m.login.dummy"}],
        }
        for name, stages in attempts.items():
            username = f"mallory-{name}"
            session = start(http, username)
            for auth in stages:
                response = stage(http, username, session, auth)
                assert response.status_code in (400, 401, 403), f"{name}: {response.text}"
            guest = http.post(V3 + "/register", params={"kind": "guest"}, json={})
            assert guest.status_code in (401, 403), guest.text
        assert users(server) == []


def test_one_single_use_token_raced_by_50_requests_makes_one_account(server: ServerProcess) -> None:
    token = server.create_token(uses=1)
    with httpx.Client(base_url=server.base_url, timeout=60) as http:
        # Every racer passes the token stage first (the token is valid until one account consumes it) ...
        sessions = []
        for n in range(RACERS):
            session = start(http, f"racer{n}")
            passed = stage(http, f"racer{n}", session, {"type": "m.login.registration_token", "token": token})
            assert passed.status_code == 401 and passed.json()["completed"] == ["m.login.registration_token"]
            sessions.append(session)

    async def finish_all() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=60) as client:
            return await asyncio.gather(*(
                client.post(V3 + "/register", json={"username": f"racer{n}", "password": PASSWORD,
                                                    "auth": {"type": "m.login.dummy", "session": session}})
                for n, session in enumerate(sessions)))

    # ... then all 50 finish at once: exactly one account.
    responses = asyncio.run(finish_all())
    winners = [r for r in responses if r.status_code == 200]
    assert len(winners) == 1, [r.text for r in responses if r.status_code == 200]
    assert all(error(r) == (401, "M_FORBIDDEN") for r in responses if r.status_code != 200), \
        {r.text for r in responses if r.status_code != 200}
    assert users(server) == [winners[0].json()["user_id"]]
    assert query_db(server, "SELECT completed FROM registration_tokens WHERE token_hash = ?", (sha256(token),)) == [(1,)]


def test_an_existing_username_cannot_be_registered_again(server: ServerProcess) -> None:
    new_user(server, "alice")
    token = server.create_token(uses=5)
    with httpx.Client(base_url=server.base_url, timeout=60) as http:
        for name in ("alice", "ALICE", "Alice"):
            response = http.post(V3 + "/register", json={"username": name, "password": PASSWORD})
            assert error(response) == (400, "M_USER_IN_USE"), response.text
        # Two racing registrations of one new name with two valid tokens: one account.
        sessions = []
        for _ in range(2):
            session = start(http, "bob")
            stage(http, "bob", session, {"type": "m.login.registration_token", "token": token})
            sessions.append(session)

    async def both() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=60) as client:
            return await asyncio.gather(*(
                client.post(V3 + "/register", json={"username": "bob", "password": PASSWORD,
                                                    "auth": {"type": "m.login.dummy", "session": s}})
                for s in sessions))

    assert sorted(r.status_code for r in asyncio.run(both())) == [200, 400]
    assert users(server) == ["@alice:qasid.test", "@bob:qasid.test"]
    assert query_db(server, "SELECT completed FROM registration_tokens WHERE token_hash = ?", (sha256(token),)) == [(1,)]


def test_the_registration_token_is_never_sent_back(server: ServerProcess) -> None:
    token = server.create_token(uses=1)
    with httpx.Client(base_url=server.base_url, timeout=60) as http:
        session = start(http, "carol")
        passed = stage(http, "carol", session, {"type": "m.login.registration_token", "token": token})
        assert passed.status_code == 401 and passed.json()["completed"] == ["m.login.registration_token"]
        assert token not in passed.text
        assert passed.json()["params"] == {}
        done = stage(http, "carol", session, {"type": "m.login.dummy"})
        assert done.status_code == 200 and token not in done.text
