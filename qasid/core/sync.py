"""/sync: assembles what a device has not yet seen from every stream, waiting when there is nothing."""

from __future__ import annotations

from qasid.config import Settings
from qasid.core.clock import Clock
from qasid.core.e2ee import E2eeService
from qasid.core.notifier import Notifier
from qasid.core.rooms import RoomService
from qasid.core.userdata import UserDataService
from qasid.store.sqlite import SqliteStore


class SyncService:
    """Builds /sync responses."""

    def __init__(
        self, settings: Settings, store: SqliteStore, clock: Clock, notifier: Notifier,
        rooms: RoomService, e2ee: E2eeService, userdata: UserDataService,
    ) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.notifier = notifier
        self.rooms = rooms
        self.e2ee = e2ee
        self.userdata = userdata
