"""/versions is honest: a spec version is claimed only if every operation it (or an earlier one) added is served.

The operations and the version that added each come from the spec's own OpenAPI document, kept as
test data (tests/data/matrix-spec/): `x-addedInMatrixVersion` on the operation, or, for the few the
document leaves unmarked although a later version added them, ADDED_UNMARKED (from the spec's
changelogs); an operation with neither is as old as r0.6.1. Each operation is then asked of the
running server: it is served unless it answers M_UNRECOGNIZED (the spec's "no such endpoint"),
or refused by design with the error DELIBERATE names.

Run with `-s` to see, per version, the operations still missing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from qasid.api.client.versions import SPEC_VERSIONS
from tests.server import ServerProcess

SPEC = Path(__file__).resolve().parents[1] / "data" / "matrix-spec" / "client-server-api-v1.19.json"
C1, C3 = "/_matrix/client/v1", "/_matrix/client/v3"
Operation = tuple[str, str]

ADDED_UNMARKED: dict[Operation, str] = {
    ("GET", C1 + "/rooms/{roomId}/relations/{eventId}"): "1.3",
    ("GET", C1 + "/rooms/{roomId}/relations/{eventId}/{relType}"): "1.3",
    ("GET", C1 + "/rooms/{roomId}/relations/{eventId}/{relType}/{eventType}"): "1.3",
    ("GET", C1 + "/auth_metadata"): "1.15",
    ("GET", C1 + "/mutual_rooms"): "1.19",
}

# Refused by design, with the answer the spec gives for that refusal (README, "Discovery").
THREEPID = (403, "M_THREEPID_DENIED")
NOT_OFFERED = (404, "M_UNRECOGNIZED")
DELIBERATE: dict[Operation, tuple[int, str]] = {
    **{("POST", f"{C3}/{kind}/{medium}/requestToken"): THREEPID
       for kind in ("register", "account/password", "account/3pid") for medium in ("email", "msisdn")},
    **{("POST", f"{C3}/account/3pid/{action}"): THREEPID for action in ("add", "bind", "delete", "unbind")},
    ("POST", C3 + "/account/3pid"): (403, "M_THREEPID_AUTH_FAILED"),
    ("POST", C1 + "/appservice/{appserviceId}/ping"): (403, "M_FORBIDDEN"),
    ("PUT", C3 + "/directory/list/appservice/{networkId}/{roomId}"): (403, "M_FORBIDDEN"),
    ("GET", C3 + "/login/sso/redirect"): NOT_OFFERED,
    ("GET", C3 + "/login/sso/redirect/{idpId}"): NOT_OFFERED,
    ("POST", C1 + "/login/get_token"): NOT_OFFERED,
    ("GET", C1 + "/auth_metadata"): NOT_OFFERED,
    ("GET", C1 + "/media/preview_url"): NOT_OFFERED,
    ("GET", "/_matrix/media/v3/preview_url"): NOT_OFFERED,
    ("GET", C3 + "/events"): NOT_OFFERED,
    ("GET", C3 + "/events/{eventId}"): NOT_OFFERED,
    ("GET", C3 + "/initialSync"): NOT_OFFERED,
    ("GET", C3 + "/rooms/{roomId}/initialSync"): NOT_OFFERED,
}

# Asked as another user: they end (or could end) the session they are sent with.
SESSION_ENDING = {("POST", C3 + "/logout"), ("POST", C3 + "/logout/all"), ("POST", C3 + "/account/deactivate")}

PATH_VALUES = {
    "roomId": "!probe:qasid.test", "roomIdOrAlias": "!probe:qasid.test", "roomAlias": "#probe:qasid.test",
    "eventId": "$probe", "eventType": "m.room.message", "stateKey": "", "txnId": "probe-txn",
    "serverName": "qasid.test", "mediaId": "probe", "fileName": "probe.png", "deviceId": "PROBEDEVICE",
    "keyName": "io.qasid.probe", "kind": "override", "ruleId": "probe", "type": "io.qasid.probe",
    "tag": "u.probe", "filterId": "0", "version": "1", "sessionId": "probe", "receiptType": "m.read",
    "relType": "m.thread", "idpId": "probe", "protocol": "probe", "networkId": "probe",
    "appserviceId": "probe", "delayId": "probe",
}


def spec_version(version: str) -> tuple[int, int]:
    """'v1.13' or '1.13' → (1, 13); r0.6.1 → (1, 0), the baseline of unmarked operations."""
    if version.startswith("r0"):
        return (1, 0)
    major, minor = version.removeprefix("v").split(".")
    return int(major), int(minor)


def spec_operations() -> dict[Operation, tuple[int, int]]:
    """Every operation of the document, with the version that added it."""
    spec = json.loads(SPEC.read_text())
    found: dict[Operation, tuple[int, int]] = {}
    for raw_path, item in spec["paths"].items():
        path = raw_path.strip()  # two keys end in a space: another form of the same operation
        for method, operation in item.items():
            if method not in ("get", "put", "post", "delete"):
                continue
            key = (method.upper(), path)
            added = operation.get("x-addedInMatrixVersion") or ADDED_UNMARKED.get(key)
            found[key] = min(found.get(key, (99, 0)), spec_version(added) if added else (1, 0))
    return found


def concrete(path: str, user_id: str) -> str:
    for name, value in {**PATH_VALUES, "userId": user_id}.items():
        path = path.replace("{" + name + "}", quote(value, safe="!$:@"))
    assert "{" not in path, f"no probe value for a parameter of {path}"
    return path


def answer(http: httpx.Client, operation: Operation, token: str, user_id: str) -> tuple[int, str | None]:
    method, path = operation
    body = b"{}" if method in ("POST", "PUT") else None
    response = http.request(method, concrete(path, user_id), content=body,
                            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        parsed = response.json()
    except ValueError:
        return response.status_code, None
    return response.status_code, parsed.get("errcode") if isinstance(parsed, dict) else None


@pytest.fixture(scope="module")
def answers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[Operation, tuple[int, str | None]]]:
    server = ServerProcess(tmp_path_factory.mktemp("versions") / "data")
    server.start()
    try:
        prober, ender = server.register("prober"), server.register("ender")
        with httpx.Client(base_url=server.base_url, timeout=30) as http:
            yield {
                operation: answer(http, operation, *((ender["access_token"], ender["user_id"])
                                                     if operation in SESSION_ENDING
                                                     else (prober["access_token"], prober["user_id"])))
                for operation in sorted(spec_operations())
            }
    finally:
        server.stop()


def is_served(operation: Operation, response: tuple[int, str | None]) -> bool:
    return operation not in DELIBERATE and response[1] != "M_UNRECOGNIZED"


def missing_by_version(answers: dict[Operation, tuple[int, str | None]]) -> dict[tuple[int, int], list[str]]:
    """For each version, the operations it added that are neither served nor refused by design."""
    missing: dict[tuple[int, int], list[str]] = {}
    for operation, added in spec_operations().items():
        if operation not in DELIBERATE and not is_served(operation, answers[operation]):
            missing.setdefault(added, []).append(f"{operation[0]} {operation[1]}")
    return missing


def test_deliberately_unsupported_operations_answer_the_specs_error(
    answers: dict[Operation, tuple[int, str | None]],
) -> None:
    wrong = {op: answers[op] for op, expected in DELIBERATE.items() if answers[op] != expected}
    assert not wrong, f"refused by design, but not as README says: {wrong}"


def test_versions_claims_only_what_is_served(answers: dict[Operation, tuple[int, str | None]]) -> None:
    missing = missing_by_version(answers)
    print("\nOperations missing per spec version (r0.6.1 and v1.x share the unmarked baseline, shown as v1.0):")
    for version in sorted(missing):
        print(f"  v{version[0]}.{version[1]}:")
        for line in sorted(missing[version]):
            print(f"    {line}")
    blocked_from = min(missing, default=(99, 0))
    reachable = max(v for v in spec_operations().values() if v < blocked_from)
    print(f"  Every operation up to v{reachable[0]}.{reachable[1]} is there"
          " (the endpoints only: check each version's other changes before claiming it)")
    for version in SPEC_VERSIONS:
        key = spec_version(version)
        unserved = [line for v, ops in missing.items() if v <= key for line in ops]
        assert not unserved, f"/versions claims {version}, but these are not served: {unserved}"
    assert len(set(SPEC_VERSIONS)) == len(SPEC_VERSIONS)
    stable = sorted(spec_version(v) for v in SPEC_VERSIONS if v.startswith("v"))
    assert stable == [(1, minor) for minor in range(1, len(stable) + 1)], "versions are claimed from v1.1 up"


def test_versions_endpoint_lists_them(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data")
    server.start()
    try:
        assert httpx.get(server.base_url + "/_matrix/client/versions").json()["versions"] == SPEC_VERSIONS
    finally:
        server.stop()
