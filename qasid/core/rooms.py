"""Rooms: the append path (one lock per room), current state in memory, room creation, membership."""

from __future__ import annotations

from qasid.config import Settings
from qasid.core.clock import Clock
from qasid.core.notifier import Notifier
from qasid.core.policy import Policy
from qasid.core.ratelimit import RateLimiter
from qasid.store.sqlite import SqliteStore
from signedjson.types import SigningKey


class RoomService:
    """Builds, authorises, signs and appends events."""

    def __init__(
        self, settings: Settings, store: SqliteStore, clock: Clock, notifier: Notifier,
        signing_key: SigningKey, policy: Policy, ratelimiter: RateLimiter,
    ) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.notifier = notifier
        self.signing_key = signing_key
        self.policy = policy
        self.ratelimiter = ratelimiter

    def users_sharing_rooms_with(self, user_id: str) -> set[str]:
        """Everyone joined to (or invited to) a room this user is joined to."""
        return {user_id}
