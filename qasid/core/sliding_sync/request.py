"""A Simplified Sliding Sync (MSC4186) request, parsed and bounded: pure, no I/O.

The unstable form that Element X, matrix-js-sdk and Synapse speak: `pos`, `timeout` and
`set_presence` in the query string; lists with `ranges` and `required_state` as
`[type, state_key]` pairs; extensions each with an `enabled` flag (unknown ones ignored).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from qasid.core.errors import MatrixError
from qasid.core.ids import is_room_id_shape
from qasid.core.sliding_sync.required_state import RequiredState, parse_required_state

MAX_LISTS = 100
MAX_RANGES = 10
MAX_SUBSCRIPTIONS = 100
MAX_KEY_CHARS = 64
MAX_FILTER_ITEMS = 100
MAX_TIMELINE_LIMIT = 1000
# What is sent at most: the spec lets a server cap the timeline.
TIMELINE_CAP = 100
MAX_RANGE_END = 2**31 - 1
MAX_TO_DEVICE_LIMIT = 1000
EXTENSIONS = ("to_device", "e2ee", "account_data", "receipts", "typing")


def invalid(message: str) -> MatrixError:
    return MatrixError(400, "M_INVALID_PARAM", message)


@dataclass(frozen=True)
class RoomConfig:
    """What to send of one room: the latest events and which state."""

    timeline_limit: int
    required_state: RequiredState

    def combine(self, other: RoomConfig) -> RoomConfig:
        """The superset of two configs (a room matched by several lists and subscriptions)."""
        return RoomConfig(max(self.timeline_limit, other.timeline_limit),
                          self.required_state.union(other.required_state))


@dataclass(frozen=True)
class ListFilters:
    """Which rooms a list holds; None means "don't filter on this"."""

    is_dm: bool | None = None
    is_encrypted: bool | None = None
    is_invite: bool | None = None
    spaces: tuple[str, ...] | None = None
    room_types: tuple[str | None, ...] | None = None
    not_room_types: tuple[str | None, ...] = ()
    room_name_like: str | None = None
    tags: tuple[str, ...] | None = None
    not_tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class ListRequest:
    """One sliding window over the user's rooms."""

    config: RoomConfig
    ranges: tuple[tuple[int, int], ...] | None  # None: every room of the list
    filters: ListFilters


@dataclass(frozen=True)
class ExtensionRequest:
    """One extension's settings."""

    lists: tuple[str, ...] = ("*",)
    rooms: tuple[str, ...] = ("*",)
    since: int | None = None
    limit: int = 100

    def covers(self, room_id: str, room_lists: frozenset[str], subscribed: bool) -> bool:
        """Whether a room of the response is in this extension's scope (lists and subscriptions)."""
        if subscribed and ("*" in self.rooms or room_id in self.rooms):
            return True
        return bool(room_lists) and ("*" in self.lists or bool(room_lists & set(self.lists)))


@dataclass(frozen=True)
class SlidingSyncRequest:
    """One POST of a sliding sync connection."""

    conn_id: str
    pos: str | None
    timeout_ms: int
    lists: dict[str, ListRequest] = field(default_factory=dict)
    room_subscriptions: dict[str, RoomConfig] = field(default_factory=dict)
    extensions: dict[str, ExtensionRequest] = field(default_factory=dict)
    txn_id: str | None = None

    def shape(self) -> tuple[Any, ...]:
        """What the answer depends on besides the position: equal shapes, equal answers."""
        return (self.conn_id, self.lists, self.room_subscriptions, self.extensions)


def parse_request(body: Any, pos: str | None, timeout_ms: int) -> SlidingSyncRequest:
    """The request, or M_BAD_JSON / M_INVALID_PARAM naming the first thing wrong."""
    if not isinstance(body, dict):
        raise MatrixError(400, "M_BAD_JSON", "The body must be a JSON object")
    conn_id = _optional_str(body, "conn_id", MAX_KEY_CHARS) or ""
    txn_id = _optional_str(body, "txn_id", 255)
    lists = _object(body, "lists", MAX_LISTS)
    subscriptions = _object(body, "room_subscriptions", MAX_SUBSCRIPTIONS)
    parsed_lists = {}
    for key, value in lists.items():
        if len(key) > MAX_KEY_CHARS:
            raise invalid(f"List names are at most {MAX_KEY_CHARS} characters")
        parsed_lists[key] = _list(key, value)
    parsed_subscriptions = {}
    for room_id, value in subscriptions.items():
        if not is_room_id_shape(room_id):
            raise invalid(f"room_subscriptions: {room_id[:100]!r} is not a room ID")
        parsed_subscriptions[room_id] = _room_config(f"room_subscriptions[{room_id}]", value)
    unsubscribe = body.get("unsubscribe_rooms", [])
    if not isinstance(unsubscribe, list) or len(unsubscribe) > MAX_SUBSCRIPTIONS:
        raise invalid(f"unsubscribe_rooms must be a list of at most {MAX_SUBSCRIPTIONS} room IDs")
    return SlidingSyncRequest(conn_id=conn_id, pos=pos, timeout_ms=timeout_ms, lists=parsed_lists,
                              room_subscriptions=parsed_subscriptions,
                              extensions=_extensions(_object(body, "extensions", 100)), txn_id=txn_id)


