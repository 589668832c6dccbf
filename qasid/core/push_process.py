"""The push process: `python -m qasid.core.push_process`, started and watched by the server.

Sending to push gateways costs more CPU than the event that caused it (an HTTP request per
notification), so it runs here, on another core, instead of on the server's event loop. It
talks to the server over its stdin and stdout, one JSON object a line:
- from the server: first `{"settings": {...}}`, then `{"wake": [[pusher, user, receipts, members], ...]}`
  after commits that queued notifications, `{"dequeued": [[pusher, upto], ...]}` and `{"removed": [pusher, ...]}`;
- to the server: `{"taken": [[pusher, upto], ...]}`, `{"rejected": pusher}`, `{"gone": pusher}`.
When its stdin ends (the server stops, or died), it stops: what is still queued stays queued.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

import uvloop

from qasid.config import Settings
from qasid.core import jsonutil
from qasid.core.push_sender import PushSender
from qasid.logs import configure_logging
from qasid.store.sqlite.push_reads import PushReads

MAX_LINE_BYTES = 1 << 24
# Sending pushes yields the CPU to the server's own process when both want it: a send is
# acknowledged by the server, a push may leave some milliseconds later.
PUSH_NICENESS = 10
# What of the server's settings this process needs, sent as its first line.
SETTINGS_FIELDS = ("data_dir", "database_url", "push_gateway_allowlist", "push_include_content", "push_gateway_timeout_ms",
                   "push_retry_max_ms", "log_level", "log_format")


def settings_message(settings: Settings) -> dict[str, Any]:
    """The first line the server sends: the settings this process needs."""
    return {"settings": {name: str(getattr(settings, name)) if name == "data_dir" else getattr(settings, name)
                         for name in SETTINGS_FIELDS}}


def settings_of(message: dict[str, Any]) -> Settings:
    """The settings the server sent (the rest stay at their defaults, unused here)."""
    fields = dict(message["settings"])
    fields["data_dir"] = Path(fields["data_dir"])
    fields["push_gateway_allowlist"] = tuple(fields["push_gateway_allowlist"])
    return Settings(**fields)


def dispatch(sender: PushSender, message: dict[str, Any]) -> None:
    """Act on one line from the server."""
    if "wake" in message:
        for pusher_id, user_id, receipts, members in message["wake"]:
            sender.badges.versions_now(user_id, (receipts, members))
        sender.wake(entry[0] for entry in message["wake"])
    elif "dequeued" in message:
        sender.dequeued(dict(message["dequeued"]))
    elif "removed" in message:
        sender.removed(message["removed"])


async def run() -> None:
    """Read the server's lines until its stdin ends; send what was queued meanwhile."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=MAX_LINE_BYTES)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    transport, _ = await loop.connect_write_pipe(asyncio.Protocol, sys.stdout)
    first = await reader.readline()
    if not first:
        return
    settings = settings_of(jsonutil.loads_stored(first))
    configure_logging(settings)
    reads = PushReads(settings)

    def report(message: dict[str, Any]) -> None:
        if not transport.is_closing():
            transport.write(jsonutil.dumps(message) + b"\n")

    sender = PushSender(settings, reads, report)
    try:
        sender.start()
        while line := await reader.readline():
            dispatch(sender, jsonutil.loads_stored(line))
    finally:
        await sender.stop()
        reads.close()
        transport.close()


def main() -> None:
    # Its life follows its stdin: a Ctrl-C or a service manager's SIGTERM to the whole group
    # reaches the server too, which then stops this process once it has reported what was sent.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    os.nice(PUSH_NICENESS)
    uvloop.run(run())


if __name__ == "__main__":
    main()
