"""The data folder is private to the account that runs qasid: folders 0700, files 0600.

It holds the database (password hashes, the audit log, unencrypted events), its WAL, the signing
key and the media. Every process that opens it (the server and each `qasid admin` command) calls
`prepare_data_dir` first: the umask makes whatever it creates private from then on, and a folder
left readable by an earlier version, a permissive umask or a hand-made `mkdir` is tightened.
"""

from __future__ import annotations

import fcntl
import logging
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger("qasid")

PRIVATE_UMASK = 0o077


def prepare_data_dir(data_dir: Path) -> list[Path]:
    """Set the private umask, create the folder, and strip group/other bits below it; returns what was fixed."""
    os.umask(PRIVATE_UMASK)
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    fixed: list[Path] = []
    unfixable: list[Path] = []
    _tighten(data_dir, fixed, unfixable)
    for folder, dirnames, filenames in os.walk(data_dir):
        for name in dirnames + filenames:
            _tighten(Path(folder) / name, fixed, unfixable)
    if fixed:
        shown = ", ".join(str(p.relative_to(data_dir)) for p in fixed[:5])
        more = f" and {len(fixed) - 5} more" if len(fixed) > 5 else ""
        log.warning("data folder %s was readable by other users: made %d entries private"
                    " (folders 0700, files 0600): %s%s", data_dir, len(fixed), shown, more)
    if unfixable:
        log.error("data folder %s: could not make %d entries private (not ours?): %s",
                  data_dir, len(unfixable), ", ".join(str(p) for p in unfixable[:5]))
    return fixed


def _tighten(path: Path, fixed: list[Path], unfixable: list[Path]) -> None:
    try:
        st = path.lstat()
    except FileNotFoundError:  # a temporary file gone meanwhile
        return
    if stat.S_ISLNK(st.st_mode):
        return  # chmod would follow it out of the folder
    mode = stat.S_IMODE(st.st_mode)
    if not mode & 0o077:
        return
    try:
        os.chmod(path, mode & 0o700)
    except FileNotFoundError:
        return
    except PermissionError:
        unfixable.append(path)
        return
    fixed.append(path)


SERVING_LOCK = "serving.lock"


def hold_serving_lock(data_dir: Path) -> None:
    """Mark the folder as served for as long as this process lives (a shared lock: workers may share it).

    Refused while `qasid admin migrate-db` copies the folder's database. The descriptor is never
    closed: the kernel drops the lock when the process ends, however it ends.
    """
    fd = os.open(data_dir / SERVING_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise DataDirBusy(f"`qasid admin migrate-db` is copying data folder {data_dir}: start the server"
                          " once it has finished") from None


@contextmanager
def no_server_running(data_dir: Path) -> Iterator[None]:
    """Hold the folder against any server starting, or refuse at once if one is serving it."""
    fd = os.open(data_dir / SERVING_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DataDirBusy(f"a qasid server is running on data folder {data_dir}: stop it first") from None
        yield
    finally:
        os.close(fd)


class DataDirBusy(OSError):
    """A server holds the data folder."""
