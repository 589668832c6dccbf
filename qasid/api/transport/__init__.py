"""qasid's own HTTP/1.1 server under the ASGI app (uvloop and httptools underneath).

A general ASGI server keeps a task with its chain of coroutine frames for every request, and a
parked long-poll is a request like any other: under uvicorn ~10.7 KiB of server memory before
qasid holds anything, where a country's phones park hundreds of thousands. Here a parked
request is held without a task (`protocol.py`), which is what lets one process hold 100,000.
"""

from qasid.api.transport.server import run

__all__ = ["run"]
