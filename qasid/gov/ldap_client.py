"""The government directory over LDAP (ldap3): binds and searches, off the event loop, bounded in time.

ldap3 is synchronous, so every exchange runs on a small thread pool of its own (a directory that
hangs can't starve the default pool that hashes passwords), with ldap3's own socket timeouts and
an overall deadline. Every connection is encrypted and the server's certificate checked: ldaps://,
or ldap:// upgraded with StartTLS before any bind; a plain-text bind is never made.
"""

from __future__ import annotations

import asyncio
import functools
import math
import re
import ssl
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from ldap3 import BASE, NONE, SIMPLE, SUBTREE, Connection, Server, Tls
from ldap3.core.exceptions import LDAPException
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import escape_rdn

from qasid.config import Settings
from qasid.ldap_rules import STATE_ATTRIBUTES, entry_disabled, parse_unit_rule

T = TypeVar("T")
INVALID_CREDENTIALS = 49
NO_SUCH_OBJECT = 32
SYNC_BATCH = 50  # entries read per connection (and per deadline) by the periodic check


class DirectoryUnavailable(Exception):
    """The directory could not be asked: down, too slow, refused TLS, or refused the bind account."""


@dataclass(frozen=True)
class DirectoryEntry:
    """A user's entry: its DN, the attributes asked for, and whether it is disabled there."""

    dn: str
    attributes: dict[str, list[str]]
    disabled: bool


@dataclass(frozen=True)
class SignInResult:
    """What the directory said: the entry (None if not found, or unknown), and whether the password is right.

    `looked_up` is False in direct-bind mode when the bind failed: then nothing is known of the entry.
    """

    entry: DirectoryEntry | None
    password_ok: bool
    looked_up: bool


