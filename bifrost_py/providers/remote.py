"""Jobs run on a provider's own batch API: translate, submit, poll, cancel, write outputs.

The loop is the same for every provider; a BatchAPI adapter does the talking. Everything a
restart needs is in the store: the upstream ids (jobs.upstream), the error lines of records that
never went upstream (spools), and the input, which is read again to key results by custom id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import orjson

from bifrost_py.domain.jobs import (
    COMPLETED,
    ENDED,
    FAILED,
    IN_PROGRESS,
    STOPPED,
    STOPPING,
    VALIDATING,
    Counts,
    Job,
)
from bifrost_py.domain.objects import ObjectInfo
from bifrost_py.domain.records.fields import RecordError
from bifrost_py.domain.records.lines import BadLine, Record, error_line, output_line, parse_line
from bifrost_py.domain.records.outputs import to_model_output
from bifrost_py.providers.base import (
    BatchAPI,
    Poll,
    Result,
    Upstream,
    UpstreamRefused,
    UpstreamUnavailable,
)
from bifrost_py.providers.batch_io import (
    JobFailed,
    check_record_count,
    counts_of,
    find_inputs,
    numbered_lines,
    open_spools,
    publish_outputs,
    remove_work,
)
from bifrost_py.store.jobs import JobStore
from bifrost_py.store.objects import ObjectStore
from bifrost_py.store.spool import Spool

log = logging.getLogger("bifrost_py.remote")
MAX_BACKOFF = 300.0
_CUSTOM_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


@dataclass(frozen=True)
class Line:
    """An input line that went upstream: where it is, and the record it stands for."""

    input_index: int
    record: Record


class RemoteJobs:
    def __init__(self, api: BatchAPI, jobs: JobStore, files: ObjectStore, work_dir: Path,
                 poll_interval: float, max_records: int) -> None:
        self.api = api
        self.max_records = max_records
        self.jobs = jobs
        self.files = files
        self.work_dir = work_dir
        self.poll_interval = poll_interval

    async def run(self, job: Job, stop: asyncio.Event) -> None:
        try:
            upstream = job.upstream or await (self._submit_native(job, stop) if self.api.native_io
                                              else self._submit(job, stop))
            if upstream is None:
                return
            poll = await self._follow(job, upstream, stop)
            await self._finish(job, upstream, poll)
        except (JobFailed, UpstreamRefused) as failure:
            await self.jobs.update(job.job_id, status=FAILED, end_time=time.time(),
                                   message=str(failure))
            remove_work(self.work_dir, job)

    async def _submit(self, job: Job, stop: asyncio.Event) -> Upstream | None:
        """Translate the input into the provider's request file and create the batch."""
        await self.jobs.update(job.job_id, status=VALIDATING)
        inputs = await find_inputs(self.files, job)
        spools = open_spools(self.work_dir, job, len(inputs))
        path = self.work_dir / job.job_id / "requests.jsonl"
        count = 0
        ids = CustomIds()
        with open(path, "wb") as requests:
            async for index, line_no, line in self._lines(inputs):
                request = self._request(job, ids, index, line_no, line, spools[index])
                if request is not None:
                    requests.write(request if request.endswith(b"\n") else request + b"\n")
                    count += 1
        local = counts_of(spools, count + sum(s.tally.processed for s in spools))
        for spool in spools:
            spool.close()
        check_record_count(local.total or 0, self.max_records)
        await self.jobs.update(job.job_id, counts=local)
        if count == 0:
            await self._finish(job, {"empty": True, "total": local.total}, Poll(COMPLETED))
            return None
        upstream = await self._retrying(lambda: self.api.submit(job, path, count), stop)
        if upstream is None:
            await self.jobs.update(job.job_id, status=STOPPED, end_time=time.time())
            return None
        path.unlink(missing_ok=True)
        # What the counts on Get add to the provider's: records refused before going upstream.
        upstream.update(total=local.total, local_errors=local.errors)
        await self.jobs.update(job.job_id, upstream=upstream, status=IN_PROGRESS)
        return upstream

    async def _submit_native(self, job: Job, stop: asyncio.Event) -> Upstream | None:
        """A provider that reads the Bedrock input itself gets the job as it is; its own
        statuses (Submitted, Validating, ...) reach Get from the first poll on."""
        upstream = await self._retrying(lambda: self.api.submit(job, None, 0), stop)
        if upstream is None:
            await self.jobs.update(job.job_id, status=STOPPED, end_time=time.time())
            return None
        await self.jobs.update(job.job_id, upstream=upstream)
        return upstream

    def _request(self, job: Job, ids: CustomIds, index: int, line_no: int, line: bytes,
                 spool: Spool) -> bytes | None:
        """The request line for an input line, or None after spooling its error line."""
        native = _native(self.api, line)
        if native is not None:
            return line.strip()
        parsed = parse_line(line, line_no)
        if parsed is None or line_no in spool.done:
            return None
        if isinstance(parsed, BadLine):
            spool.append(line_no, False, 0, 0, error_line(parsed, 400, parsed.message))
            return None
        try:
            return self.api.request_line(job, parsed, ids.assign(parsed, index))
        except RecordError as exc:
            spool.append(line_no, False, 0, 0, error_line(parsed, 400, str(exc)))
            return None

    async def _follow(self, job: Job, upstream: Upstream, stop: asyncio.Event) -> Poll:
        """Poll until the batch ends; cancel it upstream once a stop is asked for."""
        delay = 0.0
        while True:
            if stop.is_set() and not upstream.get("cancelled"):
                await self._retrying(lambda: self._cancel(job, upstream), None)
            try:
                poll = await self.api.poll(job, upstream)
                delay = self.poll_interval
            except UpstreamUnavailable as exc:
                delay = min(max(delay, self.poll_interval) * 2, MAX_BACKOFF)
                log.warning("job %s: %s unavailable (%s); next poll in %.0f s", job.job_id,
                            self.api.provider, exc, delay)
            else:
                if poll.results_ready or poll.status in ENDED:
                    return poll
                status = STOPPING if stop.is_set() else poll.status
                await self.jobs.update(job.job_id, status=status,
                                       counts=_merged(upstream, poll.counts))
            # Sleep until the next poll, or until a stop that is not yet sent upstream.
            waiting = asyncio.sleep(delay) if upstream.get("cancelled") else stop.wait()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiting, delay)

    async def _cancel(self, job: Job, upstream: Upstream) -> Upstream:
        await self.api.cancel(job, upstream)
        upstream["cancelled"] = True
        await self.jobs.update(job.job_id, upstream=upstream, status=STOPPING)
        return upstream

    async def _finish(self, job: Job, upstream: Upstream, poll: Poll) -> None:
        if self.api.native_io:  # the outputs are where the provider wrote them
            await self.jobs.update(job.job_id, status=poll.status, message=poll.message,
                                   counts=poll.counts, end_time=time.time())
            return
        inputs = await find_inputs(self.files, job)
        spools = open_spools(self.work_dir, job, len(inputs))
        try:
            if not upstream.get("empty"):
                await self._retrying(lambda: self._collect(job, upstream, inputs, spools), None)
            counts = counts_of(spools, upstream.get("total"))
            await publish_outputs(self.files, job, inputs, spools, counts)
        finally:
            for spool in spools:
                spool.close()
        await self.jobs.update(job.job_id, status=poll.status, message=poll.message,
                               counts=counts, end_time=time.time())
        remove_work(self.work_dir, job)

    async def _collect(self, job: Job, upstream: Upstream, inputs: list[ObjectInfo],
                       spools: list[Spool]) -> Upstream:
        """Write each upstream result as an output line of the input file it came from; an
        interrupted collection resumes, since lines already spooled are skipped."""
        index = await self._index(inputs)
        invocation = job.invocation_type or "InvokeModel"
        async for result in self.api.results(job, upstream):
            line = index.get(result.custom_id)
            if line is None or line.record.line_no in spools[line.input_index].done:
                continue
            spools[line.input_index].append(line.record.line_no, *_output(
                job.model_id, invocation, line.record, result))
        return upstream

    async def _index(self, inputs: list[ObjectInfo]) -> dict[str, Line]:
        """Custom id -> input line, assigned exactly as when the requests were written."""
        index: dict[str, Line] = {}
        ids = CustomIds()
        async for input_index, line_no, line in self._lines(inputs):
            native = _native(self.api, line)
            if native is not None:
                index[native[0]] = Line(input_index, Record(native[0], native[1], line_no))
                continue
            parsed = parse_line(line, line_no)
            if isinstance(parsed, Record):
                index[ids.assign(parsed, input_index)] = Line(input_index, parsed)
        return index

    async def _lines(self, inputs: list[ObjectInfo]) -> AsyncIterator[tuple[int, int, bytes]]:
        for index, obj in enumerate(inputs):
            async for line_no, line in numbered_lines(self.files.read(obj, 0, obj.size - 1)):
                yield index, line_no, line

    async def _retrying(self, call: Callable[[], Awaitable[Upstream]],
                        stop: asyncio.Event | None) -> Upstream | None:
        """`call()` until the provider answers; None if a stop comes first."""
        delay = 1.0
        while True:
            try:
                return await call()
            except UpstreamUnavailable as exc:
                log.warning("%s unavailable (%s); retrying in %.0f s", self.api.provider, exc,
                            delay)
            if stop is not None and stop.is_set():
                return None
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF)


