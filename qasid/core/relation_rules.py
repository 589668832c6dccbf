"""The rules of event relationships ("Forming relationships between events"), as pure functions.

Which relation an event's content declares, which edits count ("Validity of replacement
events"), which of them is the most recent, and the pagination tokens of /relations and /threads.
The service that reads the store and applies them is `qasid.core.relations`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

THREAD = "m.thread"
REPLACE = "m.replace"
REFERENCE = "m.reference"
ANNOTATION = "m.annotation"
# The relation types the server aggregates into unsigned["m.relations"] (annotations are not).
AGGREGATED = (THREAD, REPLACE, REFERENCE)
# Children of these carry no aggregation of their own: an edit or a reaction is never a parent
# in a bundle.
NO_BUNDLE = (REPLACE, ANNOTATION)
MAX_ID_BYTES = 255


class Relation(NamedTuple):
    """What an event's cleartext `m.relates_to` declares: its type and the parent's event ID."""

    rel_type: str
    event_id: str


def relation_of(content: Any) -> Relation | None:
    """The relation in an event's content, or None (a rich reply alone has no rel_type: not a relation)."""
    relates = content.get("m.relates_to") if isinstance(content, Mapping) else None
    if not isinstance(relates, Mapping):
        return None
    rel_type, parent = relates.get("rel_type"), relates.get("event_id")
    if not isinstance(rel_type, str) or not isinstance(parent, str) or not rel_type or not parent.startswith("$"):
        return None
    if len(rel_type.encode()) > MAX_ID_BYTES or len(parent.encode()) > MAX_ID_BYTES:
        return None
    return Relation(rel_type, parent)


def thread_start_problem(root: Mapping[str, Any], room_id: str) -> str | None:
    """Why a thread may not hang off `root` (a PDU), or None: a root is in the room and no relation itself."""
    if root.get("room_id") != room_id:
        return "Relations must be to an event in the same room"
    if relation_of(root.get("content")) is not None:
        return "Cannot start a thread from an event with a relation"
    return None


def valid_edit(original: Mapping[str, Any], edit: Mapping[str, Any]) -> bool:
    """Whether `edit` may replace `original` (both PDUs): same room, sender and type, neither a
    state event, the original no edit itself, and `m.new_content` where the server can see it."""
    if original.get("room_id") != edit.get("room_id") or original.get("sender") != edit.get("sender"):
        return False
    if original.get("type") != edit.get("type") or "state_key" in original or "state_key" in edit:
        return False
    original_relation = relation_of(original.get("content"))
    if original_relation is not None and original_relation.rel_type == REPLACE:
        return False
    content = edit.get("content")
    if not isinstance(content, Mapping):
        return False
    # An encrypted edit carries m.new_content inside its ciphertext: only the client can check it.
    return edit.get("type") == "m.room.encrypted" or isinstance(content.get("m.new_content"), Mapping)


def latest_edit(edits: Sequence[tuple[int, str]]) -> int | None:
    """Index of the most recent edit among (origin_server_ts, event_id): the largest timestamp,
    ties going to the lexicographically largest event ID; None for no edits."""
    if not edits:
        return None
    return max(range(len(edits)), key=lambda i: edits[i])


def parse_threads_token(token: str) -> int:
    """The position a /threads `next_batch` stands for; ValueError for anything else."""
    digits = token[1:]
    if not token.startswith("t") or not digits.isascii() or not digits.isdigit() or len(digits) > 19:
        raise ValueError(token)
    position = int(digits)
    if position > 2**63 - 1:
        raise ValueError(token)
    return position


def receipt_fits_thread(
    event_id: str, chain: Sequence[Relation], thread_id: str, thread_exists: bool,
) -> bool:
    """Whether a receipt on `event_id` may name `thread_id` (as Synapse checks it).

    `chain`: the relations from the event up to the first event that has none (each step the
    event's relation, then its parent's...). The main timeline fits an event with no m.thread
    step; a root fits itself and everything relating to it (replies, their reactions and edits,
    references) once it has a thread.
    """
    if thread_id == "main":
        return all(step.rel_type != THREAD for step in chain)
    if not thread_exists:
        return False
    return thread_id == event_id or any(step.event_id == thread_id for step in chain)
