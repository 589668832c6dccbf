"""The world the bad-input sweeps run in: one server, one user in one room with one message."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from tests.server import ServerProcess

V3 = "/_matrix/client/v3"


def endpoint_id(endpoint: tuple[str, str]) -> str:
    return f"{endpoint[0]} {endpoint[1]}"


@dataclass
class World:
    """One server, one user joined to one room with one message in it."""

    server: ServerProcess
    client: httpx.Client
    user_id: str
    device_id: str
    token: str
    room_id: str
    event_id: str
    txn_ids: Iterator[int]

    def auth(self, token: str | None = None) -> dict[str, str]:
        return {"authorization": f"Bearer {token or self.token}"}

    def fill(self, template: str) -> str:
        """A concrete path for a route template: plausible values the user may act on."""
        values = {
            "roomId": self.room_id, "roomIdOrAlias": self.room_id, "userId": self.user_id,
            "eventId": self.event_id, "deviceId": self.device_id, "serverName": self.server.server_name,
            "eventType": "org.example.probe", "type": "org.example.probe", "stateKey": "probe",
            "roomAlias": f"#probe:{self.server.server_name}", "mediaId": "probemedia",
            "fileName": "probe.txt", "keyName": "displayname", "tag": "u.probe", "filterId": "0",
            "version": "1", "sessionId": "probesession", "kind": "override", "ruleId": "probe",
            "receiptType": "m.read",
        }

        def value(match: re.Match[str]) -> str:
            name = match.group(1)
            if name == "txnId":
                return f"probe-{next(self.txn_ids)}"
            return quote(values.get(name, "probe"), safe="")

        return re.sub(r"\{(\w+)(?::\w+)?\}", value, template)

    def url(self, path: str) -> str:
        return self.server.base_url + path

    def request(
        self, method: str, path: str, *, token: str | None = None, headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        return self.client.request(method, self.url(path), headers=self.auth(token) | (headers or {}), **kwargs)

    def messages(self) -> list[str]:
        """The room's whole history as event IDs, as the user sees it."""
        found = self.request("GET", f"{V3}/rooms/{self.room_id}/messages", params={"limit": 1000})
        assert found.status_code == 200, found.text
        return [event["event_id"] for event in found.json()["chunk"]]


def row_counts(server: ServerProcess) -> dict[str, int]:
    """Rows in every table, read-only, while the server runs."""
    return {table: server.query(f'SELECT count(*) FROM "{table}"')[0][0] for table in server.table_names()}


def make_world(server: ServerProcess, name: str) -> World:
    login = server.register(name)
    client = httpx.Client(timeout=30)
    headers = {"authorization": f"Bearer {login['access_token']}"}
    created = client.post(server.base_url + V3 + "/createRoom", json={"name": "probe"}, headers=headers)
    assert created.status_code == 200, created.text
    room_id = created.json()["room_id"]
    sent = client.put(
        server.base_url + f"{V3}/rooms/{room_id}/send/m.room.message/first",
        json={"msgtype": "m.text", "body": "hello"}, headers=headers)
    assert sent.status_code == 200, sent.text
    return World(server, client, login["user_id"], login["device_id"], login["access_token"],
                 room_id, sent.json()["event_id"], itertools.count())


def assert_error(response: httpx.Response, status: int, errcode: str) -> None:
    assert response.status_code == status, f"{response.status_code} {response.text[:300]}"
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["errcode"] == errcode, response.text[:300]


def assert_no_unhandled_errors(world: World) -> None:
    log = Path(world.server.log_path).read_text(errors="replace")
    assert "unhandled error" not in log, log[-5000:]
