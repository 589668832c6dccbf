"""Push rules applied: who is notified of each event, and the unread counts that follow.

The append path asks `push_rows` for every event: each recipient's compiled ruleset (kept in
memory, dropped when the user edits their rules) is evaluated against the event and the room
as it is, with no database read once the rulesets are loaded. The rows go into the event's own
transaction. `counts` is the one place unread counts come from: /sync and sliding sync call it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from qasid.core import jsonutil, push_eval, push_rules
from qasid.core.errors import invalid_param
from qasid.core.events import client_event
from qasid.core.power_levels import PowerLevels, as_int, mapping
from qasid.core.pushers import PusherService
from qasid.core.relation_rules import THREAD, relation_of
from qasid.store.sqlite import Store
from qasid.store.sqlite.push import PushRow
from qasid.store.sqlite.userdata import GLOBAL

PUSH_RULES = "m.push_rules"
MAX_NOTIFICATIONS_LIMIT = 100
StateKey = tuple[str, str]


@dataclass(frozen=True)
class UnreadCounts:
    """A user's unread notifications in one room: in total, and per thread ("main" included)."""

    notification_count: int = 0
    highlight_count: int = 0
    threads: Mapping[str, tuple[int, int]] = field(default_factory=dict)

    def as_json(self) -> dict[str, int]:
        """The `unread_notifications` object of /sync, every thread counted."""
        return {"notification_count": self.notification_count, "highlight_count": self.highlight_count}

    def main_json(self) -> dict[str, int]:
        """The main timeline alone, for clients that asked for per-thread counts."""
        notifications, highlights = self.threads.get("main", (0, 0))
        return {"notification_count": notifications, "highlight_count": highlights}

    def threads_json(self) -> dict[str, dict[str, int]]:
        """`unread_thread_notifications`: every thread but the main timeline that has any."""
        return {thread: {"notification_count": n, "highlight_count": h}
                for thread, (n, h) in self.threads.items() if thread != "main" and (n or h)}


