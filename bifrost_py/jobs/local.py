"""The local provider's batch executor: every record of a job through a model backend.

Inputs stream from the embedded store, results stream into a spool on disk (see jobs/spool.py),
and when the job ends the spools become `{output}/{job_id}/{input}.out` plus a manifest. A job
interrupted by a crash or a restart resumes where its spools end.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from bifrost_py.config import BackendSettings, LocalConfig
from bifrost_py.domain.jobs import (
    COMPLETED,
    EXPIRED,
    FAILED,
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
from bifrost_py.domain.records.lines import BadLine, error_line, output_line, parse_line
from bifrost_py.domain.records.outputs import to_model_output
from bifrost_py.domain.records.prompt import to_prompt
from bifrost_py.jobs.batch_io import (
    JobFailed,
    check_record_count,
    count_records,
    counts_of,
    find_inputs,
    numbered_lines,
    open_spools,
    publish_outputs,
    remove_work,
)
from bifrost_py.jobs.spool import Spool
from bifrost_py.ports.backends import Backend, BackendError
from bifrost_py.ports.files import Objects
from bifrost_py.ports.jobs import JobRepository

PROGRESS_INTERVAL = 0.5
Result = tuple[bool, int, int, bytes]  # ok, input tokens, output tokens, output line


class LocalJobs:
    def __init__(self, config: LocalConfig, jobs: JobRepository, objects: Objects,
                 work_dir: Path, max_records: int,
                 make_backend: Callable[[BackendSettings], Backend]) -> None:
        self.config = config
        self.make_backend = make_backend
        self.max_records = max_records
        self.jobs = jobs
        self.objects = objects
        self.work_dir = work_dir

    async def run(self, job: Job, stop: asyncio.Event) -> None:
        try:
            await self._run(job, stop)
        except JobFailed as failure:
            await self.jobs.update(job.job_id, status=FAILED, message=str(failure),
                                   end_time=time.time())
            remove_work(self.work_dir, job)

    async def _run(self, job: Job, stop: asyncio.Event) -> None:
        # A job resumed after a restart keeps its status; a new one goes through validation.
        starting = job.status in (SUBMITTED, VALIDATING, SCHEDULED)
        if starting:
            await self.jobs.update(job.job_id, status=VALIDATING)
        inputs = await find_inputs(self.objects, job)
        total = await count_records(self.objects, inputs)
        check_record_count(total, self.max_records)
        spools = open_spools(self.work_dir, job, len(inputs))
        if starting:
            await self.jobs.update(job.job_id, status=SCHEDULED, counts=Counts(total=total))
            await self.jobs.update(job.job_id, status=IN_PROGRESS)
        settings = self.config.settings(job.model_id)
        backend = self.make_backend(settings)
        reporter = asyncio.create_task(self._report(job, spools, total))
        expired = False
        try:
            for obj, spool in zip(inputs, spools, strict=True):
                expired = await self._process(job, obj, spool, backend, settings, stop)
                if stop.is_set() or expired:
                    break
        finally:
            reporter.cancel()
            await backend.aclose()
            for spool in spools:
                spool.close()
        await self._finish(job, inputs, spools, total, stop.is_set(), expired)

    async def _process(self, job: Job, obj: ObjectInfo, spool: Spool, backend: Backend,
                       settings: BackendSettings, stop: asyncio.Event) -> bool:
        """Run the records of one input file not yet in its spool; True if the job expired."""
        queue: asyncio.Queue[tuple[int, bytes] | None] = asyncio.Queue(settings.concurrency * 2)
        expired = False

        async def produce() -> None:
            nonlocal expired
            async for line_no, line in numbered_lines(self.objects.read(obj, 0, obj.size - 1)):
                expired = time.time() > job.expiration_time
                if stop.is_set() or expired:
                    break
                if line_no not in spool.done:
                    await queue.put((line_no, line))
            for _ in range(settings.concurrency):
                await queue.put(None)

        async def work() -> None:
            while (item := await queue.get()) is not None:
                result = await self._record(job, backend, *item)
                if result is not None:
                    spool.append(item[0], *result)

        async with asyncio.TaskGroup() as group:
            group.create_task(produce())
            for _ in range(settings.concurrency):
                group.create_task(work())
        return expired

    async def _record(self, job: Job, backend: Backend, line_no: int, line: bytes,
                      ) -> Result | None:
        parsed = parse_line(line, line_no)
        if parsed is None:
            return None
        if isinstance(parsed, BadLine):
            return False, 0, 0, error_line(parsed, 400, parsed.message)
        invocation = job.invocation_type or "InvokeModel"
        try:
            prompt = to_prompt(job.model_id, parsed.model_input, invocation)
            completion = await backend.complete(job.model_id, prompt)
        except RecordError as exc:
            return False, 0, 0, error_line(parsed, 400, str(exc))
        except BackendError as exc:
            return False, 0, 0, error_line(parsed, exc.code, exc.message)
        output = to_model_output(job.model_id, invocation, completion)
        return (True, completion.input_tokens, completion.output_tokens,
                output_line(parsed, output))

    async def _finish(self, job: Job, inputs: list[ObjectInfo], spools: list[Spool],
                      total: int, stopped: bool, expired: bool) -> None:
        counts = counts_of(spools, total)
        await publish_outputs(self.objects, job, inputs, spools, counts)
        status = (STOPPED if stopped else
                  (PARTIALLY_COMPLETED if counts.processed else EXPIRED) if expired else COMPLETED)
        await self.jobs.update(job.job_id, status=status, counts=counts, end_time=time.time())
        for spool in spools:
            spool.remove()

    async def _report(self, job: Job, spools: list[Spool], total: int) -> None:
        """Keep Get/List counts moving while the job runs."""
        while True:
            await asyncio.sleep(PROGRESS_INTERVAL)
            await self.jobs.update(job.job_id, counts=counts_of(spools, total))
