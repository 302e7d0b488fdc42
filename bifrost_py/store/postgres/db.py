"""A PostgreSQL database: pools of psycopg connections, SERIALIZABLE write transactions retried
when PostgreSQL reports a serialization failure or a deadlock.

The store's write transactions are plain functions (see store/sql/database.py), which lets
SQLite run each one whole on its own thread. Here each runs on a worker thread with a pooled
connection of psycopg's synchronous API: one hop off the event loop per transaction rather than
one per statement, and a transaction that must be retried is simply called again. There are as
many workers as pooled connections, so a worker never waits for one. Reads outside transactions
are single statements, so they take no hop: they go through a pool of psycopg's asynchronous
connections, at less than half the CPU per query.
"""

from __future__ import annotations

import asyncio
import functools
import random
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import psycopg
from psycopg import errors
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool, ConnectionPool, PoolTimeout

from bifrost_py.store.postgres.migrations import MIGRATIONS
from bifrost_py.store.postgres.schema import migrate, schema_version
from bifrost_py.store.sql.database import Cursor, Dialect, Params

T = TypeVar("T")
RETRIES = 30
# Long enough for a database started beside the server (docker compose) to come up.
CONNECT_SECONDS = 30.0

POSTGRES = Dialect(
    name="postgresql",
    integrity_errors=(psycopg.IntegrityError,),
    referenced_blobs="SELECT segment->>0 AS blob FROM objects, "
                     "jsonb_array_elements(objects.blobs::jsonb) AS segment "
                     "UNION SELECT blob FROM parts UNION SELECT blob FROM file_upload_parts",
    # `||` keeps its right side's value for a key both sides have: a status already recorded.
    record_event="events = (jsonb_build_object(?::text, ?::float8) "
                 "|| coalesce(events, '{}')::jsonb)::text",
    event_key=lambda status: status,
    contains=lambda column: f"strpos({column}, ?) > 0",
    skip_locked=" FOR UPDATE SKIP LOCKED",
    whole=lambda expression: f"floor({expression})::bigint",
)


@functools.lru_cache(maxsize=1024)
def placeholders(query: str) -> str:
    """The store's SQL marks parameters with `?`; psycopg's with `%s` (and so `%` is doubled)."""
    return query.replace("%", "%%").replace("?", "%s")


class PgConnection:
    """A psycopg connection speaking the store's SQL (see store/sql/database.Connection)."""

    def __init__(self, conn: psycopg.Connection[dict[str, Any]]) -> None:
        self.conn = conn

    def execute(self, query: str, parameters: Params = (), /) -> Cursor:
        return self.conn.execute(placeholders(query), parameters or None)

    def executemany(self, query: str, parameters: Iterable[Params], /) -> Cursor:
        cursor = self.conn.cursor()
        cursor.executemany(placeholders(query), parameters)
        return cursor


class PostgresDatabase:
    """The tables of one schema (`schema`; the connection's default when None)."""

    dialect = POSTGRES

    def __init__(self, url: str, schema: str | None = None, pool_size: int = 8,
                 connect_seconds: float = CONNECT_SECONDS) -> None:
        """`pool_size` connections at most for writes, as many again for reads."""
        self.url = url
        self.schema = schema
        self.pool_size = pool_size
        self.connect_seconds = connect_seconds
        self._pool: ConnectionPool[psycopg.Connection[dict[str, Any]]] | None = None
        self._readers: AsyncConnectionPool[psycopg.AsyncConnection[dict[str, Any]]] | None = None
        self._threads: ThreadPoolExecutor | None = None

    @property
    def is_open(self) -> bool:
        return self._pool is not None

    async def open(self) -> None:
        await self._connect()
        await self._run(self._migrate)

    async def open_readonly(self) -> None:
        await self._connect()
        version = await self._run(self._version)
        if version != len(MIGRATIONS):
            await self.close()
            raise RuntimeError(f"the database has schema version {version}; this version of "
                               f"bifrost-py reads {len(MIGRATIONS)}")

    async def close(self) -> None:
        pool, readers, threads = self._pool, self._readers, self._threads
        self._pool, self._readers, self._threads = None, None, None
        if readers is not None:
            await readers.close()
        if pool is not None and threads is not None:
            await asyncio.get_running_loop().run_in_executor(threads, pool.close)
            threads.shutdown(wait=False)

    async def fetchall(self, query: str, params: Params = ()) -> Iterable[Any]:
        assert self._readers is not None, "database is closed"
        async with self._readers.connection() as conn:
            cursor = await conn.execute(placeholders(query), params or None)
            return await cursor.fetchall()

    async def fetchone(self, query: str, params: Params = ()) -> Any | None:
        rows = list(await self.fetchall(query, params))
        return rows[0] if rows else None

    async def transaction(self, work: Callable[[PgConnection], T]) -> T:
        return await self._run(lambda: self._serializable(work))

    def _serializable(self, work: Callable[[PgConnection], T]) -> T:
        for attempt in range(RETRIES):
            try:
                return self._with_connection(lambda conn: _transaction(conn, work))
            except (errors.SerializationFailure, errors.DeadlockDetected):
                if attempt == RETRIES - 1:
                    raise
                # Jittered, so transactions that collided do not collide again in step.
                time.sleep(random.uniform(0, 0.002 * 2 ** min(attempt, 6)))
        raise AssertionError("unreachable")

    def _with_connection(self, use: Callable[[psycopg.Connection[dict[str, Any]]], T]) -> T:
        assert self._pool is not None, "database is closed"
        with self._pool.connection() as conn:
            return use(conn)

    async def _connect(self) -> None:
        options = {} if self.schema is None else {"options": f"-c search_path={self.schema}"}
        settings = {"autocommit": True, "row_factory": dict_row, **options}
        self._threads = ThreadPoolExecutor(self.pool_size, thread_name_prefix="postgres")
        self._pool = ConnectionPool(self.url, min_size=1, max_size=self.pool_size, open=False,
                                    kwargs=settings, configure=_configure)
        self._readers = AsyncConnectionPool(self.url, min_size=1, max_size=self.pool_size,
                                            open=False, kwargs=settings)
        pool, readers = self._pool, self._readers
        try:
            await self._run(lambda: pool.open(wait=True, timeout=self.connect_seconds))
            await readers.open(wait=True, timeout=self.connect_seconds)
        except PoolTimeout:
            await self.close()
            raise RuntimeError(f"could not connect to PostgreSQL at {where(self.url)} in "
                               f"{self.connect_seconds:g} s") from None

    def _migrate(self) -> None:
        self._with_connection(lambda conn: migrate(conn, self.schema, MIGRATIONS))

    def _version(self) -> int:
        return self._with_connection(schema_version)

    async def _run(self, call: Callable[[], T]) -> T:
        assert self._threads is not None, "database is closed"
        return await asyncio.get_running_loop().run_in_executor(self._threads, call)


def where(url: str) -> str:
    """The server and database a URL names, without its password."""
    parts = conninfo_to_dict(url)
    return (f"{parts.get('host', 'localhost')}:{parts.get('port', 5432)}"
            f"/{parts.get('dbname', '')}")


def _configure(conn: psycopg.Connection[Any]) -> None:
    conn.isolation_level = psycopg.IsolationLevel.SERIALIZABLE


def _transaction(conn: psycopg.Connection[dict[str, Any]],
                 work: Callable[[PgConnection], T]) -> T:
    with conn.transaction():
        return work(PgConnection(conn))
