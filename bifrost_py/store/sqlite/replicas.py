"""Replicas' heartbeats: one row each, refreshed on every beat; rows long silent are dropped."""

from __future__ import annotations

import sqlite3
import time

from bifrost_py.store.sqlite.db import Database

FORGET_AFTER = 24 * 3600.0  # a replica silent this long is gone for good


class SqliteReplicas:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def beat(self, replica: str, ttl: float) -> int:
        now = time.time()

        def beat(conn: sqlite3.Connection) -> int:
            conn.execute("INSERT INTO replicas (replica_id, seen) VALUES (?, ?) "
                         "ON CONFLICT (replica_id) DO UPDATE SET seen = excluded.seen",
                         (replica, now))
            conn.execute("DELETE FROM replicas WHERE seen < ?", (now - FORGET_AFTER,))
            row = conn.execute("SELECT count(*) FROM replicas WHERE seen >= ?",
                               (now - ttl,)).fetchone()
            return int(row[0])

        return await self.db.transaction(beat)

    async def leave(self, replica: str) -> None:
        await self.db.transaction(lambda conn: conn.execute(
            "DELETE FROM replicas WHERE replica_id = ?", (replica,)))
