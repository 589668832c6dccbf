"""Two officials whose clients talk to different workers chat end-to-end encrypted (matrix-nio)."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.nio_user import NioUser
from tests.server import ServerProcess

PASSWORD = "a long enough passphrase"


async def test_encrypted_chat_across_two_workers(workers: list[ServerProcess], tmp_path: Path) -> None:
    a, b = workers
    token = a.create_token(uses=2)
    alice = NioUser(a.base_url, "alice", tmp_path / "alice")
    bob = NioUser(b.base_url, "bob", tmp_path / "bob")
    try:
        await alice.register(PASSWORD, token)
        await bob.register(PASSWORD, token)
        room_id = await alice.create_encrypted_room(invite=[bob.user_id])
        await bob.join(room_id)
        await alice.sync()
        await alice.send(room_id, "The minister lands at six")
        await bob.wait_for(room_id, "The minister lands at six")
        await bob.send(room_id, "A car will be at the airport")
        await alice.wait_for(room_id, "A car will be at the airport")
        assert not alice.undecryptable and not bob.undecryptable
    finally:
        await alice.close()
        await bob.close()
