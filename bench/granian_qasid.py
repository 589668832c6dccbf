"""qasid's app on granian, for the bench only: `qasid serve` itself runs on uvicorn.

    python -m granian --interface asgi --factory … bench.granian_qasid:app

The factory does what `qasid serve` does before it hands the app to its HTTP server — settings
from the environment (the bench sets QASID_*), logging, the open-files limit, the metrics
listener — in granian's worker process. With BENCH_PROBE_DIR set it also starts
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


def on_granian(server: Server) -> Server:
    """The same qasid server (port, environment, data folder) served by granian instead of uvicorn."""
    require_granian()
    server.command = [sys.executable, "-m", "granian", "--interface", "asgi", "--factory", "--host", "127.0.0.1",
                      "--port", str(server.port), "--http", "1", "--loop", "uvloop", "--no-ws",
                      "--log-level", "warning", "--backpressure", "1000000", "bench.granian_qasid:app"]
    return server
