"""The organisation tree: units, their ancestry, scoped admins and per-unit policy."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from typing import Any

from qasid.core.audit_sink import AuditAppend
from qasid.core.clock import Clock
from qasid.core.errors import MatrixError
from qasid.gov.classification import DEFAULT_LEVELS
from qasid.gov.rules import effective_policy, is_looser, policy_limits, validate_policy
from qasid.gov.scope import AdminScope
from qasid.store.sqlite.gov import GovStore, Unit

UNIT_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")
MAX_NAME_CHARS = 200


def unknown_unit(what: object) -> MatrixError:
    """The one error for a unit that doesn't exist or lies outside the admin's scope."""
    return MatrixError(404, "M_NOT_FOUND", f"Unknown unit {what}")


class Organisation:
    """Reads the tree fresh from the store on each call, so CLI changes apply to a running server."""

    def __init__(self, store: GovStore, clock: Clock, levels: tuple[str, ...] = DEFAULT_LEVELS) -> None:
        self.store = store
        self.clock = clock
        # The classification levels, lowest first (the classification_levels setting).
        self.levels = levels

    # --- the tree --------------------------------------------------------------------------

    def ancestry(self, unit_id: int, units: dict[int, Unit] | None = None) -> list[Unit]:
        """The unit and its ancestors, root first."""
        units = units if units is not None else self.store.units()
        chain: list[Unit] = []
        current: int | None = unit_id
        while current is not None and current in units and len(chain) <= len(units):
            chain.append(units[current])
            current = units[current].parent_id
        return list(reversed(chain))

    def ministry_of(self, unit_id: int) -> int:
        """The top-level unit above (or equal to) `unit_id`."""
        chain = self.ancestry(unit_id)
        return chain[0].unit_id if chain else unit_id

    def subtree(self, unit_ids: list[int], units: dict[int, Unit] | None = None) -> frozenset[int]:
        """The units and everything below them."""
        units = units if units is not None else self.store.units()
        children: dict[int | None, list[int]] = {}
        for unit in units.values():
            children.setdefault(unit.parent_id, []).append(unit.unit_id)
        found: set[int] = set()
        todo = [u for u in unit_ids if u in units]
        while todo:
            unit_id = todo.pop()
            if unit_id not in found:
                found.add(unit_id)
                todo.extend(children.get(unit_id, []))
        return frozenset(found)

    def admin_scope(self, user_id: str, is_server_admin: bool) -> AdminScope | None:
        """A server admin is national; a unit admin's scope is their units' subtrees; others None."""
        if is_server_admin:
            return AdminScope(user_id, None)
        roles = self.store.admin_role_units(user_id)
        return AdminScope(user_id, self.subtree(roles)) if roles else None

    def parents(self) -> dict[int, int | None]:
        """Each unit's parent (None for a ministry)."""
        return {u.unit_id: u.parent_id for u in self.store.units().values()}

    def outranks(self, scope: AdminScope, user_id: str, is_server_admin: bool) -> bool:
        """Whether the admin stands above every admin role `user_id` holds (see AdminScope.outranks)."""
        return scope.outranks(is_server_admin, self.store.admin_role_units(user_id), self.parents())

    def outranked(self, scope: AdminScope, user_ids: list[str]) -> list[str]:
        """The accounts among `user_ids` that the admin stands above, in order; reads the admin tables once."""
        if scope.is_national:
            return user_ids
        national, roles, parents = self.store.server_admins(), self.store.admin_roles(), self.parents()
        return [u for u in user_ids if scope.outranks(u in national, roles.get(u, ()), parents)]

    def check_may_appoint(self, scope: AdminScope, unit: Unit) -> None:
        """Granting or revoking the admin role of `unit` is for those who stand above its admins."""
        if not scope.outranks(False, [unit.unit_id], self.parents()):
            raise MatrixError(403, "M_FORBIDDEN",
                              f"Only an admin of a unit above {unit.code} may appoint or remove its admins")

    def unit_in_scope(self, scope: AdminScope, unit_id: Any) -> Unit:
        """The unit, if it exists and the admin covers it; 404 otherwise (no existence leak)."""
        if not isinstance(unit_id, int) or isinstance(unit_id, bool):
            raise MatrixError(400, "M_INVALID_PARAM", "unit_id must be an integer")
        unit = self.store.units().get(unit_id)
        if unit is None or not scope.covers(unit_id):
            raise unknown_unit(unit_id)
        return unit

    def unit_by_code_in_scope(self, scope: AdminScope, code: str) -> Unit:
        """The unit with this code, if the admin covers it."""
        unit = self.store.unit_by_code(code)
        if unit is None or not scope.covers(unit.unit_id):
            raise unknown_unit(repr(code))
        return unit

    def list_units(self, scope: AdminScope) -> list[Unit]:
        """Units the admin covers, by code."""
        return sorted((u for u in self.store.units().values() if scope.covers(u.unit_id)), key=lambda u: u.code)

    # --- changes ---------------------------------------------------------------------------

    async def create_unit(
        self, scope: AdminScope, parent_id: int | None, code: Any, name: Any,
        record: Callable[[Unit], Sequence[AuditAppend]] = lambda unit: (),
    ) -> Unit:
        """A new unit under `parent_id` (a new ministry when None: national admins only).

        `record(unit)` is its audit entry, committed with it."""
        code, name = _check_code(code), _check_name(name)
        if parent_id is None:
            if not scope.is_national:
                raise MatrixError(403, "M_FORBIDDEN", "Only a national admin may create a top-level unit")
        else:
            self.unit_in_scope(scope, parent_id)
        unit_id = await self.store.create_unit(parent_id, code, name, self.clock.now_ms(),
                                               then=lambda new_id: record(Unit(new_id, parent_id, code, name)))
        if unit_id is None:
            raise MatrixError(409, "M_UNIT_IN_USE", f"A unit with code {code!r} already exists")
        return Unit(unit_id, parent_id, code, name)

    async def update_unit(
        self, scope: AdminScope, unit_id: int, body: dict[str, Any],
        record: Callable[[Unit], Sequence[AuditAppend]] = lambda unit: (),
    ) -> Unit:
        """Rename and/or move a unit; it can't move outside the admin's scope or under itself.

        `record(unit)` is its audit entry, committed with the change."""
        unit = self.unit_in_scope(scope, unit_id)
        name = _check_name(body["name"]) if "name" in body else None
        move = "parent_id" in body
        parent_id = body.get("parent_id")
        if move:
            if parent_id is None:
                if not scope.is_national:
                    raise MatrixError(403, "M_FORBIDDEN", "Only a national admin may make a top-level unit")
            else:
                self.unit_in_scope(scope, parent_id)
                if parent_id in self.subtree([unit_id]):
                    raise MatrixError(400, "M_INVALID_PARAM", "A unit can't move under itself")
        await self.store.update_unit(unit_id, name, parent_id, move, also=record(unit))
        return self.store.units()[unit_id]

    # --- policy ----------------------------------------------------------------------------

    def policy_of_unit(self, unit_id: int | None) -> dict[str, Any]:
        """The policy in force at a unit (the defaults outside any unit)."""
        if unit_id is None:
            return effective_policy([], self.levels)
        set_values = self.store.unit_policies()
        return effective_policy([set_values.get(u.unit_id, {}) for u in self.ancestry(unit_id)], self.levels)

    def policy_of_user(self, user_id: str) -> dict[str, Any]:
        """The policy in force for an official (the defaults for accounts outside any unit)."""
        official = self.store.official(user_id)
        return self.policy_of_unit(official.unit_id if official else None)

    def unit_policy_values(self, unit_id: int) -> dict[str, Any]:
        """Only the keys set on this unit itself."""
        return self.store.unit_policies().get(unit_id, {})

    async def set_unit_policy(
        self, scope: AdminScope, unit_id: int, values: Any, replace: bool, also: Sequence[AuditAppend] = (),
    ) -> dict[str, Any]:
        """Set keys on a unit (null removes a key, so it is inherited again); returns the unit's own keys.

        `also` (its audit entry) commits with the change."""
        self.unit_in_scope(scope, unit_id)
        if not isinstance(values, dict):
            raise MatrixError(400, "M_BAD_JSON", "policy must be a JSON object")
        merged = {} if replace else dict(self.unit_policy_values(unit_id))
        for key, value in values.items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = value
        merged = validate_policy(merged, self.levels)
        self._check_tightens(unit_id, {key: value for key, value in values.items() if value is not None})
        await self.store.set_unit_policy(unit_id, merged, also=also)
        return merged

    def _check_tightens(self, unit_id: int, values: dict[str, Any]) -> None:
        """Refuse a value looser than the one in force above the unit, naming the unit that sets the limit."""
        ancestors = self.ancestry(unit_id)[:-1]
        policies = self.store.unit_policies()
        _, limits = policy_limits([policies.get(u.unit_id, {}) for u in ancestors], self.levels)
        for key, value in values.items():
            if key in limits and is_looser(key, value, limits[key][0], self.levels):
                limit, index = limits[key]
                raise MatrixError(403, "M_FORBIDDEN", (
                    f"{key}={json.dumps(value)} is looser than {json.dumps(limit)}, in force at"
                    f" {ancestors[index].code}: a unit may only tighten what its parent units have in force,"
                    f" unless {ancestors[index].code} lists {key} in allow_loosening"))


def unit_json(unit: Unit) -> dict[str, Any]:
    """How a unit appears in the admin API."""
    return {"unit_id": unit.unit_id, "parent_id": unit.parent_id, "code": unit.code, "name": unit.name}


def _check_code(code: Any) -> str:
    if not isinstance(code, str) or not UNIT_CODE.match(code):
        raise MatrixError(400, "M_INVALID_PARAM",
                          "code must be 1-32 characters: letters, digits, '.', '_' or '-', starting with a letter or digit")
    return code


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME_CHARS:
        raise MatrixError(400, "M_INVALID_PARAM", f"name must be a non-empty string of at most {MAX_NAME_CHARS} characters")
    if any(ord(c) < 32 for c in name):
        raise MatrixError(400, "M_INVALID_PARAM", "name may not contain control characters")
    return name.strip()
