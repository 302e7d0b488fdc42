"""The control plane: the one way into jobs from every dialect, whatever provider runs them."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from bifrost_py.config import BedrockConfig, Config
from bifrost_py.domain.jobs import Job, JobFilter, job_id_of, new_job
from bifrost_py.errors import ResourceNotFoundException
from bifrost_py.ports.jobs import JobRepository

# Only real AWS assumes the role: the other providers take any roleArn, as the user's reference
# examples pass one ("not-required-for-openai"). Every other member, modelId included, is held
# to botocore's model for every provider, as AWS would hold it.
_LENIENT = frozenset({"roleArn"})


class ControlPlane:
    def __init__(self, config: Config, jobs: JobRepository, wake: Callable[[], None]) -> None:
        self.config = config
        self.jobs = jobs
        self.wake = wake

    def lenient_fields(self, provider: str) -> frozenset[str]:
        """Create-request members whose pattern `provider` does not need enforced."""
        settings = self.config.providers.instances.get(provider)
        if not isinstance(settings, BedrockConfig):
            return _LENIENT
        # With a role configured on the server, the request's roleArn may be any placeholder.
        return _LENIENT if settings.role_arn else frozenset()

    async def create(self, params: dict[str, Any], provider: str,
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

    async def list_jobs(self, where: JobFilter, limit: int, token: str | None,
                   ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of the tenant's job summaries (`where` names the tenant), and the next
        page's token."""
        return await self.jobs.list_summaries(where, limit, token)

    async def stop(self, identifier: str, tenant: str) -> None:
        job = await self.job(identifier, tenant)
        await self.jobs.request_stop(job.job_id)
        self.wake()

    async def tags(self, arn: str, tenant: str) -> list[tuple[str, str]]:
        return await self.jobs.tags((await self._tagged(arn, tenant)).arn)

    async def tag(self, arn: str, tenant: str, tags: list[tuple[str, str]]) -> None:
        await self.jobs.tag((await self._tagged(arn, tenant)).arn, tags)

    async def untag(self, arn: str, tenant: str, keys: list[str]) -> None:
        await self.jobs.untag((await self._tagged(arn, tenant)).arn, keys)

    async def _tagged(self, arn: str, tenant: str) -> Job:
        """The job a resourceARN names; a bare id or any other ARN names no resource here."""
        job = await self.job(arn, tenant)
        if job.arn != arn:
            raise ResourceNotFoundException(f"The resource {arn} was not found.")
        return job
