"""The SQLite database: WAL, ordered migrations, one writer and one reader connection.

aiosqlite runs one connection on one thread. A write transaction is one function run on the
writer's thread (`transaction`), so no other coroutine's statement can interleave with it; plain
reads go through a second connection that, under WAL, only ever sees committed state.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TypeVar

import aiosqlite

from bifrost_py.store.sql.database import Connection, Dialect, Params
from bifrost_py.store.sqlite.migrations import MIGRATIONS

T = TypeVar("T")

SQLITE = Dialect(
    name="sqlite",
    integrity_errors=(sqlite3.IntegrityError,),
    referenced_blobs="SELECT json_extract(value, '$[0]') AS blob FROM objects, "
                     "json_each(objects.blobs) UNION SELECT blob FROM parts "
                     "UNION SELECT blob FROM file_upload_parts",
    # json_insert leaves a status already recorded alone.
    record_event="events = json_insert(coalesce(events, '{}'), ?, ?)",
    event_key=lambda status: f'$."{status}"',
    contains=lambda column: f"instr({column}, ?) > 0",
    # One writer at a time: nothing to pass over.
    skip_locked="",
    whole=lambda expression: f"CAST({expression} AS INTEGER)",
)


class Database:
    dialect = SQLITE

    def __init__(self, path: Path) -> None:
        self.path = path
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = await self._connect()
        await migrate(self._writer, MIGRATIONS)
        self._reader = await self._connect()

    async def open_readonly(self) -> None:
        """Reads only, beside a server that may be writing: no migration, and a database of
        another version of the schema is refused rather than misread."""
        if not self.path.exists():
            raise FileNotFoundError(f"no database at {self.path}")
        conn = await aiosqlite.connect(f"file:{self.path}?mode=ro", uri=True)
        conn.row_factory = sqlite3.Row
        await conn.execute("PRAGMA busy_timeout=10000")
        row = await (await conn.execute("PRAGMA user_version")).fetchone()
        if (row[0] if row else 0) != len(MIGRATIONS):
            await conn.close()
            raise RuntimeError(f"{self.path} has schema version {row[0] if row else 0}; this "
                               f"version of bifrost-py reads {len(MIGRATIONS)}")
        self._reader = conn

    async def close(self) -> None:
        for conn in (self._reader, self._writer):
            if conn is not None:
                await conn.close()
        self._reader = self._writer = None

    @property
    def is_open(self) -> bool:
        return self._writer is not None

    async def fetchall(self, sql: str, params: Params = ()) -> Iterable[sqlite3.Row]:
        assert self._reader is not None, "database is closed"
        return await self._reader.execute_fetchall(sql, params)

    async def fetchone(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        rows = list(await self.fetchall(sql, params))
        return rows[0] if rows else None

    async def transaction(self, work: Callable[[Connection], T]) -> T:
        """Run `work` as one write transaction on the writer's own thread, in one hop.

        Each statement awaited separately costs a thread round trip; a small object's PUT would
        pay five. aiosqlite has no public way to run a function on its thread, so this uses its
        `_execute`, which every public method is built on.
        """
        assert self._writer is not None, "database is closed"
        conn: sqlite3.Connection = self._writer._conn

        def run() -> T:
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = work(conn)
            except BaseException:
                conn.rollback()
                raise
            conn.commit()
            return result

        return await self._writer._execute(run)  # type: ignore[no-any-return]

    async def _connect(self) -> aiosqlite.Connection:
        conn = await aiosqlite.connect(self.path, isolation_level=None)
        conn.row_factory = sqlite3.Row
        await conn.execute("PRAGMA journal_mode=WAL")
        # NORMAL under WAL is durable against application crashes; only power loss can drop the
        # last commits, never corrupt the database.
        await conn.execute("PRAGMA synchronous=NORMAL")
        await conn.execute("PRAGMA busy_timeout=10000")
        await conn.execute("PRAGMA foreign_keys=ON")
        return conn


async def migrate(conn: aiosqlite.Connection, migrations: Sequence[str]) -> None:
    """Apply the migrations the database has not seen yet, each in its own transaction."""
    row = await (await conn.execute("PRAGMA user_version")).fetchone()
    version = row[0] if row else 0
    if version > len(migrations):
        raise RuntimeError(f"database {version=} is newer than this server ({len(migrations)})")
    for number, script in enumerate(migrations[version:], start=version + 1):
        await conn.executescript(f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version={number};\n"
                                 "COMMIT;")
