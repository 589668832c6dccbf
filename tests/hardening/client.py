"""A small HTTP client for the hardening battery: one signed-in device of one user."""

from __future__ import annotations

from typing import Any

import httpx

from tests.server import ServerProcess

V3 = "/_matrix/client/v3"
PASSWORD = "correct horse battery"


class User:
    """One device of one user, signed in to a real server."""

    def __init__(self, server: ServerProcess, login: dict[str, Any]) -> None:
        self.server = server
        self.user_id: str = login["user_id"]
        self.device_id: str = login["device_id"]
        self.token: str = login["access_token"]
        self.http = httpx.Client(base_url=server.base_url, timeout=60,
                                 headers={"authorization": f"Bearer {self.token}"})

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """`path` starting with `/_` is absolute; anything else is under /_matrix/client/v3."""
        return self.http.request(method, path if path.startswith("/_") else V3 + path, **kwargs)

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.request("GET", path, params=params)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, json={} if body is None else body, **kwargs)

    def put(self, path: str, body: Any = None, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", path, json={} if body is None else body, **kwargs)

    def create_room(self, **body: Any) -> str:
        created = self.post("/createRoom", body)
        assert created.status_code == 200, created.text
        return str(created.json()["room_id"])

    def join(self, room_id: str) -> None:
        joined = self.post(f"/rooms/{room_id}/join")
        assert joined.status_code == 200, joined.text

    def send(self, room_id: str, txn_id: str, content: dict[str, Any]) -> str:
        sent = self.put(f"/rooms/{room_id}/send/m.room.message/{txn_id}", content)
        assert sent.status_code == 200, sent.text
        return str(sent.json()["event_id"])

    def sync(self, since: str | None = None) -> dict[str, Any]:
        params = {"timeout": "0"} | ({"since": since} if since else {})
        response = self.get("/sync", **params)
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    def timeline(self, room_id: str) -> list[dict[str, Any]]:
        """The room's whole history, oldest first."""
        events: list[dict[str, Any]] = []
        params: dict[str, Any] = {"dir": "f", "limit": 1000}
        while True:
            page = self.get(f"/rooms/{room_id}/messages", **params)
            assert page.status_code == 200, page.text
            events += page.json()["chunk"]
            if "end" not in page.json() or not page.json()["chunk"]:
                return events
            params["from"] = page.json()["end"]


def login(server: ServerProcess, username: str, password: str = PASSWORD, **extra: Any) -> dict[str, Any]:
    body = {"type": "m.login.password", "password": password,
            "identifier": {"type": "m.id.user", "user": username}} | extra
    response = httpx.post(server.base_url + V3 + "/login", json=body, timeout=60)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


_tokens: dict[str, str] = {}


def new_user(server: ServerProcess, username: str, password: str = PASSWORD) -> User:
    """A new account, registered over HTTP with a many-use registration token, signed in."""
    key = str(server.data_dir)
    if key not in _tokens:
        _tokens[key] = server.create_token(uses=10_000)
    url = server.base_url + V3 + "/register"
    body: dict[str, Any] = {"username": username, "password": password}
    with httpx.Client(timeout=60) as http:
        session = http.post(url, json=body).json()["session"]
        for stage in ({"type": "m.login.registration_token", "token": _tokens[key]}, {"type": "m.login.dummy"}):
            done = http.post(url, json=body | {"auth": stage | {"session": session}})
    assert done.status_code == 200, done.text
    return User(server, done.json())


def error(response: httpx.Response) -> tuple[int, str]:
    """(status, errcode) of a response, for one-line assertions."""
    try:
        errcode = response.json().get("errcode", "")
    except ValueError:
        errcode = f"<not JSON: {response.text[:100]!r}>"
    return response.status_code, errcode


def query_db(server: ServerProcess, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Read the live database read-only, as an auditor would."""
    return server.query(sql, params)
