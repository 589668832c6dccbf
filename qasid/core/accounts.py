"""Accounts: registration (closed, token-gated), login, passwords; devices' sessions in `device_sessions`."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from qasid.config import Settings
from qasid.core.audit_sink import AuditSink, token_fingerprint, token_id_prefix
from qasid.core.clock import Clock, random_string
from qasid.core.device_sessions import DeviceListener, DeviceSessions, Requester, hash_token
from qasid.core.errors import MatrixError, forbidden, missing_param
from qasid.core.ids import default_displayname, make_user_id, parse_user_id
from qasid.core.password_directory import NoDirectory, PasswordDirectory
from qasid.core.password_login import password_login
from qasid.core.policy import OpenPolicy, Policy
from qasid.core.ratelimit import RateLimiter
from qasid.core.uia import UiaChallenge, UiaOperation, UiaSessions, next_flow_complete
from qasid.store.sqlite.accounts import AccountStore, TokenUnavailable, UserRow

REGISTRATION_FLOWS = [["m.login.registration_token", "m.login.dummy"]]
PASSWORD_FLOWS = [["m.login.password"]]
MAX_PASSWORD_BYTES = 1024


class AccountService(DeviceSessions):
    """Everything about who a user is and how they prove it."""

    def __init__(
        self, settings: Settings, store: AccountStore, clock: Clock, ratelimiter: RateLimiter,
        device_listener: DeviceListener, audit: AuditSink | None = None,
    ) -> None:
        super().__init__(settings, store, clock, device_listener, audit)
        # Password rules, device caps and enrollment hooks; the app installs the organisation's.
        self.policy: Policy = OpenPolicy()
        # Accounts whose password the government directory checks; the app installs gov's LDAP sign-in.
        self.directory: PasswordDirectory = NoDirectory()
        self.ratelimiter = ratelimiter
        self.uia = UiaSessions()
        self._hasher = PasswordHasher(
            time_cost=settings.argon2_time_cost,
            memory_cost=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
        )
        # A real hash to verify against for unknown users, so both paths cost the same.
        self._dummy_hash = self._hasher.hash(secrets.token_hex(16))

    # --- passwords -------------------------------------------------------------------------

    async def hash_password(self, password: str) -> str:
        """argon2id, off the event loop."""
        return await asyncio.to_thread(self._hasher.hash, password)

    async def _verify_password(self, password_hash: str | None, password: str) -> bool:
        def verify() -> bool:
            try:
                return self._hasher.verify(password_hash or self._dummy_hash, password)
            except (VerificationError, InvalidHashError):
                return False

        ok = await asyncio.to_thread(verify)
        return ok and password_hash is not None

    def check_password_shape(self, password: Any) -> str:
        """Refuse non-strings and absurd lengths before any hashing work is spent."""
        if not isinstance(password, str):
            raise MatrixError(400, "M_BAD_JSON", "password must be a string")
        if len(password.encode()) > MAX_PASSWORD_BYTES:
            raise MatrixError(400, "M_INVALID_PARAM",
                              f"Password longer than {MAX_PASSWORD_BYTES} bytes")
        if len(password) < 8:
            raise MatrixError(400, "M_WEAK_PASSWORD", "Password must be at least 8 characters")
        return password

    # --- users -----------------------------------------------------------------------------

    async def create_user(
        self, localpart: str, password: str | None, is_admin: bool = False, actor: str | None = None,
    ) -> str:
        """Create an account directly (operator CLI, admin API); `actor` (who asked) is audited with it."""
        user_id = make_user_id(localpart, self.settings.server_name)
        password_hash = await self.hash_password(self.check_password_shape(password)) if password else None
        created = self.audit.prepare(actor=actor or user_id, action="account.create", target=user_id,
                                     details={"is_admin": is_admin, "with_password": password_hash is not None})
        if not await self.store.create_user(user_id, password_hash, is_admin, self.clock.now_ms(),
                                            displayname=default_displayname(user_id), also=[created]):
            raise MatrixError(400, "M_USER_IN_USE", "User ID already taken")
        return user_id

    async def username_available(self, localpart: str) -> bool:
        """True if nobody has this username (the localpart is also checked for validity)."""
        user_id = make_user_id(localpart.lower(), self.settings.server_name)
        return await self.store.get_user(user_id) is None

    async def register(self, body: dict[str, Any], ip: str) -> dict[str, Any]:
        """POST /register: closed registration, completed only through a valid registration token."""
        if body.get("kind", "user") not in ("user", None):
            raise MatrixError(403, "M_FORBIDDEN", "Guest access is disabled")
        auth = body.get("auth")
        if auth is not None and not isinstance(auth, dict):
            raise MatrixError(400, "M_BAD_JSON", "auth must be an object")
        username = body.get("username")
        if username is not None and not isinstance(username, str):
            raise MatrixError(400, "M_BAD_JSON", "username must be a string")
        password = body.get("password")
        if password is not None:
            self.check_password_shape(password)
        user_id = None
        if username:
            user_id = make_user_id(username.lower(), self.settings.server_name)
            if await self.store.get_user(user_id) is not None:
                raise MatrixError(400, "M_USER_IN_USE", "User ID already taken")
        session = await self.uia.get_or_create(auth.get("session") if auth else None, "register")
        if auth is None or "type" not in auth:
            raise UiaChallenge(REGISTRATION_FLOWS, session)
        self.ratelimiter.check("register", ip)
        stage = auth["type"]
        if stage == "m.login.registration_token":
            token = auth.get("token")
            if not isinstance(token, str) or not await self.token_valid(token):
                raise UiaChallenge(REGISTRATION_FLOWS, session,
                                   MatrixError(401, "M_FORBIDDEN", "Invalid registration token"))
            session.registration_token = token
            if stage not in session.completed:
                session.completed.append(stage)
        elif stage == "m.login.dummy":
            if session.completed[:1] == ["m.login.registration_token"] and stage not in session.completed:
                session.completed.append(stage)
        else:
            raise UiaChallenge(REGISTRATION_FLOWS, session,
                               MatrixError(401, "M_UNRECOGNIZED", f"Unsupported stage {stage}"))
        self.uia.changed(session)
        if not next_flow_complete(REGISTRATION_FLOWS, session.completed):
            raise UiaChallenge(REGISTRATION_FLOWS, session)
        # All stages done: the account is created, and the token consumed, in one transaction.
        if not isinstance(password, str):
            raise missing_param("password is required")
        token = session.registration_token
        if token is None:  # the flow's first stage stores it; never absent once the flow is complete
            raise UiaChallenge(REGISTRATION_FLOWS, session)
        if user_id is None:
            user_id = make_user_id(random_string(12).lower(), self.settings.server_name)
        await self.policy.check_password(password, user_id=None, registration_token=token)
        password_hash = await self.hash_password(password)
        # The account, its place in the organisation and the redemption's entry (filed under that
        # place) commit together.
        placement = await self.policy.registration_writes(user_id, token)
        try:
            created = await self.store.create_user(
                user_id, password_hash, False, self.clock.now_ms(),
                registration_token_hash=hash_token(token),
                also=[*placement, self.audit.prepare(
                    actor=user_id, action="registration_token.redeemed", target=user_id, source_ip=ip,
                    details={"token": token_fingerprint(token)})],
            )
        except TokenUnavailable:
            self.uia.finish(session)
            raise MatrixError(401, "M_FORBIDDEN", "The registration token has been used up or expired") from None
        if not created:
            raise MatrixError(400, "M_USER_IN_USE", "User ID already taken")
        self.uia.finish(session)
        await self.policy.after_registration(user_id)
        # After the placement: a name an enrollment token carries wins over the default.
        await self.store.set_displayname_if_unset(user_id, default_displayname(user_id))
        if body.get("inhibit_login"):
            return {"user_id": user_id}
        return await self._new_session(
            user_id, _opt_str(body, "device_id"), _opt_str(body, "initial_device_display_name"), ip)

    async def token_valid(self, token: str) -> bool:
        """GET /register/m.login.registration_token/validity: usable right now."""
        row = await self.store.get_registration_token(hash_token(token))
        if row is None:
            return False
        if row.expiry_time is not None and row.expiry_time <= self.clock.now_ms():
            return False
        return row.uses_allowed is None or row.completed < row.uses_allowed

    async def registration_token_hash(self, token_or_id: str) -> bytes | None:
        """The stored hash of a registration token named by its ID or by itself; None if unknown."""
        prefix = token_id_prefix(token_or_id)
        if prefix is not None:
            found = await self.store.registration_token_hashes_by_prefix(prefix)
            if len(found) == 1:
                return found[0]
        row = await self.store.get_registration_token(hash_token(token_or_id))
        return row.token_hash if row else None

    # --- login -----------------------------------------------------------------------------

    async def login(self, body: dict[str, Any], ip: str) -> dict[str, Any]:
        """POST /login with m.login.password; the same cost whether or not the user exists."""
        user, password = password_login(body)
        self.ratelimiter.check("login", ip)
        self.ratelimiter.check("login", user.lower())
        row = await self.check_credentials(user, password, ip)
        user_id = row.user_id
        if row.locked:
            raise MatrixError(401, "M_USER_LOCKED", "This account is locked", soft_logout=True)
        device_id = _opt_str(body, "device_id")
        if device_id is None or await self.store.get_device(user_id, device_id) is None:
            await self.policy.check_new_device(user_id, len(await self.store.list_devices(user_id)))
        return await self._new_session(
            user_id, _opt_str(body, "device_id"), _opt_str(body, "initial_device_display_name"), ip, login=True)

    async def check_credentials(self, user: str, password: str, ip: str, via: str = "login") -> UserRow:
        """The account `user` names, if `password` is its password and it isn't offboarded; 403 otherwise.

        The same cost whether or not the user exists; each failure is audited as `{via}.failed`.
        """
        user_id = self.resolve_user(user)
        row = await self.store.get_user(user_id)
        if not (row and row.deactivated) and self.directory.manages(user_id, row is not None):
            await self.directory.sign_in(user_id, password, ip, via)
            signed_in = await self.store.get_user(user_id)
            if signed_in is None:  # offboarded or gone meanwhile
                raise forbidden("Invalid username or password")
            return signed_in
        too_long = len(password.encode()) > MAX_PASSWORD_BYTES
        ok = not too_long and await self._verify_password(row.password_hash if row else None, password)
        if too_long:
            raise forbidden("Invalid username or password")
        if row is None or not ok or row.deactivated:
            reason = "unknown_user" if row is None else "deactivated" if ok else "wrong_password"
            await self.audit.record(actor=user_id, action=f"{via}.failed", target=user_id, source_ip=ip,
                                    details={"reason": reason})
            raise forbidden("Invalid username or password")
        return row

    def resolve_user(self, user: str) -> str:
        """A full user ID from what the client sent (a localpart or a user ID)."""
        if user.startswith("@"):
            parse_user_id(user)
            return user.lower()
        return f"@{user.lower()}:{self.settings.server_name}"

    def _resolves_to(self, user: str) -> str | None:
        try:
            return self.resolve_user(user)
        except MatrixError:
            return None

    # --- user-interactive auth with a password ---------------------------------------------

    async def require_password_uia(self, requester: Requester, operation: UiaOperation) -> None:
        """Ask for, then check, the user's password before a sensitive action.

        The session is bound to the user and to the request that began it (method, path, body
        without `auth`): completing it for another request is 403 M_FORBIDDEN.
        """
        auth = operation.body.get("auth")
        if auth is not None and not isinstance(auth, dict):
            raise MatrixError(400, "M_BAD_JSON", "auth must be an object")
        session_id = auth.get("session") if auth else None
        session = await self.uia.get_or_create(session_id if isinstance(session_id, str) else None,
                                         operation.bound_to(requester.user_id))
        if not auth or auth.get("type") != "m.login.password":
            raise UiaChallenge(PASSWORD_FLOWS, session)
        self.ratelimiter.check("login", requester.user_id)
        identifier = auth.get("identifier") or {}
        claimed = identifier.get("user") if isinstance(identifier, dict) else None
        claimed = claimed or auth.get("user") or requester.user_id
        if not isinstance(claimed, str) or not claimed or self._resolves_to(claimed) != requester.user_id:
            # Not a failed stage the client may retry: a user proves only who they are.
            raise forbidden("The password must be the requester's own")
        password = auth.get("password")
        user = await self.store.get_user(requester.user_id)
        if not isinstance(password, str) or user is None or not await self._password_ok(user, password):
            raise UiaChallenge(PASSWORD_FLOWS, session, forbidden("Invalid password"))
        self.uia.finish(session)

    async def _password_ok(self, user: UserRow, password: str) -> bool:
        """The account's own password: the directory's word for its accounts (503 if it is down)."""
        if not self.directory.manages(user.user_id, True):
            return await self._verify_password(user.password_hash, password[:MAX_PASSWORD_BYTES])
        try:
            await self.directory.sign_in(user.user_id, password, "", "uia")
        except MatrixError as e:
            if e.status != 403:
                raise
            return False
        return True

    def password_is_local(self, user_id: str) -> bool:
        """False for an account whose password the government directory holds: it can't change here."""
        return not self.directory.manages(user_id, True)

    async def change_password(self, requester: Requester, operation: UiaOperation, source_ip: str | None = None) -> None:
        """POST /account/password: UIA with the old password, then optionally sign out other devices.

        The new password and its audit entry commit together."""
        if not self.password_is_local(requester.user_id):
            raise forbidden("Your password is the government directory's: change it there")
        body = operation.body
        new_password = body.get("new_password")
        if new_password is None:
            raise missing_param("new_password is required")
        self.check_password_shape(new_password)
        await self.policy.check_password(new_password, user_id=requester.user_id, registration_token=None)
        await self.require_password_uia(requester, operation)
        logout = body.get("logout_devices", True)
        await self.store.set_password_hash(requester.user_id, await self.hash_password(new_password), also=[
            self.audit.prepare(actor=requester.user_id, actor_device=requester.device_id, source_ip=source_ip,
                               action="account.password_change", target=requester.user_id,
                               details={"logout_devices": bool(logout)})])
        if logout:
            devices = await self.store.list_devices(requester.user_id)
            await self.delete_devices(
                requester.user_id, [d.device_id for d in devices if d.device_id != requester.device_id],
                source_ip=source_ip, reason="password_change")


def _opt_str(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 255:
        raise MatrixError(400, "M_BAD_JSON", f"{key} must be a string of at most 255 characters")
    return value
