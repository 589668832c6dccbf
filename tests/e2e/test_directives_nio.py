"""A directive to a ministry of 3 divisions and 30 officials, each on a matrix-nio client (one event loop).

The national admin issues it through the admin API; their own client writes the text, encrypted; 20
officials acknowledge with a reaction, 5 only read it; the status from the admin API and the CLI is
exact; officials moved in and out follow; the text is nowhere in the server's files.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from nio import RoomSendResponse

from tests.e2e.nio_user import NioUser
from tests.gov.helpers import PASSWORD, Gov
from tests.server import ServerProcess

TEXT = "Directive 7/2026: all divisions freeze non-essential travel from Monday (kestrel-41)"


async def test_directive_to_thirty_officials_on_nio(server: ServerProcess, tmp_path: Path) -> None:
    gov = Gov(server)
    ministry = gov.unit("MOF", "Ministry of Finance")
    divisions = [gov.unit(f"MOF-D{i}", f"Division {i}", parent=ministry) for i in range(3)]
    elsewhere = gov.unit("MOI", "Ministry of Interior")
    tokens = [gov.enrollment_token(d, uses_allowed=10, designation="Officer") for d in divisions]
    officials = [NioUser(server.base_url, f"off{i:02d}", tmp_path / f"off{i:02d}") for i in range(30)]
    issuer = NioUser(server.base_url, "root", tmp_path / "root")
    try:
        for start in range(0, 30, 10):
            await asyncio.gather(*(o.register(PASSWORD, tokens[i // 10]) for i, o in enumerate(officials)
                                   if start <= i < start + 10))
        await issuer.login(PASSWORD, device_name="issuer's desk")
        unit_of = {o.user_id: divisions[i // 10] for i, o in enumerate(officials)}

        created = gov.ok("POST", "/directives", {"title": "Travel freeze", "unit_ids": [ministry],
                                                 "deadline_ts": int((time.time() + 3600) * 1000)})
        room_id, directive_id = created["room_id"], created["directive_id"]

        # The issuer's client finds the room made for it and writes the directive, encrypted.
        await issuer.sync()
        room = issuer.client.rooms[room_id]
        assert room.encrypted and room.display_name == "Directive: Travel freeze"
        assert {o.user_id for o in officials} <= set(room.users)
        message_id = await issuer.send(room_id, TEXT)
        await asyncio.gather(*(o.wait_for(room_id, TEXT, timeout_s=60) for o in officials))

        acknowledging, reading = officials[1::3][:10] + officials[2::3][:10], officials[0::3][:5]
        assert not set(acknowledging) & set(reading)
        # Reactions go unencrypted, as Element sends them (matrix-nio 0.26 would encrypt the relation too,
        # which hides it from the server): PUT as the official's own session.
        for n, official in enumerate(acknowledging):
            sent = gov.http.put(f"/_matrix/client/v3/rooms/{room_id}/send/m.reaction/ack{n}", json={"m.relates_to": {
                "rel_type": "m.annotation", "event_id": message_id, "key": "✅"}},
                headers={"authorization": f"Bearer {official.client.access_token}"})
            assert sent.status_code == 200, sent.text
        for official in reading:
            await official.client.update_receipt_marker(room_id, message_id)
        # The issuer's own reaction (encrypted by nio) is no acknowledgement.
        mine = await issuer.client.room_send(room_id, "m.reaction", {"m.relates_to": {
            "rel_type": "m.annotation", "event_id": message_id, "key": "👍"}}, ignore_unverified_devices=True)
        assert isinstance(mine, RoomSendResponse), mine

        status = gov.ok("GET", f"/directives/{directive_id}")
        assert status["message_event_id"] == message_id
        assert status["counts"] == {"recipients": 30, "acknowledged": 20, "read_only": 5, "not_read": 5}
        expected = {o.user_id: "acknowledged" if o in acknowledging else "read" if o in reading else "not_read"
                    for o in officials}
        assert {p["user_id"]: p["state"] for p in status["officials"]} == expected
        for person in status["officials"]:
            assert person["unit_id"] == unit_of[person["user_id"]]
            assert (person["acknowledged_ts"] is not None) == (person["state"] == "acknowledged")
            assert (person["how"] == "reaction") == (person["state"] == "acknowledged")
            assert (person["read_ts"] is not None) == (person["state"] == "read")
        per_unit = {u["unit_id"]: (u["recipients"], u["acknowledged"], u["read_only"], u["not_read"])
                    for u in status["units"]}
        for division in divisions:
            states = [expected[user] for user, unit in unit_of.items() if unit == division]
            assert per_unit[division] == (10, states.count("acknowledged"), states.count("read"),
                                          states.count("not_read"))
        assert json.loads(server.cli("directive", "status", directive_id)) == status
        audit = gov.ok("GET", "/audit?limit=1000&action=directive.acknowledge")["entries"]
        assert sorted(e["actor"] for e in audit) == sorted(o.user_id for o in acknowledging)

        # Placement follows the organisation: one moved in is added, one moved out is removed.
        newcomer = gov.official("newcomer", elsewhere)
        leaver = officials[-1]
        gov.ok("PUT", f"/officials/{newcomer.user_id}", {"unit_id": divisions[1]})
        gov.ok("PUT", f"/officials/{leaver.user_id}", {"unit_id": elsewhere})
        await issuer.sync()
        members = set(issuer.client.rooms[room_id].users)
        assert newcomer.user_id in members and leaver.user_id not in members
        after = gov.ok("GET", f"/directives/{directive_id}")
        assert after["counts"]["recipients"] == 30
        assert {p["user_id"] for p in after["officials"]} == {o.user_id for o in officials[:-1]} | {newcomer.user_id}

        # The server never had the text: not in the database, its WAL, or any other file of the data folder.
        needle = TEXT.encode()
        for path in server.data_dir.rglob("*"):
            if path.is_file():
                assert needle not in path.read_bytes(), f"the directive's text is in {path}"
    finally:
        await asyncio.gather(*(o.close() for o in officials), issuer.close())
