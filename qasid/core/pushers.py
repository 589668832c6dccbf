"""Pushers: where a user's phones want to be woken, limited to the gateways the operator listed.

The server connects to nothing but the push gateways under `push_gateway_allowlist`: a pusher
for any other URL is refused when set, and checked again before every send.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from qasid.config import Settings
from qasid.core import jsonutil
from qasid.core.clock import Clock
from qasid.core.errors import bad_json, forbidden, invalid_param, missing_param
from qasid.store.sqlite import Store
from qasid.store.sqlite.push import PusherRow

NOTIFY_PATH = "/_matrix/push/v1/notify"
MAX_PUSHERS_PER_USER = 20
MAX_APP_ID_CHARS = 64
MAX_PUSHKEY_BYTES = 512
MAX_TEXT_CHARS = 256
MAX_URL_CHARS = 2048
MAX_DATA_BYTES = 4096
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin_and_path(url: str) -> tuple[str, str, int, str] | None:
    """(scheme, host, port, path) of an http(s) URL with no credentials, query or fragment."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname or parts.username is not None \
            or parts.password is not None or "@" in parts.netloc or parts.query or parts.fragment:
        return None
    return parts.scheme, parts.hostname.lower(), port or _DEFAULT_PORTS[parts.scheme], parts.path


def gateway_allowed(url: str, allowlist: tuple[str, ...]) -> bool:
    """Whether `url` is a notify URL under one of the operator's base URLs."""
    target = _origin_and_path(url)
    if target is None or not target[3].endswith(NOTIFY_PATH):
        return False
    for base in allowlist:
        allowed = _origin_and_path(base)
        if allowed is None or allowed[:3] != target[:3]:
            continue
        prefix = allowed[3].rstrip("/")
        if target[3] == prefix or target[3].startswith(prefix + "/"):
            return True
    return False


def public_pusher(row: PusherRow) -> dict[str, Any]:
    """A pusher as GET /pushers shows it."""
    body: dict[str, Any] = {
        "pushkey": row.pushkey, "kind": row.kind, "app_id": row.app_id,
        "app_display_name": row.app_display_name, "device_display_name": row.device_display_name,
        "lang": row.lang, "data": row.data,
    }
    if row.profile_tag is not None:
        body["profile_tag"] = row.profile_tag
    return body


def _text(body: dict[str, Any], key: str, limit: int, required: bool = True) -> str | None:
    value = body.get(key)
    if value is None:
        if required:
            raise missing_param(f"Missing field: {key}")
        return None
    if not isinstance(value, str):
        raise bad_json(f"{key} must be a string")
    if len(value) > limit:
        raise invalid_param(f"{key} is longer than {limit} characters")
    return value


