"""The body of a report, one row per rule (qasid/core/reports.py)."""

from __future__ import annotations

from typing import Any

import pytest

from qasid.core.errors import MatrixError
from qasid.core.reports import MAX_REASON_CHARS, ReportBody, parse_report_body


@pytest.mark.parametrize(("body", "reason_required", "expected"), [
    ({}, False, ReportBody("", None)),
    ({"reason": "spam"}, False, ReportBody("spam", None)),
    ({"reason": ""}, True, ReportBody("", None)),
    ({"reason": "x", "score": -100}, False, ReportBody("x", -100)),
    ({"reason": "x", "score": 0}, False, ReportBody("x", 0)),
    ({"reason": "x" * MAX_REASON_CHARS}, True, ReportBody("x" * MAX_REASON_CHARS, None)),
    ({"reason": None}, False, ReportBody("", None)),
])
def test_accepted(body: dict[str, Any], reason_required: bool, expected: ReportBody) -> None:
    assert parse_report_body(body, reason_required=reason_required) == expected


@pytest.mark.parametrize(("body", "reason_required", "errcode"), [
    ({}, True, "M_MISSING_PARAM"),
    ({"reason": None}, True, "M_MISSING_PARAM"),
    ({"reason": 5}, False, "M_BAD_JSON"),
    ({"reason": ["x"]}, True, "M_BAD_JSON"),
    ({"reason": "x" * (MAX_REASON_CHARS + 1)}, False, "M_INVALID_PARAM"),
    ({"score": "low"}, False, "M_BAD_JSON"),
    ({"score": True}, False, "M_BAD_JSON"),
    ({"score": -50.5}, False, "M_BAD_JSON"),
    ({"score": 1}, False, "M_INVALID_PARAM"),
    ({"score": -101}, False, "M_INVALID_PARAM"),
])
def test_refused(body: dict[str, Any], reason_required: bool, errcode: str) -> None:
    with pytest.raises(MatrixError) as refused:
        parse_report_body(body, reason_required=reason_required)
    assert refused.value.status == 400 and refused.value.errcode == errcode
