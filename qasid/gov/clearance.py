"""Classification and clearance enforced: who may enter a room, its marked name, removals, clearance changes.

Every way into a room (an invitation, createRoom's invite list, a join of a public or restricted
room, a knock) is an m.room.member event, and every event passes GovPolicy.check_event: the
clearance check sits there, so a route added later is covered without knowing of it.

Removal is a leave in the member's own name, with the reason, authored by the server (as
offboarding does): a kick would need a member with the power to kick, which the server can't
count on. Each removal is in the audit log.
"""

from __future__ import annotations

import logging
from typing import Any

from qasid.core.errors import MatrixError
from qasid.core.membership import set_membership
from qasid.core.pdu import compute_event_id
from qasid.core.power_levels import PowerLevels
from qasid.gov.audit import AuditLog
from qasid.gov.classification import (
    CLASSIFICATION_EVENT,
    StateMap,
    change_problem,
    clearance_rank,
    cleared,
    higher_level,
    level_guarding_entry,
    level_problem,
    marked_name,
    membership_of,
    name_problem,
    room_level,
    room_rank,
)
from qasid.gov.lifecycle import Lifecycle
from qasid.gov.org import Organisation
from qasid.gov.scope import AdminScope

log = logging.getLogger("qasid.gov")
# How far back a chain of room upgrades is followed for the level a room inherits.
MAX_UPGRADE_CHAIN = 8


