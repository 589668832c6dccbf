"""Push rule editing is pure: (changes, request) -> new changes, checked without a server."""

from __future__ import annotations

import pytest

from qasid.core import push_rules
from qasid.core.errors import MatrixError

ALICE = "@alice:qasid.test"


def ids(ruleset: push_rules.Ruleset, kind: str) -> list[str]:
    return [r["rule_id"] for r in ruleset[kind]]


def test_user_override_rules_sit_between_master_and_the_other_defaults() -> None:
    doc = push_rules.put_rule(None, "override", "quiet", {"actions": [], "conditions": []})
    merged = push_rules.merged_ruleset(ALICE, doc)
    assert ids(merged, "override")[:3] == [".m.rule.master", "quiet", ".m.rule.suppress_notices"]
    doc = push_rules.put_rule(doc, "underride", "late", {"actions": ["notify"]})
    assert ids(push_rules.merged_ruleset(ALICE, doc), "underride")[0] == "late"


@pytest.mark.parametrize(("before", "after", "expected"), [
    (None, None, ["new", "a", "b"]),
    ("b", None, ["a", "new", "b"]),
    (None, "b", ["a", "b", "new"]),
    (None, "a", ["a", "new", "b"]),
])
def test_placement(before: str | None, after: str | None, expected: list[str]) -> None:
    doc = push_rules.put_rule(None, "room", "b", {"actions": []})
    doc = push_rules.put_rule(doc, "room", "a", {"actions": []})
    doc = push_rules.put_rule(doc, "room", "new", {"actions": []}, before, after)
    assert ids(push_rules.merged_ruleset(ALICE, doc), "room") == expected


@pytest.mark.parametrize(("kind", "rule_id", "body", "errcode"), [
    ("override", ".m.rule.mine", {"actions": []}, "M_INVALID_PARAM"),
    ("override", "a/b", {"actions": []}, "M_INVALID_PARAM"),
    ("content", "word", {"actions": []}, "M_MISSING_PARAM"),
    ("override", "x", {}, "M_MISSING_PARAM"),
    ("override", "x", {"actions": [1]}, "M_BAD_JSON"),
    ("bogus", "x", {"actions": []}, "M_INVALID_PARAM"),
])
def test_refused_rules(kind: str, rule_id: str, body: dict[str, object], errcode: str) -> None:
    with pytest.raises(MatrixError) as raised:
        push_rules.put_rule(None, kind, rule_id, body)
    assert raised.value.errcode == errcode


def test_predefined_rules_can_be_toggled_but_not_deleted() -> None:
    doc = push_rules.set_attribute(ALICE, None, "override", ".m.rule.master", "enabled", True)
    doc = push_rules.set_attribute(ALICE, doc, "underride", ".m.rule.message", "actions", [])
    merged = push_rules.merged_ruleset(ALICE, doc)
    assert merged["override"][0]["enabled"] is True
    assert push_rules.find_rule(merged, "underride", ".m.rule.message")["actions"] == []
    with pytest.raises(MatrixError):
        push_rules.delete_rule(doc, "override", ".m.rule.master")
    with pytest.raises(MatrixError) as missing:
        push_rules.set_attribute(ALICE, doc, "override", "nope", "enabled", False)
    assert missing.value.status == 404
    # Replacing a user rule keeps whether it was enabled.
    doc = push_rules.put_rule(doc, "sender", "@bob:qasid.test", {"actions": []})
    doc = push_rules.set_attribute(ALICE, doc, "sender", "@bob:qasid.test", "enabled", False)
    doc = push_rules.put_rule(doc, "sender", "@bob:qasid.test", {"actions": ["notify"]})
    rule = push_rules.find_rule(push_rules.merged_ruleset(ALICE, doc), "sender", "@bob:qasid.test")
    assert rule == {"rule_id": "@bob:qasid.test", "default": False, "enabled": False, "actions": ["notify"]}
