"""Jobs run on a provider's own batch API: translate, submit, poll, cancel, write outputs.

The loop is the same for every provider; a BatchAPI adapter does the talking. Everything a
restart needs is in the store: the upstream ids (jobs.upstream), the error lines of records that
never went upstream (spools), and the input, which is read again to key results by custom id.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import orjson

from bifrost_py.domain.jobs import (
    COMPLETED,
    EXPIRED,
    FAILED,
    IN_PROGRESS,
    PARTIALLY_COMPLETED,
    STOPPED,
    VALIDATING,
    Counts,
    Job,
)
from bifrost_py.domain.objects import ObjectInfo
from bifrost_py.domain.records.fields import RecordError
from bifrost_py.domain.records.neutral import Prompt
from bifrost_py.jobs.batch_io import (
    JobFailed,
    check_record_count,
    counts_of,
    find_inputs,
    numbered_lines,
    remove_work,
)
from bifrost_py.jobs.dialects.base import Dialect, Item
from bifrost_py.jobs.follow import Follower
from bifrost_py.jobs.lifecycle import fail, prepared
from bifrost_py.jobs.upstream_lines import (
    CustomIds,
    Line,
    Sent,
    native,
    request_line,
)
from bifrost_py.ports.jobs import JobRepository
from bifrost_py.ports.spools import Spool, Spools
from bifrost_py.ports.upstream import (
    BatchAPI,
    Poll,
    Result,
    Upstream,
    UpstreamRefused,
    UpstreamRequest,
)

# Statuses of a batch that ended before answering every request: the rest have no result.
_CUT_SHORT = frozenset({STOPPED, EXPIRED, PARTIALLY_COMPLETED, FAILED})
NO_RESULT = 502  # the errorCode of a record the provider returned no result for


class RemoteJobs:
    def __init__(self, api: BatchAPI, jobs: JobRepository, dialects: dict[str, Dialect],
                 spools: Spools, work_dir: Path, poll_interval: float, max_records: int,
                 ) -> None:
        self.api = api
        self.max_records = max_records
        self.jobs = jobs
        self.dialects = dialects
        self.spools = spools
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
            await fail(self.jobs, job, failure)
            await self._remove_work(job)

    async def _submit(self, job: Job, stop: asyncio.Event) -> Upstream | None:
        """Translate the input into the provider's request file and create the batch."""
        await self.jobs.update(job.job_id, status=VALIDATING)
        dialect = self.dialects[job.dialect]
        inputs = await find_inputs(dialect.objects, job)
        job = await prepared(self.jobs, dialect, job, inputs)
        spools = await self.spools.open(job, len(inputs))
        path = self.work_dir / job.job_id / "requests.jsonl"
        # Spools kept in the store (replicas) make no directory here for it.
        path.parent.mkdir(parents=True, exist_ok=True)
        order: list[str] = []
        ids = CustomIds()
        with open(path, "wb") as requests:
            async for index, line_no, line in self._lines(dialect, inputs):
                request = self._request(job, dialect, ids, index, line_no, line, spools[index])
                if request is not None:
                    requests.write(request[1])
                    order.append(request[0])
        await self.spools.write_order(job, order)
        count = len(order)
        local = counts_of(spools, count + sum(s.tally.processed for s in spools))
        for spool in spools:
            await spool.close()
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

    def _request(self, job: Job, dialect: Dialect, ids: CustomIds, index: int, line_no: int,
                 line: bytes, spool: Spool) -> tuple[str, bytes] | None:
        """(custom id, request line) for an input line, or None after spooling its error
        line (or for a blank line)."""
        found = native(self.api, line)
        if found is not None:
            return found.custom_id, orjson.dumps(found.sent) + b"\n"
        item = dialect.read(job, line_no, line)
        if item is None or line_no in spool.done:
            return None
        if not isinstance(item, Item):
            spool.append(line_no, *dialect.written(job, item, Result(item.id,
                                                                     error=(400, item.message))))
            return None
        # Assigned before translating, as _sent assigns it: a record that fails to translate
        # still takes its id, so every later record gets the same id in both.
        custom_id = ids.assign(item.id, index, line_no)
        try:
            prompt = dialect.request(job, item)
            if not isinstance(prompt, Prompt):  # batches create refuses what a provider lacks
                raise RecordError(f"{self.api.provider} runs chat requests only")
            return custom_id, request_line(self.api, UpstreamRequest(
                custom_id, dialect.model(job, item), prompt))
        except RecordError as exc:
            spool.append(line_no, *dialect.written(job, item, Result(item.id,
                                                                     error=(400, str(exc)))))
            return None

    async def _finish(self, job: Job, upstream: Upstream, poll: Poll) -> None:
        job = await self.jobs.get(job.job_id)  # as prepared at submit, perhaps by another run
        dialect = self.dialects[job.dialect]
        inputs = await find_inputs(dialect.objects, job)
        spools = await self.spools.open(job, len(inputs))
        try:
            if not upstream.get("empty"):
                sent = await self._sent(job, dialect, inputs)
                await self.follower.retrying(
                    lambda: self._collect(job, dialect, upstream, sent, spools), None)
                if poll.status not in _CUT_SHORT:
                    self._unanswered(job, dialect, sent, spools)
            counts = counts_of(spools, upstream.get("total"))
            written = await dialect.publish(job, inputs, spools, counts)
        finally:
            for spool in spools:
                await spool.close()
        await self.jobs.update(job.job_id, status=poll.status, message=poll.message,
                               counts=counts, end_time=time.time(),
                               extra={**job.extra, **written})
        await self._remove_work(job)

    async def _collect(self, job: Job, dialect: Dialect, upstream: Upstream, sent: Sent,
                       spools: list[Spool]) -> Upstream:
        """Write each upstream result as an output line of the input file it came from; an
        interrupted collection resumes, since lines already spooled are skipped, and so is a
        second answer to the same request."""
        async for result in self.api.results(job, upstream):
            line = sent.answered_by(result)
            if line is None or line.item.line_no in spools[line.input_index].done:
                continue
            spools[line.input_index].append(line.item.line_no,
                                            *dialect.written(job, line.item, result))
        return upstream

    def _unanswered(self, job: Job, dialect: Dialect, sent: Sent, spools: list[Spool]) -> None:
        """A batch that ran to its end answers every request; one it did not answer is an
        error line of its own, never a record that silently vanishes."""
        message = f"The {self.api.provider} batch returned no result for this record."
        for line in sent.lines:
            spool = spools[line.input_index]
            if line.item.line_no not in spool.done:
                spool.append(line.item.line_no, *dialect.written(
                    job, line.item, Result(line.item.id, error=(NO_RESULT, message))))

    async def _sent(self, job: Job, dialect: Dialect, inputs: list[ObjectInfo]) -> Sent:
        """The input lines that went upstream, with the ids assigned exactly as when the
        requests were written."""
        sent = Sent(order=await self.spools.read_order(job))
        ids = CustomIds()
        async for input_index, line_no, line in self._lines(dialect, inputs):
            found = native(self.api, line)
            if found is not None:
                item = Item(line_no, found.custom_id, found.given, found.given)
                sent.add(found.custom_id, Line(input_index, item))
                continue
            read = dialect.read(job, line_no, line)
            if isinstance(read, Item):
                sent.add(ids.assign(read.id, input_index, line_no), Line(input_index, read))
        return sent

    async def _lines(self, dialect: Dialect, inputs: list[ObjectInfo],
                     ) -> AsyncIterator[tuple[int, int, bytes]]:
        for index, obj in enumerate(inputs):
            async for line_no, line in numbered_lines(
                    dialect.objects.read(obj, 0, obj.size - 1)):
                yield index, line_no, line

    async def _remove_work(self, job: Job) -> None:
        await self.spools.remove(job)
        remove_work(self.work_dir, job)


def _merged(upstream: Upstream, counts: Counts) -> Counts:
    """The provider's progress plus the records refused here before going upstream."""
    local_errors = int(upstream.get("local_errors", 0))
    return Counts(upstream.get("total"), counts.processed + local_errors, counts.success,
                  counts.errors + local_errors, counts.input_tokens, counts.output_tokens)
