"""Backup archives that were damaged or altered are refused by --verify and by restore, which then change nothing."""

from __future__ import annotations

import io
import json
import stat
import tarfile
from pathlib import Path

import httpx
import pytest

from tests.server import ServerProcess
from tests.test_cli import one_error_line, qasid

# The archive holds the SQLite file; on PostgreSQL the command refuses (the last test here).
pytestmark = pytest.mark.sqlite_only


@pytest.fixture
def archive(server: ServerProcess, tmp_path: Path) -> Path:
    """An archive of a data folder that holds an account, a signing key and a media file."""
    login = server.register("keeper")
    uploaded = httpx.post(server.base_url + "/_matrix/media/v3/upload", content=b"minutes of the meeting",
                          headers={"Authorization": f"Bearer {login['access_token']}"})
    assert uploaded.status_code == 200, uploaded.text
    path = tmp_path / "good.tar.gz"
    out = server.run_cli("backup", str(path))
    assert out.returncode == 0, out.stderr
    return path


def _env(data_dir: Path) -> dict[str, str]:
    return {"QASID_DATA_DIR": str(data_dir), "QASID_SERVER_NAME": "qasid.test"}


def _members(path: Path) -> list[tuple[tarfile.TarInfo, bytes]]:
    with tarfile.open(path, "r:gz") as tar:
        return [(m, tar.extractfile(m).read()) for m in tar.getmembers()]  # type: ignore[union-attr]


def _repack(path: Path, members: list[tuple[tarfile.TarInfo, bytes]]) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def _refused(tmp_path: Path, archive: Path, why: str) -> None:
    """--verify and restore both fail with one line saying `why`, and the target folder stays empty."""
    line = one_error_line(qasid(tmp_path, "admin", "backup", "--verify", str(archive)))
    assert why in line, line
    target = tmp_path / "restored"
    line = one_error_line(qasid(tmp_path, "admin", "restore", str(archive), env=_env(target)))
    assert why in line, line
    assert not target.exists()


def test_an_archive_is_private_and_lists_every_file_with_its_checksum(archive: Path, tmp_path: Path) -> None:
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    members = {info.name: data for info, data in _members(archive)}
    manifest = json.loads(members["manifest.json"])
    names = {entry["path"] for entry in manifest["files"]}
    assert {"qasid.db", "signing.key"} <= names and any(n.startswith("media/") for n in names)
    assert manifest["server_name"] == "qasid.test" and manifest["schema_version"] >= 8
    assert manifest["store"] == "sqlite" and manifest["created_ts"] > 0
    ok = qasid(tmp_path, "admin", "backup", "--verify", str(archive))
    assert ok.returncode == 0 and "archive intact" in ok.stdout, ok.stderr
    again = qasid(tmp_path, "admin", "backup", str(archive), env=_env(tmp_path / "data"))
    assert "already exists" in one_error_line(again)


def test_a_corrupted_archive_fails_verify_and_restore(archive: Path, tmp_path: Path) -> None:
    blob = bytearray(archive.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    flipped = tmp_path / "flipped.tar.gz"
    flipped.write_bytes(bytes(blob))
    _refused(tmp_path, flipped, "damaged")
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(archive.read_bytes()[: len(blob) // 2])
    _refused(tmp_path, cut, "damaged")


def test_an_altered_archive_fails_its_checksums(archive: Path, tmp_path: Path) -> None:
    members = _members(archive)
    altered = [(info, data[:-1] + b"X" if info.name == "signing.key" else data) for info, data in members]
    forged = tmp_path / "forged.tar.gz"
    _repack(forged, altered)
    _refused(tmp_path, forged, "checksum mismatch for signing.key")

    unlisted = tmp_path / "unlisted.tar.gz"
    _repack(unlisted, [*members, (tarfile.TarInfo("media/ev/evil"), b"planted")])
    _refused(tmp_path, unlisted, "which its manifest does not list")

    escaping = tmp_path / "escaping.tar.gz"
    _repack(escaping, [(tarfile.TarInfo("../outside"), b"planted"), *members])
    _refused(tmp_path, escaping, "unsafe name")
    assert not (tmp_path / "outside").exists()


def test_restore_refuses_a_folder_in_use_or_another_server_name(archive: Path, tmp_path: Path) -> None:
    used = tmp_path / "used"
    used.mkdir()
    (used / "notes.txt").write_text("someone's files")
    line = one_error_line(qasid(tmp_path, "admin", "restore", str(archive), env=_env(used)))
    assert "is not empty" in line
    assert sorted(p.name for p in used.iterdir()) == ["notes.txt"]

    other = tmp_path / "other"
    line = one_error_line(qasid(tmp_path, "admin", "restore", str(archive),
                                env={**_env(other), "QASID_SERVER_NAME": "elsewhere.test"}))
    assert "set server_name = 'qasid.test'" in line
    assert not other.exists()

    fresh = tmp_path / "fresh"
    done = qasid(tmp_path, "admin", "restore", str(archive), env=_env(fresh))
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(p.stat().st_mode) & 0o077 == 0 for p in fresh.rglob("*"))

