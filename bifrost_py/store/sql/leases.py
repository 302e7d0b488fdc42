"""Job leases in the jobs table: `lease_owner`, `lease_expires` and the fencing `lease_token`.

The tokens of the leases this replica holds are kept in `fences`, which the job and spool writes
check against the row, in the same transaction as the write.
"""

from __future__ import annotations

import time

from bifrost_py.store.sql.database import Connection, Database
from bifrost_py.store.sql.jobs import ENDED_SQL


class SqlLeases:
    def __init__(self, db: Database, fences: dict[str, int], replica: str,
                 lease_seconds: float) -> None:
        self.db = db
        self.fences = fences
        self._replica = replica
        self.lease_seconds = lease_seconds

    @property
    def replica(self) -> str:
        return self._replica

    async def claim(self, provider: str, limit: int) -> list[str]:
        now = time.time()

        def claim(conn: Connection) -> list[tuple[str, int]]:
            rows = conn.execute(
                f"UPDATE jobs SET lease_owner = ?, lease_expires = ?, "
                f"lease_token = lease_token + 1 WHERE job_id IN (SELECT job_id FROM jobs WHERE "
                f"provider = ? AND status NOT IN ({ENDED_SQL}) AND (lease_owner IS NULL OR "
                f"lease_expires < ?) ORDER BY submit_time, job_id LIMIT ?"
                f"{self.db.dialect.skip_locked}) "
                f"RETURNING job_id, lease_token, submit_time",
                (self._replica, now + self.lease_seconds, provider, now, limit)).fetchall()
            # Oldest first: RETURNING keeps no order of its own on PostgreSQL.
            rows.sort(key=lambda row: (row["submit_time"], row["job_id"]))
            return [(row["job_id"], row["lease_token"]) for row in rows]

        claimed = await self.db.transaction(claim)
        self.fences.update(claimed)
        return [job_id for job_id, _ in claimed]

    async def renew(self, job_ids: list[str]) -> set[str]:
        held = {job_id: self.fences[job_id] for job_id in job_ids if job_id in self.fences}
        if not held:
            return set()
        expires = time.time() + self.lease_seconds

        def renew(conn: Connection) -> set[str]:
            kept = set()
            for job_id, token in held.items():
                if conn.execute("UPDATE jobs SET lease_expires = ? WHERE job_id = ? AND "
                                "lease_owner = ? AND lease_token = ?",
                                (expires, job_id, self._replica, token)).rowcount:
                    kept.add(job_id)
            return kept

        kept = await self.db.transaction(renew)
        for job_id in held.keys() - kept:
            self.fences.pop(job_id, None)
        return kept

    async def release(self, job_ids: list[str]) -> None:
        held = [(job_id, self.fences.pop(job_id)) for job_id in job_ids if job_id in self.fences]
        if held:
            await self.db.transaction(lambda conn: conn.executemany(
                "UPDATE jobs SET lease_owner = NULL, lease_expires = NULL WHERE job_id = ? AND "
                "lease_token = ?", held))


async def forget_leases(db: Database) -> None:
    """Free every job's lease, as a server that has the database to itself starts."""
    await db.transaction(lambda conn: conn.execute(
        "UPDATE jobs SET lease_owner = NULL, lease_expires = NULL WHERE lease_owner IS NOT NULL"))
