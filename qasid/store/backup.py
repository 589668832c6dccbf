"""Backup archives of a data folder: one compressed tar with a manifest, made while the server runs.

An archive holds a consistent copy of the database (made by the store: SQLite's online backup
API; a PostgreSQL store would add its `pg_dump` output the same way), the signing key and the
media files, and last `manifest.json`: the format, qasid's version, the store and its schema
version, the server name, the creation time, and every file with its size and SHA-256.

The database is copied first and the media after: a file is durable before its row commits, so
every file the copied database names is there when the media are read. Nothing here writes to
the live database. An archive holds secrets (password hashes, the signing key), so it is made
0600, under a temporary name, and linked into place only once complete.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import tarfile
import tempfile
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any, Protocol

import qasid

FORMAT = "qasid-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SIGNING_KEY = "signing.key"
MEDIA = "media"
_MAX_MANIFEST_BYTES = 64 * 1024 * 1024
_CHUNK = 1024 * 1024


class BackupError(Exception):
    """An archive that can't be made, read or restored; the message says why and changes nothing."""


@dataclass(frozen=True)
class DatabaseCopy:
    """What a store's snapshot wrote into the staging folder, and what the copy says about itself."""

    files: tuple[str, ...]
    schema_version: int
    server_name: str


class StoreBackup(Protocol):
    """How one kind of store copies its database into an archive and checks a copy taken out of one."""

    kind: str

    def snapshot(self, data_dir: Path, staging: Path) -> DatabaseCopy:
        """Write a consistent copy of the live database into `staging` without stopping the server."""
        ...

    def check(self, staging: Path, manifest: dict[str, Any]) -> None:
        """Raise BackupError unless the copy in `staging` is sound and matches the manifest."""
        ...

    def newest_schema_version(self) -> int:
        """The highest schema version this qasid can run (a newer copy can't be restored)."""
        ...


def stores() -> dict[str, StoreBackup]:
    """Every store an archive may come from, by the name its manifest records."""
    from qasid.store.sqlite.backup import SqliteBackup

    return {"sqlite": SqliteBackup()}


def create_backup(data_dir: Path, dest: Path, store: StoreBackup) -> dict[str, Any]:
    """Write an archive of `data_dir` to `dest` (which must not exist); returns its manifest."""
    if dest.exists() or dest.is_symlink():
        raise BackupError(f"{dest} already exists; name a new file (an archive is never overwritten)")
    if not dest.parent.is_dir():
        raise BackupError(f"folder {dest.parent} does not exist")
    created = time.time()
    staging = Path(tempfile.mkdtemp(prefix=".qasid-backup-", dir=dest.parent))
    partial = dest.parent / f".{dest.name}.partial-{os.getpid()}"
    try:
        copy = store.snapshot(data_dir, staging)
        sources = [(name, staging / name) for name in copy.files]
        if (data_dir / SIGNING_KEY).is_file():
            sources.append((SIGNING_KEY, data_dir / SIGNING_KEY))
        sources.extend(_media_files(data_dir / MEDIA))
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.fchmod(fd, 0o600)  # whatever the umask
        with os.fdopen(fd, "wb") as raw:
            files = _write_tar(raw, sources, created, lambda entries: {
                "format": FORMAT, "format_version": FORMAT_VERSION, "qasid_version": qasid.__version__,
                "store": store.kind, "schema_version": copy.schema_version, "server_name": copy.server_name,
                "created_ts": int(created * 1000),
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(created)), "files": entries})
            raw.flush()
            os.fsync(raw.fileno())
        os.link(partial, dest)  # unlike rename, never replaces a file that appeared meanwhile
        _fsync_dir(dest.parent)
        return files
    except FileExistsError as e:
        raise BackupError(f"{dest} already exists; name a new file (an archive is never overwritten)") from e
    finally:
        partial.unlink(missing_ok=True)
        shutil.rmtree(staging, ignore_errors=True)


def verify_archive(archive: Path) -> dict[str, Any]:
    """Read the whole archive, check every checksum and the database copy; returns the manifest."""
    staging = Path(tempfile.mkdtemp(prefix="qasid-verify-"))
    try:
        return _extract_verified(archive, staging)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def restore_archive(archive: Path, data_dir: Path, server_name: str) -> dict[str, Any]:
    """Verify the archive, then unpack it into `data_dir`, which must be missing or empty."""
    if data_dir.exists() and (not data_dir.is_dir() or any(data_dir.iterdir())):
        raise BackupError(f"data folder {data_dir} is not empty; restore only into a new or empty folder")
    created = not data_dir.exists()
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(data_dir, 0o700)
    # Staged inside the target itself: the same file system (even a mount point), and on any
    # failure the folder is left as it was: empty, or not there at all.
    staging = Path(tempfile.mkdtemp(prefix=".restore-", dir=data_dir))
    restored = False
    try:
        manifest = _extract_verified(archive, staging)
        if manifest["server_name"] != server_name:
            raise BackupError(
                f"the archive is of server {manifest['server_name']!r} but server_name is {server_name!r};"
                f" set server_name = {manifest['server_name']!r} (qasid.toml, QASID_SERVER_NAME or"
                " --server-name) to restore it")
        for entry in sorted(staging.iterdir()):
            os.rename(entry, data_dir / entry.name)
        _fsync_dir(data_dir)
        restored = True
        return manifest
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if created and not restored:
            shutil.rmtree(data_dir, ignore_errors=True)


