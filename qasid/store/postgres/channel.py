"""Messages between the workers of one database, over PostgreSQL's own LISTEN/NOTIFY.

The database every worker already talks to carries them: no broker to run, secure or fail over.
A notification reaches every listening session of the database (bench/worker_wake.py measures it
beside Redis pub/sub and NATS); the channel is named after the schema, so servers sharing one
PostgreSQL in separate schemas don't hear each other.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import psycopg
from psycopg import sql

log = logging.getLogger(__name__)

# NOTIFY refuses payloads of 8000 bytes or more.
MAX_PAYLOAD_BYTES = 7900
RECONNECT_SECONDS = 1.0
# Held (per session) by the worker that runs the background jobs; one per schema, so servers
# sharing one PostgreSQL in separate schemas each have their own leader.
LEADER_LOCK_SQL = "SELECT pg_try_advisory_lock(hashtextextended('qasid leader ' || current_schema(), 0))"


class PgChannel:
    """Publish to and listen on one channel of the database; `deliver(None)` after a reconnection,
    when messages may have been lost."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.channel = ""
        self._sender: psycopg.AsyncConnection | None = None
        self._listener: asyncio.Task[None] | None = None
        self._leader: psycopg.AsyncConnection | None = None

    async def start(self, deliver: Callable[[str | None], None]) -> None:
        """Listen (from now on: the first LISTEN has taken effect when this returns)."""
        listening = await self._listen()
        self._sender = await psycopg.AsyncConnection.connect(self.url, autocommit=True)
        self._listener = asyncio.get_running_loop().create_task(self._receive(listening, deliver))

    async def _listen(self) -> psycopg.AsyncConnection:
        conn = await psycopg.AsyncConnection.connect(self.url, autocommit=True)
        row = await (await conn.execute("SELECT current_schema()")).fetchone()
        self.channel = f"qasid_{row[0] if row else 'public'}"[:63]
        await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
        return conn

    async def _receive(self, conn: psycopg.AsyncConnection, deliver: Callable[[str | None], None]) -> None:
        while True:
            try:
                async for notification in conn.notifies():
                    deliver(notification.payload)
            except psycopg.Error:
                log.warning("lost the database's notification channel; listening again", exc_info=True)
            await conn.close()
            while True:
                await asyncio.sleep(RECONNECT_SECONDS)
                try:
                    conn = await self._listen()
                    break
                except psycopg.Error:
                    continue
            deliver(None)

    async def publish(self, payload: str) -> None:
        """Send one message (under MAX_PAYLOAD_BYTES) to every worker listening, this one too."""
        if self._sender is None or self._sender.closed:
            self._sender = await psycopg.AsyncConnection.connect(self.url, autocommit=True)
        await self._sender.execute("SELECT pg_notify(%s, %s)", (self.channel, payload))

    async def try_lead(self) -> bool:
        """Whether this worker holds the leader's lock (taken now if free); it is released when the
        worker's session ends, however it ends, so another worker takes over."""
        try:
            if self._leader is None or self._leader.closed:
                self._leader = await psycopg.AsyncConnection.connect(self.url, autocommit=True)
                row = await (await self._leader.execute(LEADER_LOCK_SQL)).fetchone()
                if not (row and row[0]):
                    await self._leader.close()
                    self._leader = None
                    return False
            await self._leader.execute("SELECT 1")
            return True
        except psycopg.Error:
            if self._leader is not None:
                await self._leader.close()
            self._leader = None
            return False

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            await asyncio.gather(self._listener, return_exceptions=True)
        for conn in (self._sender, self._leader):
            if conn is not None:
                await conn.close()
