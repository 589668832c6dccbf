"""Summarise a py-spy collapsed-stack profile (`py-spy record --format raw`): where the samples go.

    python -m bench.profile_top qasid.raw [--top 25] [--prefix qasid/]

Prints, as shares of all samples: per thread; the functions with the most inclusive samples
(on the stack anywhere, counted once per stack) under `--prefix`; and the leaf frames (self).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

_OWN_FILE = re.compile(r"^.*?/((?:qasid|bench|tests)/[^/].*)$")
_FRAME = re.compile(r"^(?P<func>.+?) \((?P<file>[^:()]+)(?::(?P<line>\d+))?\)$")


def _short(frame: str) -> str:
    """`func (path/to/qasid/core/rooms.py:123)` → `qasid/core/rooms.py:func`."""
    m = _FRAME.match(frame.strip())
    if not m:
        return frame.strip()
    path = m["file"]
    for marker in ("site-packages/", "lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    # The repository's own files, wherever the clone lies: from the package folder on.
    path = _OWN_FILE.sub(r"\1", path)
    return f"{path}:{m['func']}"


def summarise(text: str, prefix: str, top: int) -> str:
    threads: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    leaf: Counter[str] = Counter()
    total = 0
    for line in text.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        parts = stack.split(";")
        threads[parts[0]] += count
        frames = [_short(f) for f in parts[1:]]
        for frame in set(frames):
            if frame.startswith(prefix):
                inclusive[frame] += count
        if frames:
            leaf[frames[-1]] += count
    out = [f"{total} samples"]

    def block(title: str, counter: Counter[str], n: int) -> None:
        out.append(f"\n{title}")
        out.extend(f"{100 * c / total:6.1f}%  {name}" for name, c in counter.most_common(n))

    block("threads", threads, 10)
    block(f"inclusive, frames under {prefix!r}", inclusive, top)
    block("self (leaf frames)", leaf, top)
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.profile_top", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("raw", type=Path)
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--prefix", default="qasid/")
    a = p.parse_args(argv)
    print(summarise(a.raw.read_text(), a.prefix, a.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
