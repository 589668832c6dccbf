"""The filter language of /sync and /messages: parsed and validated once, then matched per event.

`parse_filter` turns a Filter object (as uploaded or given inline) into a `Filter`;
`parse_room_event_filter` does the same for /messages' and /context's RoomEventFilter.
Malformed input is M_BAD_JSON, naming the field; keys the spec does not define are ignored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from qasid.core.errors import MatrixError

MAX_LIST_ITEMS = 1000
MAX_ITEM_CHARS = 512
MAX_LIMIT = 2**31 - 1
EVENT_FORMATS = ("client", "federation")


@dataclass(frozen=True)
class _Patterns:
    """Event types to match: exact names in a set, `*` wildcards compiled once."""

    exact: frozenset[str]
    wildcard: re.Pattern[str] | None

    def __contains__(self, value: object) -> bool:
        return isinstance(value, str) and (
            value in self.exact or (self.wildcard is not None and self.wildcard.fullmatch(value) is not None))


def _patterns(values: list[str]) -> _Patterns:
    wild = [v for v in values if "*" in v]
    regex = re.compile("|".join(".*".join(re.escape(p) for p in v.split("*")) for v in wild)) if wild else None
    return _Patterns(frozenset(v for v in values if "*" not in v), regex)


@dataclass(frozen=True)
class EventFilter:
    """An EventFilter or RoomEventFilter (the room fields stay unset in a plain EventFilter)."""

    limit: int | None = None
    types: _Patterns | None = None
    not_types: _Patterns | None = None
    senders: frozenset[str] | None = None
    not_senders: frozenset[str] = frozenset()
    rooms: frozenset[str] | None = None
    not_rooms: frozenset[str] = frozenset()
    contains_url: bool | None = None
    lazy_load_members: bool = False
    include_redundant_members: bool = False
    unread_thread_notifications: bool = False

    @property
    def is_open(self) -> bool:
        """Whether every event passes (a limit aside): callers skip matching altogether."""
        return (self.types is None and self.not_types is None and self.senders is None and not self.not_senders
                and self.rooms is None and not self.not_rooms and self.contains_url is None)

    def allows_room(self, room_id: str) -> bool:
        """Whether `rooms`/`not_rooms` let this room through."""
        return room_id not in self.not_rooms and (self.rooms is None or room_id in self.rooms)

    def allows_type(self, event_type: str) -> bool:
        """Whether `types`/`not_types` let this event type through."""
        return (self.not_types is None or event_type not in self.not_types) and (
            self.types is None or event_type in self.types)

    def matches(self, event: Mapping[str, Any], room_id: str | None = None) -> bool:
        """Whether an event (a PDU, client event or EDU) passes every condition of the filter.

        Conditions on a field the event lacks (a sender, a room) do not apply to it.
        """
        if not self.allows_type(event.get("type", "")):
            return False
        sender = event.get("sender")
        if sender is not None and (sender in self.not_senders or (self.senders is not None
                                                                  and sender not in self.senders)):
            return False
        room_id = room_id if room_id is not None else event.get("room_id")
        if room_id is not None and not self.allows_room(room_id):
            return False
        if self.contains_url is not None:
            content = event.get("content")
            has_url = isinstance(content, dict) and "url" in content
            if has_url != self.contains_url:
                return False
        return True

    def apply(self, events: list[dict[str, Any]], default_limit: int | None = None) -> list[dict[str, Any]]:
        """The events that match, at most `limit` (or `default_limit`) of them, the first ones kept."""
        kept = events if self.is_open else [e for e in events if self.matches(e)]
        limit = self.limit if self.limit is not None else default_limit
        return kept if limit is None else kept[:limit]


OPEN = EventFilter()


@dataclass(frozen=True)
class RoomFilter:
    """The `room` part of a Filter."""

    rooms: frozenset[str] | None = None
    not_rooms: frozenset[str] = frozenset()
    include_leave: bool = False
    timeline: EventFilter = OPEN
    state: EventFilter = OPEN
    ephemeral: EventFilter = OPEN
    account_data: EventFilter = OPEN

    def allows_room(self, room_id: str) -> bool:
        """Whether the room appears in the response at all."""
        return room_id not in self.not_rooms and (self.rooms is None or room_id in self.rooms)


@dataclass(frozen=True)
class Filter:
    """A whole Filter: what /sync sends and how it shapes events."""

    event_fields: tuple[tuple[str, ...], ...] | None = None
    event_format: str = "client"
    presence: EventFilter = OPEN
    account_data: EventFilter = OPEN
    room: RoomFilter = field(default_factory=RoomFilter)

    def shape(self, event: dict[str, Any], pdu: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The event as the filter asks: the federation PDU instead, and only `event_fields`."""
        if self.event_format == "federation" and pdu is not None:
            event = {**pdu, "event_id": event.get("event_id"), "unsigned": event.get("unsigned", {})}
        if self.event_fields is None:
            return event
        return project(event, self.event_fields)


