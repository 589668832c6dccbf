"""`qasid serve --workers N`: N worker processes on one listening socket, kept running.

The supervisor binds the socket once and hands it to every worker, so the kernel spreads the
connections among them; a worker that dies (even by SIGKILL) is started again, and SIGTERM stops
them all. It is independent of the HTTP server's own worker feature: each worker is a plain
`qasid serve` on an inherited socket, the same process a worker on another host runs.
Workers share state only through the database (PostgreSQL), so SQLite is refused.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from types import FrameType

from qasid.config import Settings, SettingsError
from qasid.core.signing import load_or_create_signing_key
from qasid.store.datadir import prepare_data_dir

# A worker that dies sooner than this after its start is started again only after a pause, so a
# worker that can't start (a bad setting, the database down) doesn't spin.
CRASH_LOOP_SECONDS = 5.0
STOP_GRACE_SECONDS = 15.0


def check_workers(settings: Settings, workers: int) -> None:
    """Refuse a worker count the store can't serve."""
    if workers < 1:
        raise SettingsError("--workers must be at least 1")
    if workers > 1 and not settings.database_url:
        raise SettingsError(
            "--workers needs PostgreSQL (database_url, or QASID_DATABASE_URL): the embedded SQLite"
            " database belongs to one process")


def supervise(settings: Settings, workers: int, worker_args: list[str]) -> int:
    """Run `workers` workers (`qasid <worker_args> --socket-fd FD`) until SIGTERM or SIGINT."""
    # The data folder and signing key made once, here: workers starting at once would race to.
    prepare_data_dir(settings.data_dir)
    load_or_create_signing_key(settings.signing_key_path)
    listener = socket.create_server((settings.bind_host, settings.bind_port), backlog=4096)
    listener.set_inheritable(True)
    fd = listener.fileno()
    stopping = False

    def start(index: int) -> tuple[subprocess.Popen[bytes], float]:
        command = [sys.executable, "-m", "qasid.cli", *worker_args, "--socket-fd", str(fd),
                   "--worker-index", str(index)]
        return subprocess.Popen(command, pass_fds=(fd,)), time.monotonic()

    def stop(signum: int, _: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for proc, _ in running.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)

    def forward_hup(signum: int, _: FrameType | None) -> None:
        for proc, _ in running.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGHUP)  # each worker reloads its TLS certificate

    running = {index: start(index) for index in range(workers)}
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGHUP, forward_hup)
    print(f"qasid: supervising {workers} workers on {settings.bind_host}:{settings.bind_port}", flush=True)
    while not stopping:
        time.sleep(0.2)
        for index, (proc, started) in list(running.items()):
            code = proc.poll()
            if code is None or stopping:
                continue
            print(f"qasid: worker {index} (pid {proc.pid}) exited with {code}; starting it again", flush=True)
            if time.monotonic() - started < CRASH_LOOP_SECONDS:
                time.sleep(CRASH_LOOP_SECONDS)
            running[index] = start(index)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for proc, _ in running.values():
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    listener.close()
    return 0
