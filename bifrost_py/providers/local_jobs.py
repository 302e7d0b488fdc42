"""The local provider's batch executor: every record of a job through a model backend.

Inputs stream from the embedded store, results stream into a spool on disk (see store/spool.py),
and when the job ends the spools become `{output}/{job_id}/{input}.out` plus a manifest. A job
interrupted by a crash or a restart resumes where its spools end.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import orjson

from bifrost_py.backends.base import Backend, BackendError
from bifrost_py.backends.echo import EchoBackend
from bifrost_py.backends.openai_compatible import OpenAICompatibleBackend
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
    parse_s3_uri,
)
from bifrost_py.domain.objects import ObjectInfo
from bifrost_py.domain.records.fields import RecordError
from bifrost_py.domain.records.lines import BadLine, error_line, output_line, parse_line
from bifrost_py.domain.records.outputs import to_model_output
from bifrost_py.domain.records.prompt import to_prompt
from bifrost_py.errors import AwsError
from bifrost_py.store.jobs import JobStore
from bifrost_py.store.objects import ObjectStore
from bifrost_py.store.spool import Spool

PROGRESS_INTERVAL = 0.5
Result = tuple[bool, int, int, bytes]  # ok, input tokens, output tokens, output line


class JobFailed(Exception):
    """The job cannot run at all (its input is missing, unreadable, ...): status Failed."""


class LocalJobs:
    def __init__(self, config: LocalConfig, jobs: JobStore, objects: ObjectStore,
                 work_dir: Path) -> None:
        self.config = config
        self.jobs = jobs
        self.objects = objects
        self.work_dir = work_dir

    async def run(self, job: Job, stop: asyncio.Event) -> None:
        try:
            await self._run(job, stop)
        except JobFailed as failure:
            await self.jobs.update(job.job_id, status=FAILED, message=str(failure),
                                   end_time=time.time())
            for path in (self.work_dir / job.job_id).glob("*.spool"):
                path.unlink()

    async def _run(self, job: Job, stop: asyncio.Event) -> None:
        # A job resumed after a restart keeps its status; a new one goes through validation.
        starting = job.status in (SUBMITTED, VALIDATING, SCHEDULED)
        if starting:
            await self.jobs.update(job.job_id, status=VALIDATING)
        inputs = await self._inputs(job)
        total = 0
        for obj in inputs:
            total += await _count(self.objects.read(obj, 0, obj.size - 1))
        spools = self._spools(job, len(inputs))
        if starting:
            await self.jobs.update(job.job_id, status=SCHEDULED, counts=Counts(total=total))
            await self.jobs.update(job.job_id, status=IN_PROGRESS)
        settings = self.config.settings(job.model_id)
        backend = make_backend(settings)
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
            async for line_no, line in _lines(self.objects.read(obj, 0, obj.size - 1)):
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

    async def _inputs(self, job: Job) -> list[ObjectInfo]:
        """The input object, or every .jsonl object under the input prefix."""
        bucket, key = parse_s3_uri(job.input_uri)
        try:
            if key and not key.endswith("/"):
                with contextlib.suppress(AwsError):
                    return [await self.objects.get(bucket, key)]
            found = [o async for o in self._under(bucket, key) if o.key.endswith(".jsonl")]
        except AwsError as exc:
            raise JobFailed(f"The input {job.input_uri} cannot be read: {exc.message}") from None
        if not found:
            raise JobFailed(f"The input {job.input_uri} does not name an object or a prefix "
                            "with .jsonl files.")
        return found

    async def _under(self, bucket: str, prefix: str) -> AsyncIterator[ObjectInfo]:
        after = ""
        while True:
            page = await self.objects.list_keys(bucket, prefix=prefix, after=after)
            for obj in page.objects:
                yield obj
            if not page.truncated:
                return
            after = page.last_key or ""

    async def _finish(self, job: Job, inputs: list[ObjectInfo], spools: list[Spool],
                      total: int, stopped: bool, expired: bool) -> None:
        counts = _counts(spools, total)
        bucket, prefix = parse_s3_uri(job.output_uri)
        base = f"{prefix.rstrip('/')}/{job.job_id}/" if prefix.strip("/") else f"{job.job_id}/"
        input_prefix = parse_s3_uri(job.input_uri)[1]
        try:
            for obj, spool in zip(inputs, spools, strict=True):
                # One input file keeps its name; files under a prefix keep their relative path.
                name = (obj.key.rsplit("/", 1)[-1] if len(inputs) == 1
                        else obj.key[len(input_prefix):])
                await self.objects.write(bucket, f"{base}{name}.out", spool.outputs(),
                                         "application/jsonl")
            await self.objects.write(bucket, f"{base}manifest.json.out",
                                     _one(manifest(counts)), "application/json")
        except AwsError as exc:
            raise JobFailed(f"The output {job.output_uri} cannot be written: {exc.message}"
                            ) from None
        status = (STOPPED if stopped else
                  (PARTIALLY_COMPLETED if counts.processed else EXPIRED) if expired else COMPLETED)
        await self.jobs.update(job.job_id, status=status, counts=counts, end_time=time.time())
        for spool in spools:
            spool.remove()

    async def _report(self, job: Job, spools: list[Spool], total: int) -> None:
        """Keep Get/List counts moving while the job runs."""
        while True:
            await asyncio.sleep(PROGRESS_INTERVAL)
            await self.jobs.update(job.job_id, counts=_counts(spools, total))

    def _spools(self, job: Job, count: int) -> list[Spool]:
        return [Spool.open(self.work_dir / job.job_id / f"{index}.spool")
                for index in range(count)]


def make_backend(settings: BackendSettings) -> Backend:
    if settings.backend == "openai-compatible":
        return OpenAICompatibleBackend(settings.base_url, settings.api_key,
                                       settings.model or None, settings.timeout_seconds,
                                       settings.max_retries)
    return EchoBackend(settings.latency_ms)


def manifest(counts: Counts) -> bytes:
    return orjson.dumps({
        "totalRecordCount": counts.total, "processedRecordCount": counts.processed,
        "successRecordCount": counts.success, "errorRecordCount": counts.errors,
        "inputTokenCount": counts.input_tokens, "outputTokenCount": counts.output_tokens,
    }) + b"\n"


def _counts(spools: list[Spool], total: int) -> Counts:
    tallies = [s.tally for s in spools]
    return Counts(total, sum(t.processed for t in tallies), sum(t.success for t in tallies),
                  sum(t.errors for t in tallies), sum(t.input_tokens for t in tallies),
                  sum(t.output_tokens for t in tallies))


async def _lines(chunks: AsyncIterator[bytes]) -> AsyncIterator[tuple[int, bytes]]:
    """Numbered lines (from 1) of a byte stream; the last may lack its newline."""
    number, rest = 0, b""
    async for chunk in chunks:
        lines = (rest + chunk).split(b"\n")
        rest = lines.pop()
        for line in lines:
            number += 1
            yield number, line
    if rest:
        yield number + 1, rest


async def _count(chunks: AsyncIterator[bytes]) -> int:
    return sum([1 async for _, line in _lines(chunks) if line.strip()])


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data
