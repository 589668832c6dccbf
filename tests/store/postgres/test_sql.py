"""The stores' SQLite statements as PostgreSQL receives them."""

from __future__ import annotations

import pytest

from qasid.store.postgres import sql
from qasid.store.postgres.sql import translate


@pytest.fixture(autouse=True)
def _keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sql, "PRIMARY_KEYS", {"device_keys": ("user_id", "device_id"), "flags": ("name",)})
    translate.cache_clear()


def test_placeholders_and_percent_signs_outside_strings_only() -> None:
    assert translate("SELECT a FROM t WHERE b = ? AND c LIKE '%?%' AND d = ?") == \
        "SELECT a FROM t WHERE b = %s AND c ILIKE '%?%' AND d = %s"
    assert translate("SELECT 'it''s ?', ? % 2") == "SELECT 'it''s ?', %s %% 2"


def test_insert_or_ignore_becomes_on_conflict_do_nothing_before_returning() -> None:
    assert translate("INSERT OR IGNORE INTO admin_roles (user_id, unit_id) VALUES (?, ?)") == \
        "INSERT INTO admin_roles (user_id, unit_id) VALUES (%s, %s) ON CONFLICT DO NOTHING"
    assert translate("INSERT OR IGNORE INTO t (a) VALUES (?) RETURNING a") == \
        "INSERT INTO t (a) VALUES (%s) ON CONFLICT DO NOTHING RETURNING a"


def test_insert_or_replace_updates_every_column_but_the_key() -> None:
    assert translate("INSERT OR REPLACE INTO device_keys (user_id, device_id, key_json) VALUES (?, ?, ?)") == (
        "INSERT INTO device_keys (user_id, device_id, key_json) VALUES (%s, %s, %s)"
        " ON CONFLICT (user_id, device_id) DO UPDATE SET key_json = EXCLUDED.key_json")
    assert translate("INSERT OR REPLACE INTO flags (name) VALUES (?)") == \
        "INSERT INTO flags (name) VALUES (%s) ON CONFLICT (name) DO NOTHING"


def test_insert_or_replace_without_columns_is_refused_loudly() -> None:
    with pytest.raises(ValueError, match="column list"):
        translate("INSERT OR REPLACE INTO flags VALUES (?)")


def test_pragmas_have_no_counterpart() -> None:
    assert translate("PRAGMA secure_delete = ON") is None
    assert translate("  pragma query_only=ON") is None