class PusherService:
    """Creates, lists and removes pushers; keeps every pusher in memory for the append path."""

    def __init__(self, settings: Settings, store: Store, clock: Clock) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self._by_user: dict[str, list[PusherRow]] | None = None
        # With several workers: tells the others that the pushers changed.
        self.relay: Callable[[], None] | None = None

    async def ensure_loaded(self) -> None:
        """Read every pusher once; afterwards memory follows every change."""
        if self._by_user is None:
            by_user: dict[str, list[PusherRow]] = {}
            for row in await self.store.push.all_pushers():
                by_user.setdefault(row.user_id, []).append(row)
            self._by_user = by_user

    def any_pusher(self) -> bool:
        """Whether any user has a pusher (after `ensure_loaded`)."""
        return bool(self._by_user)

    def pusher_ids(self, user_id: str) -> tuple[int, ...]:
        """The user's pushers (after `ensure_loaded`)."""
        return tuple(row.pusher_id for row in (self._by_user or {}).get(user_id, ()))

    async def get(self, pusher_id: int) -> PusherRow | None:
        """One pusher by its ID, or None once removed."""
        await self.ensure_loaded()
        for rows in (self._by_user or {}).values():
            for row in rows:
                if row.pusher_id == pusher_id:
                    return row
        return None

    async def list_pushers(self, user_id: str) -> list[dict[str, Any]]:
        """The user's pushers, those of signed-out devices removed first."""
        await self._drop_orphans(user_id)
        return [public_pusher(row) for row in (self._by_user or {}).get(user_id, [])]

    async def set_pusher(self, user_id: str, device_id: str, body: dict[str, Any]) -> None:
        """POST /pushers/set: create, update or (kind null) remove a pusher; see the route's rules."""
        if "kind" not in body:
            raise missing_param("Missing field: kind")
        app_id = _text(body, "app_id", MAX_APP_ID_CHARS)
        pushkey = _text(body, "pushkey", MAX_PUSHKEY_BYTES)
        assert app_id is not None and pushkey is not None
        if not app_id or not pushkey or len(pushkey.encode()) > MAX_PUSHKEY_BYTES:
            raise invalid_param(f"app_id and pushkey must be non-empty; pushkey at most {MAX_PUSHKEY_BYTES} bytes")
        kind = body["kind"]
        if kind is None:
            await self.remove([r.pusher_id for r in await self._rows(user_id)
                               if r.app_id == app_id and r.pushkey == pushkey])
            return
        if not isinstance(kind, str):
            raise bad_json("kind must be a string or null")
        if kind != "http":
            raise invalid_param("Only pushers of kind http are supported")
        append = body.get("append", False)
        if not isinstance(append, bool):
            raise bad_json("append must be a boolean")
        row = self._validated(user_id, device_id, kind, app_id, pushkey, body)
        await self._drop_orphans(user_id)
        mine = await self._rows(user_id)
        if len(mine) >= MAX_PUSHERS_PER_USER and not any(r.app_id == app_id and r.pushkey == pushkey for r in mine):
            raise invalid_param(f"At most {MAX_PUSHERS_PER_USER} pushers per account; remove one first")
        stored, displaced = await self.store.push.set_pusher(row, append)
        self._forget(displaced)
        self._forget([stored.pusher_id])
        self._changed()
        assert self._by_user is not None
        self._by_user.setdefault(user_id, []).append(stored)

    def _validated(
        self, user_id: str, device_id: str, kind: str, app_id: str, pushkey: str, body: dict[str, Any],
    ) -> PusherRow:
        app_display_name = _text(body, "app_display_name", MAX_TEXT_CHARS)
        device_display_name = _text(body, "device_display_name", MAX_TEXT_CHARS)
        lang = _text(body, "lang", MAX_TEXT_CHARS)
        profile_tag = _text(body, "profile_tag", MAX_TEXT_CHARS, required=False)
        data = body.get("data")
        if data is None:
            raise missing_param("Missing field: data")
        if not isinstance(data, dict):
            raise bad_json("data must be an object")
        url = _text(data, "url", MAX_URL_CHARS)
        assert url is not None and app_display_name is not None and device_display_name is not None
        assert lang is not None
        if "format" in data and not isinstance(data["format"], str):
            raise bad_json("data.format must be a string")
        if len(jsonutil.dumps(data)) > MAX_DATA_BYTES:
            raise invalid_param(f"data is larger than {MAX_DATA_BYTES} bytes")
        if _origin_and_path(url) is None or not urlsplit(url).path.endswith(NOTIFY_PATH):
            raise invalid_param(f"data.url must be an http(s) URL ending in {NOTIFY_PATH}, without credentials")
        allowlist = self.settings.push_gateway_allowlist
        if not allowlist:
            raise forbidden("This server sends no push notifications: its operator has listed no push gateway"
                            " (setting push_gateway_allowlist)")
        if not gateway_allowed(url, allowlist):
            raise forbidden("This push gateway is not one the server's operator allows"
                            " (setting push_gateway_allowlist)")
        return PusherRow(0, user_id, device_id, kind, app_id, pushkey, app_display_name, device_display_name,
                         profile_tag, lang, data, self.clock.now_ms())

    async def remove(self, pusher_ids: list[int]) -> None:
        """Remove pushers (and what is queued for them)."""
        if pusher_ids:
            await self.store.push.delete_pushers(pusher_ids)
            self._forget(pusher_ids)
            self._changed()

    async def remove_rejected(self, pusher: PusherRow, rejected: list[str]) -> list[int]:
        """A gateway rejected pushkeys: remove the pushers of this app with those keys (returned)."""
        await self.ensure_loaded()
        doomed = [row.pusher_id for rows in (self._by_user or {}).values() for row in rows
                  if row.app_id == pusher.app_id and row.pushkey in rejected]
        await self.remove(doomed)
        return doomed

    async def device_gone(self, pusher: PusherRow) -> bool:
        """Whether the device that set this pusher has signed out (its pusher then goes too)."""
        if pusher.device_id is None:
            return False
        return pusher.device_id not in await self.store.push.live_devices(pusher.user_id)

    async def _rows(self, user_id: str) -> list[PusherRow]:
        await self.ensure_loaded()
        return list((self._by_user or {}).get(user_id, []))

    async def _drop_orphans(self, user_id: str) -> None:
        rows = await self._rows(user_id)
        live = await self.store.push.live_devices(user_id)
        await self.remove([r.pusher_id for r in rows if r.device_id is not None and r.device_id not in live])

    def changed_elsewhere(self) -> None:
        """Another worker added or removed pushers: read them all again on next use."""
        self._by_user = None

    def _changed(self) -> None:
        if self.relay is not None:
            self.relay()

    def _forget(self, pusher_ids: list[int]) -> None:
        if self._by_user is None or not pusher_ids:
            return
        gone = set(pusher_ids)
        for user_id in list(self._by_user):
            kept = [row for row in self._by_user[user_id] if row.pusher_id not in gone]
            if kept:
                self._by_user[user_id] = kept
            else:
                del self._by_user[user_id]
