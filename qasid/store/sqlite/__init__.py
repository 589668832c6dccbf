"""The stores of every area, and the embedded engine: SQLite in WAL mode, synchronous=FULL, group-committed writes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qasid.store.sqlite.accounts import AccountStore
from qasid.store.sqlite.aliases import AliasStore
from qasid.store.sqlite.audit import AuditStore
from qasid.store.sqlite.calls import CallStore
from qasid.store.sqlite.console import ConsoleStore
from qasid.store.sqlite.directives import DirectiveStore
from qasid.store.sqlite.directory import DirectoryStore
from qasid.store.sqlite.e2ee import E2eeStore
from qasid.store.sqlite.engine import Database
from qasid.store.sqlite.events import EventStore
from qasid.store.sqlite.gov import GovStore
from qasid.store.sqlite.key_backup import KeyBackupStore
from qasid.store.sqlite.media import MediaStore
from qasid.store.sqlite.push import PushStore
from qasid.store.sqlite.relations import RelationStore
from qasid.store.sqlite.reports import ReportStore
from qasid.store.sqlite.retention import RetentionStore
from qasid.store.sqlite.search import SearchStore
from qasid.store.sqlite.streams import StreamStore
from qasid.store.sqlite.userdata import UserDataStore


class Store:
    """All persistence, grouped by area, over one engine (SQLite's or PostgreSQL's)."""

    def __init__(self, db: Any) -> None:
        self.db = db
        self.accounts = AccountStore(self.db)
        self.events = EventStore(self.db)
        self.aliases = AliasStore(self.db)
        self.e2ee = E2eeStore(self.db)
        self.key_backup = KeyBackupStore(self.db)
        self.userdata = UserDataStore(self.db)
        self.media = MediaStore(self.db)
        self.gov = GovStore(self.db)
        self.audit = AuditStore(self.db)
        self.retention = RetentionStore(self.db)
        self.streams = StreamStore(self.db)
        self.push = PushStore(self.db)
        self.relations = RelationStore(self.db)
        self.calls = CallStore(self.db)
        self.console = ConsoleStore(self.db)
        self.directives = DirectiveStore(self.db)
        self.directory = DirectoryStore(self.db)
        self.reports = ReportStore(self.db)
        self.search = SearchStore(self.db)

    @property
    def kind(self) -> str:
        """The database behind the store: "sqlite" or "postgresql"."""
        return str(self.db.dialect)

    def claim_server_name(self, server_name: str) -> str:
        """The server name this database belongs to; a database that has none yet records `server_name`."""
        self.db.execute_now("INSERT OR IGNORE INTO server_identity (id, server_name) VALUES (1, ?)", (server_name,))
        return str(self.db.read_one("SELECT server_name FROM server_identity")[0])

    def readiness_problem(self) -> str | None:
        """Why the database can't serve (unreadable, schema not this build's), or None; opens the file afresh."""
        return self.db.schema_problem()

    def close(self) -> None:
        self.db.close()


class SqliteStore(Store):
    """The embedded store: one SQLite file in the data folder."""

    def __init__(self, path: Path) -> None:
        super().__init__(Database(path))
