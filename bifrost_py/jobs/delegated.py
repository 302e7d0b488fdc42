"""Jobs a provider runs whole, on storage of its own (real Bedrock reads the input from real S3
and writes the outputs and manifest there itself): submit the job as it is, follow it, stop it.

Our job keeps its own id and ARN; Get answers the status, counts and message the provider gave
at the last poll.
"""

from __future__ import annotations

import asyncio
import time

from bifrost_py.domain.jobs import FAILED, STOPPED, Job
from bifrost_py.jobs.follow import Follower
from bifrost_py.ports.jobs import JobRepository
from bifrost_py.ports.upstream import DelegatedAPI, Upstream, UpstreamRefused


class DelegatedJobs:
    def __init__(self, api: DelegatedAPI, jobs: JobRepository, poll_interval: float) -> None:
        self.api = api
        self.jobs = jobs
        self.follower = Follower(api, jobs, poll_interval)

    async def run(self, job: Job, stop: asyncio.Event) -> None:
        try:
            upstream = job.upstream or await self._submit(job, stop)
            if upstream is None:
                return
            poll = await self.follower.until_ended(job, upstream, stop, lambda counts: counts)
        except UpstreamRefused as failure:
            await self.jobs.update(job.job_id, status=FAILED, end_time=time.time(),
                                   message=str(failure))
            return
        await self.jobs.update(job.job_id, status=poll.status, message=poll.message,
                               counts=poll.counts, end_time=time.time())

    async def _submit(self, job: Job, stop: asyncio.Event) -> Upstream | None:
        """Its own statuses (Submitted, Validating, ...) reach Get from the first poll on."""
        upstream = await self.follower.retrying(lambda: self.api.submit(job), stop)
        if upstream is None:
            await self.jobs.update(job.job_id, status=STOPPED, end_time=time.time())
            return None
        await self.jobs.update(job.job_id, upstream=upstream)
        return upstream
