"""Fixtures of the end-to-end tests: a matrix-js-sdk user in Node and a matrix-nio user."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from nio import AsyncClient, AsyncClientConfig

from tests.e2e.js_driver import JsUser, install_npm_packages
from tests.server import ServerProcess


@pytest.fixture(scope="module")
def js_sdk_installed() -> None:
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"the matrix-js-sdk end-to-end test needs {' and '.join(missing)} on PATH")
    install_npm_packages()


async def _js_user(log: Path) -> AsyncIterator[JsUser]:
    """One matrix-js-sdk user in its own Node process, stopped afterwards."""
    user = await JsUser.start(log)
    try:
        yield user
    finally:
        await user.close()


@pytest.fixture
async def js_user(js_sdk_installed: None, tmp_path: Path) -> AsyncIterator[JsUser]:
    async for user in _js_user(tmp_path / "js_user.stderr.log"):
        yield user


@pytest.fixture
async def js_user_2(js_sdk_installed: None, tmp_path: Path) -> AsyncIterator[JsUser]:
    """A second matrix-js-sdk user, in its own Node process."""
    async for user in _js_user(tmp_path / "js_user_2.stderr.log"):
        yield user


@pytest.fixture
async def nio_user(server: ServerProcess, tmp_path: Path) -> AsyncIterator[AsyncClient]:
    store = tmp_path / "nio_store"
    store.mkdir()
    config = AsyncClientConfig(encryption_enabled=True, store_sync_tokens=True,
                               request_timeout=20, max_timeouts=2, max_limit_exceeded=0)
    client = AsyncClient(server.base_url, server.user_id("bob"), store_path=str(store), config=config)
    try:
        yield client
    finally:
        await client.close()
