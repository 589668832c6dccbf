"""An admin acts only on accounts they stand above: never on a superior or a peer placed in their unit,
never on themselves through the admin API — swept over every admin route that names a person."""

from __future__ import annotations

import re
from dataclasses import dataclass

from qasid.gov.scope import AdminScope
from tests.gov.helpers import ADMIN, PASSWORD, Gov, Session
from tests.gov.test_isolation import admin_endpoints

PARENTS = {1: None, 2: 1, 3: 2, 4: None}  # MOF(1) → MOF-BUD(2) → MOF-BUD-X(3); MOJ(4)


def test_outranks_table() -> None:
    national = AdminScope("@n:s", None)
    mof = AdminScope("@m:s", frozenset({1, 2, 3}))
    bud = AdminScope("@b:s", frozenset({2, 3}))
    rows = [
        # (admin, target is national, target's admin units, may act)
        (national, True, [], True),
        (national, False, [1], True),
        (mof, False, [], True),
        (mof, True, [], False),
        (mof, False, [1], False),       # a peer: the same ministry's admin
        (mof, False, [2], True),
        (mof, False, [3, 2], True),
        (mof, False, [2, 4], False),    # one role beyond them is enough to refuse
        (bud, False, [1], False),       # a superior placed below
        (bud, False, [2], False),       # a peer
        (bud, False, [3], True),
        (bud, False, [99], False),      # a unit that no longer exists: national only
    ]
    for scope, is_national, units, expected in rows:
        assert scope.outranks(is_national, units, PARENTS) is expected, (scope.unit_ids, is_national, units)


@dataclass
class Ranks:
    gov: Gov
    mof: int
    bud: int
    alice: Session   # admin of MOF, placed in MOF-BUD
    bob: Session     # admin of MOF-BUD
    peer: Session    # admin of MOF-BUD too
    chief: Session   # a national admin placed in MOF-BUD
    clerk: Session   # an ordinary official of MOF-BUD


def _ranks(gov: Gov) -> Ranks:
    mof = gov.unit("MOF")
    bud = gov.unit("MOF-BUD", parent=mof)
    gov.unit("MOJ")
    alice, bob, peer, clerk = (gov.official(name, bud) for name in ("alice", "bob", "peer", "clerk"))
    gov.ok("PUT", f"/units/{mof}/admins/{alice.user_id}", {"admin": True})
    for admin in (bob, peer):
        gov.ok("PUT", f"/units/{bud}/admins/{admin.user_id}", {"admin": True})
    gov.server.create_user("chief", PASSWORD, admin=True)
    chief = gov.login("chief")
    gov.ok("PUT", f"/officials/{chief.user_id}", {"unit_id": bud})
    return Ranks(gov, mof, bud, alice, bob, peer, chief, clerk)


def _person_routes() -> list[tuple[str, str]]:
    return [(m, p) for m, p in admin_endpoints() if "{user_id}" in p]


def _sweep(r: Ranks, actor: Session, target: Session) -> list[str]:
    """Every person route, as `actor` against `target`; returns the routes that were not refused."""
    values = {"user_id": target.user_id, "device_id": target.device_id, "unit_id": str(r.bud)}
    body = {"unit_id": r.bud, "designation": "Usurped", "password": "Taken-over-1234", "admin": False,
            "read_only": True}
    answered = []
    for method, template in _person_routes():
        path = re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: values[m.group(1)], template).removeprefix(ADMIN)
        response = r.gov.call(method, path, body if method in ("POST", "PUT") else None, as_=actor)
        if response.status_code not in (403, 404):
            answered.append(f"{method} {template}: {response.status_code} {response.text[:200]}")
        else:
            assert set(response.json()) >= {"errcode", "error"}
    return answered


