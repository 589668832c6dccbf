"""Sign-in with the government directory: core's PasswordDirectory hook, and the periodic check.

- An account the directory made has no local password: its password is checked there at every
  sign-in (and for user-interactive auth); qasid stores nothing of it.
- A first sign-in creates the account (when ldap_create_accounts is on), placed in the unit the
  settings' rules map the entry to, with its designation and name from the directory.
- An entry disabled or removed there suspends the account here: at its next sign-in, and within
  ldap_sync_interval_ms through `sync`. Enabled again, the directory's suspension is lifted.
- Local accounts (those with a local password) are never handed to the directory.
"""

from __future__ import annotations

import logging

from qasid.config import Settings
from qasid.core.clock import Clock
from qasid.core.errors import MatrixError, forbidden
from qasid.core.ids import LOCALPART_RE, parse_user_id
from qasid.gov.audit import AuditLog
from qasid.gov.ldap_client import DirectoryEntry, DirectoryUnavailable, LdapClient
from qasid.ldap_rules import parse_unit_rule, unit_for
from qasid.store.sqlite import Store
from qasid.store.sqlite.gov import Unit

log = logging.getLogger("qasid.gov")
MAX_PASSWORD_BYTES = 1024
MAX_TEXT = 200
DIRECTORY = "directory"  # the audit actor of suspensions the directory causes (like "operator": no user ID)


def unavailable() -> MatrixError:
    """The one answer when the directory can't be asked: there is no local fallback."""
    return MatrixError(503, "M_UNKNOWN", "The government directory can't be reached right now; try again later")


def _first(entry: DirectoryEntry, attribute: str) -> str:
    values = next((v for k, v in entry.attributes.items() if k.lower() == attribute.lower()), []) if attribute else []
    text = values[0].strip() if values else ""
    return "".join(c for c in text if ord(c) >= 32)[:MAX_TEXT]


