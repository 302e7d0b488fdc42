"""The control plane: what the Bedrock operations do, whatever provider runs the job."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from bifrost_py.config import Config
from bifrost_py.domain.jobs import Job, job_id_of, new_job
from bifrost_py.errors import ResourceNotFoundException, ValidationException
from bifrost_py.routing import provider_of
from bifrost_py.store.jobs import JobStore


class ControlPlane:
    def __init__(self, config: Config, jobs: JobStore, wake: Callable[[], None]) -> None:
        self.config = config
        self.jobs = jobs
        self.wake = wake

    def provider(self, headers: Mapping[str, str]) -> str:
        return provider_of(headers, self.config, ValidationException)

    async def create(self, params: dict[str, object], provider: str,
                     tags: list[tuple[str, str]], tenant: str) -> Job:
        server = self.config.server
        job = new_job(params, provider, server.region, server.account_id, time.time(), tenant)
        job = await self.jobs.create(job, tags, server.max_jobs_in_flight_per_tenant)
        self.wake()
        return job

    async def job(self, identifier: str, tenant: str) -> Job:
        """The tenant's job a jobIdentifier names: its bare id, or its ARN (in this region and
        account). Another tenant's job is not found, exactly as a job that does not exist."""
        job_id = job_id_of(identifier)
        job = await self.jobs.find(job_id) if job_id else None
        if (job is None or job.tenant != tenant
                or (identifier != job_id and identifier != job.arn)):
            raise ResourceNotFoundException(f"The model invocation job {identifier} was not "
                                            "found.")
        return job

    async def stop(self, identifier: str, tenant: str) -> None:
        job = await self.job(identifier, tenant)
        await self.jobs.request_stop(job.job_id)
        self.wake()

    async def tagged_job(self, arn: str, tenant: str) -> Job:
        """The job a resourceARN names; a bare id or any other ARN names no resource here."""
        job = await self.job(arn, tenant)
        if job.arn != arn:
            raise ResourceNotFoundException(f"The resource {arn} was not found.")
        return job
