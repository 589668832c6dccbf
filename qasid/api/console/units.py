"""Console: the dashboard and the unit tree — create, rename, move, policy (inherited values shown), admins."""

from __future__ import annotations

from typing import Any

from qasid.api.admin.routing import path_int
from qasid.api.asgi import Request, Response
from qasid.api.console.web import PREFIX, Page, console_route, form_int, redirect
from qasid.core.errors import MatrixError
from qasid.gov.rules import DEFAULTS
from qasid.store.sqlite.gov import Unit


@console_route("GET", "/")
async def dashboard(request: Request, page: Page) -> Response:
    """GET /_qasid/admin/ — counts over the admin's units: officials, active devices, pending enrollments."""
    counts = await page.gov.dashboard.counts(page.scope)
    busiest = max([1] + [n for _, n in counts.audit_events_per_day])
    return page.render("dashboard.html", counts=counts, busiest=busiest)


def tree(units: list[Unit]) -> list[tuple[Unit, int]]:
    """The units in tree order with their depth; a unit whose parent is out of view starts a root."""
    by_parent: dict[int | None, list[Unit]] = {}
    ids = {u.unit_id for u in units}
    for unit in units:
        by_parent.setdefault(unit.parent_id if unit.parent_id in ids else None, []).append(unit)
    ordered: list[tuple[Unit, int]] = []

    def walk(parent: int | None, depth: int) -> None:
        for unit in sorted(by_parent.get(parent, []), key=lambda u: u.code):
            ordered.append((unit, depth))
            walk(unit.unit_id, depth + 1)

    walk(None, 0)
    return ordered


@console_route("GET", "/units")
async def units_page(request: Request, page: Page) -> Response:
    """GET /_qasid/admin/units — the tree of units the admin covers, and a form to add one."""
    return page.render("units.html", tree=tree(page.gov.org.list_units(page.scope)))


@console_route("POST", "/units")
async def create_unit(request: Request, page: Page) -> Response:
    """POST /_qasid/admin/units — a unit under a covered parent; no parent (a ministry) for national admins."""
    unit = await page.gov.create_unit(page.scope, form_int(page.form, "parent_id", required=False),
                                      page.form.get("code", "").strip(), page.form.get("name", ""))
    return redirect(f"{PREFIX}/units/{unit.unit_id}?done=1")


@console_route("GET", "/units/{unit_id}")
async def unit_page(request: Request, page: Page) -> Response:
    """GET /_qasid/admin/units/{unit_id} — the unit, where it can move, its policy and who administers it."""
    org = page.gov.org
    unit = org.unit_in_scope(page.scope, path_int(request, "unit_id"))
    below = org.subtree([unit.unit_id])
    parents = [u for u in org.list_units(page.scope) if u.unit_id not in below]
    own, effective = org.unit_policy_values(unit.unit_id), org.policy_of_unit(unit.unit_id)
    policy = [{"key": key, "own": own.get(key), "is_set": key in own, "effective": effective.get(key),
               "kind": _kind(key, default), "shown": _show(own.get(key)) if key in own else ""}
              for key, default in DEFAULTS.items()]
    return page.render("unit.html", unit=unit, path=[u for u in org.ancestry(unit.unit_id)], parents=parents,
                       policy=policy, show=_show, officials=page.gov.lifecycle.list_officials(page.scope, unit.unit_id))


@console_route("POST", "/units/{unit_id}")
async def update_unit(request: Request, page: Page) -> Response:
    """POST /_qasid/admin/units/{unit_id} — rename (name) or move (parent_id; empty: a ministry)."""
    unit_id = path_int(request, "unit_id")
    body: dict[str, Any] = {}
    if page.form.get("action") == "move":
        body["parent_id"] = form_int(page.form, "parent_id", required=False)
    else:
        body["name"] = page.form.get("name", "")
    await page.gov.update_unit(page.scope, unit_id, body)
    return redirect(f"{PREFIX}/units/{unit_id}?done=1")


@console_route("POST", "/units/{unit_id}/policy")
async def set_policy(request: Request, page: Page) -> Response:
    """POST /_qasid/admin/units/{unit_id}/policy — every key's field; an empty field is inherited."""
    unit_id = path_int(request, "unit_id")
    own = page.gov.org.unit_policy_values(page.gov.org.unit_in_scope(page.scope, unit_id).unit_id)
    parsed = {key: _parse(key, page.form.get(f"policy.{key}", "")) for key in DEFAULTS}
    # Only what changed: a value kept as it was isn't checked again against parents tightened since.
    values = {key: value for key, value in parsed.items() if value != own.get(key)}
    await page.gov.set_unit_policy(page.scope, unit_id, values)
    return redirect(f"{PREFIX}/units/{unit_id}?done=1")


@console_route("POST", "/units/{unit_id}/admins")
async def set_admin(request: Request, page: Page) -> Response:
    """POST /_qasid/admin/units/{unit_id}/admins — grant (or with revoke=1, remove) the unit's admin role."""
    unit_id = path_int(request, "unit_id")
    await page.gov.lifecycle.set_admin_role(page.scope, page.form.get("user_id", "").strip(), unit_id,
                                            page.form.get("revoke") != "1")
    return redirect(f"{PREFIX}/units/{unit_id}?done=1")


# Keys whose value is a word though their default is null (no limit).
TEXT_KEYS = frozenset({"min_room_classification"})


def _kind(key: str, default: Any) -> str:
    if key in TEXT_KEYS:
        return "text"
    if isinstance(default, bool):
        return "bool"
    if isinstance(default, list):
        return "list"
    if isinstance(default, str):
        return "text"
    return "number"


def _show(value: Any) -> str:
    """A policy value as the form shows it."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def _parse(key: str, raw: str) -> Any:
    """A form field as the policy value it stands for; empty means inherit (None)."""
    raw = raw.strip()
    if raw == "":
        return None
    kind = _kind(key, DEFAULTS[key])
    if kind == "bool":
        if raw not in ("true", "false"):
            raise MatrixError(400, "M_INVALID_PARAM", f"{key} must be true or false")
        return raw == "true"
    if key == "directive_designations":  # designations hold spaces: one per comma
        return [part.strip() for part in raw.split(",") if part.strip()]
    if kind == "list":
        return [part.strip() for part in raw.replace(",", " ").split() if part.strip()]
    if kind == "number":
        try:
            number = float(raw)
        except ValueError:
            raise MatrixError(400, "M_INVALID_PARAM", f"{key} must be a number") from None
        return int(number) if number.is_integer() else number
    return raw
