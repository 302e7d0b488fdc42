"""Steps every engine takes the same way at the start and at the end of a job."""

from __future__ import annotations

import time

from bifrost_py.domain.jobs import FAILED, Job
from bifrost_py.domain.objects import ObjectInfo
from bifrost_py.jobs.batch_io import JobFailed
from bifrost_py.jobs.dialects.base import Dialect
from bifrost_py.ports.jobs import JobRepository


async def prepared(jobs: JobRepository, dialect: Dialect, job: Job,
                   inputs: list[ObjectInfo]) -> Job:
    """The job with what its dialect learnt of its input before it runs, saved."""
    ready = await dialect.prepare(job, inputs)
    if (ready.model_id, ready.extra) != (job.model_id, job.extra):
        await jobs.update(job.job_id, model_id=ready.model_id, extra=ready.extra)
    return ready


async def fail(jobs: JobRepository, job: Job, failure: Exception) -> None:
    """End a job that cannot run: Failed, saying why (and keeping the dialect's account)."""
    errors = failure.errors if isinstance(failure, JobFailed) else None
    extra = {"extra": {**job.extra, "errors": errors}} if errors else {}
    await jobs.update(job.job_id, status=FAILED, message=str(failure), end_time=time.time(),
                      **extra)
