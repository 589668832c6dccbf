"""A browser-less console client: signs in over HTTP and posts forms with the page's CSRF token."""

from __future__ import annotations

import re

import httpx

from tests.gov.helpers import PASSWORD
from tests.server import ServerProcess

CONSOLE = "/_qasid/admin"


class Console:
    """One admin's console session, driven with plain HTTP (cookies kept by httpx)."""

    def __init__(self, server: ServerProcess) -> None:
        self.http = httpx.Client(base_url=server.base_url + CONSOLE, follow_redirects=False, timeout=60)
        self.csrf = ""

    def sign_in(self, user: str, password: str = PASSWORD) -> httpx.Response:
        response = self.http.post("/login", data={"user": user, "password": password, "next": CONSOLE + "/"})
        if response.status_code == 303:
            self.csrf = csrf_of(self.get("/").text)
        return response

    def get(self, path: str) -> httpx.Response:
        return self.http.get(path)

    def post(self, path: str, data: dict[str, str], *, with_csrf: bool = True) -> httpx.Response:
        return self.http.post(path, data={**({"csrf": self.csrf} if with_csrf else {}), **data})

    def close(self) -> None:
        self.http.close()


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)
