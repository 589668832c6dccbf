"""The process's own limits, raised where the OS allows when the server starts."""

from __future__ import annotations

import logging
import resource

log = logging.getLogger("qasid.serve")

# Below this many descriptors a busy server runs out: every parked long-poll holds one.
FEW_OPEN_FILES = 10_000


def raise_open_files_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit, log the result and return the soft limit now.

    Each connection (a parked /sync above all) holds a file descriptor; systemd and shells
    commonly start a process with a soft limit of 1,024 under a far higher hard one.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        wanted = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        except (ValueError, OSError) as e:  # e.g. above the kernel's nr_open: keep what we have
            log.warning("open files limit: could not raise %d to %d: %s", soft, wanted, e)
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    shown_hard = "unlimited" if hard == resource.RLIM_INFINITY else str(hard)
    if soft < FEW_OPEN_FILES:
        log.warning("open files limit %d (hard limit %s): too few for many clients; raise the hard limit"
                    " (systemd: LimitNOFILE=) so each parked long-poll can hold its connection", soft, shown_hard)
    else:
        log.info("open files limit %d (hard limit %s)", soft, shown_hard)
    return soft