class Clearance:
    """Room levels and officials' clearances, checked on every event and kept after every change."""

    def __init__(self, org: Organisation, lifecycle: Lifecycle, audit: AuditLog) -> None:
        self.org = org
        self.store = org.store
        self.levels = org.levels
        self.lifecycle = lifecycle
        self.audit = audit

    def clearance_of(self, user_id: str) -> str:
        """The level the account is cleared to: its official's clearance, else the lowest (accounts
        outside the tree, the operator's own, are cleared by nobody)."""
        official = self.store.official(user_id)
        clearance = official.clearance if official is not None else None
        return clearance if clearance is not None and clearance in self.levels else self.levels[0]

    # --- checks on every event -------------------------------------------------------------

    async def check_event(self, sender: str, room_state: StateMap, event_type: str, content: dict[str, Any],
                          state_key: str | None) -> None:
        """Refuse an entry below the room's level, a lowered or malformed level, an unmarked name."""
        if event_type == "m.room.member" and state_key is not None:
            self._check_entry(sender, room_state, content, state_key, await self.inherited_level(room_state))
        elif event_type == CLASSIFICATION_EVENT:
            self._check_classification(sender, room_state, content, state_key,
                                       await self.inherited_level(room_state))
        elif event_type == "m.room.name" and state_key == "" and membership_of(room_state, sender) == "join" \
                and (problem := name_problem(content, room_level(room_state), self.levels)):
            raise MatrixError(403, "M_FORBIDDEN", problem)

    async def inherited_level(self, room_state: StateMap, depth: int = 0) -> str | None:
        """The level of the room this one replaces (an upgrade: m.room.create names it as predecessor),
        which the new room can't go below, whatever state an upgrade copies or forgets. Only when the
        old room agrees (its tombstone names this room) or the creator is in it: a room can't borrow a
        level its creator may not know."""
        create = room_state.get(("m.room.create", ""))
        predecessor = create["content"].get("predecessor") if create is not None else None
        old_id = predecessor.get("room_id") if isinstance(predecessor, dict) else None
        rooms = self.lifecycle.rooms
        if create is None or not isinstance(old_id, str) or rooms is None or depth >= MAX_UPGRADE_CHAIN:
            return None
        old = await rooms.snapshot(old_id) if old_id != create.get("room_id") else None
        if old is None:
            return None
        tombstone = old.state.get(("m.room.tombstone", ""))
        replaced_by = tombstone["content"].get("replacement_room") if tombstone is not None else None
        if replaced_by != create.get("room_id") and old.membership(str(create.get("sender"))) != "join":
            return None
        return higher_level(room_level(old.state), await self.inherited_level(old.state, depth + 1), self.levels)

    def _check_entry(self, sender: str, room_state: StateMap, content: dict[str, Any], target: str,
                     floor: str | None) -> None:
        level = level_guarding_entry(sender, room_state, content, target, self.levels, floor)
        if level is None:
            return
        clearance = self.clearance_of(target)
        if cleared(clearance, level, self.levels):
            return
        if target != sender:
            raise MatrixError(403, "M_FORBIDDEN",
                              f"{target} is not cleared for this room: it is classified {level}")
        raise MatrixError(403, "M_FORBIDDEN",
                          f"Your clearance ({clearance}) is below this room's classification ({level})")

    def _check_classification(self, sender: str, room_state: StateMap, content: dict[str, Any],
                              state_key: str | None, floor: str | None) -> None:
        if state_key != "":
            raise MatrixError(400, "M_INVALID_PARAM", f"{CLASSIFICATION_EVENT} takes the empty state key")
        if membership_of(room_state, sender) != "join":
            return  # the room's rules refuse it, without telling the room's level
        if problem := level_problem(content, self.levels):
            raise MatrixError(400, "M_INVALID_PARAM", problem)
        new, current = content["level"], higher_level(room_level(room_state), floor, self.levels)
        if problem := change_problem(current, new, self.clearance_of(sender), self.levels):
            raise MatrixError(403, "M_FORBIDDEN", problem)
        name_pdu = room_state.get(("m.room.name", ""))
        name = name_pdu["content"].get("name") if name_pdu is not None else None
        name = name if isinstance(name, str) else ""
        if marked_name(name, new, self.levels) != name:
            power = PowerLevels(room_state, room_state.get(("m.room.create", ""), {}))
            if power.user_level(sender) < power.send_level("m.room.name", is_state=True):
                raise MatrixError(403, "M_FORBIDDEN", f"Classifying the room {new} marks its name: you need"
                                                      " the power to change the room's name")

    def protected_event_ids(self, room_state: StateMap) -> set[str]:
        """Events that can't be redacted: the level, and the name that carries its marking."""
        keys = [(CLASSIFICATION_EVENT, "")]
        if room_rank(room_level(room_state), self.levels) > 0:
            keys.append(("m.room.name", ""))
        return {compute_event_id(dict(room_state[key])) for key in keys if key in room_state}

    def adjust_create_room(self, creator: str, request: dict[str, Any]) -> dict[str, Any]:
        """Put the room's level first in initial_state (the unit's minimum if none is asked for), and
        the marking in its name, so the name and the invitations that follow are judged against it."""
        initial = request.get("initial_state")
        if initial is not None and not isinstance(initial, list):
            return request  # core refuses the malformed request
        state = list(initial or [])
        asked = [item for item in state if isinstance(item, dict) and item.get("type") == CLASSIFICATION_EVENT]
        content = asked[-1].get("content") if asked else None
        level = content.get("level") if isinstance(content, dict) else None
        minimum = self.org.policy_of_user(creator)["min_room_classification"] \
            if self.store.official(creator) is not None else None
        if minimum is not None and room_rank(minimum, self.levels) > 0 and (
                level is None or room_rank(level, self.levels) < room_rank(minimum, self.levels)):
            if asked:
                raise MatrixError(403, "M_FORBIDDEN", "Your unit's policy requires new rooms to be classified"
                                                      f" at least {minimum}")
            level = minimum
            asked = [{"type": CLASSIFICATION_EVENT, "state_key": "", "content": {"level": minimum}}]
        if not isinstance(level, str) or level not in self.levels:
            return request  # unclassified; or malformed, which check_event refuses
        rest = [item for item in state if not (isinstance(item, dict) and item.get("type") == CLASSIFICATION_EVENT)]
        for index, item in enumerate(rest):
            if isinstance(item, dict) and item.get("type") == "m.room.name" and isinstance(item.get("content"), dict) \
                    and isinstance(item["content"].get("name"), str):
                rest[index] = {**item, "content": {**item["content"],
                                                   "name": marked_name(item["content"]["name"], level, self.levels)}}
        adjusted = {**request, "initial_state": asked[-1:] + rest}
        name = request.get("name")
        if name is None or isinstance(name, str):
            adjusted["name"] = marked_name(name or "", level, self.levels)
        return adjusted

    # --- after a change --------------------------------------------------------------------

    async def after_event(self, sender: str, room_id: str, event_type: str, state_key: str | None) -> None:
        """A room's new level: record it, mark the name, and remove the members below it."""
        rooms = self.lifecycle.rooms
        if event_type != CLASSIFICATION_EVENT or state_key != "" or rooms is None:
            return
        room = await rooms.snapshot(room_id)
        level = room_level(room.state) if room is not None else None
        await self.audit.record(actor=sender, action="room.classify", target=room_id, details={"level": level})
        await self.enforce_room(room_id, sender)

    async def enforce_room(self, room_id: str, actor: str) -> int:
        """Mark the room's name (as `actor`) and remove everyone in it below its level; how many were removed."""
        rooms = self.lifecycle.rooms
        room = await rooms.snapshot(room_id) if rooms is not None else None
        level = room_level(room.state) if room is not None else None
        if room is None or level is None or room_rank(level, self.levels) == 0:
            return 0
        name_pdu = room.state.get(("m.room.name", ""))
        name = name_pdu["content"].get("name") if name_pdu is not None else None
        name = name if isinstance(name, str) else ""
        if (wanted := marked_name(name, level, self.levels)) != name:
            try:
                await rooms.send_state(actor, room_id, "m.room.name", "", {"name": wanted})  # type: ignore[union-attr]
            except MatrixError as e:
                log.warning("could not mark the name of %s: %s", room_id, e.message)
        removed = 0
        for user_id in sorted(room.members("join", "invite", "knock")):
            if not cleared(self.clearance_of(user_id), level, self.levels):
                removed += await self._remove(user_id, room_id, level, actor)
        return removed

    async def enforce_user(self, user_id: str, actor: str) -> int:
        """Remove the account from every room above its clearance; how many."""
        rooms = self.lifecycle.rooms
        if rooms is None:
            return 0
        removed = 0
        clearance = self.clearance_of(user_id)
        for room_id in sorted(await rooms.rooms_of(user_id)):
            room = await rooms.snapshot(room_id)
            level = room_level(room.state) if room is not None else None
            if room is not None and room.membership(user_id) in ("join", "invite", "knock") \
                    and not cleared(clearance, level, self.levels):
                removed += await self._remove(user_id, room_id, str(level), actor)
        return removed

    async def _remove(self, user_id: str, room_id: str, level: str, actor: str) -> int:
        assert self.lifecycle.rooms is not None
        try:
            await set_membership(self.lifecycle.rooms, user_id, room_id, user_id, "leave",
                                 reason=f"Removed by the server: clearance below this room's classification ({level})")
        except MatrixError as e:
            log.warning("could not remove %s from %s: %s", user_id, room_id, e.message)
            return 0
        official = self.store.official(user_id)
        await self.audit.record(actor=actor, action="classification.remove", target=user_id,
                                unit_id=official.unit_id if official else None,
                                details={"room_id": room_id, "level": level, "clearance": self.clearance_of(user_id)})
        return 1

    async def finish_pending(self) -> int:
        """Remove officials whose clearance was lowered from the CLI from the rooms above it."""
        pending = self.store.pending_clearance_checks()
        for user_id, actor in pending:
            await self.enforce_user(user_id, actor)
            await self.store.finish_clearance_check(user_id)
        return len(pending)

    # --- admin -----------------------------------------------------------------------------

    async def set_clearance(self, scope: AdminScope, user_id: Any, level: Any) -> dict[str, Any]:
        """Set an official's clearance (recorded with it); a lower one removes them from the rooms above it."""
        user_id, official = await self.lifecycle.official_in_scope(scope, user_id)
        if not isinstance(level, str) or level not in self.levels:
            raise MatrixError(400, "M_INVALID_PARAM", f"level must be one of {', '.join(self.levels)}")
        if official is None:
            raise MatrixError(400, "M_INVALID_PARAM", f"{user_id} is in no unit: only officials hold a clearance")
        user = await self.lifecycle.accounts.store.get_user(user_id)
        if user is None or user.deactivated:
            raise MatrixError(400, "M_INVALID_PARAM", f"{user_id} has been offboarded")
        own = self.clearance_of(scope.user_id)
        if not scope.is_national and clearance_rank(level, self.levels) > clearance_rank(own, self.levels):
            raise MatrixError(403, "M_FORBIDDEN", f"You can't grant a clearance above your own ({own})")
        before = self.clearance_of(user_id)
        lowered = clearance_rank(level, self.levels) < clearance_rank(before, self.levels)
        live = self.lifecycle.rooms is not None
        entry = self.audit.prepare(actor=scope.user_id, actor_device=scope.device_id, source_ip=scope.source_ip,
                                   action="official.clearance", target=user_id, unit_id=official.unit_id,
                                   details={"from": before, "to": level})
        await self.store.set_clearance(user_id, level, scope.user_id if lowered and not live else None,
                                       self.org.clock.now_ms(), also=[entry])
        removed = await self.enforce_user(user_id, scope.user_id) if live else None
        return {"user_id": user_id, "clearance": level, "rooms_left": removed, "rooms_pending": lowered and not live}
