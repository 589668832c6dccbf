"""Scheduled work of the government layer: retention purge, stale devices, finishing offboardings and
clearances lowered from the CLI, directive rooms, the directory check (accounts disabled in the
government directory are suspended).

Retention purges a room's *timeline* events (non-state) older than the room's `retention_days`.
State events stay: they are the room (membership, power levels, encryption) and every later event
is authorised against them. Deleted rows are overwritten (`secure_delete`) and the WAL is
checkpointed and truncated, so the plaintext is gone from the database file too.

"Their media": when a room is encrypted the server can't see which attachment belongs to which
event (the mxc URI is inside the ciphertext). So media follow their *uploader's* policy: an
upload older than the uploader's unit `retention_days` is deleted, file and row. Plaintext events
that name an mxc URI of this server also take that media with them when they are purged.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from functools import partial
from typing import Any

from qasid.core.audit_sink import AuditAppend
from qasid.core.background import BackgroundLoop
from qasid.core.media import MEDIA_ID_RE
from qasid.core.services import Services
from qasid.gov.audit import OPERATOR, AuditLog
from qasid.gov.clearance import Clearance
from qasid.gov.directives import Directives
from qasid.gov.directory_signin import DirectorySignIn
from qasid.gov.lifecycle import Lifecycle
from qasid.gov.org import Organisation
from qasid.gov.rules import ROOM_POLICY_EVENT

log = logging.getLogger("qasid.gov")
DAY_MS = 86_400_000
LOOP_SECONDS = 5.0
SLOW_EVERY = 12  # retention and device expiry every minute; pending offboardings, directive rooms and reminders every 5 s


def _mxc_ids(content: Any, server_name: str) -> set[str]:
    """Media IDs of this server named anywhere in a plaintext event content."""
    found: set[str] = set()
    prefix = f"mxc://{server_name}/"
    if isinstance(content, dict):
        for value in content.values():
            found |= _mxc_ids(value, server_name)
    elif isinstance(content, list):
        for value in content:
            found |= _mxc_ids(value, server_name)
    elif isinstance(content, str) and content.startswith(prefix):
        found.add(content[len(prefix):])
    return found


class Maintenance:
    """Runs the scheduled jobs; `run_once` is also what the admin API's maintenance route calls."""

    def __init__(self, services: Services, org: Organisation, lifecycle: Lifecycle, audit: AuditLog,
                 directives: Directives, clearance: Clearance, directory: DirectorySignIn | None = None) -> None:
        self.services = services
        self.directives = directives
        self.clearance = clearance
        self.directory = directory
        self.org = org
        self.lifecycle = lifecycle
        self.audit = audit
        self._background = BackgroundLoop(self._loop)

    def start(self) -> None:
        """Begin the schedule in the running event loop."""
        self._background.start()

    async def stop(self) -> None:
        """Stop the schedule."""
        await self._background.stop()

    async def _loop(self) -> None:
        tick = 0
        while True:
            try:
                await self.finish_offboardings()
                await self.directives.open_pending()
                await self.directives.send_due_reminders()
                await self.clearance.finish_pending()
                if self.directory is not None:
                    await self.directory.sync_if_due()
                if tick % SLOW_EVERY == 0:
                    await self.directives.reconcile_all()
                    await self.purge_expired_events()
                    await self.remove_stale_devices()
            except Exception:
                log.exception("gov maintenance failed; trying again later")
            tick += 1
            await asyncio.sleep(LOOP_SECONDS)

    async def run_once(self) -> dict[str, int]:
        """Every job now; how much each did."""
        return {
            "offboardings_finished": await self.finish_offboardings(),
            "clearance_changes_finished": await self.clearance.finish_pending(),
            "events_purged": await self.purge_expired_events(),
            "devices_removed": await self.remove_stale_devices(),
            "directive_members_changed": await self.directives.reconcile_all(),
            "directive_reminders_sent": await self.directives.send_due_reminders(),
        }

    async def finish_offboardings(self) -> int:
        """Leave the rooms of officials offboarded from the CLI (which can't append events)."""
        pending = self.org.store.pending_offboardings()
        for user_id, actor in pending:
            await self.lifecycle.finish_offboarding(user_id, actor)
        return len(pending)

    def _rooms_with_retention(self) -> list[tuple[str, float]]:
        out = []
        for room_id, content in self.services.store.retention.room_state_contents(ROOM_POLICY_EVENT):
            seconds = content.get("retention_seconds")
            if isinstance(seconds, int) and not isinstance(seconds, bool) and seconds > 0:
                out.append((room_id, seconds / 86_400))
        return out

    async def purge_expired_events(self) -> int:
        """Delete timeline events past their room's retention, their media, and the media past the uploader's."""
        now = self.services.clock.now_ms()
        server_name = self.services.settings.server_name
        purged = 0
        media_ids: set[str] = set()
        for room_id, days in self._rooms_with_retention():
            contents = await self.services.store.retention.purge_timeline(
                room_id, now - int(days * DAY_MS), then=self._purge_entry(room_id, days))
            purged += len(contents)
            for content in contents:
                media_ids |= _mxc_ids(content, server_name)
        media_ids |= self._media_past_uploader_retention(now)
        await self._delete_media(media_ids)
        # A redacted plaintext message left the search index at once, its words with the next rewrite.
        redacted = self.services.store.events.redacted_since_rewrite
        if redacted:
            self.services.store.events.redacted_since_rewrite = False
            await self.services.store.search.rewrite()
        if purged or media_ids or redacted:
            await asyncio.to_thread(self.services.store.retention.checkpoint_wal)
        return purged

    def _purge_entry(self, room_id: str, days: float) -> Callable[[list[Any]], list[AuditAppend]]:
        """The purge's entry, from what it purged: committed with the purge, and only if it purged anything."""

        def entry(contents: list[Any]) -> list[AuditAppend]:
            return [self.audit.prepare(actor=OPERATOR, action="retention.purge", target=room_id,
                                       details={"events_purged": len(contents), "retention_days": days})
                    ] if contents else []

        return entry

    def _media_past_uploader_retention(self, now: int) -> set[str]:
        found: set[str] = set()
        rows = self.services.store.retention.media_uploads()
        policies: dict[str, Any] = {}
        for media_id, user_id, created_ts in rows:
            if user_id not in policies:
                policies[user_id] = self.org.policy_of_user(user_id)["retention_days"]
            days = policies[user_id]
            if days is not None and created_ts < now - int(days * DAY_MS):
                found.add(media_id)
        return found

    async def _delete_media(self, media_ids: set[str]) -> None:
        if not media_ids:
            return
        ids = sorted(media_ids)
        await self.services.store.retention.delete_media(ids, also=[self.audit.prepare(
            actor=OPERATOR, action="retention.media_purge", details={"media_deleted": len(ids)})])
        for media_id in ids:
            if MEDIA_ID_RE.match(media_id):
                self.services.media.remove_files(media_id)

    async def remove_stale_devices(self) -> int:
        """Delete devices unused for longer than their owner's unit `device_inactive_days`."""
        now = self.services.clock.now_ms()
        removed = 0
        rows = await self.services.store.accounts.device_last_activity()
        stale: dict[str, list[str]] = {}
        for user_id, device_id, last_seen in rows:
            days = self.org.policy_of_user(user_id)["device_inactive_days"]
            if days is not None and last_seen < now - days * DAY_MS:
                stale.setdefault(user_id, []).append(device_id)
        for user_id, device_ids in stale.items():
            official = self.org.store.official(user_id)
            unit_id = official.unit_id if official else None
            deleted = await self.services.accounts.delete_devices(
                user_id, device_ids, actor=OPERATOR, reason="expired",
                also_after=partial(self._expiry_entry, user_id, unit_id))
            removed += len(deleted)
        return removed

    def _expiry_entry(self, user_id: str, unit_id: int | None, deleted: list[str]) -> list[AuditAppend]:
        return [self.audit.prepare(actor=OPERATOR, action="device.expire", target=user_id, unit_id=unit_id,
                                   details={"device_ids": deleted})]
