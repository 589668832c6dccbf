"""TURN credentials for 1:1 calls (the spec's Voice over IP module), in coturn's REST-API form.

The homeserver and coturn share a secret; neither stores per-user passwords. A credential is
`username = "<expiry unix seconds>:<user_id>"` and `password = base64(HMAC-SHA1(secret, username))`:
coturn (`use-auth-secret`) recomputes the HMAC and refuses the name once its expiry has passed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

from qasid.config import Settings


def turn_credentials(settings: Settings, user_id: str, now_ms: int) -> dict[str, Any]:
    """The body of GET /voip/turnServer for `user_id`: {} when no relay is configured."""
    if not settings.turn_uris or not settings.turn_shared_secret:
        return {}
    ttl_seconds = settings.turn_user_lifetime_ms // 1000
    username = f"{now_ms // 1000 + ttl_seconds}:{user_id}"
    return {
        "username": username,
        "password": turn_password(settings.turn_shared_secret, username),
        "uris": list(settings.turn_uris),
        "ttl": ttl_seconds,
    }


def turn_password(secret: str, username: str) -> str:
    """coturn's REST-API password for `username`: base64 of HMAC-SHA1 keyed with the shared secret."""
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()
