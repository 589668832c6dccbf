"""The data folder is private to qasid's own account: folders 0700, files 0600, at every start.

Tests run as root in CI, where reading as another user proves nothing, so the modes themselves are
checked with os.stat: no group or other bit on anything below the data folder.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.hardening.client import new_user
from tests.server import ServerProcess

FIXED = "was readable by other users: made"


def modes(data_dir: Path) -> dict[str, int]:
    """Every entry below the folder (and the folder itself, as '.') with its permission bits."""
    found = {".": stat.S_IMODE(data_dir.stat().st_mode)}
    for folder, dirnames, filenames in os.walk(data_dir):
        for name in dirnames + filenames:
            path = Path(folder) / name
            found[str(path.relative_to(data_dir))] = stat.S_IMODE(path.lstat().st_mode)
    return found


def assert_private(data_dir: Path) -> dict[str, int]:
    found = modes(data_dir)
    for name, mode in found.items():
        expected = 0o700 if (data_dir / name).is_dir() else 0o600
        assert mode == expected, f"{name} is {mode:o}, not {expected:o}: {found}"
    return found


def loosen(data_dir: Path) -> None:
    """What an earlier version (or umask 022 and a hand-made folder) left: folders 0755, files 0644."""
    data_dir.chmod(0o755)
    for folder, dirnames, filenames in os.walk(data_dir):
        for name in dirnames:
            (Path(folder) / name).chmod(0o755)
        for name in filenames:
            (Path(folder) / name).chmod(0o644)


def upload(server: ServerProcess, access_token: str, content: bytes) -> str:
    response = httpx.post(server.base_url + "/_matrix/media/v3/upload", content=content, timeout=60,
                          headers={"authorization": f"Bearer {access_token}", "content-type": "text/plain"})
    assert response.status_code == 200, response.text
    return str(response.json()["content_uri"])


@pytest.mark.sqlite_only  # the SQLite file's modes, beside the folder's
def test_folder_and_files_are_private_after_start_and_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    stray = data_dir / "notes.txt"
    stray.write_text("left here by the operator")
    (data_dir / "media").mkdir()
    loosen(data_dir)
    assert modes(data_dir) == {".": 0o755, "notes.txt": 0o644, "media": 0o755}
    server = ServerProcess(data_dir)
    server.start()
    try:
        alice = new_user(server, "alice")
        upload(server, alice.token, b"minutes of the meeting")
        found = assert_private(data_dir)
        for name in ("qasid.db", "qasid.db-wal", "qasid.db-shm", "signing.key", "notes.txt", "media"):
            assert name in found, found
        assert any(name.startswith("media/") and (data_dir / name).is_file() for name in found), found
        assert server.log_path.read_text().count(FIXED) == 1

        # A restart on a folder an earlier version left readable: fixed again, and said so.
        server.stop()
        loosen(data_dir)
        server.start()
        upload(server, alice.token, b"a second attachment")
        assert_private(data_dir)
        assert server.log_path.read_text().count(FIXED) == 2

        # A restart after a power cut, on a folder already private: nothing to fix, nothing said.
        server.restart(kill=True)
        assert_private(data_dir)
        assert server.log_path.read_text().count(FIXED) == 2
    finally:
        server.stop()


@pytest.mark.sqlite_only  # the SQLite file's modes, beside the folder's
def test_admin_commands_leave_nothing_readable(tmp_path: Path) -> None:
    # Run with the loosest umask an operator's root shell could have: what they create stays private.
    for command in (("token", "create"), ("unit", "create", "--code", "MOF", "--name", "Finance")):
        data_dir = tmp_path / command[0] / "data"
        server = ServerProcess(data_dir)
        out = subprocess.run(
            [sys.executable, "-c", "import os, sys; from qasid.cli import main; os.umask(0); sys.exit(main())",
             "admin", *command, "--init"], env=server._env(), capture_output=True, text=True, timeout=60, check=False)
        assert out.returncode == 0, out.stderr
        found = assert_private(data_dir)
        assert "qasid.db" in found, found
        assert FIXED not in out.stderr  # nothing was there to fix: it was made private from the start

    # And on a server's folder that an earlier version left readable.
    data_dir = tmp_path / "existing" / "data"
    server = ServerProcess(data_dir)
    server.start()
    try:
        server.stop()
        loosen(data_dir)
        out = subprocess.run(
            [sys.executable, "-m", "qasid.cli", "admin", "token", "list"], env=server._env(),
            capture_output=True, text=True, timeout=60, check=False)
        assert out.returncode == 0, out.stderr
        assert FIXED in out.stderr
        assert_private(data_dir)
    finally:
        server.stop()
