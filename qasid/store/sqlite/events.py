"""Rooms and their events: the append path, timelines, memberships as memory holds them.

State and member-event reads live in `room_state` (`RoomStateReads`, which `EventStore` extends)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

from qasid.core import jsonutil
from qasid.store.sqlite.engine import Also, Database, with_also
from qasid.store.sqlite.event_rows import EVENT_COLUMNS, EventRow, NewEvent, NewRoom, row_of
from qasid.store.sqlite.push import insert_push_rows
from qasid.store.sqlite.relations import forget_relations, insert_relation
from qasid.store.sqlite.room_order import check_still_newest
from qasid.store.sqlite.room_state import RoomStateReads
from qasid.store.sqlite.search import searchable_text

# Events that count as activity for ordering a room list (MSC4186's bump_stamp).
BUMP_TYPES = ("m.room.create", "m.room.message", "m.room.encrypted", "m.sticker", "m.call.invite",
              "m.poll.start", "m.beacon_info")
MAX_CACHED_MEMBERSHIPS = 10_000


class AliasTaken(Exception):
    """The alias was claimed by another room first."""


class EventStore(RoomStateReads):
    """Typed persistence for rooms and events."""

    def __init__(self, db: Database) -> None:
        super().__init__(db)
        # Only this process appends events (the operator CLI never does), so the committed end
        # of the stream and each room's newest event are kept here, published by the commit
        # itself (`_published`): nothing reads past what is durable, or misses what is.
        self._position = db.current_id("events", "stream_ordering")
        self._known_from = self._position
        self._room_latest: dict[str, int] = {}
        # Each room's newest event of BUMP_TYPES, filled on first read, then by every commit.
        self._room_bump: dict[str, int] = {}
        # Set when a redaction commits: the search index still holds the redacted words in its
        # segments until it is rewritten (SearchStore.rewrite, from the maintenance loop).
        self.redacted_since_rewrite = False
        # Each room's newest member event published since `_known_from`.
        self._room_member_latest: dict[str, int] = {}
        # A user's memberships as last read, until a member event of theirs (or a forget) is
        # published: a long-poll wake reads them again only when they may have changed.
        self._memberships: dict[str, list[tuple[str, str, int, bool]]] = {}
        # Each user's newest member event published since start.
        self._member_events: dict[str, int] = {}
        # Told of events other processes committed, once they are applied here: (room_id,
        # member user or None, membership) each; the room service drops what it holds of them.
        self.on_committed_elsewhere: Callable[[list[tuple[str, str | None, str | None]]], None] | None = None
        # With several workers: tells the others that a user forgot a room (not an event).
        self.relay_forgotten: Callable[[str], None] | None = None

    async def room_version(self, room_id: str) -> str | None:
        row = self.db.read_one("SELECT room_version FROM rooms WHERE room_id = ?", (room_id,))
        return row[0] if row else None

    async def persist_events(
        self, events: list[NewEvent], now_ms: int, new_room: NewRoom | None = None,
        after_commit: Callable[[], None] | None = None,
    ) -> list[int]:
        """Append events (and their transaction records) atomically; returns their stream orderings.

        With `new_room`, the room row and alias are written in the same transaction; an alias
        already taken refuses the whole write and returns [].
        """

        def txn(conn: sqlite3.Connection) -> list[int]:
            if new_room is not None:
                conn.execute(
                    "INSERT INTO rooms (room_id, room_version, creator, created_ts) VALUES (?, ?, ?, ?)",
                    (new_room.room_id, new_room.room_version, new_room.creator, now_ms))
                if new_room.alias is not None:
                    claimed = conn.execute(
                        "INSERT OR IGNORE INTO room_aliases (room_alias, room_id, creator) VALUES (?, ?, ?)",
                        (new_room.alias, new_room.room_id, new_room.creator))
                    if claimed.rowcount != 1:
                        raise AliasTaken(new_room.alias)
            return [self._insert(conn, e, now_ms) for e in events]

        try:
            return await self.db.submit(txn, self._published(events, after_commit))
        except AliasTaken:
            return []

    def enqueue_events(
        self, events: list[NewEvent], now_ms: int, after_commit: Callable[[], None] | None = None,
        also: Sequence[Also] = (),
    ) -> asyncio.Future[list[int]]:
        """Queue events for the next group commit without waiting; the future resolves once durable.

        `after_commit` runs on the event loop right after the commit, before any waiter resumes;
        `also` (an audit entry) commits in the events' own transaction.
        """
        return self.db.submit(with_also(lambda conn: [self._insert(conn, e, now_ms) for e in events], also),
                              self._published(events, after_commit))

    def _published(
        self, events: list[NewEvent], after_commit: Callable[[], None] | None = None,
    ) -> Callable[[list[int]], None]:
        def publish(orderings: list[int]) -> None:
            self.db.stats.events_persisted += len(orderings)
            if orderings and orderings[0] > self._position + 1:
                # Another process committed in between: apply its events first, so that nothing
                # up to the end published here is missing from memory.
                self.catch_up(orderings[0] - 1)
            for event, stream_ordering in zip(events, orderings, strict=True):
                pdu = event.pdu
                self.redacted_since_rewrite |= event.redacts is not None
                self._apply(pdu["room_id"], pdu["type"], pdu.get("state_key"), stream_ordering)
            if orderings:
                self._position = max(self._position, orderings[-1])
            if after_commit is not None:
                after_commit()

        return publish

    def _apply(self, room_id: str, event_type: str, state_key: str | None, stream_ordering: int) -> None:
        """Move what memory holds past one committed event."""
        self._room_latest[room_id] = stream_ordering
        if event_type == "m.room.member" and state_key is not None:
            self._room_member_latest[room_id] = stream_ordering
            self._memberships.pop(state_key, None)
            self._member_events[state_key] = stream_ordering
        if event_type in BUMP_TYPES and room_id in self._room_bump:
            self._room_bump[room_id] = max(self._room_bump[room_id], stream_ordering)

    def catch_up(self, upto: int | None = None) -> int:
        """Apply the events other processes committed after this one's end of the stream (up to
        `upto`); returns how many. The room service is told which rooms and memberships moved."""
        rows = self.db.read(
            "SELECT stream_ordering, room_id, type, state_key, redacted_by,"
            " CASE WHEN type = 'm.room.member' THEN pdu END FROM events WHERE stream_ordering > ?"
            " AND stream_ordering <= ? ORDER BY stream_ordering",
            (self._position, upto if upto is not None else 2**62))
        changes: list[tuple[str, str | None, str | None]] = []
        for stream_ordering, room_id, event_type, state_key, redacted_by, member_pdu in rows:
            self._apply(room_id, event_type, state_key, stream_ordering)
            self.redacted_since_rewrite |= event_type == "m.room.redaction" or redacted_by is not None
            membership = jsonutil.loads_stored(member_pdu)["content"].get("membership") if member_pdu else None
            changes.append((room_id, state_key if member_pdu else None, membership))
            self._position = max(self._position, stream_ordering)
        if upto is not None:
            self._position = max(self._position, upto)
        if changes and self.on_committed_elsewhere is not None:
            self.on_committed_elsewhere(changes)
        return len(changes)

    def _insert(self, conn: sqlite3.Connection, e: NewEvent, now_ms: int) -> int:
        pdu = e.pdu
        if self.db.shared:
            check_still_newest(conn, pdu)
        stream_ordering = self.db.next_id(conn, "events", "stream_ordering")
        state_key = pdu.get("state_key")
        conn.execute(
            "INSERT INTO events (stream_ordering, event_id, room_id, type, state_key, sender,"
            " origin_server_ts, depth, pdu, unsigned, txn_device_id, txn_id)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (stream_ordering, e.event_id, pdu["room_id"], pdu["type"], state_key, pdu["sender"],
             pdu["origin_server_ts"], pdu["depth"], e.pdu_json,
             jsonutil.dumps(e.unsigned) if e.unsigned else None, e.txn_device_id, e.txn_id),
        )
        if state_key is not None:
            conn.execute(
                "INSERT OR REPLACE INTO current_state (room_id, type, state_key, event_id, stream_ordering)"
                " VALUES (?, ?, ?, ?, ?)",
                (pdu["room_id"], pdu["type"], state_key, e.event_id, stream_ordering))
            if pdu["type"] == "m.room.member":
                conn.execute(
                    "INSERT OR REPLACE INTO room_memberships"
                    " (room_id, user_id, membership, event_id, stream_ordering, forgotten)"
                    " VALUES (?, ?, ?, ?, ?, 0)",
                    (pdu["room_id"], state_key, pdu["content"]["membership"], e.event_id, stream_ordering))
        if e.txn_id is not None:
            conn.execute(
                "INSERT INTO transactions (user_id, device_id, scope, txn_id, response, created_ts)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (e.txn_user_id, e.txn_device_id, e.txn_scope, e.txn_id,
                 jsonutil.dumps({"event_id": e.event_id}), now_ms))
        searchable = searchable_text(pdu)
        if searchable is not None:
            conn.execute("INSERT INTO event_search (rowid, value, key, room_id) VALUES (?, ?, ?, ?)",
                         (stream_ordering, searchable[1], searchable[0], pdu["room_id"]))
        if e.push_rows:
            insert_push_rows(conn, stream_ordering, e.event_id, pdu["room_id"], now_ms, e.push_rows)
        for write in e.also:
            write(conn)
        if e.relation is not None:
            insert_relation(conn, e.event_id, pdu, e.relation, stream_ordering)
        if e.redacts is not None and e.redacted_pdu_json is not None:
            # The server keeps only the redacted form: a redacted message's content is gone for good.
            conn.execute(
                "UPDATE events SET pdu = ?, redacted_by = ? WHERE event_id = ? AND room_id = ?",
                (e.redacted_pdu_json, e.event_id, e.redacts, pdu["room_id"]))
            # Its m.relates_to went with the content: the relationship is broken.
            forget_relations(conn, [e.redacts])
        return stream_ordering

    async def transaction_response(
        self, user_id: str, device_id: str, scope: str, txn_id: str
    ) -> dict[str, Any] | None:
        """The stored first response of a retried transaction."""
        row = self.db.read_one(
            "SELECT response FROM transactions WHERE user_id = ? AND device_id = ? AND scope = ?"
            " AND txn_id = ?", (user_id, device_id, scope, txn_id))
        return jsonutil.loads_stored(row[0]) if row else None

    async def latest_event(self, room_id: str) -> EventRow | None:
        row = self.db.read_one(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE room_id = ? ORDER BY stream_ordering DESC LIMIT 1",
            (room_id,))
        return row_of(row) if row else None

    async def get_event(self, event_id: str) -> EventRow | None:
        row = self.db.read_one(f"SELECT {EVENT_COLUMNS} FROM events WHERE event_id = ?", (event_id,))
        return row_of(row) if row else None

    async def get_events(self, event_ids: list[str]) -> dict[str, EventRow]:
        if not event_ids:
            return {}
        marks = ",".join("?" * len(event_ids))
        rows = self.db.read(f"SELECT {EVENT_COLUMNS} FROM events WHERE event_id IN ({marks})", event_ids)
        return {r.event_id: r for r in map(row_of, rows)}

    async def events_at(self, orderings: list[int]) -> list[EventRow]:
        """The events at these stream positions (those still stored), in stream order."""
        rows: list[EventRow] = []
        for start in range(0, len(orderings), 500):
            chunk = orderings[start:start + 500]
            rows += [row_of(r) for r in self.db.read(
                f"SELECT {EVENT_COLUMNS} FROM events WHERE stream_ordering IN ({','.join('?' * len(chunk))})", chunk)]
        return sorted(rows, key=lambda r: r.stream_ordering)

    async def events_by_time(self, room_id: str, ts: int, forward: bool, upto: int, offset: int,
                             limit: int) -> list[EventRow]:
        """A room's events (up to stream position `upto`) from `ts` on (forward) or back, nearest first."""
        cmp, order = (">=", "ASC") if forward else ("<=", "DESC")
        rows = self.db.read(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE room_id = ? AND origin_server_ts {cmp} ?"
            f" AND stream_ordering <= ? ORDER BY origin_server_ts {order}, stream_ordering {order} LIMIT ? OFFSET ?",
            (room_id, ts, upto, limit, offset))
        return [row_of(r) for r in rows]

    async def memberships_of_user(self, user_id: str) -> list[tuple[str, str, int, bool]]:
        """(room_id, membership, stream_ordering, forgotten) for every room the user has a member event in."""
        cached = self._memberships.get(user_id)
        if cached is not None:
            return list(cached)
        rows = self.db.read(
            "SELECT room_id, membership, stream_ordering, forgotten FROM room_memberships WHERE user_id = ?",
            (user_id,))
        found = [(r[0], r[1], r[2], bool(r[3])) for r in rows]
        if len(self._memberships) >= MAX_CACHED_MEMBERSHIPS:
            self._memberships.clear()
        self._memberships[user_id] = found
        return list(found)

    async def forget(self, room_id: str, user_id: str) -> None:
        self._memberships.pop(user_id, None)
        try:
            await self.db.write(lambda c: c.execute(
                "UPDATE room_memberships SET forgotten = 1 WHERE room_id = ? AND user_id = ?", (room_id, user_id)))
        finally:
            self._memberships.pop(user_id, None)  # a read while the write was queued saw it unforgotten
            if self.relay_forgotten is not None:
                self.relay_forgotten(user_id)

    def forgotten_elsewhere(self, user_id: str) -> None:
        """The user forgot a room through another worker: read their memberships again."""
        self._memberships.pop(user_id, None)

    async def room_events(
        self, room_id: str, after: int, upto: int, limit: int, descending: bool
    ) -> list[EventRow]:
        """Events with after < stream_ordering <= upto, nearest first in the chosen direction."""
        order = "DESC" if descending else "ASC"
        rows = self.db.read(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE room_id = ? AND stream_ordering > ?"
            f" AND stream_ordering <= ? ORDER BY stream_ordering {order} LIMIT ?",
            (room_id, after, upto, limit))
        return [row_of(r) for r in rows]

    async def rooms_with_events_after(self, room_ids: list[str], after: int, upto: int) -> set[str]:
        """Which of these rooms have any event in (after, upto]."""
        if not room_ids or after >= upto:
            return set()
        if after >= self._known_from and upto <= self._position:
            # Every event after `_known_from` was published here: no read needed.
            return {r for r in room_ids if self._room_latest.get(r, 0) > after
                    and (self._room_latest[r] <= upto or self._any_event_between(r, after, upto))}
        rows = self.db.read(
            "SELECT DISTINCT room_id FROM events WHERE stream_ordering > ? AND stream_ordering <= ?",
            (after, upto))
        wanted = set(room_ids)
        return {r[0] for r in rows if r[0] in wanted}

    def membership_version(self, user_id: str) -> int:
        """Moves whenever a member event of the user is published (0 before the first)."""
        return self._member_events.get(user_id, 0)

    def rooms_with_member_events_after(self, room_ids: list[str], after: int, upto: int) -> list[str]:
        """Those of these rooms that may have a member event in (after, upto] (from memory: no read)."""
        if after >= upto:
            return []
        if after < self._known_from:
            return list(room_ids)
        return [r for r in room_ids if self._room_member_latest.get(r, 0) > after]

    def bump_stamps(self, room_ids: list[str]) -> dict[str, int]:
        """Each room's stream position of its newest event of BUMP_TYPES (0 when it has none)."""
        missing = [r for r in room_ids if r not in self._room_bump]
        marks = ", ".join("?" * len(BUMP_TYPES))
        for room_id in missing:
            # Newest first along the room's index, so the scan stops at the first activity.
            row = self.db.read_one(
                f"SELECT stream_ordering FROM events WHERE room_id = ? AND type IN ({marks})"
                " ORDER BY stream_ordering DESC LIMIT 1", (room_id, *BUMP_TYPES))
            found = int(row[0]) if row else 0
            # A commit published while reading has already raised it: keep the larger.
            self._room_bump[room_id] = max(found, self._room_bump.get(room_id, 0))
        return {r: self._room_bump[r] for r in room_ids}

    def max_stream_ordering(self) -> int:
        """The end of the committed event stream."""
        return self._position

    def _any_event_between(self, room_id: str, after: int, upto: int) -> bool:
        return self.db.read_one(
            "SELECT 1 FROM events WHERE room_id = ? AND stream_ordering > ? AND stream_ordering <= ? LIMIT 1",
            (room_id, after, upto)) is not None