class DirectorySignIn:
    """Implements core's PasswordDirectory over LDAP; `sync` is the maintenance schedule's job."""

    def __init__(self, settings: Settings, store: Store, clock: Clock, audit: AuditLog,
                 client: LdapClient | None = None) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.audit = audit
        self.enabled = bool(settings.ldap_uri)
        self.client = client or (LdapClient(settings) if self.enabled else None)
        self.rules = [parse_unit_rule(text) for text in settings.ldap_unit_rules]
        self._last_sync_ms = 0

    def manages(self, user_id: str, exists: bool) -> bool:
        """Accounts the directory made, and (when on) names nobody holds here yet."""
        if not self.enabled:
            return False
        return not exists or self.store.directory.account(user_id) is not None

    async def _failed(self, user_id: str, ip: str, via: str, reason: str) -> None:
        await self.audit.record(actor=user_id, action=f"{via}.failed", target=user_id, source_ip=ip or None,
                                details={"reason": reason})

    async def sign_in(self, user_id: str, password: str, ip: str, via: str) -> None:
        """Check the password with the directory; create, suspend or lift the account as the entry says."""
        assert self.client is not None
        localpart, server_name = parse_user_id(user_id)
        # Only names this server could have made go to the directory: no filter or DN syntax
        # (* ( ) \ NUL , =) can reach it, and it is escaped there all the same.
        if server_name != self.settings.server_name or not LOCALPART_RE.fullmatch(localpart) \
                or len(password.encode()) > MAX_PASSWORD_BYTES or "\x00" in password:
            await self._failed(user_id, ip, via, "unknown_user")
            raise forbidden("Invalid username or password")
        try:
            result = await self.client.sign_in(localpart, password)
        except DirectoryUnavailable as e:
            log.warning("directory sign-in of %s: the directory can't be asked: %s", user_id, e)
            await self._failed(user_id, ip, via, "directory_unavailable")
            raise unavailable() from None
        linked = self.store.directory.account(user_id)
        entry = result.entry
        if linked is not None and result.looked_up and (entry is None or entry.disabled):
            await self._suspend(user_id, "removed" if entry is None else "disabled")
        if entry is None or not result.password_ok:
            # In direct-bind mode a refused bind can't tell a wrong password from an unknown name.
            reason = "wrong_password" if entry else "unknown_user" if result.looked_up else "refused_by_directory"
            await self._failed(user_id, ip, via, reason)
            raise forbidden("Invalid username or password")
        if entry.disabled:
            await self._failed(user_id, ip, via, "directory_disabled")
            raise MatrixError(403, "M_USER_DEACTIVATED", "Your account is disabled in the government directory")
        if linked is None:
            await self._create(user_id, entry, ip)
        else:
            await self._lift(user_id)
            await self._follow(user_id, entry)
            await self.store.directory.mark_checked(user_id, entry.dn, self.clock.now_ms())

    def _unit(self, user_id: str, entry: DirectoryEntry) -> Unit | None:
        """The unit the rules map the entry to, if it exists here."""
        code = unit_for(self.rules, entry.dn, entry.attributes, self.settings.ldap_default_unit)
        unit = self.store.gov.unit_by_code(code) if code else None
        if unit is None:
            log.warning("directory sign-in of %s (%s): no unit %s", user_id, entry.dn,
                        f"with code {code!r}" if code else "rule matches the entry")
        return unit

    async def _follow(self, user_id: str, entry: DirectoryEntry) -> None:
        """An official moved or renamed in the directory is moved here too, at their sign-in."""
        unit = self._unit(user_id, entry)
        official = self.store.gov.official(user_id)
        designation = _first(entry, self.settings.ldap_designation_attribute)
        if unit is None or (official and (official.unit_id, official.designation) == (unit.unit_id, designation)):
            return
        await self.store.gov.set_official(user_id, unit.unit_id, designation, self.clock.now_ms(), also=[
            self.audit.prepare(actor=DIRECTORY, action="official.update_from_directory", target=user_id,
                               unit_id=unit.unit_id, details={
                                   "from_unit_id": official.unit_id if official else None,
                                   "designation": designation, "dn": entry.dn})])

    async def _create(self, user_id: str, entry: DirectoryEntry, ip: str) -> None:
        if not self.settings.ldap_create_accounts:
            raise forbidden("There is no account here for this directory user yet; ask your ministry's admin")
        unit = self._unit(user_id, entry)
        if unit is None:
            raise forbidden("Your directory entry maps to no unit of this server; ask your ministry's admin")
        designation = _first(entry, self.settings.ldap_designation_attribute)
        displayname = _first(entry, self.settings.ldap_displayname_attribute) or parse_user_id(user_id)[0]
        created = self.audit.prepare(
            actor=user_id, action="account.create_from_directory", target=user_id, source_ip=ip or None,
            unit_id=unit.unit_id, details={"dn": entry.dn, "designation": designation, "displayname": displayname})
        if not await self.store.directory.create_account(
                user_id, entry.dn, unit.unit_id, designation, displayname, self.clock.now_ms(), also=[created]):
            raise forbidden("Invalid username or password")  # taken meanwhile by a local account

    async def _suspend(self, user_id: str, why: str) -> bool:
        official = self.store.gov.official(user_id)
        return await self.store.directory.set_suspended(user_id, True, self.clock.now_ms(), also=[self.audit.prepare(
            actor=DIRECTORY, action="account.suspend_by_directory", target=user_id,
            unit_id=official.unit_id if official else None, details={"reason": why})])

    async def _lift(self, user_id: str) -> bool:
        official = self.store.gov.official(user_id)
        return await self.store.directory.set_suspended(user_id, False, self.clock.now_ms(), also=[self.audit.prepare(
            actor=DIRECTORY, action="account.unsuspend_by_directory", target=user_id,
            unit_id=official.unit_id if official else None)])

    # --- the periodic check ------------------------------------------------------------------

    async def sync_if_due(self) -> dict[str, int] | None:
        """Run `sync` when ldap_sync_interval_ms has passed since the last one (None if not run)."""
        now = self.clock.now_ms()
        if not self.enabled or not self.settings.ldap_bind_dn or \
                now - self._last_sync_ms < self.settings.ldap_sync_interval_ms:
            return None
        self._last_sync_ms = now
        return await self.sync()

    async def sync(self) -> dict[str, int]:
        """Suspend the directory accounts whose entries are disabled or gone; lift those enabled again.

        Needs the bind account (in direct-bind mode accounts are checked at sign-in only). A
        directory that can't be asked changes nothing: absence of an answer is not a removal.
        """
        counts = {"checked": 0, "suspended": 0, "unsuspended": 0}
        if not self.enabled or not self.settings.ldap_bind_dn:
            return counts
        assert self.client is not None
        accounts = {parse_user_id(a.user_id)[0]: a for a in self.store.directory.active_accounts()}
        try:
            entries = await self.client.entries([(name, a.dn) for name, a in accounts.items()])
        except DirectoryUnavailable as e:
            log.warning("directory check skipped: the directory can't be asked: %s", e)
            return counts
        for name, account in accounts.items():
            entry = entries.get(name)
            counts["checked"] += 1
            if entry is None or entry.disabled:
                counts["suspended"] += await self._suspend(account.user_id, "removed" if entry is None else "disabled")
                continue
            if account.suspended_by_directory:
                counts["unsuspended"] += await self._lift(account.user_id)
            if entry.dn != account.dn:
                await self.store.directory.mark_checked(account.user_id, entry.dn, self.clock.now_ms())
        return counts
        for account in accounts:
            entry = entries.get(account.dn)
            counts["checked"] += 1
            if entry is None or entry.disabled:
                counts["suspended"] += await self._suspend(account.user_id, "removed" if entry is None else "disabled")
            elif account.suspended_by_directory:
                counts["unsuspended"] += await self._lift(account.user_id)
        return counts

    def close(self) -> None:
        """Stop the directory's thread pool (at server stop)."""
        if self.client is not None:
            self.client.close()
