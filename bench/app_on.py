"""qasid's app on another HTTP server than its own, for the bench only: granian or uvicorn.

`qasid serve` runs the app on qasid/api/transport; to compare, the same app is served by

    python -m granian --interface asgi --factory … bench.app_on:app
    python -m uvicorn --factory … bench.app_on:app

The factory does what `qasid serve` does before it hands the app to its HTTP server — settings
from the environment (the bench sets QASID_*), logging, the open-files limit, the metrics
listener — in the other server's (worker) process. With BENCH_PROBE_DIR set it also starts
bench/parked_server.py's gc probe there, so bench/parked.py measures it the same way.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import threading
from pathlib import Path
from typing import Any

from bench.servers import Server, require_granian


def app() -> Any:
    from qasid.app import create_app
    from qasid.config_loading import load_settings
    from qasid.logs import configure_logging
    from qasid.ops.limits import raise_open_files_limit

    settings = load_settings()
    settings = dataclasses.replace(settings, data_dir=settings.data_dir.resolve())
    configure_logging(settings)
    application = create_app(settings)
    raise_open_files_limit()
    if settings.metrics_bind:
        from qasid.metrics import serve_metrics

        serve_metrics(settings.metrics_bind, application)
    if "BENCH_PROBE_DIR" in os.environ:
        from bench.parked_server import _probe

        threading.Thread(target=_probe, args=(Path(os.environ["BENCH_PROBE_DIR"]),), daemon=True).start()
    return application


def serve_on(server: Server, http_server: str) -> Server:
    """The same qasid server (port, environment, data folder) served by `http_server`:
    "qasid" (`qasid serve`, unchanged), "granian" or "uvicorn" (uvloop and httptools, as qasid ran before)."""
    if http_server == "granian":
        require_granian()
        server.command = [sys.executable, "-m", "granian", "--interface", "asgi", "--factory", "--host", "127.0.0.1",
                          "--port", str(server.port), "--http", "1", "--loop", "uvloop", "--no-ws",
                          "--log-level", "warning", "--backpressure", "1000000", "bench.app_on:app"]
    elif http_server == "uvicorn":
        server.command = [sys.executable, "-m", "uvicorn", "--factory", "--host", "127.0.0.1", "--port", str(server.port),
                          "--loop", "uvloop", "--http", "httptools", "--ws", "none", "--no-access-log",
                          "--log-level", "warning", "--no-server-header", "--no-date-header", "bench.app_on:app"]
    return server
