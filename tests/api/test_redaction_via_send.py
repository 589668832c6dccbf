"""Redactions sent through PUT /send/m.room.redaction (spec v1.18) get /redact's checks and effect."""

from __future__ import annotations

from typing import Any

import httpx

from tests.server import ServerProcess

V3 = "/_matrix/client/v3"


def client(server: ServerProcess, name: str) -> tuple[str, httpx.Client]:
    login = server.register(name)
    return login["user_id"], httpx.Client(base_url=server.base_url + V3, timeout=30,
                                          headers={"authorization": f"Bearer {login['access_token']}"})


def ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


def test_redaction_through_send(server: ServerProcess) -> None:
    alice_id, alice = client(server, "alice")
    bob_id, bob = client(server, "bob")
    room = ok(alice.post("/createRoom", json={"preset": "public_chat"}))["room_id"]
    ok(bob.post(f"/join/{room}", json={}))
    text = {"msgtype": "m.text", "body": "secret"}
    hers = ok(alice.put(f"/rooms/{room}/send/m.room.message/a1", json=text))["event_id"]
    his = ok(bob.put(f"/rooms/{room}/send/m.room.message/b1", json=text))["event_id"]

    refused = bob.put(f"/rooms/{room}/send/m.room.redaction/b2", json={"redacts": hers})
    assert (refused.status_code, refused.json()["errcode"]) == (403, "M_FORBIDDEN"), refused.text
    assert ok(alice.get(f"/rooms/{room}/event/{hers}"))["content"] == text
    for body in ({}, {"redacts": 5}):
        bad = bob.put(f"/rooms/{room}/send/m.room.redaction/b3", json=body)
        assert (bad.status_code, bad.json()["errcode"]) == (400, "M_BAD_JSON"), bad.text

    redaction = ok(bob.put(f"/rooms/{room}/send/m.room.redaction/b4", json={"redacts": his}))["event_id"]
    assert ok(alice.get(f"/rooms/{room}/event/{his}"))["content"] == {}
    seen = ok(alice.get(f"/rooms/{room}/event/{redaction}"))
    assert seen["redacts"] == his and seen["content"]["redacts"] == his
    assert bob_id != alice_id
