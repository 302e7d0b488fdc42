"""The local provider's batch executor: every record of a job through a model backend.

Inputs stream from the embedded store, results stream into a spool on disk (see jobs/spool.py),
and when the job ends the spools become `{output}/{job_id}/{input}.out` plus a manifest. A job
interrupted by a crash or a restart resumes where its spools end.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from bifrost_py.config import BackendSettings, LocalConfig
from bifrost_py.domain.jobs import (
    COMPLETED,
    EXPIRED,
    IN_PROGRESS,
    PARTIALLY_COMPLETED,
    SCHEDULED,
    STOPPED,
    SUBMITTED,
    VALIDATING,
    Counts,
    Job,
)
from bifrost_py.domain.objects import ObjectInfo
from bifrost_py.domain.records.fields import RecordError
from bifrost_py.domain.records.openai_embeddings import EmbeddingsRequest
from bifrost_py.jobs.batch_io import (
    JobFailed,
    check_record_count,
    count_records,
    counts_of,
    find_inputs,
    numbered_lines,
)
from bifrost_py.jobs.dialects.base import Dialect, Item, Written
from bifrost_py.jobs.lifecycle import fail, prepared
from bifrost_py.ports.backends import Backend, BackendError
from bifrost_py.ports.jobs import JobRepository
from bifrost_py.ports.spools import Spool, Spools
from bifrost_py.ports.upstream import Result

PROGRESS_INTERVAL = 0.5


class LocalJobs:
    def __init__(self, config: LocalConfig, jobs: JobRepository, dialects: dict[str, Dialect],
                 spools: Spools, max_records: int,
                 make_backend: Callable[[BackendSettings], Backend]) -> None:
        self.config = config
        self.make_backend = make_backend
        self.max_records = max_records
        self.jobs = jobs
        self.dialects = dialects
        self.spools = spools

    async def run(self, job: Job, stop: asyncio.Event) -> None:
        try:
            await self._run(job, self.dialects[job.dialect], stop)
        except JobFailed as failure:
            await fail(self.jobs, job, failure)
            await self.spools.remove(job)

    async def _run(self, job: Job, dialect: Dialect, stop: asyncio.Event) -> None:
        # A job resumed after a restart keeps its status; a new one goes through validation.
        starting = job.status in (SUBMITTED, VALIDATING, SCHEDULED)
        if starting:
            await self.jobs.update(job.job_id, status=VALIDATING)
        inputs = await find_inputs(dialect.objects, job)
        job = await prepared(self.jobs, dialect, job, inputs)
        total = await count_records(dialect.objects, inputs)
        check_record_count(total, self.max_records)
        spools = await self.spools.open(job, len(inputs))
        if starting:
            await self.jobs.update(job.job_id, status=SCHEDULED, counts=Counts(total=total))
            await self.jobs.update(job.job_id, status=IN_PROGRESS)
        settings = self.config.settings(job.model_id)
        backend = self.make_backend(settings)
        reporter = asyncio.create_task(self._report(job, spools, total))
        expired = False
        try:
            for obj, spool in zip(inputs, spools, strict=True):
                expired = await self._process(job, dialect, obj, spool, backend, settings, stop)
                if stop.is_set() or expired:
                    break
        finally:
            reporter.cancel()
            await backend.aclose()
            for spool in spools:
                await spool.close()
        await self._finish(job, dialect, inputs, spools, total, stop.is_set(), expired)

    async def _process(self, job: Job, dialect: Dialect, obj: ObjectInfo, spool: Spool,
                       backend: Backend, settings: BackendSettings, stop: asyncio.Event) -> bool:
        """Run the records of one input file not yet in its spool; True if the job expired."""
        queue: asyncio.Queue[tuple[int, bytes] | None] = asyncio.Queue(settings.concurrency * 2)
        expired = False

        async def produce() -> None:
            nonlocal expired
            async for line_no, line in numbered_lines(
                    dialect.objects.read(obj, 0, obj.size - 1)):
                expired = time.time() > job.expiration_time
                if stop.is_set() or expired:
                    break
                if line_no not in spool.done:
                    await queue.put((line_no, line))
            for _ in range(settings.concurrency):
                await queue.put(None)

        async def work() -> None:
            while (item := await queue.get()) is not None:
                written = await self._record(job, dialect, backend, *item)
                if written is not None:
                    spool.append(item[0], *written)

        async with asyncio.TaskGroup() as group:
            group.create_task(produce())
            for _ in range(settings.concurrency):
                group.create_task(work())
        return expired

    async def _record(self, job: Job, dialect: Dialect, backend: Backend, line_no: int,
                      line: bytes) -> Written | None:
        item = dialect.read(job, line_no, line)
        if item is None:
            return None
        if not isinstance(item, Item):
            return dialect.written(job, item, Result(item.id, error=(400, item.message)))
        return dialect.written(job, item, await self._answer(job, dialect, backend, item))

    async def _answer(self, job: Job, dialect: Dialect, backend: Backend, item: Item) -> Result:
        model = dialect.model(job, item)
        try:
            request = dialect.request(job, item)
            if isinstance(request, EmbeddingsRequest):
                embeddings = await backend.embed(model, request.inputs, request.dimensions)
                return Result(item.id, embeddings=embeddings)
            return Result(item.id, completion=await backend.complete(model, request))
        except RecordError as exc:
            return Result(item.id, error=(400, str(exc)))
        except BackendError as exc:
            return Result(item.id, error=(exc.code, exc.message))

    async def _finish(self, job: Job, dialect: Dialect, inputs: list[ObjectInfo],
                      spools: list[Spool], total: int, stopped: bool, expired: bool) -> None:
        counts = counts_of(spools, total)
        written = await dialect.publish(job, inputs, spools, counts)
        status = (STOPPED if stopped else
                  (PARTIALLY_COMPLETED if counts.processed else EXPIRED) if expired else COMPLETED)
        await self.jobs.update(job.job_id, status=status, counts=counts, end_time=time.time(),
                               extra={**job.extra, **written})
        await self.spools.remove(job)

    async def _report(self, job: Job, spools: list[Spool], total: int) -> None:
        """Keep Get/List counts moving while the job runs, the answers they count kept first:
        counted before the flush, so an answer that arrives during it waits for the next report
        and a replica taking the job over never finds fewer answers kept than were reported."""
        while True:
            await asyncio.sleep(PROGRESS_INTERVAL)
            counts = counts_of(spools, total)
            for spool in spools:
                await spool.flush()
            await self.jobs.update(job.job_id, counts=counts)
