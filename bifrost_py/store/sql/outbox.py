"""The outbox of jobs' ends: rows written by JobStore.update as a job ends."""

from __future__ import annotations

from bifrost_py.domain.job_events import JobEvent
from bifrost_py.ports.outbox import Delivery
from bifrost_py.store.sql.database import Database


class SqlOutbox:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def pending(self, limit: int) -> list[JobEvent]:
        rows = await self.db.fetchall(
            "SELECT event_id, job_id, status, created FROM job_events WHERE done IS NULL "
            "ORDER BY created LIMIT ?", (limit,))
        return [JobEvent(r["event_id"], r["job_id"], r["status"], r["created"]) for r in rows]

    async def deliveries(self, event_id: str) -> dict[str, Delivery]:
        rows = await self.db.fetchall(
            "SELECT hook, attempts, next_at, delivered FROM webhook_deliveries "
            "WHERE event_id = ?", (event_id,))
        return {r["hook"]: Delivery(r["attempts"], r["next_at"], r["delivered"] is not None)
                for r in rows}

    async def attempted(self, event_id: str, hook: str, delivery: Delivery,
                        error: str | None) -> None:
        delivered = delivery.next_at if delivery.delivered else None
        await self.db.transaction(lambda conn: conn.execute(
            "INSERT INTO webhook_deliveries (event_id, hook, attempts, next_at, delivered, "
            "last_error) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (event_id, hook) DO UPDATE SET "
            "attempts = excluded.attempts, next_at = excluded.next_at, "
            "delivered = excluded.delivered, last_error = excluded.last_error",
            (event_id, hook, delivery.attempts, delivery.next_at, delivered, error)))

    async def done(self, event_id: str, when: float) -> None:
        await self.db.transaction(lambda conn: conn.execute(
            "UPDATE job_events SET done = ? WHERE event_id = ?", (when, event_id)))
