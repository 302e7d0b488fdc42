"""Applying PostgreSQL migrations: each once, in order, even with several servers starting at once.

The versions applied are rows of `schema_migrations`; a server migrates holding an advisory lock
(one per schema), so a second server starting beside it waits, then finds nothing left to do.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import sql

# The advisory lock's first key: this server's migrations, whatever else shares the database.
_LOCK_SPACE = 0x62696672  # "bifr"


def migrate(conn: psycopg.Connection[Any], schema: str | None,
            migrations: Sequence[str]) -> None:
    """Create `schema` if needed and apply the migrations it has not seen yet, each in its own
    transaction, holding the schema's advisory lock."""
    conn.execute("SELECT pg_advisory_lock(%s, hashtext(%s))", (_LOCK_SPACE, schema or ""))
    try:
        if schema is not None:
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                     "applied DOUBLE PRECISION NOT NULL)")
        version = schema_version(conn)
        if version > len(migrations):
            raise RuntimeError(f"database {version=} is newer than this server "
                               f"({len(migrations)})")
        for number, script in enumerate(migrations[version:], start=version + 1):
            with conn.transaction():
                conn.execute(script)
                conn.execute("INSERT INTO schema_migrations (version, applied) VALUES (%s, %s)",
                             (number, time.time()))
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s, hashtext(%s))", (_LOCK_SPACE, schema or ""))


def schema_version(conn: psycopg.Connection[Any]) -> int:
    """The number of migrations applied (the connection's rows are dicts)."""
    row = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL AS found").fetchone()
    if not row or not row["found"]:
        return 0
    row = conn.execute("SELECT coalesce(max(version), 0) AS version FROM schema_migrations"
                       ).fetchone()
    return int(row["version"]) if row else 0
