"""What an admin may administer: a set of units (their subtrees), or the whole tree — and whom."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class AdminScope:
    """An authenticated admin and the units they administer (None: a national admin)."""

    user_id: str
    unit_ids: frozenset[int] | None
    # Where the admin acts from, for the audit log.
    device_id: str | None = None
    source_ip: str | None = None

    @property
    def is_national(self) -> bool:
        """True for an admin of the whole tree."""
        return self.unit_ids is None

    def covers(self, unit_id: int | None) -> bool:
        """Whether this admin administers `unit_id`; things outside any unit are national only."""
        if self.unit_ids is None:
            return True
        return unit_id is not None and unit_id in self.unit_ids

    def outranks(self, is_national: bool, role_units: Iterable[int], parent_of: Mapping[int, int | None]) -> bool:
        """Whether this admin stands above every admin role an account holds (ordinary accounts hold none).

        A national admin is answerable only to national admins; the admin of a unit only to an
        admin of a unit above it. Covering the unit itself is not enough: that is a peer.
        """
        if self.unit_ids is None:
            return True
        if is_national:
            return False
        return all(self.covers(parent_of.get(unit_id)) for unit_id in role_units)
