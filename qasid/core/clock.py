"""The one clock and the one ID generator, passed in so tests can set them."""

from __future__ import annotations

import secrets
import string
import time

_ALPHABET = string.ascii_letters


class Clock:
    """Milliseconds since the epoch, as Matrix timestamps are."""

    def now_ms(self) -> int:
        return int(time.time() * 1000)


def random_string(length: int, alphabet: str = _ALPHABET) -> str:
    """A CSPRNG string for IDs (device IDs, room IDs, media IDs)."""
    return "".join(secrets.choice(alphabet) for _ in range(length))


def new_registration_token() -> str:
    """144 bits from the CSPRNG, URL-safe, for registration and enrollment tokens.

    Never begins with "-", so it can be passed to a command line without being read as an option.
    """
    while True:
        token = secrets.token_urlsafe(18)
        if not token.startswith("-"):
            return token


def new_access_token() -> str:
    """256 bits from the CSPRNG, URL-safe."""
    return "qat_" + secrets.token_urlsafe(32)
