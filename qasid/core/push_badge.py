"""A push's badge (`counts.unread`): the recipient's unread notifications in every room.

Counting every unread notification is a scan as long as the backlog, once per push. So a count
is kept with the stream position it was made at, and while the user has stored no receipt and no
member event of theirs came, only the notifications since are added (all unread: newer than any
receipt the count saw). Whether either happened the server says with each wake, as the user's
`versions` (its receipt and membership counters); a count is kept only once they are known.
"""

from __future__ import annotations

from dataclasses import dataclass

from qasid.store.sqlite.push_reads import PushReads

MAX_KEPT_BADGES = 10_000
Versions = tuple[int, int]  # (receipts stored, member events published) by the user, as the server counts


@dataclass(frozen=True)
class _Badge:
    """A user's badge as counted up to a stream position, and the versions it depended on."""

    total: int
    upto: int
    versions: Versions


class Badges:
    """Badges counted from the database, kept per user while the server's versions hold still."""

    def __init__(self, reads: PushReads) -> None:
        self.reads = reads
        self._kept: dict[str, _Badge] = {}
        self._versions: dict[str, Versions] = {}

    def versions_now(self, user_id: str, versions: Versions) -> None:
        """The user's versions as of the server's latest wake for them."""
        self._versions[user_id] = versions
        if len(self._versions) > MAX_KEPT_BADGES:
            self._versions.clear()
            self._kept.clear()

    def count(self, user_id: str, fresh: bool = False) -> int:
        """The user's badge now; `fresh` counts it all again (a retry, long after the last wake)."""
        versions = self._versions.get(user_id)
        kept = self._kept.get(user_id)
        if not fresh and kept is not None and kept.versions == versions:
            upto, since = self.reads.notifications_since(user_id, kept.upto)
            total, exact = kept.total + since, True
        else:
            upto = self.reads.position()
            total, exact = self.reads.unread_upto(user_id, upto)
        if exact and versions is not None:
            if len(self._kept) >= MAX_KEPT_BADGES:
                self._kept.clear()
            self._kept[user_id] = _Badge(total, upto, versions)
        else:
            self._kept.pop(user_id, None)
        return total
