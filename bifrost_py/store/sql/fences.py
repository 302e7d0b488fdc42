"""The fencing check every write of a leased job's progress makes, inside its transaction."""

from __future__ import annotations

from bifrost_py.ports.leases import LeaseLost
from bifrost_py.store.sql.database import Connection


def check_fence(conn: Connection, job_id: str, fence: int | None) -> None:
    """Refuse a write for a job leased with `fence` once another replica holds it."""
    if fence is None:
        return
    row = conn.execute("SELECT lease_token FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
    if row is None or row["lease_token"] != fence:
        raise LeaseLost(job_id)
