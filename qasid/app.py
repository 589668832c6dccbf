"""Assembles the server: settings, store, services, policy, routes."""

from __future__ import annotations

import contextlib
import importlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from qasid.api.http import ROUTES
from qasid.api.observe import RequestObserver
from qasid.api.router import QasidApp
from qasid.config import Settings
from qasid.core.policy import Policy
from qasid.core.services import Services, build_services
from qasid.core.workers import WorkerBus
from qasid.gov.government import Government
from qasid.stats import RequestStats

log = logging.getLogger("qasid")

# Every API module registers its routes on import; the order here is the routing order, and
# routes are tried one by one, so the endpoints every client calls constantly come first.
API_MODULES = [
    "qasid.api.client.sync",
    "qasid.api.client.sliding_sync",
    "qasid.api.client.send",
    "qasid.api.client.to_device",
    "qasid.api.client.keys",
    "qasid.api.client.versions",
    "qasid.api.client.unsupported",
    "qasid.api.client.well_known",
    "qasid.api.client.login",
    "qasid.api.client.register",
    "qasid.api.client.account",
    "qasid.api.client.rooms",
    "qasid.api.client.membership",
    "qasid.api.client.state",
    "qasid.api.client.messages",
    "qasid.api.client.relations",
    "qasid.api.client.devices",
    "qasid.api.client.key_backup",
    "qasid.api.client.media",
    "qasid.api.client.profile",
    "qasid.api.client.account_data",
    "qasid.api.client.filters",
    "qasid.api.client.push_rules",
    "qasid.api.client.pushers",
    "qasid.api.client.notifications",
    "qasid.api.client.receipts",
    "qasid.api.client.typing",
    "qasid.api.client.presence",
    "qasid.api.client.directory",
    "qasid.api.client.spaces",
    "qasid.api.client.capabilities",
    "qasid.api.client.misc",
    "qasid.api.client.voip",
    "qasid.api.client.openid",
    "qasid.api.client.delayed_events",
    "qasid.api.client.rtc",
    "qasid.api.client.password_policy",
    "qasid.api.client.reporting",
    "qasid.api.client.search",
    "qasid.api.client.server_admin",
    "qasid.api.client.mutual_rooms",
    "qasid.api.admin.units",
    "qasid.api.admin.officials",
    "qasid.api.admin.tokens",
    "qasid.api.admin.devices",
    "qasid.api.admin.openapi",
    "qasid.api.admin.audit",
    "qasid.api.admin.directives",
    "qasid.api.admin.reports",
    "qasid.api.health",
    # The console last: its routes are never tried before a Matrix route.
    "qasid.api.console.auth",
    "qasid.api.console.units",
    "qasid.api.console.officials",
    "qasid.api.console.tokens",
    "qasid.api.console.audit",
]

def load_routes() -> None:
    """Import every API module that exists, so its routes register."""
    for name in API_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name != name:
                raise


def worker_bus(settings: Settings, services: Services, lead: Callable[[], Awaitable[None]],
               unlead: Callable[[], Awaitable[None]]) -> WorkerBus | None:
    """The channel to the other workers of the same PostgreSQL database (None with SQLite: one process)."""
    if not settings.database_url:
        return None
    from qasid.store.postgres.channel import MAX_PAYLOAD_BYTES, PgChannel

    return WorkerBus(PgChannel(settings.database_url), services, MAX_PAYLOAD_BYTES, lead, unlead)


def create_app(settings: Settings, policy: Policy | None = None) -> Any:
    """The ASGI application of one server process."""
    load_routes()
    services: Services = build_services(settings, policy)
    # The government layer implements core's policy hooks, unless a caller brought its own.
    gov = Government(services)
    # Core's logins, device changes and token redemptions go to the government's audit log.
    services.accounts.audit = gov.audit
    # Accounts whose passwords the government directory checks (when ldap_uri is set).
    services.accounts.directory = gov.directory
    if policy is None:
        services.install_policy(gov.policy)

    async def start_background_jobs() -> None:
        gov.maintenance.start()
        await services.push_delivery.start()
        services.calls.start()

    async def stop_background_jobs() -> None:
        await services.calls.stop()
        await services.push_delivery.stop()
        await gov.maintenance.stop()

    # On PostgreSQL other workers may share the database: they tell each other of their commits,
    # and one of them at a time runs the background jobs.
    bus = worker_bus(settings, services, start_background_jobs, stop_background_jobs)

    @contextlib.asynccontextmanager
    async def lifespan(_: Any) -> AsyncIterator[None]:
        # Membership and current state are served from memory: load them before the first request.
        await services.rooms.warm()
        if bus is None:
            await start_background_jobs()
        else:
            await bus.start()
        yield
        if bus is not None:
            await bus.stop()
        await stop_background_jobs()
        gov.directory.close()
        services.close()

    # Requests are counted only when a metrics listener will read the counts.
    observer = RequestObserver(RequestStats() if settings.metrics_bind else None, settings.log_requests)
    app = QasidApp(ROUTES.routes, lifespan, services, observer)
    app.state.gov = gov
    return app
