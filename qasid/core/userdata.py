"""Per-user data that is not events: account data, filters, receipts, typing, presence, profiles, push rules."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from qasid.config import Settings
from qasid.core import push_rules
from qasid.core.clock import Clock
from qasid.core.directory import RoomDirectory
from qasid.core.errors import MatrixError, bad_json, forbidden, invalid_param, not_found
from qasid.core.filters import parse_filter
from qasid.core.ids import check_room_id, parse_user_id
from qasid.core.ignored_users import IGNORED_USER_LIST, IgnoredUsers, check_ignored_user_list
from qasid.core.notifier import Notifier
from qasid.core.policy import Policy
from qasid.core.relations import receipt_fits_thread_of
from qasid.core.typing import TypingState
from qasid.store.sqlite import Store
from qasid.store.sqlite.userdata import GLOBAL

if TYPE_CHECKING:
    from qasid.core.push import PushService
    from qasid.core.rooms import RoomService

PUSH_RULES = "m.push_rules"
FULLY_READ = "m.fully_read"
TAGS = "m.tag"
RECEIPT_TYPES = ("m.read", "m.read.private", "m.fully_read")
PRESENCE_STATES = ("online", "offline", "unavailable")
PROFILE_FIELDS = ("displayname", "avatar_url")
MAX_PROFILE_FIELD_CHARS = 1024


class UserDataService:
    """Per-user data that is not events: account data, filters, receipts, typing, presence, profiles, push rules."""

    def __init__(
        self, settings: Settings, store: Store, clock: Clock, notifier: Notifier, rooms: RoomService,
        push: PushService | None = None,
    ) -> None:
        self.settings = settings
        self.push = push
        self.store = store
        self.clock = clock
        self.notifier = notifier
        self.rooms = rooms
        self.directory = RoomDirectory(settings, store, rooms)
        self.ignored = IgnoredUsers(store)
        self.typing = TypingState(lambda room_id: self.notifier.notify(self.rooms.joined_members(room_id)))
        # With several workers: tells the others who started or stopped typing (held in memory),
        # and which of a user's cached data they must read again ("ignored", "rules", "receipts").
        self.typing_relay: Callable[[str, str, bool, int | None], None] | None = None
        self.forget_relay: Callable[[str, str], None] | None = None

    # --- stream positions (read by sync) ---------------------------------------------------

    def typing_position(self) -> int:
        """Current position of the in-memory typing stream."""
        return self.typing.position()

    # --- account data ----------------------------------------------------------------------

    async def get_account_data(self, requester_id: str, user_id: str, room_id: str | None, type_: str) -> dict[str, Any]:
        """One account data entry of the requester's own; M_NOT_FOUND if never set."""
        _check_own(requester_id, user_id, "account data")
        if room_id is not None:
            check_room_id(room_id)
        elif type_ == PUSH_RULES:
            return {"global": await self.push_ruleset(user_id)}
        content = await self.store.userdata.get_account_data(user_id, room_id or GLOBAL, type_)
        if content is None:
            raise not_found(f"No account data of type {type_}")
        return content

    async def set_account_data(
        self, requester_id: str, user_id: str, room_id: str | None, type_: str, content: dict[str, Any],
    ) -> None:
        """Replace one account data entry and wake the user's syncs; server-managed types are refused."""
        _check_own(requester_id, user_id, "account data")
        if room_id is not None:
            check_room_id(room_id)
            if type_ == FULLY_READ:
                raise MatrixError(405, "M_BAD_JSON", "m.fully_read is set through /read_markers or /receipt")
        elif type_ == PUSH_RULES:
            raise MatrixError(405, "M_BAD_JSON", "m.push_rules is changed through the /pushrules API")
        if not type_ or len(type_.encode()) > 255:
            raise invalid_param("Account data type must be 1 to 255 bytes")
        ignore_list = room_id is None and type_ == IGNORED_USER_LIST
        if ignore_list:
            check_ignored_user_list(content)
        await self.store.userdata.set_account_data(user_id, room_id or GLOBAL, type_, content)
        if ignore_list:
            self.ignored.changed(user_id, content)
            self._relay_forget("ignored", user_id)
        self.notifier.notify([user_id])

    async def account_data_since(
        self, user_id: str, after: int | None
    ) -> tuple[list[dict[str, Any]], dict[str, list[dict[str, Any]]]]:
        """Global [{type, content}] and per-room {room_id: [{type, content}]} changed after `after`.

        `after` is None for an initial sync, which always carries the push rules.
        """
        global_events: list[dict[str, Any]] = []
        room_events: dict[str, list[dict[str, Any]]] = {}
        push_rules_seen = False
        for row in await self.store.userdata.account_data_after(user_id, after or 0):
            if row.room_id == GLOBAL:
                content = row.content
                if row.type == PUSH_RULES:
                    push_rules_seen = True
                    content = {"global": push_rules.merged_ruleset(user_id, row.content)}
                global_events.append({"type": row.type, "content": content})
            else:
                room_events.setdefault(row.room_id, []).append({"type": row.type, "content": row.content})
        if after is None and not push_rules_seen:
            global_events.append({"type": PUSH_RULES, "content": {"global": await self.push_ruleset(user_id)}})
        return global_events, room_events

    # --- room tags (room account data m.tag) -----------------------------------------------

    async def get_tags(self, requester_id: str, user_id: str, room_id: str) -> dict[str, Any]:
        """The room's tags for the requester: {tag: {order?}}."""
        _check_own(requester_id, user_id, "tags")
        check_room_id(room_id)
        content = await self.store.userdata.get_account_data(user_id, room_id, TAGS) or {}
        tags = content.get("tags")
        return tags if isinstance(tags, dict) else {}

    async def set_tag(
        self, requester_id: str, user_id: str, room_id: str, tag: str, value: dict[str, Any] | None,
    ) -> None:
        """Add (value) or remove (None) one tag of a room."""
        _check_own(requester_id, user_id, "tags")
        check_room_id(room_id)
        if not tag or len(tag.encode()) > 255:
            raise invalid_param("Tags must be 1 to 255 bytes")
        if value is not None and "order" in value and (
            isinstance(value["order"], bool) or not isinstance(value["order"], int | float)
        ):
            raise bad_json("order must be a number")

        def change(current: dict[str, Any] | None) -> dict[str, Any]:
            tags = dict((current or {}).get("tags") or {})
            if value is None:
                tags.pop(tag, None)
            else:
                tags[tag] = value
            return {"tags": tags}

        await self.store.userdata.update_account_data(user_id, room_id, TAGS, change)
        self.notifier.notify([user_id])

    # --- push rules ------------------------------------------------------------------------

    async def push_ruleset(self, user_id: str) -> push_rules.Ruleset:
        """The user's `global` ruleset: the predefined rules with the user's changes."""
        changes = await self.store.userdata.get_account_data(user_id, GLOBAL, PUSH_RULES)
        return push_rules.merged_ruleset(user_id, changes)

    async def get_push_rule(self, user_id: str, kind: str, rule_id: str) -> push_rules.Rule:
        """One rule of the user's ruleset, or M_NOT_FOUND."""
        return push_rules.find_rule(await self.push_ruleset(user_id), kind, rule_id)

    async def put_push_rule(
        self, user_id: str, kind: str, rule_id: str, body: dict[str, Any], before: str | None, after: str | None,
    ) -> None:
        """Create or replace a user-defined rule."""
        await self._change_push_rules(
            user_id, lambda doc: push_rules.put_rule(doc, kind, rule_id, body, before, after))

    async def delete_push_rule(self, user_id: str, kind: str, rule_id: str) -> None:
        """Delete a user-defined rule."""
        await self._change_push_rules(user_id, lambda doc: push_rules.delete_rule(doc, kind, rule_id))

    async def set_push_rule_attribute(
        self, user_id: str, kind: str, rule_id: str, attribute: str, value: Any,
    ) -> None:
        """Set a rule's `enabled` or `actions`."""
        await self._change_push_rules(
            user_id, lambda doc: push_rules.set_attribute(user_id, doc, kind, rule_id, attribute, value))

    async def _change_push_rules(self, user_id: str, change: Any) -> None:
        await self.store.userdata.update_account_data(user_id, GLOBAL, PUSH_RULES, change)
        if self.push is not None:
            self.push.rules_changed(user_id)
        self._relay_forget("rules", user_id)
        self.notifier.notify([user_id])

    # --- filters ---------------------------------------------------------------------------

    async def create_filter(self, requester_id: str, user_id: str, filter_json: dict[str, Any]) -> str:
        """Store a filter as given once it parses (M_BAD_JSON otherwise); returns its ID."""
        _check_own(requester_id, user_id, "filters")
        parse_filter(filter_json)
        return str(await self.store.userdata.create_filter(user_id, filter_json))

    async def get_filter(self, requester_id: str, user_id: str, filter_id: str) -> dict[str, Any]:
        """A filter the requester created, or M_NOT_FOUND."""
        _check_own(requester_id, user_id, "filters")
        stored = None
        if filter_id.isdigit() and len(filter_id) < 12:
            stored = await self.store.userdata.get_filter(user_id, int(filter_id))
        if stored is None:
            raise not_found("No such filter")
        return stored

    def _relay_forget(self, kind: str, user_id: str) -> None:
        if self.forget_relay is not None:
            self.forget_relay(kind, user_id)

    # --- receipts and read markers ---------------------------------------------------------

    async def set_receipt(
        self, user_id: str, room_id: str, receipt_type: str, event_id: str, thread_id: str | None,
    ) -> None:
        """Record a receipt (m.fully_read becomes room account data) and wake the room."""
        if receipt_type not in RECEIPT_TYPES:
            raise invalid_param(f"Unknown receipt type: {receipt_type}")
        if thread_id is not None and (not thread_id or receipt_type == FULLY_READ):
            raise invalid_param("thread_id must be 'main' or an event ID, and only on read receipts")
        await self._check_event_in_joined_room(user_id, room_id, event_id)
        if thread_id is not None and not await receipt_fits_thread_of(self.store, room_id, event_id, thread_id):
            raise invalid_param(f"event_id {event_id} is not related to thread {thread_id}")
        if receipt_type == FULLY_READ:
            await self.store.userdata.set_account_data(user_id, room_id, FULLY_READ, {"event_id": event_id})
            self.notifier.notify([user_id])
            return
        await self.store.userdata.set_receipt(
            room_id, user_id, receipt_type, thread_id or "", event_id, self.clock.now_ms())
        self._relay_forget("receipts", user_id)
        if receipt_type == "m.read.private":
            self.notifier.notify([user_id])
        else:
            self.notifier.notify(self.rooms.joined_members(room_id) | {user_id})

    async def set_read_markers(self, user_id: str, room_id: str, markers: dict[str, str]) -> None:
        """POST /read_markers: each of m.fully_read, m.read, m.read.private given, as its own receipt."""
        for receipt_type in (FULLY_READ, "m.read", "m.read.private"):
            if receipt_type in markers:
                await self.set_receipt(user_id, room_id, receipt_type, markers[receipt_type], None)

    async def _check_event_in_joined_room(self, user_id: str, room_id: str, event_id: str) -> None:
        check_room_id(room_id)
        if not await self.rooms.is_joined(room_id, user_id):
            raise forbidden("You are not joined to this room")
        if not event_id.startswith("$"):
            raise invalid_param("Not an event ID")
        event = await self.store.events.get_event(event_id)
        if event is None or event.pdu.get("room_id") != room_id:
            raise not_found("No such event in this room")

    async def receipts_since(self, room_ids: list[str], after: int, *, viewer: str) -> dict[str, dict[str, Any]]:
        """{room_id: m.receipt event} for receipts changed after `after`; private receipts only to their owner."""
        result: dict[str, dict[str, Any]] = {}
        for row in await self.store.userdata.receipts_after(room_ids, after):
            if row.receipt_type == "m.read.private" and row.user_id != viewer:
                continue
            receipt: dict[str, Any] = {"ts": row.ts}
            if row.thread_id:
                receipt["thread_id"] = row.thread_id
            event = result.setdefault(row.room_id, {"type": "m.receipt", "content": {}})
            by_type = event["content"].setdefault(row.event_id, {})
            by_type.setdefault(row.receipt_type, {})[row.user_id] = receipt
        return result

    # --- typing ----------------------------------------------------------------------------

    async def set_typing(
        self, requester_id: str, user_id: str, room_id: str, typing: bool, timeout_ms: int | None,
    ) -> None:
        """Start or stop the requester typing in a room they are joined to."""
        _check_own(requester_id, user_id, "typing notifications")
        check_room_id(room_id)
        if not await self.rooms.is_joined(room_id, user_id):
            raise forbidden("You are not joined to this room")
        self.typing.set_typing(room_id, user_id, typing, timeout_ms)
        if self.typing_relay is not None:
            self.typing_relay(room_id, user_id, typing, timeout_ms)

    def typing_since(self, room_ids: list[str], after: int) -> dict[str, dict[str, Any]]:
        """{room_id: m.typing event} for the rooms whose typing changed after `after`."""
        return {
            room_id: {"type": "m.typing", "content": {"user_ids": user_ids}}
            for room_id, user_ids in self.typing.changed_since(room_ids, after).items()
        }

    # --- presence --------------------------------------------------------------------------

    async def get_presence(self, viewer: str, user_id: str) -> dict[str, Any]:
        """A local user's presence: offline if never set; M_NOT_FOUND for unknown users.

        M_FORBIDDEN, before any lookup, when the viewer may not see the user (`may_see_user`).
        """
        parse_user_id(user_id)
        if not await self.may_see_user(viewer, user_id):
            raise forbidden("You are not allowed to see this user's presence")
        await self._require_user(user_id)
        row = await self.store.userdata.get_presence(user_id)
        if row is None:
            return {"presence": "offline"}
        body: dict[str, Any] = {
            "presence": row.presence,
            "last_active_ago": max(0, self.clock.now_ms() - row.last_active_ts),
            "currently_active": row.presence == "online",
        }
        if row.status_msg is not None:
            body["status_msg"] = row.status_msg
        return body

    # --- profiles --------------------------------------------------------------------------

    async def may_see_user(self, viewer: str, user_id: str) -> bool:
        """Whether `viewer` may see `user_id`'s profile and presence: themself, a room they share, or policy.

        Asked before the account is looked up: a policy that refuses users outside its scope
        refuses unknown users too, so a refusal says nothing about whether the account exists.
        """
        return (viewer == user_id or await self.rooms.policy.visible_in_directory(viewer, user_id)
                or await self.rooms.share_a_room(viewer, user_id))

    async def get_profile(self, viewer: str, user_id: str) -> dict[str, Any]:
        """{displayname?, avatar_url?, policy fields} of a local user; M_NOT_FOUND for unknown users.

        M_FORBIDDEN, before any lookup, when the viewer may not see the user (`may_see_user`).
        """
        parse_user_id(user_id)
        if not await self.may_see_user(viewer, user_id):
            raise forbidden("You are not allowed to see this user's profile")
        user = await self._require_user(user_id)
        profile: dict[str, Any] = {}
        if user.displayname is not None:
            profile["displayname"] = user.displayname
        if user.avatar_url is not None:
            profile["avatar_url"] = user.avatar_url
        profile.update(await self.rooms.policy.profile_fields(user_id))
        return profile

    async def set_profile_field(self, requester_id: str, user_id: str, field: str, value: str | None) -> None:
        """Set (or with None, remove) the requester's displayname or avatar_url, then update their rooms."""
        _check_own(requester_id, user_id, "profile")
        if field not in PROFILE_FIELDS:
            raise forbidden(f"Only {' and '.join(PROFILE_FIELDS)} can be set on this server")
        if value is not None:
            if len(value) > MAX_PROFILE_FIELD_CHARS:
                raise MatrixError(400, "M_TOO_LARGE", f"{field} is too long")
            if field == "avatar_url" and value and not value.startswith("mxc://"):
                raise invalid_param("avatar_url must be an mxc:// URI")
        await self._require_user(user_id)
        await self.store.accounts.set_profile_field(user_id, field, value or None)
        # The rooms service sends the new m.room.member events; it may not offer this yet.
        update_rooms = getattr(self.rooms, "update_profile_in_rooms", None)
        if update_rooms is not None:
            result = update_rooms(user_id)
            if inspect.isawaitable(result):
                await result

    async def search_users(self, searcher: str, term: str, limit: int, policy: Policy) -> dict[str, Any]:
        """User directory search over local users, filtered by the policy's directory visibility."""
        results: list[dict[str, Any]] = []
        limited = False
        for user in await self.store.accounts.search_users(term, limit * 4 + 1):
            if not await policy.visible_in_directory(searcher, user.user_id):
                continue
            if len(results) == limit:
                limited = True
                break
            entry: dict[str, Any] = {"user_id": user.user_id}
            if user.displayname is not None:
                entry["display_name"] = user.displayname
            if user.avatar_url is not None:
                entry["avatar_url"] = user.avatar_url
            entry.update(await policy.profile_fields(user.user_id))
            results.append(entry)
        return {"results": results, "limited": limited}

    async def _require_user(self, user_id: str) -> Any:
        parse_user_id(user_id)
        user = await self.store.accounts.get_user(user_id)
        if user is None or user.deactivated:
            raise not_found("No such user")
        return user


def _check_own(requester_id: str, user_id: str, what: str) -> None:
    if requester_id != user_id:
        raise forbidden(f"You cannot access another user's {what}")
