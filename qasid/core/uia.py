"""User-interactive authentication: sessions that walk a client through a flow of stages."""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass, field
from collections.abc import Callable
from typing import Any

import orjson

from qasid.core.clock import random_string
from qasid.core.errors import MatrixError

SESSION_TTL_S = 15 * 60
# How long a worker waits for another worker's copy of a session it does not know yet.
ARRIVAL_WAITS, ARRIVAL_WAIT_S = 10, 0.025


@dataclass(frozen=True)
class UiaOperation:
    """The request a session was opened for: the session completes this request and no other."""

    method: str
    path: str
    body: dict[str, Any]

    def bound_to(self, user_id: str) -> str:
        """What a session opened by `user_id` for this request is bound to (the body without `auth`)."""
        rest = {key: value for key, value in self.body.items() if key != "auth"}
        digest = hashlib.sha256(orjson.dumps(rest, option=orjson.OPT_SORT_KEYS)).hexdigest()
        return f"{user_id} {self.method} {self.path} {digest}"


@dataclass
class UiaSession:
    session_id: str
    purpose: str  # what the session may authorise: "register", or one user's one request (UiaOperation)
    completed: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)  # sent to the client: nothing secret here
    registration_token: str | None = None  # kept server-side, never part of a response
    created: float = field(default_factory=time.monotonic)


class UiaChallenge(MatrixError):
    """The 401 that tells the client which stages remain."""

    def __init__(self, flows: list[list[str]], session: UiaSession, error: MatrixError | None = None) -> None:
        super().__init__(401, error.errcode if error else "M_UNAUTHORIZED",
                         error.message if error else "Additional authentication is required")
        self.body = {
            "flows": [{"stages": stages} for stages in flows],
            "params": session.params,
            "session": session.session_id,
            "completed": list(session.completed),
        }
        if error:
            self.body.update({"errcode": error.errcode, "error": error.message})

    def to_json(self) -> dict[str, Any]:
        return self.body


class UiaSessions:
    """In-memory sessions; a restart only makes a client start its flow again.

    With several workers each session is copied to every worker (`relay`, `arrived`), so a
    client's next stage may reach any of them.
    """

    def __init__(self) -> None:
        self._sessions: dict[str, UiaSession] = {}
        # With several workers: tells the others of a session begun, moved on, or finished (None).
        self.relay: Callable[[str, dict[str, Any] | None], None] | None = None

    async def get_or_create(self, session_id: str | None, purpose: str) -> UiaSession:
        """The client's session if it exists for this purpose, else a new one."""
        self._expire()
        if session_id is not None:
            if not isinstance(session_id, str):
                raise MatrixError(400, "M_BAD_JSON", "auth.session must be a string")
            session = self._sessions.get(session_id)
            for _ in range(ARRIVAL_WAITS if self.relay is not None else 0):
                if session is not None:
                    break
                # Begun on another worker a moment ago: its copy may still be on the way.
                await asyncio.sleep(ARRIVAL_WAIT_S)
                session = self._sessions.get(session_id)
            if session is None:
                raise MatrixError(400, "M_UNKNOWN", "Unknown or expired authentication session")
            if session.purpose != purpose:
                # Completing one request's stages must not authorise another (another device, body or user).
                raise MatrixError(403, "M_FORBIDDEN",
                                  "This authentication session was begun for a different request")
            return session
        session = UiaSession(random_string(24), purpose)
        self._sessions[session.session_id] = session
        self.changed(session)
        return session

    def changed(self, session: UiaSession) -> None:
        """The session was begun or completed a stage: the other workers get a copy."""
        if self.relay is not None:
            self.relay(session.session_id, {
                "purpose": session.purpose, "completed": session.completed, "params": session.params,
                "registration_token": session.registration_token, "age": time.monotonic() - session.created})

    def arrived(self, session_id: str, copy: dict[str, Any] | None) -> None:
        """Another worker's session, as it is now (None: finished)."""
        if copy is None:
            self._sessions.pop(session_id, None)
            return
        self._sessions[session_id] = UiaSession(
            session_id, copy["purpose"], list(copy["completed"]), dict(copy["params"]),
            copy["registration_token"], time.monotonic() - float(copy["age"]))

    def finish(self, session: UiaSession) -> None:
        """The session's request is done: its session cannot be used again."""
        self._sessions.pop(session.session_id, None)
        if self.relay is not None:
            self.relay(session.session_id, None)

    def _expire(self) -> None:
        cutoff = time.monotonic() - SESSION_TTL_S
        for session_id in [s for s, v in self._sessions.items() if v.created < cutoff]:
            del self._sessions[session_id]


def next_flow_complete(flows: list[list[str]], completed: list[str]) -> bool:
    """True when the completed stages finish one of the flows."""
    return any(flow == completed[: len(flow)] and len(completed) >= len(flow) for flow in flows)
