"""The embedded store: state in SQLite under the data directory, object bytes in files beside it
(or in an S3 bucket); each provider whose files are mirrored has a database file of its own. One
server has the database to itself, so jobs' answers spool to files beside it."""

from __future__ import annotations

from pathlib import Path

from bifrost_py.store.blobs.protocol import BlobStore
from bifrost_py.store.sql.store import SqlStore
from bifrost_py.store.sqlite.db import Database


class SqliteStore(SqlStore):
    shared = False

    def __init__(self, data_dir: Path, blobs: BlobStore) -> None:
        super().__init__(Database(data_dir / "bifrost.sqlite3"), blobs)
        self.data_dir = data_dir

    def provider_db(self, provider: str) -> Database:
        return Database(self.data_dir / f"files-{provider}.sqlite3")
