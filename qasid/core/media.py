"""Media: uploads stored as files under the data folder, served with safe headers.

A file is written to a temporary name, fsynced, linked to media_dir/<first two chars>/<media_id>
and its directory fsynced, all before its row is committed: an mxc:// URI handed to a client
always names durable bytes. Media IDs are checked against a strict alphabet before any path is
built from them, so no request can name a file outside the media folder.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import shutil
import string
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from qasid.config import Settings
from qasid.core.clock import Clock, random_string
from qasid.core.errors import MatrixError, forbidden, invalid_param, not_found, too_large
from qasid.core.notifier import Notifier
from qasid.core.policy import Policy
from qasid.core.thumbnails import SOURCE_FORMATS, Thumbnailer, cannot_thumbnail, choose_preset, output_type
from qasid.store.sqlite import Store
from qasid.store.sqlite.media import MediaRow

if TYPE_CHECKING:
    from qasid.core.rooms import RoomService

MEDIA_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
MEDIA_ID_ALPHABET = string.ascii_letters + string.digits
DEFAULT_CONTENT_TYPE = "application/octet-stream"
PENDING_LIFETIME_MS = 24 * 3600 * 1000
MAX_PENDING_PER_USER = 10
MAX_FILENAME_CHARS = 255
# Types a browser may show in place: none of them can run script in our origin.
INLINE_TYPES = frozenset({
    "image/png", "image/jpeg", "image/gif", "image/webp", "video/mp4", "video/webm", "text/plain",
})
CONTENT_SECURITY_POLICY = (
    "sandbox; default-src 'none'; script-src 'none'; plugin-types application/pdf; "
    "style-src 'unsafe-inline'; media-src 'self'; object-src 'self';"
)


@dataclass(frozen=True)
class MediaFile:
    """A stored file and the headers it must be served with."""

    path: Path
    content_type: str
    size: int
    headers: dict[str, str]


class MediaService:
    """Media: uploads stored as files under the data folder, served with safe headers."""

    def __init__(
        self, settings: Settings, store: Store, clock: Clock, notifier: Notifier, rooms: RoomService,
        policy: Policy,
    ) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.notifier = notifier
        self.rooms = rooms
        self.policy = policy
        self.thumbnailer = Thumbnailer()

    async def config(self, user_id: str) -> dict[str, int]:
        """The content repository configuration as it applies to this user (their own upload limit)."""
        return {"m.upload.size": (await self.upload_limit(user_id))[0]}

    async def upload_limit(self, user_id: str) -> tuple[int, str]:
        """The most bytes this user may upload, and the message that refuses more."""
        limit = self.settings.max_upload_bytes
        own = await self.policy.upload_limit(user_id)
        if own is not None and own < limit:
            return own, f"Your unit's policy limits uploads to {own} bytes"
        return limit, f"Uploads are limited to {limit} bytes"

    def mxc(self, media_id: str) -> str:
        return f"mxc://{self.settings.server_name}/{media_id}"

    async def upload(
        self, user_id: str, chunks: AsyncIterator[bytes], content_type: str | None, filename: str | None,
        declared_length: int | None,
    ) -> str:
        """Store a new upload; returns its mxc:// URI. M_TOO_LARGE as soon as it passes the limit."""
        media_id = random_string(24, MEDIA_ID_ALPHABET)
        content_type, filename = _clean_type(content_type), _clean_filename(filename)
        size = await self._write_file(media_id, chunks, declared_length, await self.upload_limit(user_id))
        await self.store.media.add_media(media_id, user_id, content_type, filename, size, self.clock.now_ms())
        return self.mxc(media_id)

    async def create(self, user_id: str) -> dict[str, str | int]:
        """Reserve an mxc:// URI for a later PUT upload by this user."""
        now = self.clock.now_ms()
        if await self.store.media.pending_count(user_id, now - PENDING_LIFETIME_MS) >= MAX_PENDING_PER_USER:
            raise MatrixError(429, "M_LIMIT_EXCEEDED", "Too many pending uploads", retry_after_ms=60_000)
        media_id = random_string(24, MEDIA_ID_ALPHABET)
        await self.store.media.reserve_media(media_id, user_id, now)
        return {"content_uri": self.mxc(media_id), "unused_expires_at": now + PENDING_LIFETIME_MS}

    async def upload_to(
        self, user_id: str, server_name: str, media_id: str, chunks: AsyncIterator[bytes],
        content_type: str | None, filename: str | None, declared_length: int | None,
    ) -> None:
        """Fill in an ID reserved by `create`: its creator only, once, before it expires."""
        row = await self._lookup(server_name, media_id)
        if not row.pending:
            raise MatrixError(409, "M_CANNOT_OVERWRITE_MEDIA", "This media already has content")
        if row.user_id != user_id:
            raise forbidden("This media ID was created by another user")
        if row.created_ts + PENDING_LIFETIME_MS < self.clock.now_ms():
            raise not_found("This media ID has expired")
        content_type, filename = _clean_type(content_type), _clean_filename(filename)
        size = await self._write_file(media_id, chunks, declared_length, await self.upload_limit(user_id))
        if not await self.store.media.complete_media(media_id, user_id, content_type, filename, size):
            raise MatrixError(409, "M_CANNOT_OVERWRITE_MEDIA", "This media already has content")

    async def download(self, server_name: str, media_id: str, filename: str | None = None) -> MediaFile:
        """The file of an uploaded media ID with its safe headers; M_NOT_FOUND otherwise."""
        row = await self._lookup(server_name, media_id)
        if row.pending:
            raise MatrixError(504, "M_NOT_YET_UPLOADED", "The content has not been uploaded yet")
        path = self._path(media_id)
        if not path.is_file():
            raise not_found("Media not found")
        name = _clean_filename(filename) or row.filename
        return MediaFile(path, row.content_type, row.size, serving_headers(row.content_type, name))

    async def thumbnail(
        self, server_name: str, media_id: str, width: int, height: int, method: str, animated: bool,
    ) -> MediaFile:
        """A thumbnail of an uploaded image, generated once per pre-set size (see core/thumbnails).

        With `animated`, an animated GIF, WebP or PNG is served as it is; otherwise a still image of its
        first frame. Content not uploaded as PNG, JPEG, GIF or WebP is never decoded: 400 M_UNKNOWN.
        """
        media = await self.download(server_name, media_id)
        source_type = media.content_type.split(";", 1)[0].strip().lower()
        if source_type not in SOURCE_FORMATS:
            raise cannot_thumbnail()
        if animated and await self.thumbnailer.animated(media.path, source_type):
            return MediaFile(media.path, source_type, media.size,
                             serving_headers(source_type, "thumbnail." + source_type.removeprefix("image/")))
        preset = choose_preset(width, height, method)
        kind = output_type(source_type)
        extension = "jpg" if kind == "image/jpeg" else "png"
        dest = self.thumbnail_dir / media_id[:2] / media_id / f"{preset.name if preset else 'full'}.{extension}"
        await self.thumbnailer.still(media.path, source_type, preset, dest)
        name = f"thumbnail.{extension}"
        return MediaFile(dest, kind, dest.stat().st_size, serving_headers(kind, name))

    @property
    def thumbnail_dir(self) -> Path:
        """Thumbnails live apart from the media: they are made again on demand, so backups leave them out."""
        return self.settings.data_dir / "thumbnails"

    def remove_files(self, media_id: str) -> None:
        """Delete a media ID's file and its thumbnails (the retention purge, after its rows are gone)."""
        self._path(media_id).unlink(missing_ok=True)
        shutil.rmtree(self.thumbnail_dir / media_id[:2] / media_id, ignore_errors=True)

    async def _lookup(self, server_name: str, media_id: str) -> MediaRow:
        if not MEDIA_ID_RE.match(media_id):
            raise invalid_param("Invalid media ID")
        if server_name != self.settings.server_name:
            raise not_found("Media not found (this server does not fetch remote media)")
        row = await self.store.media.get_media(media_id)
        if row is None:
            raise not_found("Media not found")
        return row

    def _path(self, media_id: str) -> Path:
        if not MEDIA_ID_RE.match(media_id):  # never build a path from anything else
            raise invalid_param("Invalid media ID")
        return self.settings.media_dir / media_id[:2] / media_id

    async def _write_file(
        self, media_id: str, chunks: AsyncIterator[bytes], declared_length: int | None,
        limit_and_message: tuple[int, str],
    ) -> int:
        limit, message = limit_and_message
        if declared_length is not None and declared_length > limit:
            raise too_large(message)
        final = self._path(media_id)
        final.parent.mkdir(parents=True, exist_ok=True)
        temp = final.parent / f".{media_id}.{secrets.token_hex(8)}.tmp"
        size = 0
        try:
            with temp.open("wb") as out:
                async for chunk in chunks:
                    size += len(chunk)
                    if size > limit:
                        raise too_large(message)
                    out.write(chunk)
                out.flush()
                await asyncio.to_thread(os.fsync, out.fileno())
            try:
                os.link(temp, final)  # unlike rename, never replaces a file already there
            except FileExistsError:
                raise MatrixError(409, "M_CANNOT_OVERWRITE_MEDIA", "This media already has content") from None
            await asyncio.to_thread(_fsync_dir, final.parent)
        finally:
            temp.unlink(missing_ok=True)
        return size


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _clean_type(content_type: str | None) -> str:
    value = (content_type or "").strip()
    if not value or len(value) > 255 or any(ord(c) < 0x20 or ord(c) > 0x7E for c in value):
        return DEFAULT_CONTENT_TYPE
    return value


def _clean_filename(filename: str | None) -> str | None:
    if not filename:
        return None
    cleaned = "".join(c for c in filename if c.isprintable()).strip()
    return cleaned[:MAX_FILENAME_CHARS] or None


def serving_headers(content_type: str, filename: str | None) -> dict[str, str]:
    """Headers that keep served media from running in our origin or being sniffed into something else."""
    essence = content_type.split(";", 1)[0].strip().lower()
    inline = essence in INLINE_TYPES or essence.startswith("audio/")
    disposition = "inline" if inline else "attachment"
    if filename:
        disposition += f"; filename*=utf-8''{quote(filename, safe='')}"
    return {
        "Content-Disposition": disposition,
        "Content-Security-Policy": CONTENT_SECURITY_POLICY,
        "X-Content-Type-Options": "nosniff",
        "Cross-Origin-Resource-Policy": "cross-origin",
    }
