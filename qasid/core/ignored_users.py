"""m.ignored_user_list: whom each user ignores, read once and then kept in memory."""

from __future__ import annotations

from typing import Any

from qasid.core.errors import bad_json
from qasid.store.sqlite import Store
from qasid.store.sqlite.userdata import GLOBAL

IGNORED_USER_LIST = "m.ignored_user_list"
MAX_CACHED_USERS = 10_000


def ignored_in(content: dict[str, Any] | None) -> frozenset[str]:
    """The user IDs an m.ignored_user_list content names."""
    ignored = (content or {}).get("ignored_users")
    return frozenset(u for u in ignored if isinstance(u, str)) if isinstance(ignored, dict) else frozenset()


def check_ignored_user_list(content: dict[str, Any]) -> None:
    """M_BAD_JSON unless `ignored_users` is an object of user IDs."""
    ignored = content.get("ignored_users")
    if not isinstance(ignored, dict) or not all(u.startswith("@") for u in ignored):
        raise bad_json("ignored_users must be an object whose keys are user IDs")


class IgnoredUsers:
    """Whom a user ignores; the cache is refreshed by `changed` whenever the list is set."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._cache: dict[str, frozenset[str]] = {}

    async def of(self, user_id: str) -> frozenset[str]:
        """The users `user_id` ignores (empty for most users)."""
        cached = self._cache.get(user_id)
        if cached is None:
            content = await self.store.userdata.get_account_data(user_id, GLOBAL, IGNORED_USER_LIST)
            cached = ignored_in(content)
            if len(self._cache) >= MAX_CACHED_USERS:
                self._cache.clear()
            self._cache[user_id] = cached
        return cached

    def forget(self, user_id: str) -> None:
        """The list changed through another worker: read it again on next use."""
        self._cache.pop(user_id, None)

    def changed(self, user_id: str, content: dict[str, Any]) -> None:
        """The list was just stored: later reads see it at once."""
        self._cache[user_id] = ignored_in(content)
