"""Per-user data that is not events: account data, filters, receipts, typing, presence, profiles, push rules."""

from __future__ import annotations

from typing import TYPE_CHECKING

from qasid.config import Settings
from qasid.core.clock import Clock
from qasid.core.notifier import Notifier
from qasid.store.sqlite import SqliteStore

if TYPE_CHECKING:
    from qasid.core.rooms import RoomService


class UserDataService:
    """Per-user data that is not events: account data, filters, receipts, typing, presence, profiles, push rules."""

    def __init__(
        self, settings: Settings, store: SqliteStore, clock: Clock, notifier: Notifier, rooms: RoomService
    ) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.notifier = notifier
        self.rooms = rooms
