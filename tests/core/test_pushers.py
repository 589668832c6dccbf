"""Which push gateway URLs the server may connect to: only those under the operator's list."""

from __future__ import annotations

import pytest

from qasid.core.pushers import gateway_allowed

ALLOW = ("https://push.gov.example", "http://10.0.0.5:8080/gateway/")


@pytest.mark.parametrize(("url", "allowed"), [
    ("https://push.gov.example/_matrix/push/v1/notify", True),
    ("https://PUSH.gov.example:443/_matrix/push/v1/notify", True),
    ("http://10.0.0.5:8080/gateway/_matrix/push/v1/notify", True),
    ("http://10.0.0.5:8080/_matrix/push/v1/notify", False),  # outside the listed path
    ("http://10.0.0.5:8080/gatewayx/_matrix/push/v1/notify", False),
    ("http://push.gov.example/_matrix/push/v1/notify", False),  # another scheme
    ("https://push.gov.example:8443/_matrix/push/v1/notify", False),  # another port
    ("https://push.gov.example.evil.example/_matrix/push/v1/notify", False),
    ("https://user:pw@push.gov.example/_matrix/push/v1/notify", False),  # credentials
    ("https://push.gov.example@evil.example/_matrix/push/v1/notify", False),
    ("https://push.gov.example/_matrix/push/v1/notify?x=1", False),
    ("https://push.gov.example/_matrix/push/v1/notify#x", False),
    ("https://push.gov.example/other", False),  # not the notify path
    ("ftp://push.gov.example/_matrix/push/v1/notify", False),
    ("https://push.gov.example:99999/_matrix/push/v1/notify", False),  # a bad port
    ("not a url", False),
])
def test_gateway_allowed(url: str, allowed: bool) -> None:
    assert gateway_allowed(url, ALLOW) is allowed


def test_nothing_is_allowed_by_an_empty_list() -> None:
    assert gateway_allowed("https://push.gov.example/_matrix/push/v1/notify", ()) is False