def project(event: Mapping[str, Any], paths: tuple[tuple[str, ...], ...]) -> dict[str, Any]:
    """Only the fields named by dotted paths (already split); missing ones are left out."""
    result: dict[str, Any] = {}
    for path in paths:
        value: Any = event
        for key in path:
            if not isinstance(value, Mapping) or key not in value:
                break
            value = value[key]
        else:
            target = result
            for key in path[:-1]:
                target = target.setdefault(key, {})
                if not isinstance(target, dict):
                    break
            else:
                target[path[-1]] = value
    return result


def _split_field(path: str) -> tuple[str, ...]:
    r"""`content.body` → ("content", "body"); `\.` is a literal dot and `\\` a backslash."""
    parts, current, escaped = [], [], False
    for char in path:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ".":
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return tuple(parts)


def _bad(where: str, message: str) -> MatrixError:
    return MatrixError(400, "M_BAD_JSON", f"filter: {where} {message}")


def _object(value: Any, where: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _bad(where, "must be an object")
    return value


def _bool(section: Mapping[str, Any], key: str, where: str) -> bool | None:
    value = section.get(key)
    if value is not None and not isinstance(value, bool):
        raise _bad(f"{where}.{key}", "must be true or false")
    return value


def _strings(section: Mapping[str, Any], key: str, where: str, prefix: str = "") -> list[str] | None:
    value = section.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or len(value) > MAX_LIST_ITEMS:
        raise _bad(f"{where}.{key}", f"must be a list of at most {MAX_LIST_ITEMS} strings")
    for item in value:
        if not isinstance(item, str) or not item.startswith(prefix) or len(item) > MAX_ITEM_CHARS:
            what = f"strings starting with {prefix!r}" if prefix else "strings"
            raise _bad(f"{where}.{key}", f"must hold {what} of at most {MAX_ITEM_CHARS} characters")
    return value


def _ids(section: Mapping[str, Any], key: str, where: str, prefix: str) -> frozenset[str] | None:
    values = _strings(section, key, where, prefix)
    return None if values is None else frozenset(values)


def parse_event_filter(value: Any, where: str, *, room: bool = True) -> EventFilter:
    """An EventFilter (or with `room`, a RoomEventFilter/StateFilter) from JSON; M_BAD_JSON if malformed."""
    section = _object(value, where)
    limit = section.get("limit")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or not 0 < limit <= MAX_LIMIT):
        raise _bad(f"{where}.limit", "must be a positive integer")
    types, not_types = _strings(section, "types", where), _strings(section, "not_types", where)
    parsed = EventFilter(
        limit=limit,
        types=None if types is None else _patterns(types),
        not_types=None if not not_types else _patterns(not_types),
        senders=_ids(section, "senders", where, "@"),
        not_senders=_ids(section, "not_senders", where, "@") or frozenset(),
    )
    if not room:
        return parsed
    return EventFilter(
        **{k: getattr(parsed, k) for k in ("limit", "types", "not_types", "senders", "not_senders")},
        rooms=_ids(section, "rooms", where, "!"),
        not_rooms=_ids(section, "not_rooms", where, "!") or frozenset(),
        contains_url=_bool(section, "contains_url", where),
        lazy_load_members=bool(_bool(section, "lazy_load_members", where)),
        include_redundant_members=bool(_bool(section, "include_redundant_members", where)),
        unread_thread_notifications=bool(_bool(section, "unread_thread_notifications", where)),
    )


def parse_room_event_filter(value: Any) -> EventFilter:
    """The RoomEventFilter of /messages and /context."""
    return parse_event_filter(value, "filter")


def parse_filter(value: Any) -> Filter:
    """A Filter from its JSON (as uploaded to /user/{userId}/filter or given inline to /sync)."""
    body = _object(value, "filter")
    fields = _strings(body, "event_fields", "filter")
    event_format = body.get("event_format", "client")
    if event_format not in EVENT_FORMATS:
        raise _bad("filter.event_format", "must be 'client' or 'federation'")
    room = _object(body.get("room"), "room")
    return Filter(
        event_fields=None if fields is None else tuple(_split_field(f) for f in fields),
        event_format=event_format,
        presence=parse_event_filter(body.get("presence"), "presence", room=False),
        account_data=parse_event_filter(body.get("account_data"), "account_data", room=False),
        room=RoomFilter(
            rooms=_ids(room, "rooms", "room", "!"),
            not_rooms=_ids(room, "not_rooms", "room", "!") or frozenset(),
            include_leave=bool(_bool(room, "include_leave", "room")),
            timeline=parse_event_filter(room.get("timeline"), "room.timeline"),
            state=parse_event_filter(room.get("state"), "room.state"),
            ephemeral=parse_event_filter(room.get("ephemeral"), "room.ephemeral"),
            account_data=parse_event_filter(room.get("account_data"), "room.account_data"),
        ),
    )
