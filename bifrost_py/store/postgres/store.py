"""The store on PostgreSQL: state in a shared database, object bytes in an S3 bucket the replicas
share (or under the data directory, for a single server). The files of each provider mirrored
upstream live in a schema of their own, as they live in a database file of their own on SQLite."""

from __future__ import annotations

import re

from bifrost_py.store.blobs.protocol import BlobStore
from bifrost_py.store.postgres.db import PostgresDatabase
from bifrost_py.store.sql.store import SqlStore


class PostgresStore(SqlStore):
    shared = True

    def __init__(self, url: str, blobs: BlobStore) -> None:
        super().__init__(PostgresDatabase(url), blobs)
        self.url = url

    def provider_db(self, provider: str) -> PostgresDatabase:
        return PostgresDatabase(self.url, provider_schema(provider), pool_size=2)


def provider_schema(provider: str) -> str:
    """A schema name for a provider's files: lower case letters, digits and `_` only, so it
    needs no quoting where libpq's options name it."""
    return "files_" + re.sub(r"[^a-z0-9_]", "_", provider.lower())
