"""Sessions of the admin console: password sign-in for admins, idle timeout, CSRF secrets, language.

The browser holds only a random session ID (in a cookie); the store keeps its SHA-256. A session
carries no Matrix access token: signing in to the console creates no device.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

from qasid.core.accounts import AccountService
from qasid.core.clock import Clock
from qasid.core.errors import MatrixError, forbidden, limit_exceeded
from qasid.gov.audit import AuditLog
from qasid.gov.org import Organisation
from qasid.gov.scope import AdminScope
from qasid.store.sqlite.console import ConsoleStore

IDLE_TIMEOUT_MS = 30 * 60_000
TOUCH_EVERY_MS = 60_000
LANGUAGES = ("en", "ur")
# Failed sign-ins, per source address and per account name: this many within the window locks
# further attempts out until the oldest failure leaves the window. Only failures count.
MAX_FAILURES = 5
FAILURE_WINDOW_S = 15 * 60.0
MAX_TRACKED = 10_000


@dataclass(frozen=True)
class ConsoleSession:
    """A live console session: whose it is, their scope and the secret its CSRF tokens prove."""

    session_hash: bytes
    user_id: str
    scope: AdminScope
    csrf_secret: str


def session_hash(session_id: str) -> bytes:
    """What the store keeps instead of the session ID."""
    return hashlib.sha256(session_id.encode()).digest()


class FailedSignIns:
    """Counts failed sign-ins per key in a sliding window, in memory (a restart forgives)."""

    def __init__(self) -> None:
        self._failures: dict[str, list[float]] = {}

    def check(self, *keys: str) -> None:
        """429 M_LIMIT_EXCEEDED while any key has too many recent failures."""
        now = time.monotonic()
        for key in keys:
            recent = [t for t in self._failures.get(key, []) if now - t < FAILURE_WINDOW_S]
            if len(recent) >= MAX_FAILURES:
                raise limit_exceeded(int((recent[0] + FAILURE_WINDOW_S - now) * 1000) + 1)

    def fail(self, *keys: str) -> None:
        """Count one failure against each key."""
        if len(self._failures) > MAX_TRACKED:
            self._failures.clear()
        now = time.monotonic()
        for key in keys:
            self._failures[key] = [t for t in self._failures.get(key, []) if now - t < FAILURE_WINDOW_S] + [now]


class ConsoleSessions:
    """Signs admins in and out of the console and finds the session behind a cookie."""

    def __init__(self, store: ConsoleStore, accounts: AccountService, org: Organisation, audit: AuditLog,
                 clock: Clock) -> None:
        self.store = store
        self.accounts = accounts
        self.audit = audit
        self.org = org
        self.clock = clock
        self.failures = FailedSignIns()

    async def sign_in(self, user: str, password: str, ip: str) -> str:
        """A new session ID for a national or unit admin with this password; 403 or 429 otherwise.

        Every failure is audited (console.sign_in.failed) and counted against the address and the name.
        """
        keys = (f"ip:{ip}", f"user:{user.strip().lower()}")
        self.failures.check(*keys)
        try:
            row = await self.accounts.check_credentials(user.strip(), password, ip, via="console.sign_in")
        except MatrixError:
            self.failures.fail(*keys)
            raise
        scope = self.org.admin_scope(row.user_id, row.is_admin)
        if scope is None or row.locked:
            self.failures.fail(*keys)
            reason = "suspended" if row.locked else "not_admin"
            await self.audit.record(actor=row.user_id, action="console.sign_in.failed",
                                             target=row.user_id, source_ip=ip, details={"reason": reason})
            raise forbidden("This account may not use the admin console")
        await self.store.delete_idle_sessions(self.clock.now_ms() - IDLE_TIMEOUT_MS)
        session_id = secrets.token_urlsafe(32)
        await self.store.create_session(
            session_hash(session_id), row.user_id, secrets.token_urlsafe(32), self.clock.now_ms(),
            also=[self.audit.prepare(actor=row.user_id, action="console.sign_in", target=row.user_id, source_ip=ip)])
        return session_id

    async def session(self, session_id: str) -> ConsoleSession | None:
        """The live session behind `session_id`, or None (unknown, idle too long, or no longer an admin)."""
        digest = session_hash(session_id)
        row = self.store.session(digest)
        now = self.clock.now_ms()
        if row is None:
            return None
        if now - row.last_seen_ts > IDLE_TIMEOUT_MS:
            await self.store.delete_session(digest)
            return None
        user = await self.accounts.store.get_user(row.user_id)
        scope = self.org.admin_scope(row.user_id, user.is_admin) if user is not None else None
        if user is None or user.deactivated or user.locked or scope is None:
            await self.store.delete_session(digest)
            return None
        if now - row.last_seen_ts > TOUCH_EVERY_MS:
            await self.store.touch_session(digest, now)
        return ConsoleSession(digest, row.user_id, scope, row.csrf_secret)

    async def sign_out(self, session: ConsoleSession, ip: str) -> None:
        """End the session and record it."""
        await self.store.delete_session(session.session_hash, also=[self.audit.prepare(
            actor=session.user_id, action="console.sign_out", target=session.user_id, source_ip=ip)])

    def language(self, user_id: str) -> str | None:
        """The console language the admin chose, if any."""
        return self.store.language(user_id)

    async def set_language(self, user_id: str, language: str) -> None:
        """Remember the admin's console language (one of LANGUAGES)."""
        if language not in LANGUAGES:
            raise MatrixError(400, "M_INVALID_PARAM", f"language must be one of {', '.join(LANGUAGES)}")
        await self.store.set_language(user_id, language)
