"""A national admin driving the admin API of a real server, and officials enrolled through it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from tests.server import ServerProcess

ADMIN = "/_qasid/admin/v1"
V3 = "/_matrix/client/v3"
PASSWORD = "Correct-horse-9"


@dataclass
class Session:
    """A logged-in account: its user ID, device and access token."""

    user_id: str
    device_id: str
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token}"}


class Gov:
    """Calls the admin API as the national admin (or as any session given)."""

    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.http = httpx.Client(base_url=server.base_url, timeout=60)
        server.create_user("root", PASSWORD, admin=True)
        self.root = self.login("root")

    def login(self, localpart: str, password: str = PASSWORD, device_id: str | None = None) -> Session:
        body: dict[str, Any] = {"type": "m.login.password", "identifier": {"type": "m.id.user", "user": localpart},
                                "password": password}
        if device_id:
            body["device_id"] = device_id
        response = self.http.post(V3 + "/login", json=body)
        assert response.status_code == 200, response.text
        data = response.json()
        return Session(data["user_id"], data["device_id"], data["access_token"])

    def call(self, method: str, path: str, body: Any = None, as_: Session | None = None) -> httpx.Response:
        session = as_ or self.root
        return self.http.request(method, ADMIN + path, json=body, headers=session.auth)

    def ok(self, method: str, path: str, body: Any = None, as_: Session | None = None) -> Any:
        response = self.call(method, path, body, as_)
        assert response.status_code == 200, f"{method} {path}: {response.status_code} {response.text}"
        return response.json()

    def unit(self, code: str, name: str | None = None, parent: int | None = None, **policy: Any) -> int:
        body: dict[str, Any] = {"code": code, "name": name or code}
        if parent is not None:
            body["parent_id"] = parent
        unit_id = int(self.ok("POST", "/units", body)["unit_id"])
        if policy:
            self.ok("PUT", f"/units/{unit_id}/policy", policy)
        return unit_id

    def enrollment_token(self, unit_id: int, **extra: Any) -> str:
        return str(self.ok("POST", "/enrollment_tokens", {"unit_id": unit_id, **extra})["token"])

    def register(self, username: str, token: str, password: str = PASSWORD) -> httpx.Response:
        """The spec's three-step registration with a registration token, over plain HTTP."""
        url = V3 + "/register"
        first = self.http.post(url, json={"username": username, "password": password})
        session = first.json()["session"]
        self.http.post(url, json={"username": username, "password": password, "auth": {
            "type": "m.login.registration_token", "token": token, "session": session}})
        return self.http.post(url, json={"username": username, "password": password,
                                         "auth": {"type": "m.login.dummy", "session": session}})

    def official(self, username: str, unit_id: int, designation: str = "Officer") -> Session:
        """Enroll an official into a unit with a fresh token, logged in."""
        response = self.register(username, self.enrollment_token(unit_id, designation=designation))
        assert response.status_code == 200, response.text
        data = response.json()
        return Session(data["user_id"], data["device_id"], data["access_token"])

    def client(self, method: str, path: str, session: Session, body: Any = None) -> httpx.Response:
        """A client-server API call as an official."""
        return self.http.request(method, V3 + path, json=body, headers=session.auth)
