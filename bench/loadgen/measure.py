"""Measuring: latency percentiles, the server's RSS and CPU from /proc, the generator's own CPU."""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

_PAGE = os.sysconf("SC_PAGE_SIZE")
_TICK = os.sysconf("SC_CLK_TCK")


def percentiles(samples_s: list[float]) -> dict[str, float | None]:
    """p50/p95/p99/max in milliseconds (nearest-rank), None when there are no samples."""
    if not samples_s:
        return {"p50_ms": None, "p95_ms": None, "p99_ms": None, "max_ms": None}
    ordered = sorted(samples_s)

    def rank(q: float) -> float:
        index = min(len(ordered) - 1, max(0, int(q * len(ordered) + 0.999999) - 1))
        return round(ordered[index] * 1000, 3)

    return {"p50_ms": rank(0.50), "p95_ms": rank(0.95), "p99_ms": rank(0.99),
            "max_ms": round(ordered[-1] * 1000, 3)}


def family(pid: int) -> list[int]:
    """The process and its descendants (uvicorn workers, if any)."""
    pids, queue = [], [pid]
    while queue:
        current = queue.pop()
        pids.append(current)
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            try:
                queue.extend(int(c) for c in task.read_text().split())
            except OSError:
                pass
    return pids


def rss_bytes(pid: int) -> int:
    """Resident set size of the process and its descendants."""
    total = 0
    for p in family(pid):
        try:
            total += int(Path(f"/proc/{p}/statm").read_text().split()[1]) * _PAGE
        except (OSError, IndexError):
            pass
    return total


def cpu_seconds(pid: int, descendants: bool = True) -> float:
    """User + system CPU seconds consumed so far by the process and (unless told not to) its descendants."""
    total = 0.0
    for p in family(pid) if descendants else [pid]:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / _TICK
        except (OSError, IndexError):
            pass
    return total


@dataclass
class ResourceWindow:
    """Server peak RSS and CPU seconds over one phase, sampled every `interval` s, plus the
    generator's own CPU over the same wall time. A pid of None measures only the generator."""

    pid: int | None
    interval: float = 0.1
    peak_rss: int = 0
    _task: asyncio.Task[None] | None = field(default=None, repr=False)
    _cpu0: float = 0.0
    _own0: float = 0.0
    _wall0: float = 0.0
    result: dict[str, Any] = field(default_factory=dict)

    async def _sample(self) -> None:
        assert self.pid is not None
        while True:
            self.peak_rss = max(self.peak_rss, rss_bytes(self.pid))
            await asyncio.sleep(self.interval)

    async def __aenter__(self) -> Self:
        self._wall0 = time.monotonic()
        self._own0 = time.process_time()
        if self.pid is not None:
            self._cpu0 = cpu_seconds(self.pid)
            self._task = asyncio.create_task(self._sample())
        return self

    async def __aexit__(self, *exc: object) -> None:
        wall = time.monotonic() - self._wall0
        own = time.process_time() - self._own0
        self.result = {"wall_s": round(wall, 3), "loadgen_cpu_s": round(own, 3),
                       "loadgen_cpu_pct": round(100 * own / wall, 1) if wall else None}
        if self.pid is not None and self._task is not None:
            self._task.cancel()
            self.peak_rss = max(self.peak_rss, rss_bytes(self.pid))
            server_cpu = cpu_seconds(self.pid) - self._cpu0
            self.result.update({
                "server_cpu_s": round(server_cpu, 3),
                "server_cpu_pct": round(100 * server_cpu / wall, 1) if wall else None,
                "server_peak_rss_mb": round(self.peak_rss / 2**20, 1),
            })
