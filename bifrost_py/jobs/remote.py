"""Jobs run on a provider's own batch API: translate, submit, poll, cancel, write outputs.

The loop is the same for every provider; a BatchAPI adapter does the talking. Everything a
restart needs is in the store: the upstream ids (jobs.upstream), the error lines of records that
never went upstream (spools), and the input, which is read again to key results by custom id.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import orjson

from bifrost_py.domain.jobs import COMPLETED, FAILED, IN_PROGRESS, STOPPED, VALIDATING, Counts, Job
from bifrost_py.domain.objects import ObjectInfo
from bifrost_py.domain.records.fields import RecordError
from bifrost_py.domain.records.lines import BadLine, Record, error_line, output_line, parse_line
from bifrost_py.domain.records.outputs import to_model_output
from bifrost_py.domain.records.prompt import to_prompt
from bifrost_py.jobs.batch_io import (
    JobFailed,
    check_record_count,
    counts_of,
    find_inputs,
    numbered_lines,
    open_spools,
    publish_outputs,
    remove_work,
)
from bifrost_py.jobs.follow import Follower
from bifrost_py.jobs.spool import Spool
from bifrost_py.ports.files import Objects
from bifrost_py.ports.jobs import JobRepository
from bifrost_py.ports.upstream import (
    BatchAPI,
    Poll,
    Result,
    Upstream,
    UpstreamRefused,
    UpstreamRequest,
)

_CUSTOM_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


@dataclass(frozen=True)
class Line:
    """An input line that went upstream: where it is, and the record it stands for."""

    input_index: int
    record: Record


class RemoteJobs:
    def __init__(self, api: BatchAPI, jobs: JobRepository, files: Objects, work_dir: Path,
                 poll_interval: float, max_records: int) -> None:
        self.api = api
        self.max_records = max_records
        self.jobs = jobs
        self.files = files
        self.work_dir = work_dir
        self.follower = Follower(api, jobs, poll_interval)

    async def run(self, job: Job, stop: asyncio.Event) -> None:
        try:
            upstream = job.upstream or await self._submit(job, stop)
            if upstream is None:
                return
            poll = await self.follower.until_ended(
                job, upstream, stop, lambda counts: _merged(upstream, counts))
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
        upstream = await self.follower.retrying(lambda: self.api.submit(job, path, count), stop)
        if upstream is None:
            await self.jobs.update(job.job_id, status=STOPPED, end_time=time.time())
            return None
        path.unlink(missing_ok=True)
        # What the counts on Get add to the provider's: records refused before going upstream.
        upstream.update(total=local.total, local_errors=local.errors)
        await self.jobs.update(job.job_id, upstream=upstream, status=IN_PROGRESS)
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
        # Assigned before translating, as _index assigns it: a record that fails to translate
        # still takes its id, so every later record gets the same id in both.
        custom_id = ids.assign(parsed, index)
        try:
            prompt = to_prompt(job.model_id, parsed.model_input,
                               job.invocation_type or "InvokeModel")
            return self.api.request_line(UpstreamRequest(custom_id, job.model_id, prompt))
        except RecordError as exc:
            spool.append(line_no, False, 0, 0, error_line(parsed, 400, str(exc)))
            return None

    async def _finish(self, job: Job, upstream: Upstream, poll: Poll) -> None:
        inputs = await find_inputs(self.files, job)
        spools = open_spools(self.work_dir, job, len(inputs))
        try:
            if not upstream.get("empty"):
                await self.follower.retrying(
                    lambda: self._collect(job, upstream, inputs, spools), None)
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
