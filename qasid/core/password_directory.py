"""Accounts whose password an outside directory checks; gov's LDAP sign-in implements the hook.

Core never imports gov: AccountService asks this protocol, and runs with NoDirectory when no
directory is configured.
"""

from __future__ import annotations

from typing import Protocol


class PasswordDirectory(Protocol):
    """Vouches for the passwords of the accounts it manages; qasid keeps no hash of them."""

    def manages(self, user_id: str, exists: bool) -> bool:
        """Whether the directory checks this account's password: one it made, or (`exists` False) one it may make."""
        ...

    async def sign_in(self, user_id: str, password: str, ip: str, via: str) -> None:
        """Check the password with the directory, creating the account on a first sign-in.

        Raises MatrixError: 403 M_FORBIDDEN (wrong password, unknown), 403 M_USER_DEACTIVATED
        (disabled there), 503 (the directory can't be reached). Failures are audited as `{via}.failed`.
        """
        ...


class NoDirectory:
    """No directory: every password is a local one."""

    def manages(self, user_id: str, exists: bool) -> bool:
        """Nothing is managed elsewhere."""
        return False

    async def sign_in(self, user_id: str, password: str, ip: str, via: str) -> None:
        """Never called: manages() is always False."""
        raise RuntimeError("no government directory is configured")
