"""The messages between workers: everything relayed in a turn arrives, each message under the limit."""

from __future__ import annotations

import json
from typing import Any

from qasid.core.workers import WorkerBus


def _bus(max_payload: int) -> WorkerBus:
    bus = WorkerBus.__new__(WorkerBus)  # packing needs no channel, services or event loop
    bus.worker_id = "w1"
    bus.max_payload = max_payload
    bus._wake, bus._typing, bus._pushers, bus._timers, bus._forget, bus._uia = set(), [], {}, False, {}, {}
    return bus


def _merged(payloads: list[str]) -> dict[str, Any]:
    merged: dict[str, Any] = {"wake": [], "typing": [], "push": [], "forget": {}, "uia": {}, "timers": False}
    for payload in payloads:
        message = json.loads(payload)
        assert message["from"] == "w1"
        for field in ("wake", "typing", "push"):
            merged[field] += message.get(field, [])
        for kind, keys in message.get("forget", {}).items():
            merged["forget"].setdefault(kind, []).extend(keys)
        merged["uia"].update(message.get("uia", {}))
        merged["timers"] |= message.get("timers", False)
    return merged


def test_nothing_relayed_sends_nothing() -> None:
    assert _bus(7900)._payloads() == []


def test_a_large_turn_is_split_under_the_limit_and_loses_nothing() -> None:
    bus = _bus(7900)
    bus._wake = {f"@official{i}:gov.example" for i in range(3000)}
    bus._typing = [("!room:gov.example", "@a:gov.example", True, 30000)]
    bus._pushers, bus._timers = {4: "@a:gov.example", 5: "@b:gov.example"}, True
    bus._forget = {"rules": {"@a:gov.example"}, "pushers": {""}}
    bus._uia = {f"session{i}": {"purpose": "register", "completed": [], "params": {},
                                "registration_token": "x" * 40, "age": 1.5} for i in range(200)}
    payloads = bus._payloads()
    assert len(payloads) > 1
    assert all(len(p.encode()) < 7900 for p in payloads)
    merged = _merged(payloads)
    assert sorted(merged["wake"]) == sorted(f"@official{i}:gov.example" for i in range(3000))
    assert merged["typing"] == [["!room:gov.example", "@a:gov.example", True, 30000]]
    assert merged["push"] == [[4, "@a:gov.example"], [5, "@b:gov.example"]] and merged["timers"] is True
    assert merged["forget"] == {"rules": ["@a:gov.example"], "pushers": [""]}
    assert len(merged["uia"]) == 200 and merged["uia"]["session7"]["registration_token"] == "x" * 40
    assert bus._payloads() == []  # relayed once
