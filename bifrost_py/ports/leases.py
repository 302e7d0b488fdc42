"""Jobs leased to one replica at a time.

A replica runs a job only while it holds the job's lease, renewing it well before it lapses; a
replica that dies or is cut off from the store loses its jobs to another once their leases lapse.
Each claim raises the job's fencing token, and every write of the job's progress or output is
checked against it, so a replica that lost a job can no longer change it, however late its
writes arrive.
"""

from __future__ import annotations

from typing import Protocol


class LeaseLost(Exception):
    """The job is no longer this replica's: another has claimed it since."""

    def __init__(self, job_id: str) -> None:
        super().__init__(f"the lease of job {job_id} has passed to another replica")
        self.job_id = job_id


class Leases(Protocol):
    @property
    def replica(self) -> str:
        """The name this replica's leases are held under."""

    async def claim(self, provider: str, limit: int) -> list[str]:
        """Lease up to `limit` unended jobs of `provider` that no live replica holds, oldest
        first; the ids of those now this replica's."""

    async def renew(self, job_ids: list[str]) -> set[str]:
        """Extend the leases of `job_ids`; those still this replica's."""

    async def release(self, job_ids: list[str]) -> None:
        """Give the jobs up, so another replica may take them at once."""
