"""Paging of mutual rooms: a pure function of (sorted shared rooms, token, page size)."""

from __future__ import annotations

from typing import Any

import pytest

from qasid.core.mutual_rooms import page

ROOMS = ["!a:s", "!b:s", "!c:s", "!d:s", "!e:s"]


@pytest.mark.parametrize(("after", "limit", "expected"), [
    (None, 10, {"joined": ROOMS, "count": 5}),
    (None, 5, {"joined": ROOMS, "count": 5}),
    (None, 2, {"joined": ["!a:s", "!b:s"], "count": 5, "next_batch": "!b:s"}),
    ("!b:s", 2, {"joined": ["!c:s", "!d:s"], "count": 5, "next_batch": "!d:s"}),
    ("!d:s", 2, {"joined": ["!e:s"], "count": 5}),
    ("!e:s", 2, {"joined": [], "count": 5}),
    # A room left between two pages: the token still places the next page.
    ("!bb:s", 2, {"joined": ["!c:s", "!d:s"], "count": 5, "next_batch": "!d:s"}),
    (None, 1, {"joined": ["!a:s"], "count": 5, "next_batch": "!a:s"}),
])
def test_pages(after: str | None, limit: int, expected: dict[str, Any]) -> None:
    assert page(ROOMS, after, limit) == expected


def test_no_shared_rooms() -> None:
    assert page([], None) == {"joined": [], "count": 0}