class LdapClient:
    """Signs users in against the directory and reads their entries back for the periodic check."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        match = re.fullmatch(r"(ldaps?)://(\[[^\]]+\]|[^:/]+)(?::([0-9]+))?/?", settings.ldap_uri)
        if match is None:
            raise ValueError("ldap_uri is not an LDAP URI")
        self.use_ssl = match[1] == "ldaps"
        self.host = match[2].strip("[]")
        self.port = int(match[3]) if match[3] else (636 if self.use_ssl else 389)
        self.timeout = settings.ldap_timeout_ms / 1000
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="qasid-ldap")
        rule_attributes = [parse_unit_rule(rule).attribute for rule in settings.ldap_unit_rules]
        wanted = [settings.ldap_designation_attribute, settings.ldap_displayname_attribute, *STATE_ATTRIBUTES,
                  *rule_attributes]
        self.attributes = sorted({a for a in wanted if a})

    # --- the async face ---------------------------------------------------------------------

    async def _run(self, work: Callable[[], T]) -> T:
        try:
            return await asyncio.wait_for(
                asyncio.get_running_loop().run_in_executor(self._pool, work), self.timeout * 2)
        except TimeoutError:
            raise DirectoryUnavailable(f"no answer within {self.timeout * 2:g} s") from None
        except (LDAPException, OSError) as e:  # a socket or TLS failure at any step ldap3 doesn't wrap
            raise DirectoryUnavailable(str(e) or type(e).__name__) from None

    async def sign_in(self, username: str, password: str) -> SignInResult:
        """Find the user and bind as them with the password (which must not be empty)."""
        if not password:
            # An LDAP simple bind with an empty password is an anonymous bind that "succeeds".
            return SignInResult(None, False, False)
        return await self._run(lambda: self._sign_in(username, password))

    async def entries(self, accounts: Sequence[tuple[str, str]]) -> dict[str, DirectoryEntry | None]:
        """Each (username, last known DN)'s entry by username (None where it is gone), read with the
        bind account, a batch per deadline."""
        found: dict[str, DirectoryEntry | None] = {}
        for start in range(0, len(accounts), SYNC_BATCH):
            batch = accounts[start:start + SYNC_BATCH]
            found.update(await self._run(functools.partial(self._entries, batch)))
        return found

    def close(self) -> None:
        """Stop the thread pool (threads still talking to a slow directory end on their own timeout)."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    # --- the blocking part, on the pool -----------------------------------------------------

    def _connection(self, dn: str, password: str) -> Connection:
        """An open, encrypted connection, not yet bound."""
        ca_file = self.settings.ldap_ca_file or None
        # ldap3 matches the certificate against the host name itself, after the handshake (LDAPS and StartTLS).
        tls = Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=ca_file, version=ssl.PROTOCOL_TLS_CLIENT)
        server = Server(self.host, port=self.port, use_ssl=self.use_ssl, tls=tls, get_info=NONE,
                        connect_timeout=self.timeout)
        # ldap3 packs the receive timeout into SO_RCVTIMEO: whole seconds only.
        conn = Connection(server, user=dn, password=password, authentication=SIMPLE,
                          receive_timeout=max(1, math.ceil(self.timeout)),
                          read_only=True, raise_exceptions=False, auto_referrals=False, check_names=False)
        try:
            conn.open()
            if not self.use_ssl and not conn.start_tls():
                raise DirectoryUnavailable(f"StartTLS refused: {conn.result.get('description')}")
        except (LDAPException, OSError) as e:
            _close(conn)
            raise DirectoryUnavailable(str(e) or type(e).__name__) from None
        return conn

    def _bind(self, dn: str, password: str) -> tuple[Connection | None, bool]:
        """(the bound connection, True) or (None, False) if the directory refused these credentials."""
        conn = self._connection(dn, password)
        try:
            if conn.bind():
                return conn, True
            code = conn.result.get("result")
        except (LDAPException, OSError) as e:
            _close(conn)
            raise DirectoryUnavailable(str(e) or type(e).__name__) from None
        _close(conn)
        if code == INVALID_CREDENTIALS:
            return None, False
        raise DirectoryUnavailable(f"bind refused: {conn.result.get('description')}")

    def _service_connection(self) -> Connection:
        conn, ok = self._bind(self.settings.ldap_bind_dn, self.settings.ldap_bind_password)
        if conn is None or not ok:
            raise DirectoryUnavailable("the directory refused the bind account (ldap_bind_dn)")
        return conn

    def _search(self, conn: Connection, base: str, search_filter: str, scope: Any) -> list[DirectoryEntry]:
        try:
            conn.search(base, search_filter, search_scope=scope, attributes=self.attributes, size_limit=2,
                        time_limit=max(1, int(self.timeout)))
        except (LDAPException, OSError) as e:
            raise DirectoryUnavailable(str(e) or type(e).__name__) from None
        code = conn.result.get("result")
        if code == NO_SUCH_OBJECT:
            return []
        if code not in (0, 4):  # success, size limit exceeded (more than one match: refused below)
            raise DirectoryUnavailable(f"search failed: {conn.result.get('description')}")
        found = []
        for item in conn.response or []:
            if item.get("type") != "searchResEntry":
                continue
            attributes = {name: [str(v) for v in (values if isinstance(values, list) else [values])]
                          for name, values in item["attributes"].items()}
            found.append(DirectoryEntry(item["dn"], attributes, entry_disabled(attributes)))
        return found

    def _read(self, conn: Connection, dn: str) -> DirectoryEntry | None:
        """The entry at `dn` with the disabled filter applied, or None if it is gone.

        An entry the user filter no longer matches counts as gone: that filter says who may sign in.
        """
        entries = self._search(conn, dn, self.settings.ldap_user_filter or "(objectClass=*)", BASE)
        if not entries:
            return None
        entry = entries[0]
        disabled_filter = self.settings.ldap_disabled_filter
        if not entry.disabled and disabled_filter and self._search(conn, dn, disabled_filter, BASE):
            entry = DirectoryEntry(entry.dn, entry.attributes, True)
        return entry

    def _sign_in(self, username: str, password: str) -> SignInResult:
        settings = self.settings
        if not settings.ldap_bind_dn:
            user_dn = settings.ldap_user_dn_template.replace("{username}", escape_rdn(username))
            conn, ok = self._bind(user_dn, password)
            if conn is None:
                return SignInResult(None, False, False)
            try:
                return SignInResult(self._read(conn, user_dn), ok, True)
            finally:
                _close(conn)
        service = self._service_connection()
        try:
            entry = self._find(service, username)
        finally:
            _close(service)
        if entry is None:
            return SignInResult(None, False, True)
        user, ok = self._bind(entry.dn, password)
        if user is not None:
            _close(user)
        return SignInResult(entry, ok, True)

    def _find(self, conn: Connection, username: str) -> DirectoryEntry | None:
        """The user's entry, searched by name (escaped) under the base DN; None if none or not unique."""
        settings = self.settings
        wanted = f"({settings.ldap_user_attribute}={escape_filter_chars(username)})"
        search_filter = f"(&{wanted}{settings.ldap_user_filter})" if settings.ldap_user_filter else wanted
        found = self._search(conn, settings.ldap_base_dn, search_filter, SUBTREE)
        if len(found) != 1:  # none, or a name that is not unique: nobody to bind as
            return None
        return self._read(conn, found[0].dn)

    def _entries(self, accounts: Sequence[tuple[str, str]]) -> dict[str, DirectoryEntry | None]:
        service = self._service_connection()
        try:
            # An entry moved to another OU (a reorganisation) is found again by its name.
            return {username: self._read(service, dn) or self._find(service, username)
                    for username, dn in accounts}
        finally:
            _close(service)


def _close(conn: Connection) -> None:
    """Unbind and close, whatever state the connection is in (a failed TLS handshake leaves no socket)."""
    try:
        conn.unbind()
    except (LDAPException, OSError):
        pass