def _intact(r: Ranks, victim: Session) -> None:
    """The victim still signs in with their own password, keeps their device, and is not moved or suspended."""
    assert r.gov.client("GET", "/account/whoami", victim).status_code == 200
    assert r.gov.login(victim.user_id.split(":")[0][1:]).user_id == victim.user_id
    shown = r.gov.ok("GET", f"/officials/{victim.user_id}")
    assert shown["unit_id"] == r.bud and shown["designation"] != "Usurped" and not shown["locked"] \
        and not shown["read_only"], shown
    devices = [d["device_id"] for d in r.gov.ok("GET", f"/officials/{victim.user_id}/devices")["devices"]]
    assert victim.device_id in devices


def test_a_unit_admin_cannot_touch_a_superior_or_a_peer_placed_in_their_unit(gov: Gov) -> None:
    r = _ranks(gov)
    assert len(_person_routes()) >= 8
    for victim in (r.alice, r.chief, r.peer):
        assert _sweep(r, r.bob, victim) == [], victim.user_id
        _intact(r, victim)
    # The takeover the audit found: bob sets alice's password, signs in as her, loosens MOF.
    taken = gov.call("PUT", f"/officials/{r.alice.user_id}/password", {"password": "Taken-over-1234"}, as_=r.bob)
    assert taken.status_code == 404
    assert gov.http.post("/_matrix/client/v3/login", json={
        "type": "m.login.password", "identifier": {"type": "m.id.user", "user": "alice"},
        "password": "Taken-over-1234"}).status_code == 403
    assert gov.ok("GET", f"/units/{r.mof}/policy")["effective"]["encryption_required"] is True
    # bob sees neither superior nor peer in his unit's roster, only those he administers and himself.
    listed = {o["user_id"] for o in gov.ok("GET", f"/officials?unit_id={r.bud}", as_=r.bob)["officials"]}
    assert listed == {r.bob.user_id, r.clerk.user_id}


def test_an_admin_cannot_act_on_themselves_through_the_admin_api(gov: Gov) -> None:
    r = _ranks(gov)
    for admin in (r.bob, r.alice, gov.root):
        answered = [a for a in _sweep(r, admin, admin) if not a.startswith("GET ")]
        assert answered == [], admin.user_id
    assert gov.ok("GET", f"/officials/{r.bob.user_id}", as_=r.bob)["user_id"] == r.bob.user_id
    assert gov.client("GET", "/account/whoami", r.bob).status_code == 200
    assert gov.ok("GET", f"/units/{r.bud}", as_=r.bob)["code"] == "MOF-BUD"


def test_admins_act_from_above(gov: Gov) -> None:
    r = _ranks(gov)
    # bob administers the ordinary officials of his unit...
    gov.ok("PUT", f"/officials/{r.clerk.user_id}", {"designation": "Senior Clerk"}, as_=r.bob)
    # ...appoints admins only below his own unit...
    x = gov.ok("POST", "/units", {"code": "MOF-BUD-X", "name": "X", "parent_id": r.bud}, as_=r.bob)["unit_id"]
    peer_grant = gov.call("PUT", f"/units/{r.bud}/admins/{r.clerk.user_id}", {"admin": True}, as_=r.bob)
    assert peer_grant.status_code == 403 and "above MOF-BUD" in peer_grant.json()["error"]
    gov.ok("PUT", f"/units/{x}/admins/{r.clerk.user_id}", {"admin": True}, as_=r.bob)
    # ...and may still act on the admin he appointed below him.
    gov.ok("POST", f"/officials/{r.clerk.user_id}/suspend", as_=r.bob)
    gov.ok("POST", f"/officials/{r.clerk.user_id}/unsuspend", as_=r.bob)
    # alice (MOF) stands above bob (MOF-BUD); the national admins stand above alice and each other.
    gov.ok("POST", f"/officials/{r.bob.user_id}/suspend", as_=r.alice)
    gov.ok("POST", f"/officials/{r.bob.user_id}/unsuspend", as_=r.alice)
    assert gov.call("POST", f"/officials/{r.chief.user_id}/suspend", as_=r.alice).status_code == 404
    gov.ok("POST", f"/officials/{r.alice.user_id}/suspend", as_=r.chief)
    gov.ok("POST", f"/officials/{r.alice.user_id}/unsuspend")
    gov.ok("POST", f"/officials/{r.chief.user_id}/suspend")