class PushService:
    """Evaluates push rules on the append path; answers unread counts and /notifications."""

    def __init__(self, store: Store, pushers: PusherService) -> None:
        self.store = store
        self.pushers = pushers
        self._rulesets: dict[str, push_eval.CompiledRuleset] = {}
        # Called after the commit of events that queued pushes, with {pusher: its user}: wakes their delivery.
        self.on_queued: Callable[[dict[int, str]], None] = lambda pushers: None

    # --- the append path ------------------------------------------------------------------

    async def ruleset(self, user_id: str) -> push_eval.CompiledRuleset:
        """The user's compiled ruleset, read and compiled once until it changes."""
        compiled = self._rulesets.get(user_id)
        if compiled is None:
            changes = await self.store.userdata.get_account_data(user_id, GLOBAL, PUSH_RULES)
            compiled = push_eval.compile_ruleset(push_rules.merged_ruleset(user_id, changes))
            self._rulesets[user_id] = compiled
        return compiled

    def rules_changed(self, user_id: str) -> None:
        """Forget a user's compiled ruleset after they edit their push rules."""
        self._rulesets.pop(user_id, None)

    async def push_rows(
        self, state: Mapping[StateKey, Mapping[str, Any]], joined: set[str], pdu: Mapping[str, Any],
    ) -> tuple[PushRow, ...]:
        """Whom this event notifies, given the room's state and joined members before it."""
        sender = pdu["sender"]
        recipients = set(joined)
        if pdu["type"] == "m.room.member" and pdu.get("content", {}).get("membership") == "invite":
            recipients.add(pdu["state_key"])  # the invitee is not joined yet; invite_for_me is for them
        recipients.discard(sender)
        if not recipients:
            return ()
        await self.pushers.ensure_loaded()
        levels_event = state.get(("m.room.power_levels", ""))
        notification_levels = {
            k: v for k, v in mapping(mapping(levels_event.get("content")).get("notifications")).items()
            if as_int(v) is not None} if levels_event else {}
        levels = PowerLevels(state, state.get(("m.room.create", ""), {}))
        facts = push_eval.RoomFacts(len(joined), levels.user_level(sender), notification_levels)
        event = push_eval.flatten(pdu)
        thread_id = await self._thread_of(pdu)
        rows = []
        for user_id in sorted(recipients):
            member = state.get(("m.room.member", user_id))
            name = mapping(member.get("content")).get("displayname") if member else None
            recipient = push_eval.Recipient(user_id, name if isinstance(name, str) else None)
            actions = push_eval.evaluate(await self.ruleset(user_id), event, facts, recipient)
            if push_eval.notifies(actions):
                rows.append(PushRow(user_id, thread_id, push_eval.highlights(actions), jsonutil.dumps(actions),
                                    self.pushers.pusher_ids(user_id)))
        return tuple(rows)

    async def _thread_of(self, pdu: Mapping[str, Any]) -> str:
        """The event's thread: a reply's root, or, for an edit or reaction of a reply, that reply's root."""
        thread_id = push_eval.thread_of(pdu)
        relation = relation_of(pdu.get("content"))
        if thread_id == "main" and relation is not None:
            parent = await self.store.relations.relation_of(relation.event_id)
            if parent is not None and parent.rel_type == THREAD and parent.room_id == pdu["room_id"]:
                return parent.relates_to_id
        return thread_id

    def committed(self, rows: Iterable[PushRow]) -> None:
        """After the commit: start delivering what was queued for pushers."""
        pushers = {pusher_id: row.user_id for row in rows for pusher_id in row.pusher_ids}
        if pushers:
            self.on_queued(pushers)

    # --- counts ---------------------------------------------------------------------------

    async def counts(self, room_id: str, user_id: str) -> UnreadCounts:
        """The user's unread notification and highlight counts in a room, after their read receipts.

        An unthreaded receipt covers every thread; a threaded one ("main" or a root's ID) its thread.
        """
        receipts = await self.store.push.receipt_positions(room_id, user_id)
        threads: dict[str, tuple[int, int]] = {}
        notifications = highlights = 0
        for thread_id, n, h in await self.store.push.unread_by_thread(room_id, user_id, receipts):
            threads[thread_id] = (n, h)
            notifications += n
            highlights += h
        return UnreadCounts(notifications, highlights, threads)

    async def counts_in(self, room_ids: list[str], user_id: str) -> dict[str, UnreadCounts]:
        """`counts` of several rooms at once (a room list's first page), in a few reads."""
        threads: dict[str, dict[str, tuple[int, int]]] = {room_id: {} for room_id in room_ids}
        for room_id, thread_id, n, h in await self.store.push.unread_in_rooms(room_ids, user_id):
            threads[room_id][thread_id] = (n, h)
        return {room_id: UnreadCounts(sum(n for n, _ in by_thread.values()), sum(h for _, h in by_thread.values()),
                                      by_thread) for room_id, by_thread in threads.items()}

    # --- GET /notifications ---------------------------------------------------------------

    async def notifications(
        self, user_id: str, from_token: str | None, limit: int, only: str | None, now_ms: int,
    ) -> dict[str, Any]:
        """A page of the user's notifications, newest first, and the token of the next page."""
        before = None
        if from_token is not None:
            if not from_token.isdigit() or len(from_token) > 18:
                raise invalid_param("from must be a next_token of an earlier response")
            before = int(from_token)
        limit = max(1, min(limit, MAX_NOTIFICATIONS_LIMIT))
        rows = await self.store.push.notifications(user_id, before, limit, only == "highlight")
        events = await self.store.events.get_events([r.event_id for r in rows])
        receipts: dict[str, dict[str, int]] = {}
        found = []
        for row in rows:
            event = events.get(row.event_id)
            if event is None:
                continue
            if row.room_id not in receipts:
                receipts[row.room_id] = await self.store.push.receipt_positions(row.room_id, user_id)
            seen = receipts[row.room_id]
            read = row.stream_ordering <= max(seen.get("", 0), seen.get(row.thread_id, 0))
            found.append({"actions": row.actions, "event": client_event(event, now_ms), "read": read,
                          "room_id": row.room_id, "ts": row.ts})
        body: dict[str, Any] = {"notifications": found}
        if len(rows) == limit:
            body["next_token"] = str(rows[-1].stream_ordering)
        return body
