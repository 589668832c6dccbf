"""Stored events as clients see them (the spec's ClientEvent), with per-viewer unsigned data."""

from __future__ import annotations

from typing import Any

from qasid.core.pdu import to_client_event
from qasid.store.sqlite.event_rows import EventRow


def client_event(
    row: EventRow, now_ms: int, viewer_device: tuple[str, str] | None = None,
    redactions: dict[str, EventRow] | None = None, include_room_id: bool = True,
    relations: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The ClientEvent; `transaction_id` only for the device that sent it; `relations`: its bundled aggregations."""
    event = to_client_event(row.pdu, row.event_id)
    unsigned: dict[str, Any] = dict(row.unsigned or {})
    unsigned.pop("prev_sender", None)
    unsigned["age"] = max(0, now_ms - int(row.pdu["origin_server_ts"]))
    if viewer_device is not None and row.txn_id is not None and viewer_device == (
        row.pdu["sender"], row.txn_device_id
    ):
        unsigned["transaction_id"] = row.txn_id
    if row.redacted_by is not None:
        because = (redactions or {}).get(row.redacted_by)
        unsigned["redacted_because"] = (
            client_event(because, now_ms) if because is not None
            else {"event_id": row.redacted_by, "type": "m.room.redaction"}
        )
    if relations:
        unsigned["m.relations"] = relations
    event["unsigned"] = unsigned
    if not include_room_id:
        event.pop("room_id", None)
    return event


def state_event(row: EventRow, now_ms: int) -> dict[str, Any]:
    """A state event without room_id, as /sync's state sections carry them."""
    return client_event(row, now_ms, include_room_id=False)
