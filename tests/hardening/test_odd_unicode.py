"""Item 16: NUL, lone surrogates and very long strings are stored and returned exactly, or refused with 400 — never a 500.

Bodies are sent as raw bytes, so JSON escapes like \\u0000 and \\ud800 reach the server as written.
Each value goes into a message body, a display name, a room name, a state key (in the body of a
createRoom initial_state and in the URL), a topic and account data.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest

from tests.hardening.client import User, new_user
from tests.server import ServerProcess

# JSON string literals (without quotes), as sent on the wire.
VALUES = {
    "nul": r"before\u0000after",
    "only-nul": r"\u0000",
    "lone-high-surrogate": r"x\ud800y",
    "lone-low-surrogate": r"x\udfffy",
    "reversed-pair": r"\udc00\ud800",
    "valid-pair": r"\ud83d\ude00",
    "raw-utf8-emoji": "😀 ünïcödé",
    "bom-and-rtl": r"\ufeff\u202eevil",
    "noncharacter": r"\uffff\ufffe",
    "control": r"\u0001\u001f\u007f",
    "long-40k": "y" * 40_000,
}
# State keys and names go in URLs too; the long one is over the 255-byte limit there.
URL_VALUES = {"nul": "a\x00b", "surrogate-escape": "%ED%A0%80", "long": "k" * 300, "emoji": "😀"}


@pytest.fixture(scope="module")
def alice(tmp_path_factory: pytest.TempPathFactory) -> Iterator[User]:
    server = ServerProcess(tmp_path_factory.mktemp("unicode") / "data")
    server.start()
    try:
        yield new_user(server, "alice")
    finally:
        assert "unhandled error" not in server.log_path.read_text(errors="replace")
        server.stop()


def raw(template: str, literal: str) -> bytes:
    return template.replace("VALUE", literal).encode("utf-8")


def expected(literal: str) -> Any:
    return json.loads(f'"{literal}"')


def check(response_status: int, text: str) -> None:
    assert response_status in (200, 400, 413), f"{response_status}: {text[:300]}"


@pytest.mark.parametrize("name", VALUES)
def test_message_body(alice: User, name: str) -> None:
    room = alice.create_room()
    sent = alice.request("PUT", f"/rooms/{room}/send/m.room.message/{name}",
                         content=raw('{"msgtype": "m.text", "body": "VALUE", "VALUE": 1}', VALUES[name]))
    check(sent.status_code, sent.text)
    if sent.status_code == 200:
        event = alice.get(f"/rooms/{room}/event/{sent.json()['event_id']}")
        assert event.status_code == 200, event.text
        value = expected(VALUES[name])
        assert event.json()["content"] == {"msgtype": "m.text", "body": value, value: 1}
        synced = alice.sync()["rooms"]["join"][room]["timeline"]["events"]
        assert synced[-1]["content"]["body"] == value


@pytest.mark.parametrize("name", VALUES)
def test_display_name(alice: User, name: str) -> None:
    room = alice.create_room()
    url = f"/profile/{alice.user_id}/displayname"
    response = alice.request("PUT", url, content=raw('{"displayname": "VALUE"}', VALUES[name]))
    check(response.status_code, response.text)
    if response.status_code == 200:
        assert alice.get(url).json() == {"displayname": expected(VALUES[name])}
        member = alice.get(f"/rooms/{room}/state/m.room.member/{alice.user_id}")
        assert member.json()["displayname"] == expected(VALUES[name])
    assert alice.get(f"/rooms/{room}/members").status_code == 200
    assert alice.request("PUT", url, json={"displayname": "Alice"}).status_code == 200


@pytest.mark.parametrize("name", VALUES)
def test_room_name_topic_and_state_key_in_the_body(alice: User, name: str) -> None:
    body = raw('{"name": "VALUE", "topic": "VALUE", "initial_state": [{"type": "org.example",'
               ' "state_key": "VALUE", "content": {"v": "VALUE"}}]}', VALUES[name])
    created = alice.request("POST", "/createRoom", content=body)
    check(created.status_code, created.text)
    if created.status_code == 200:
        room, value = created.json()["room_id"], expected(VALUES[name])
        assert alice.get(f"/rooms/{room}/state/m.room.name/").json() == {"name": value}
        state = alice.get(f"/rooms/{room}/state").json()
        custom = [e for e in state if e["type"] == "org.example"]
        assert [(e["state_key"], e["content"]) for e in custom] == [(value, {"v": value})]
        assert alice.sync()["rooms"]["join"][room]["state"] is not None


@pytest.mark.parametrize("name", VALUES)
def test_account_data(alice: User, name: str) -> None:
    url = f"/user/{alice.user_id}/account_data/org.example.{name}"
    response = alice.request("PUT", url, content=raw('{"VALUE": "VALUE"}', VALUES[name]))
    check(response.status_code, response.text)
    if response.status_code == 200:
        value = expected(VALUES[name])
        assert alice.get(url).json() == {value: value}


@pytest.mark.parametrize("name", URL_VALUES)
def test_state_key_and_type_in_the_url(alice: User, name: str) -> None:
    room = alice.create_room()
    value = URL_VALUES[name]
    encoded = value if value.startswith("%") else quote(value, safe="")
    for path in (f"/rooms/{room}/state/org.example/{encoded}", f"/rooms/{room}/state/{encoded}/k",
                 f"/rooms/{room}/send/{encoded}/t-{name}", f"/rooms/{room}/send/m.room.message/{encoded}"):
        response = alice.request("PUT", path, json={"v": 1})
        check(response.status_code, response.text)
        if response.status_code == 200 and "/state/org.example/" in path:
            assert alice.get(path).json() == {"v": 1}
    for path in (f"/rooms/{encoded}/state", f"/profile/{encoded}", f"/rooms/{room}/event/{encoded}",
                 f"/directory/room/{encoded}", f"/user/{alice.user_id}/account_data/{encoded}"):
        response = alice.get(path)
        assert response.status_code in (400, 403, 404), f"{path}: {response.status_code} {response.text[:200]}"
