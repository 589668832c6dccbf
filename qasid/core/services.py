"""The server's services, built once at start and handed to the API layer."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from signedjson.types import SigningKey

from qasid.config import Settings, SettingsError
from qasid.core.accounts import AccountService
from qasid.core.calls import CallService
from qasid.core.clock import Clock
from qasid.core.e2ee import E2eeService
from qasid.core.media import MediaService
from qasid.core.notifier import Notifier
from qasid.core.policy import OpenPolicy, Policy
from qasid.core.presence import PresenceService
from qasid.core.push import PushService
from qasid.core.push_delivery import PushDelivery
from qasid.core.pushers import PusherService
from qasid.core.ratelimit import RateLimiter
from qasid.core.relations import RelationService
from qasid.core.rooms import RoomService
from qasid.core.search import SearchService
from qasid.core.signing import load_or_create_signing_key
from qasid.core.sliding_sync import Extensions, SlidingSyncService
from qasid.core.sync import SyncService
from qasid.core.userdata import UserDataService
from qasid.core.visibility import HistoryVisibility
from qasid.store.datadir import prepare_data_dir
from qasid.store import open_store
from qasid.store.sqlite import Store


class _DeviceListFanout:
    """Tells syncs that a user's devices changed; rooms are resolved at sync time."""

    def __init__(self) -> None:
        self.services: Services | None = None

    def devices_changed(self, user_id: str) -> None:
        if self.services is not None:
            self.services.notify_users_sharing_rooms(user_id)


@dataclass
class Services:
    """Every service of one server process."""

    settings: Settings
    store: Store
    clock: Clock
    notifier: Notifier
    ratelimiter: RateLimiter
    signing_key: SigningKey
    policy: Policy
    accounts: AccountService
    rooms: RoomService
    e2ee: E2eeService
    userdata: UserDataService
    media: MediaService
    visibility: HistoryVisibility
    relations: RelationService
    sync: SyncService
    sliding_sync: SlidingSyncService
    pushers: PusherService
    push: PushService
    push_delivery: PushDelivery
    calls: CallService
    presence: PresenceService
    search: SearchService

    def close(self) -> None:
        """Finish queued writes and close the store."""
        self.store.close()

    def install_policy(self, policy: Policy) -> None:
        """Plug in the organisation's policy: every hook core consults now asks it."""
        self.policy = policy
        self.rooms.policy = policy
        self.accounts.policy = policy
        self.media.policy = policy

    async def readiness_problem(self) -> str | None:
        """Why this process should get no traffic now (stopping, database unusable), or None when ready."""
        if self.notifier.closing:
            return "server is stopping"
        return await asyncio.to_thread(self.store.readiness_problem)

    def notify_users_sharing_rooms(self, user_id: str) -> None:
        """Wake the user and everyone who shares a room with them."""
        self.notifier.notify(self.rooms.users_sharing_rooms_with(user_id) | {user_id})


def check_server_name(store: Store, settings: Settings) -> None:
    """Refuse data made for another server name: every user and room ID in it embeds that name."""
    recorded = store.claim_server_name(settings.server_name)
    if recorded != settings.server_name:
        store.close()
        raise SettingsError(
            f"the data folder {settings.data_dir} belongs to server {recorded!r}, but server_name is"
            f" {settings.server_name!r}; the name is part of every user and room ID, so it can't change"
            f" (set server_name = {recorded!r}, or use another data folder)")


def build_services(settings: Settings, policy: Policy | None = None) -> Services:
    """Open the store and wire the services together."""
    prepare_data_dir(settings.data_dir)
    store = open_store(settings)
    check_server_name(store, settings)
    clock = Clock()
    notifier = Notifier()
    ratelimiter = RateLimiter(
        {
            "login": settings.rate_login,
            "register": settings.rate_register,
            "send": settings.rate_send,
            "join": settings.rate_join,
            "invite": settings.rate_invite,
            "create_room": settings.rate_create_room,
            "calls": settings.rate_calls,
            "delayed_events": settings.rate_delayed_events,
            "report": settings.rate_report,
            "search": settings.rate_search,
        },
        enabled=settings.rate_limits_enabled,
    )
    fanout = _DeviceListFanout()
    accounts = AccountService(settings, store.accounts, clock, ratelimiter, fanout)
    signing_key = load_or_create_signing_key(settings.signing_key_path)
    policy = policy or OpenPolicy()
    accounts.policy = policy
    rooms = RoomService(settings, store, clock, notifier, signing_key, policy, ratelimiter)
    pushers = PusherService(settings, store, clock)
    push = PushService(store, pushers)
    push_delivery = PushDelivery(settings, store, pushers)
    push.on_queued = push_delivery.wake
    rooms.push = push
    e2ee = E2eeService(settings, store, clock, notifier, rooms)
    userdata = UserDataService(settings, store, clock, notifier, rooms, push)
    visibility = HistoryVisibility(store, rooms)
    relations = RelationService(store, visibility, userdata.ignored)
    sync = SyncService(settings, store, clock, notifier, rooms, e2ee, userdata, push, visibility, relations)

    async def room_counts(room_ids: list[str], user_id: str) -> dict[str, tuple[int, int]]:
        counts = await push.counts_in(room_ids, user_id)
        return {room_id: (c.notification_count, c.highlight_count) for room_id, c in counts.items()}

    services = Services(
        settings=settings,
        store=store,
        clock=clock,
        notifier=notifier,
        ratelimiter=ratelimiter,
        signing_key=signing_key,
        policy=policy,
        accounts=accounts,
        rooms=rooms,
        e2ee=e2ee,
        userdata=userdata,
        media=MediaService(settings, store, clock, notifier, rooms, policy),
        visibility=visibility,
        relations=relations,
        sync=sync,
        sliding_sync=SlidingSyncService(store, clock, notifier, rooms, sync, visibility,
                                        Extensions(store, rooms, e2ee, userdata), room_counts, relations),
        pushers=pushers,
        push=push,
        push_delivery=push_delivery,
        calls=CallService(settings, store, clock, rooms),
        presence=sync.presence,
        search=SearchService(store, clock, rooms, visibility, userdata.ignored, ratelimiter, relations),
    )
    fanout.services = services
    return services
