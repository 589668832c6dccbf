"""A backup taken during a send flood restores into a server where nothing acknowledged is lost.

Officials keep sending over HTTP while `qasid admin backup` runs; the archive is restored into a
fresh data folder and a server started on it. Every event acknowledged before the backup began
is there, every client carries on with its old access token, an encrypted message sent before
the backup (and not yet read) is decrypted after the restore from the clients' own crypto
stores, the media and signing key are the same, and the audit chain verifies.
"""

from __future__ import annotations

import asyncio
import os
import stat
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.nio_user import NioUser
from tests.server import ServerProcess

PASSWORD = "a long enough passphrase"
SENDERS = 3


async def _flood(base_url: str, token: str, room_id: str, stop: asyncio.Event,
                 acks: list[tuple[str, float]]) -> None:
    """Send messages one after another until told to stop; record each acknowledged event ID and when."""
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30) as http:
        n = 0
        while not stop.is_set():
            n += 1
            response = await http.put(f"/_matrix/client/v3/rooms/{room_id}/send/m.room.message/flood{n}",
                                      json={"msgtype": "m.text", "body": f"flood {n}"})
            assert response.status_code == 200, response.text
            acks.append((response.json()["event_id"], time.monotonic()))


async def _run_cli(server: ServerProcess, *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "qasid.cli", "admin", *args, env=server._env(),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await process.communicate()
    return process.returncode or 0, out.decode(), err.decode()


async def _restored_client(base_url: str, old: NioUser, store: Path) -> NioUser:
    """The same device, with the same crypto store and access token, against another server."""
    user = NioUser(base_url, old.user_id, store, device_id=old.client.device_id)
    user.client.restore_login(old.user_id, str(old.client.device_id), str(old.client.access_token))
    return user


@pytest.mark.sqlite_only  # qasid admin backup archives SQLite; PostgreSQL has its own tools
async def test_backup_during_a_send_flood_restores_everything_acknowledged(
        server: ServerProcess, tmp_path: Path) -> None:
    token = server.create_token(uses=2)
    alice = NioUser(server.base_url, "alice", tmp_path / "alice")
    bob = NioUser(server.base_url, "bob", tmp_path / "bob")
    restored_server = ServerProcess(tmp_path / "restored")
    users: list[NioUser] = [alice, bob]
    try:
        await alice.register(PASSWORD, token)
        await bob.register(PASSWORD, token)
        room_id = await alice.create_encrypted_room(invite=[bob.user_id])
        await bob.join(room_id)
        await alice.sync()
        # Bob does not sync again before the backup: the room key and the message wait for him
        # on the server, and reach him only from the restored one.
        secret = "The budget figures are final; do not circulate"
        await alice.send(room_id, secret)

        senders = [server.register(f"sender{i}") for i in range(SENDERS)]
        headers = {"Authorization": f"Bearer {senders[0]['access_token']}"}
        async with httpx.AsyncClient(base_url=server.base_url, headers=headers, timeout=30) as http:
            flood_room = (await http.post("/_matrix/client/v3/createRoom", json={"preset": "public_chat"})).json()["room_id"]
            for sender in senders[1:]:
                joined = await http.post(f"/_matrix/client/v3/join/{flood_room}",
                                         headers={"Authorization": f"Bearer {sender['access_token']}"})
                assert joined.status_code == 200, joined.text
            picture = os.urandom(50_000)
            uploaded = await http.post("/_matrix/media/v3/upload", content=picture,
                                       headers={"Content-Type": "application/octet-stream"})
            assert uploaded.status_code == 200, uploaded.text
        media_id = uploaded.json()["content_uri"].rsplit("/", 1)[1]

        stop = asyncio.Event()
        acks: list[tuple[str, float]] = []
        flood = [asyncio.create_task(_flood(server.base_url, s["access_token"], flood_room, stop, acks))
                 for s in senders]
        while len(acks) < 50:  # the flood is under way before the backup starts
            await asyncio.sleep(0.05)
        archive = tmp_path / "backups" / "qasid.tar.gz"
        archive.parent.mkdir()
        began = time.monotonic()
        code, out, err = await _run_cli(server, "backup", str(archive))
        ended = time.monotonic()
        await asyncio.sleep(0.2)
        stop.set()
        await asyncio.gather(*flood)
        assert code == 0, err
        assert "backup written" in out
        acknowledged_before = [event_id for event_id, at in acks if at < began]
        during = [event_id for event_id, at in acks if began <= at <= ended]
        assert acknowledged_before and during, (len(acknowledged_before), len(during))
        assert stat.S_IMODE(archive.stat().st_mode) == 0o600
        server.stop()

        verified = restored_server.run_cli("backup", "--verify", str(archive))
        assert verified.returncode == 0 and "archive intact" in verified.stdout, verified.stderr
        restored = restored_server.run_cli("restore", str(archive))
        assert restored.returncode == 0, restored.stderr
        assert stat.S_IMODE(restored_server.data_dir.stat().st_mode) == 0o700
        assert (restored_server.data_dir / "signing.key").read_bytes() == (server.data_dir / "signing.key").read_bytes()
        restored_server.start()
        base = restored_server.base_url

        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            for sender in senders:  # old access tokens still sign in
                who = await http.get("/_matrix/client/v3/account/whoami",
                                     headers={"Authorization": f"Bearer {sender['access_token']}"})
                assert who.status_code == 200 and who.json()["user_id"] == sender["user_id"], who.text
            reader = {"Authorization": f"Bearer {senders[0]['access_token']}"}
            missing = []
            for event_id in acknowledged_before:
                got = await http.get(f"/_matrix/client/v3/rooms/{flood_room}/event/{event_id}", headers=reader)
                if got.status_code != 200:
                    missing.append((event_id, got.status_code))
            assert not missing, f"{len(missing)} of {len(acknowledged_before)} acknowledged events lost: {missing[:5]}"
            media = await http.get(f"/_matrix/client/v1/media/download/{restored_server.server_name}/{media_id}",
                                   headers=reader)
            assert media.status_code == 200 and media.content == picture

        # The same devices, with their own crypto stores and old access tokens, on the restored server.
        await alice.close()
        await bob.close()
        alice = await _restored_client(base, alice, tmp_path / "alice")
        bob = await _restored_client(base, bob, tmp_path / "bob")
        users = [alice, bob]
        await bob.wait_for(room_id, secret)
        after = "Received, and the restored server carries on"
        await alice.send(room_id, after)
        await bob.wait_for(room_id, after)

        audit = restored_server.run_cli("audit", "verify")
        assert audit.returncode == 0 and "audit log intact" in audit.stdout, audit.stdout + audit.stderr
    finally:
        for user in users:
            await user.close()
        restored_server.stop()