class CustomIds:
    """The id each record is sent upstream with: its recordId when every provider accepts it
    and it is not taken yet, else one made from its place in the input."""

    def __init__(self) -> None:
        self._seen: set[str] = set()

    def assign(self, record: Record, input_index: int) -> str:
        wanted = record.record_id
        if not _CUSTOM_ID.match(wanted) or wanted in self._seen:
            wanted = f"line-{input_index}-{record.line_no}"
        self._seen.add(wanted)
        return wanted


def _merged(upstream: Upstream, counts: Counts) -> Counts:
    """The provider's progress plus the records refused here before going upstream."""
    local_errors = int(upstream.get("local_errors", 0))
    return Counts(upstream.get("total"), counts.processed + local_errors, counts.success,
                  counts.errors + local_errors, counts.input_tokens, counts.output_tokens)


def _native(api: BatchAPI, line: bytes) -> tuple[str, dict[str, object]] | None:
    """(custom id, the line) for a line already in the provider's own request format."""
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(value, dict) or "modelInput" in value:
        return None
    native_id = api.native_id(value)
    return (native_id, value) if native_id is not None else None


def _output(model_id: str, invocation: str, record: Record,
            result: Result) -> tuple[bool, int, int, bytes]:
    if result.completion is None:
        code, message = result.error or (500, "The provider returned no result.")
        return False, 0, 0, error_line(record, code, message)
    output = to_model_output(model_id, invocation, result.completion, record.model_input)
    return (True, result.completion.input_tokens, result.completion.output_tokens,
            output_line(record, output))
