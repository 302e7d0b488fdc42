"""SQLite's and PostgreSQL's migrations stay in step: the same version numbers, and at each the
same tables, columns and indexes."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bifrost_py.store.postgres.db import PostgresDatabase
from bifrost_py.store.postgres.migrations import MIGRATIONS as POSTGRES_MIGRATIONS
from bifrost_py.store.sqlite.db import Database as SqliteDatabase
from bifrost_py.store.sqlite.migrations import MIGRATIONS as SQLITE_MIGRATIONS
from tests.postgres import fresh_database

Schema = dict[str, set[str]]


async def sqlite_schema(path: Path) -> Schema:
    db = SqliteDatabase(path)
    await db.open()
    try:
        tables = await db.fetchall("SELECT name FROM sqlite_master WHERE type = 'table'")
        schema = {t["name"]: {c["name"] for c in await db.fetchall(
            f"PRAGMA table_info({t['name']})")} for t in tables}
        indexes = await db.fetchall("SELECT name FROM sqlite_master WHERE type = 'index' "
                                    "AND name NOT LIKE 'sqlite_autoindex%'")
        schema["(indexes)"] = {i["name"] for i in indexes}
        return schema
    finally:
        await db.close()


async def postgres_schema(url: str) -> Schema:
    db = PostgresDatabase(url)
    await db.open()
    try:
        columns = await db.fetchall(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name <> 'schema_migrations'")
        schema: Schema = {}
        for c in columns:
            schema.setdefault(c["table_name"], set()).add(c["column_name"])
        # Those of primary keys and unique constraints are SQLite's autoindexes, left out.
        indexes = await db.fetchall("SELECT indexname FROM pg_indexes WHERE schemaname = "
                                    "current_schema() AND indexname NOT IN "
                                    "(SELECT conname FROM pg_constraint)")
        schema["(indexes)"] = {i["indexname"] for i in indexes}
        return schema
    finally:
        await db.close()


def test_both_databases_have_the_same_migrations_tables_columns_and_indexes(
        tmp_path: Path) -> None:
    assert len(SQLITE_MIGRATIONS) == len(POSTGRES_MIGRATIONS)
    with fresh_database() as url:
        postgres = asyncio.run(postgres_schema(url))
    assert asyncio.run(sqlite_schema(tmp_path / "db.sqlite3")) == postgres