def _list(key: str, value: Any) -> ListRequest:
    where = f"lists[{key}]"
    if not isinstance(value, dict):
        raise MatrixError(400, "M_BAD_JSON", f"{where} must be an object")
    ranges: tuple[tuple[int, int], ...] | None = None
    raw_ranges = value.get("ranges")
    if value.get("slow_get_all_rooms") is True:
        raw_ranges = None
    elif not isinstance(value.get("slow_get_all_rooms", False), bool):
        raise invalid(f"{where}.slow_get_all_rooms must be a boolean")
    if raw_ranges is not None:
        if not isinstance(raw_ranges, list) or len(raw_ranges) > MAX_RANGES:
            raise invalid(f"{where}.ranges must be a list of at most {MAX_RANGES} [start, end] pairs")
        pairs = []
        for pair in raw_ranges:
            if not (isinstance(pair, list) and len(pair) == 2 and all(_is_int(n) for n in pair)
                    and 0 <= pair[0] <= pair[1] <= MAX_RANGE_END):
                raise invalid(f"{where}.ranges: each range is [start, end] with 0 <= start <= end")
            pairs.append((pair[0], pair[1]))
        ranges = tuple(pairs)
    return ListRequest(_room_config(where, value), ranges, _filters(where, value.get("filters")))


def _room_config(where: str, value: Any) -> RoomConfig:
    if not isinstance(value, dict):
        raise MatrixError(400, "M_BAD_JSON", f"{where} must be an object")
    limit = value.get("timeline_limit")
    if not isinstance(limit, int) or isinstance(limit, bool) or not 0 <= limit <= MAX_TIMELINE_LIMIT:
        raise invalid(f"{where}.timeline_limit must be an integer from 0 to {MAX_TIMELINE_LIMIT}")
    if "required_state" not in value:
        raise MatrixError(400, "M_MISSING_PARAM", f"{where}.required_state is required")
    try:
        required = parse_required_state(value["required_state"])
    except ValueError as e:
        raise invalid(f"{where}.required_state: {e}") from None
    return RoomConfig(min(limit, TIMELINE_CAP), required)


def _filters(where: str, value: Any) -> ListFilters:
    if value is None:
        return ListFilters()
    if not isinstance(value, dict):
        raise MatrixError(400, "M_BAD_JSON", f"{where}.filters must be an object")
    flags = {}
    for name in ("is_dm", "is_encrypted", "is_invite"):
        flag = value.get(name)
        if flag is not None and not isinstance(flag, bool):
            raise invalid(f"{where}.filters.{name} must be a boolean")
        flags[name] = flag
    name_like = value.get("room_name_like")
    if name_like is not None and (not isinstance(name_like, str) or len(name_like) > 255):
        raise invalid(f"{where}.filters.room_name_like must be a string of at most 255 characters")
    return ListFilters(
        **flags,
        spaces=_strings(where, value, "spaces"),
        room_types=_strings(where, value, "room_types", nullable=True),
        not_room_types=_strings(where, value, "not_room_types", nullable=True) or (),
        room_name_like=name_like.casefold() if name_like else None,
        tags=_strings(where, value, "tags"),
        not_tags=_strings(where, value, "not_tags") or (),
    )


def _strings(where: str, value: dict[str, Any], name: str, nullable: bool = False) -> Any:
    items = value.get(name)
    if items is None:
        return None
    if not isinstance(items, list) or len(items) > MAX_FILTER_ITEMS or not all(
            (isinstance(i, str) and len(i) <= 255) or (nullable and i is None) for i in items):
        kind = "strings (or null)" if nullable else "strings"
        raise invalid(f"{where}.filters.{name} must be a list of at most {MAX_FILTER_ITEMS} {kind}")
    return tuple(items)


def _extensions(value: dict[str, Any]) -> dict[str, ExtensionRequest]:
    found = {}
    for name in EXTENSIONS:
        config = value.get(name)
        if config is None:
            continue
        where = f"extensions.{name}"
        if not isinstance(config, dict):
            raise MatrixError(400, "M_BAD_JSON", f"{where} must be an object")
        enabled = config.get("enabled", False)
        if not isinstance(enabled, bool):
            raise invalid(f"{where}.enabled must be a boolean")
        if not enabled:
            continue
        scope = {key: _scope(where, config, key) for key in ("lists", "rooms") if config.get(key) is not None}
        since = config.get("since")
        if since is not None and not (isinstance(since, str) and since.isdigit() and len(since) <= 19):
            raise invalid(f"{where}.since must be the next_batch of an earlier response")
        limit = config.get("limit", 100)
        if not _is_int(limit) or not 1 <= limit <= MAX_TO_DEVICE_LIMIT:
            raise invalid(f"{where}.limit must be an integer from 1 to {MAX_TO_DEVICE_LIMIT}")
        found[name] = ExtensionRequest(**scope, since=int(since) if since is not None else None, limit=limit)
    return found


def _scope(where: str, config: dict[str, Any], key: str) -> tuple[str, ...]:
    items = config[key]
    if not isinstance(items, list) or len(items) > MAX_LISTS + MAX_SUBSCRIPTIONS or not all(
            isinstance(i, str) and len(i) <= 255 for i in items):
        raise invalid(f"{where}.{key} must be a list of names")
    return tuple(items)


def _object(body: dict[str, Any], key: str, most: int) -> dict[str, Any]:
    value = body.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise MatrixError(400, "M_BAD_JSON", f"{key} must be an object")
    if len(value) > most:
        raise invalid(f"{key} may have at most {most} entries")
    return value


def _optional_str(body: dict[str, Any], key: str, most: int) -> str | None:
    value = body.get(key)
    if value is not None and (not isinstance(value, str) or len(value) > most):
        raise invalid(f"{key} must be a string of at most {most} characters")
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
