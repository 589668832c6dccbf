"""The body of POST /login with m.login.password, checked: pure, no I/O."""

from __future__ import annotations

from typing import Any

from qasid.core.errors import MatrixError, bad_json, missing_param


def password_login(body: dict[str, Any]) -> tuple[str, str]:
    """(user, password) the client sent: a localpart or user ID, and the password; 400 otherwise."""
    login_type = body.get("type")
    if login_type is None:
        raise missing_param("type is required")
    if not isinstance(login_type, str):
        raise bad_json("type must be a string")
    if login_type != "m.login.password":
        raise MatrixError(400, "M_UNKNOWN", "Only m.login.password is supported")
    identifier = body.get("identifier")
    if isinstance(identifier, dict):
        if identifier.get("type") != "m.id.user":
            raise MatrixError(400, "M_UNKNOWN", "Only m.id.user identifiers are supported")
        user = identifier.get("user")
    else:
        user = body.get("user")
    if not isinstance(user, str) or not user:
        raise missing_param("identifier.user is required")
    password = body.get("password")
    if password is None:
        raise missing_param("password is required")
    if not isinstance(password, str):
        raise bad_json("password must be a string")
    return user, password
