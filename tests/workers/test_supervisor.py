"""`qasid serve --workers N`: N workers on one socket, a killed one started again, all stopped by SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests import pg
from tests.server import ServerProcess


def _children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == pid:
                found.add(int(entry.name))
    return found


def _wait_for(condition: object, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_workers_need_postgresql(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data")
    env = {**server._env(), "QASID_DATABASE_URL": ""}
    out = subprocess.run([sys.executable, "-m", "qasid.cli", "serve", "--workers", "2"], env=env,
                         capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 2
    assert "--workers needs PostgreSQL" in out.stderr


def test_a_killed_worker_is_started_again_and_sigterm_stops_all(workers_schema: pg.TestSchema, tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data")
    server.database = workers_schema
    workers_schema.create()
    log = (tmp_path / "supervisor.log").open("ab")
    proc = subprocess.Popen([sys.executable, "-m", "qasid.cli", "serve", "--workers", "2"], env=server._env(),
                            stdout=log, stderr=log)
    try:
        _wait_for(lambda: len(_children(proc.pid)) == 2)
        _wait_for(lambda: _answers(server))
        victim = min(_children(proc.pid))
        os.kill(victim, signal.SIGKILL)
        for _ in range(20):
            assert _answers(server)  # the other worker still answers on the same port
        _wait_for(lambda: len(_children(proc.pid)) == 2 and victim not in _children(proc.pid))
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        assert not _children(proc.pid)
    finally:
        if proc.poll() is None:
            proc.kill()


def _answers(server: ServerProcess) -> bool:
    try:
        return httpx.get(server.base_url + "/_matrix/client/versions", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
