"""Replicas' heartbeats: one row each, refreshed on every beat; rows long silent are dropped."""

from __future__ import annotations

import time

from bifrost_py.store.sql.database import Connection, Database

FORGET_AFTER = 24 * 3600.0  # a replica silent this long is gone for good


class SqlReplicas:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def beat(self, replica: str, ttl: float) -> int:
        now = time.time()

        def beat(conn: Connection) -> int:
            conn.execute("INSERT INTO replicas (replica_id, seen) VALUES (?, ?) "
                         "ON CONFLICT (replica_id) DO UPDATE SET seen = excluded.seen",
                         (replica, now))
            conn.execute("DELETE FROM replicas WHERE seen < ?", (now - FORGET_AFTER,))
            row = conn.execute("SELECT count(*) AS n FROM replicas WHERE seen >= ?",
                               (now - ttl,)).fetchone()
            return int(row["n"])

        return await self.db.transaction(beat)

    async def leave(self, replica: str) -> None:
        await self.db.transaction(lambda conn: conn.execute(
            "DELETE FROM replicas WHERE replica_id = ?", (replica,)))
