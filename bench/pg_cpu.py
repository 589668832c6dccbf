"""PostgreSQL's CPU from /proc, so a server on PostgreSQL is charged for the work it hands over.

A server's own process tree leaves out the database backends doing its queries. Two readings,
both needing PostgreSQL on this machine (its processes readable in /proc):

- the whole of PostgreSQL: the postmaster, its live children (backends, WAL writer, checkpointer,
  autovacuum) and, through the postmaster's reaped-children counters, every backend that exited
  in between. Exact, but it also holds anything else using PostgreSQL meanwhile;
- one application_name: the live backends whose connections carry it. Only the server's own,
  but a backend that exits within the window takes its CPU with it (counted in `exited`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from bench.loadgen.measure import _TICK, cpu_seconds


def _stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def own_cpu(pid: int) -> float:
    """User + system CPU seconds of one process, 0 once it has gone."""
    try:
        fields = _stat(pid)
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK


@dataclass(frozen=True)
class Snapshot:
    total_s: float
    backends: dict[str, dict[int, float]]  # application_name -> backend pid -> CPU seconds


class PostgresCpu:
    """Takes snapshots of PostgreSQL's CPU over one monitoring connection."""

    def __init__(self, pg_url: str) -> None:
        self.conn = psycopg.connect(pg_url, autocommit=True, application_name="bench_monitor")
        row = self.conn.execute("SELECT pg_backend_pid()").fetchone()
        assert row is not None
        self.postmaster = int(_stat(int(row[0]))[1])  # a backend's parent is the postmaster

    def close(self) -> None:
        self.conn.close()

    def total_seconds(self) -> float:
        """The postmaster tree's CPU, reaped children included (fields cutime and cstime)."""
        fields = _stat(self.postmaster)
        reaped = (int(fields[13]) + int(fields[14])) / _TICK
        return cpu_seconds(self.postmaster) + reaped

    def snapshot(self, applications: list[str]) -> Snapshot:
        rows = self.conn.execute("SELECT application_name, pid FROM pg_stat_activity WHERE application_name = ANY(%s)",
                                 (applications,)).fetchall()
        backends: dict[str, dict[int, float]] = {name: {} for name in applications}
        for name, pid in rows:
            backends[name][int(pid)] = own_cpu(int(pid))
        return Snapshot(self.total_seconds(), backends)

    @staticmethod
    def delta(before: Snapshot, after: Snapshot, application: str) -> dict[str, Any]:
        """CPU seconds between two snapshots: all of PostgreSQL, and the live backends of `application`."""
        was, now = before.backends.get(application, {}), after.backends.get(application, {})
        return {
            "total_cpu_s": round(after.total_s - before.total_s, 3),
            "app_cpu_s": round(sum(cpu - was.get(pid, 0.0) for pid, cpu in now.items()), 3),
            "app_backends": len(now),
            "exited": len(was.keys() - now.keys()),
        }
