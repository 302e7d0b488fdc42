"""PostgreSQL for tests: a database of their own, created fresh and dropped after.

The server is $BIFROST_TEST_DATABASE_URL (default: a local one with trust auth). Without one the
tests that need it skip, saying how to enable them; with BIFROST_TEST_REQUIRE_POSTGRES=1 (as in
CI) they fail instead.
"""

from __future__ import annotations

import functools
import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
STORES = ["sqlite", "postgres"]
# `with store_toml() as toml:` the [store] table of a config.toml on a test's store (conftest.py).
StoreToml = Callable[[], AbstractContextManager[str]]


def server_url() -> str:
    return os.environ.get("BIFROST_TEST_DATABASE_URL") or DEFAULT_URL


@functools.cache
def _unreachable() -> str | None:
    try:
        with psycopg.connect(server_url(), connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return str(exc).strip().splitlines()[0]


def require_postgres() -> None:
    problem = _unreachable()
    if problem is None:
        return
    message = (f"no PostgreSQL at {server_url()} ({problem}): set BIFROST_TEST_DATABASE_URL to "
               f"a PostgreSQL server, e.g. {DEFAULT_URL}, to run these tests")
    if os.environ.get("BIFROST_TEST_REQUIRE_POSTGRES") == "1":
        pytest.fail(message)
    pytest.skip(message)


@contextmanager
def fresh_database() -> Iterator[str]:
    """The URL of a new, empty database; dropped afterwards, failing if a connection to it was
    left open."""
    require_postgres()
    name = f"bifrost_test_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(server_url(), autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            yield urlunsplit(urlsplit(server_url())._replace(path=f"/{name}"))
            left_open = _connections(admin, name)
        finally:
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
    assert not left_open, f"{left_open} connections to {name} were left open"


def _connections(admin: psycopg.Connection[Any], name: str) -> int:
    """Connections to `name`, given a moment to finish closing."""
    deadline = time.monotonic() + 5
    while True:
        row = admin.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s",
                            (name,)).fetchone()
        count = int(row[0]) if row else 0
        if count == 0 or time.monotonic() > deadline:
            return count
        time.sleep(0.05)
