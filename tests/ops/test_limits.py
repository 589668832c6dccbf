"""At start the server raises its open-files soft limit to the hard limit and logs the value."""

from __future__ import annotations

import json
import resource
import time
from pathlib import Path

import pytest

from tests.server import ServerProcess


def _limits_of(pid: int) -> tuple[int, int]:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            soft, hard = line.split()[3:5]
            return int(soft), int(hard)
    raise AssertionError("no open files line in /proc/PID/limits")


def test_serve_raises_the_open_files_soft_limit_to_the_hard_one_and_logs_it(tmp_path: Path) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard < 64:
        pytest.skip(f"needs a finite hard open-files limit to lower the soft one under (hard: {hard})")
    server = ServerProcess(tmp_path / "data", env={"QASID_LOG_FORMAT": "json"})
    # The server inherits a soft limit well under the hard one, as systemd and shells start it.
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, 512), hard))
    try:
        server.start()
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    try:
        assert server.proc is not None
        assert _limits_of(server.proc.pid) == (hard, hard)
        time.sleep(0.2)  # the start-up lines reach the file
        lines = [json.loads(line) for line in server.log_path.read_text().splitlines() if line.startswith("{")]
        said = [line["message"] for line in lines if line["logger"] == "qasid.serve"]
        assert f"open files limit {hard} (hard limit {hard})" in said[0]
    finally:
        server.stop()
