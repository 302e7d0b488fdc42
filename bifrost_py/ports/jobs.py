"""What the control plane and the engines ask of the job store.

Every provider's jobs live in one store; a job's row is the whole of its state a restart needs
(with the engine's spools), so any process that opens the store can carry on with it.
"""

from __future__ import annotations

from typing import Any, Protocol

from bifrost_py.domain.jobs import Job, JobFilter, JobTotals
from bifrost_py.domain.usage import Usage


class JobRepository(Protocol):
    async def create(self, job: Job, tags: list[tuple[str, str]], max_in_flight: int = 0) -> Job:
        """Insert `job`; a repeated clientRequestToken returns the job it first created. Names,
        tokens and the limit of jobs in flight (0: none) are per tenant."""

    async def get(self, job_id: str) -> Job: ...

    async def find(self, job_id: str) -> Job | None: ...

    async def list_summaries(self, where: JobFilter, limit: int, token: str | None,
                             ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of ListModelInvocationJobs' summaries and the next page's token."""

    async def page(self, tenant: str, dialect: str, after: Job | None, limit: int) -> list[Job]:
        """Up to `limit` of a tenant's jobs of one dialect, newest first, after `after`."""

    async def recent(self, tenant: str | None, limit: int) -> list[Job]:
        """Up to `limit` jobs of both dialects, newest first: one tenant's, or every tenant's."""

    async def totals(self) -> list[JobTotals]:
        """Every tenant's jobs, grouped by provider and status, with their counts summed."""

    async def usage(self, tenant: str | None, since: float, slot: float) -> list[Usage]:
        """What jobs counted since `since`, in slots of `slot` seconds, by provider and tenant:
        one tenant's jobs, or every tenant's."""

    async def unfinished(self) -> list[tuple[str, str, bool]]:
        """(job id, provider, stop requested) of every job not yet ended, oldest first."""

    async def update(self, job_id: str, **fields: Any) -> None:
        """Set fields of a job (status, message, end_time, counts, upstream) and its
        lastModifiedTime."""

    async def request_stop(self, job_id: str) -> Job: ...

    async def set_cost(self, job_id: str, cost: float) -> None:
        """Record an ended job's cost; its lastModifiedTime stays the end's."""

    async def tags(self, arn: str) -> list[tuple[str, str]]: ...

    async def tag(self, arn: str, tags: list[tuple[str, str]]) -> None: ...

    async def untag(self, arn: str, keys: list[str]) -> None: ...
