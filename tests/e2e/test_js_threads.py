"""Threads and edits as matrix-js-sdk (Element's SDK, thread support on) sees them through qasid.

Two js-sdk users share a room: one starts a thread, the other replies from their own client, and
the thread is paged with `fetchRelations` and listed with the thread-list request. An edit must
replace the shown text for the other user live, and still after that user "reloads": a fresh
client syncing from scratch, whose first sync holds neither the message nor its edit, so that
the text shown comes from the edit the server bundles with the message (an ill-shaped bundle
makes the SDK show an empty message).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from tests.e2e.js_driver import PASSWORD, JsUser, unexpected_http_failure
from tests.server import ServerProcess

WHOLE_TEST_SECONDS = 170


async def test_js_sdk_threads_and_edits(server: ServerProcess, js_user: JsUser, js_user_2: JsUser,
                                        tmp_path: Path) -> None:
    fresh = await JsUser.start(tmp_path / "js_fresh.stderr.log")
    try:
        await asyncio.wait_for(converse(server, js_user, js_user_2, fresh), WHOLE_TEST_SECONDS)
    except TimeoutError:
        raise js_user.failure(f"the conversation took longer than {WHOLE_TEST_SECONDS} s") from None
    finally:
        await fresh.close()


async def converse(server: ServerProcess, alice: JsUser, bob: JsUser, bob_again: JsUser) -> None:
    await asyncio.to_thread(server.register, "alice", PASSWORD)
    await asyncio.to_thread(server.register, "bob", PASSWORD)
    bob_id = server.user_id("bob")
    for user, name in ((alice, "alice"), (bob, "bob")):
        await user.call("login", base_url=server.base_url, user=name, password=PASSWORD, thread_support=True)

    room_id = (await alice.call("create_plain_room", name="Cabinet note", invite=[bob_id]))["room_id"]
    await bob.call("join", room_id=room_id)
    await alice.call("wait_member", room_id=room_id, user_id=bob_id, membership="join")

    # A thread: alice starts it, bob answers from his own client, alice adds more.
    root = (await alice.call("send_text", room_id=room_id, body="Draft note for Monday"))["event_id"]
    await bob.call("wait_body", room_id=room_id, event_id=root, body="Draft note for Monday")
    replies = [(await bob.call("send_text", room_id=room_id, body="Paragraph 2 needs figures",
                               thread_root=root))["event_id"]]
    await alice.call("wait_body", room_id=room_id, event_id=replies[0], body="Paragraph 2 needs figures")
    for i in range(4):
        replies.append((await alice.call("send_text", room_id=room_id, body=f"Figure {i} added",
                                         thread_root=root))["event_id"])

    paged = await bob.call("thread_replies", room_id=room_id, root_id=root, page_limit=2)
    assert paged["ids"] == list(reversed(replies)), json.dumps(paged)
    assert paged["pages"] == [2, 2, 1], json.dumps(paged)
    listed = await bob.call("thread_list", room_id=room_id, root_id=root)
    assert listed["roots"] == [root], json.dumps(listed)
    assert listed["server_count"] == 5 and listed["server_latest"] == replies[-1], json.dumps(listed)
    assert listed["model_root_body"] == "Draft note for Monday", json.dumps(listed)

    # An edit replaces the text bob sees.
    note = (await alice.call("send_text", room_id=room_id, body="Meeting at 10:00"))["event_id"]
    await bob.call("wait_body", room_id=room_id, event_id=note, body="Meeting at 10:00")
    await alice.call("edit", room_id=room_id, event_id=note, body="Meeting at 11:00")
    await bob.call("wait_body", room_id=room_id, event_id=note, body="Meeting at 11:00")

    # Later talk pushes the note and its edit out of a fresh client's first sync.
    for i in range(4):
        await alice.call("send_text", room_id=room_id, body=f"Later message {i}")
    await bob_again.call("login", base_url=server.base_url, user="bob", password=PASSWORD, thread_support=True,
                         device_name="bob, after a reload", initial_sync_limit=3)
    shown = await bob_again.call("live_bodies", room_id=room_id)
    assert note not in [e["event_id"] for e in shown["events"]], json.dumps(shown)
    fetched = await bob_again.call("fetch_event", room_id=room_id, event_id=note)
    assert not fetched["known_before"], json.dumps(fetched)
    assert fetched["raw_body"] == "Meeting at 10:00", json.dumps(fetched)  # the server leaves content alone
    assert fetched["shown_body"] == "Meeting at 11:00", json.dumps(fetched)  # the bundled edit applied
    scrolled = await bob_again.call("scrollback_to", room_id=room_id, event_id=note)
    assert scrolled["body"] == "Meeting at 11:00", json.dumps(scrolled)

    for user in (alice, bob, bob_again):
        failures = (await user.call("http_failures"))["http_failures"]
        unexpected = [f for f in failures if unexpected_http_failure(f)]
        assert not unexpected, "the server refused js-sdk requests:\n" + json.dumps(unexpected, indent=1)