def _media_files(media_dir: Path) -> Iterator[tuple[str, Path]]:
    if not media_dir.is_dir():
        return
    for folder, dirnames, filenames in os.walk(media_dir):
        dirnames.sort()
        for name in sorted(filenames):
            if name.startswith("."):
                continue  # an upload still being written; its row is not committed
            path = Path(folder) / name
            yield PurePosixPath(MEDIA, path.relative_to(media_dir).as_posix()).as_posix(), path


def _write_tar(raw: IO[bytes], sources: list[tuple[str, Path]], created: float,
               manifest_of: Any) -> dict[str, Any]:
    entries: list[dict[str, Any]] = []
    with tarfile.open(fileobj=raw, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
        for name, path in sources:
            try:
                source = path.open("rb")
            except FileNotFoundError:
                continue  # a media file purged by retention since the database was copied
            with source:
                size = os.fstat(source.fileno()).st_size
                hashing = _HashingReader(source)
                tar.addfile(_member(name, size, created), hashing)
            entries.append({"path": name, "size": size, "sha256": hashing.digest.hexdigest()})
        manifest = manifest_of(entries)
        body = json.dumps(manifest, indent=2, sort_keys=True).encode()
        tar.addfile(_member(MANIFEST, len(body), created), _BytesReader(body))
    return manifest  # type: ignore[no-any-return]


def _member(name: str, size: int, mtime: float) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o600
    info.mtime = int(mtime)
    return info


class _HashingReader:
    def __init__(self, source: IO[bytes]) -> None:
        self.source = source
        self.digest = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self.source.read(size)
        self.digest.update(data)
        return data


class _BytesReader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.offset = 0

    def read(self, size: int = -1) -> bytes:
        end = len(self.data) if size < 0 else self.offset + size
        chunk = self.data[self.offset:end]
        self.offset += len(chunk)
        return chunk


def _extract_verified(archive: Path, staging: Path) -> dict[str, Any]:
    """Unpack into `staging` only what the archive's manifest lists and vouches for."""
    found: dict[str, tuple[int, str]] = {}
    manifest_bytes: bytes | None = None
    try:
        with archive.open("rb") as raw, gzip.GzipFile(fileobj=raw, mode="rb") as unzipped, \
                tarfile.open(fileobj=unzipped, mode="r|") as tar:
            for member in tar:
                name = _checked_name(member.name)
                if not member.isfile():
                    raise BackupError(f"archive member {name!r} is not a regular file")
                if name in found or (name == MANIFEST and manifest_bytes is not None):
                    raise BackupError(f"archive member {name!r} appears twice")
                source = tar.extractfile(member)
                assert source is not None  # a regular file
                if name == MANIFEST:
                    if member.size > _MAX_MANIFEST_BYTES:
                        raise BackupError("the archive's manifest is implausibly large")
                    manifest_bytes = source.read()
                    continue
                found[name] = _write_private(source, staging / name)
            # tarfile takes a damaged header for the archive's end: read the compressed stream to
            # its end, so gzip's own length and CRC check every byte.
            while unzipped.read(_CHUNK):
                pass
    except FileNotFoundError as e:
        raise BackupError(f"archive {archive} does not exist") from e
    except (tarfile.TarError, zlib.error, EOFError, gzip.BadGzipFile) as e:
        raise BackupError(f"archive {archive} is damaged or not a qasid backup ({e})") from e
    if manifest_bytes is None:
        raise BackupError(f"archive {archive} has no {MANIFEST}: damaged, cut short or not a qasid backup")
    manifest = _checked_manifest(manifest_bytes)
    listed = {entry["path"]: (entry["size"], entry["sha256"]) for entry in manifest["files"]}
    for name in sorted(set(listed) | set(found)):
        if name not in found:
            raise BackupError(f"archive is missing {name}, which its manifest lists")
        if name not in listed:
            raise BackupError(f"archive holds {name}, which its manifest does not list")
        if found[name] != listed[name]:
            raise BackupError(f"checksum mismatch for {name}: the archive is damaged or was altered")
    store = stores().get(manifest["store"])
    if store is None:
        raise BackupError(f"the archive is of a {manifest['store']!r} store, which this qasid can't restore")
    if manifest["schema_version"] > store.newest_schema_version():
        raise BackupError(
            f"the archive's schema version {manifest['schema_version']} is newer than this qasid"
            f" ({qasid.__version__}, schema {store.newest_schema_version()}); restore it with a newer qasid")
    store.check(staging, manifest)
    return manifest


def _checked_name(name: str) -> str:
    path = PurePosixPath(name)
    if (path.is_absolute() or not path.parts or any(part in ("", ".", "..") for part in path.parts)
            or "\\" in name or path.as_posix() != name):
        raise BackupError(f"archive member {name!r} has an unsafe name")
    return name


def _write_private(source: IO[bytes], path: Path) -> tuple[int, str]:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as out:
        while chunk := source.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    return size, digest.hexdigest()


def _checked_manifest(body: bytes) -> dict[str, Any]:
    try:
        manifest = json.loads(body)
    except ValueError as e:
        raise BackupError(f"the archive's manifest is not JSON ({e})") from e
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError("the archive's manifest is not a qasid backup manifest")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise BackupError(f"archive format version {manifest.get('format_version')!r} is not one this qasid reads")
    kinds = {"store": str, "schema_version": int, "server_name": str, "created_ts": int, "files": list}
    for key, kind in kinds.items():
        if not isinstance(manifest.get(key), kind):
            raise BackupError(f"the archive's manifest has no valid {key!r}")
    for entry in manifest["files"]:
        if not (isinstance(entry, dict) and isinstance(entry.get("path"), str) and isinstance(entry.get("size"), int)
                and isinstance(entry.get("sha256"), str)):
            raise BackupError("the archive's manifest has a malformed file entry")
        _checked_name(entry["path"])
    return manifest


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
