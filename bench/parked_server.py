"""`qasid serve`, unchanged, with a bench-side probe beside it (never part of the server).

    python [-X tracemalloc=N] -m bench.parked_server serve

A thread watches the working folder (BENCH_PROBE_DIR) for `probe.request`: it then runs a full
`gc.collect()` and, when the interpreter was started with `-X tracemalloc`, writes a snapshot to
`snapshot-<k>.pickle`; `probe.done` says it has finished. So bench/parked.py can measure RSS
after a collection and diff allocations between 0 and N parked long-polls without a hook in qasid.
"""

from __future__ import annotations

import gc
import os
import sys
import threading
import time
import tracemalloc
from pathlib import Path


def _probe(folder: Path) -> None:
    taken = 0
    while True:
        request = folder / "probe.request"
        if request.exists():
            request.unlink()
            gc.collect()
            if tracemalloc.is_tracing():
                tracemalloc.take_snapshot().dump(str(folder / f"snapshot-{taken}.pickle"))
                taken += 1
            (folder / "probe.done").write_text(str(taken))
        time.sleep(0.1)


def main() -> int:
    folder = Path(os.environ["BENCH_PROBE_DIR"])
    threading.Thread(target=_probe, args=(folder,), daemon=True, name="bench-probe").start()
    from qasid.cli import main as qasid_main

    return int(qasid_main(sys.argv[1:]) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
