"""Jobs on the Gemini Batch API (google-genai).

A job's records are translated into one Gemini batch input file of `{"key", "request"}` lines
(lines already in that format pass through), uploaded, and run as a batch; its responses file is
read back by key when the batch ends.

The SDK's BatchJob drops the batch's `batchStats` and the operation's `error`, so polls read the
JSON the API answered through the SDK's own client (same base URL, key, timeout and retries).
"""

from __future__ import annotations

import asyncio
import json
import logging
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

from google.genai import types

from bifrost_py.config import GeminiConfig
from bifrost_py.domain.digits import decimal
from bifrost_py.domain.jobs import (
    COMPLETED,
    EXPIRED,
    FAILED,
    IN_PROGRESS,
    SCHEDULED,
    STOPPED,
    STOPPING,
    Counts,
    Job,
)
from bifrost_py.domain.records.gemini import (
    batch_line,
    gemini_error,
    native_line,
    read_outcome,
    read_result,
)
from bifrost_py.domain.records.neutral import Completion, JsonObject
from bifrost_py.ports.upstream import (
    Poll,
    Result,
    Upstream,
    UpstreamAuth,
    UpstreamError,
    UpstreamRefused,
    UpstreamRequest,
    UpstreamUnavailable,
)
from bifrost_py.providers.gemini.connection import (
    MAX_RETRY_DELAY,
    PROVIDER,
    RETRY_DELAY,
    Connection,
)

log = logging.getLogger("bifrost_py.gemini")

# Batch states (BATCH_STATE_* on the Gemini API, JOB_STATE_* in the SDK) as Bedrock statuses.
_STATES = {"UNSPECIFIED": SCHEDULED, "PENDING": SCHEDULED, "QUEUED": SCHEDULED,
           "RUNNING": IN_PROGRESS, "SUCCEEDED": COMPLETED, "FAILED": FAILED,
           "CANCELLING": STOPPING, "CANCELLED": STOPPED, "EXPIRED": EXPIRED}
_ENDED_STATES = frozenset({"SUCCEEDED", "FAILED", "CANCELLED", "EXPIRED"})
_ENDED_MESSAGES = {"FAILED": "The Gemini batch failed.",
                   "EXPIRED": "The Gemini batch expired before every request was answered."}


class GeminiBatch:
    provider = PROVIDER

    def __init__(self, settings: GeminiConfig, model_name: Callable[[str], str]) -> None:
        self.settings = settings
        self.model_name = model_name
        self.gemini = Connection(settings)

    def request_line(self, request: UpstreamRequest) -> bytes:
        return batch_line(request.custom_id, request.prompt)

    def native(self, line: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
        return native_line(line)

    async def submit(self, job: Job, requests: Path, count: int) -> Upstream:
        """Upload the request file, create the batch from it."""
        file_name = await self.gemini.upload(requests, f"bifrost-{job.job_id}-requests.jsonl",
                                             "application/jsonl")
        try:
            batch = await self.gemini.call(self.gemini.client.aio.batches.create(
                model=self.model_name(job.model_id), src=file_name,
                config=types.CreateBatchJobConfig(display_name=job.name)))
        except UpstreamError:  # a retried submit uploads the requests again
            await _quietly(self.gemini.forget(file_name))
            raise
        if not batch.name:
            raise UpstreamUnavailable(PROVIDER, "the batch was created without a name")
        return {"batch": batch.name, "file": file_name}

    async def poll(self, job: Job, upstream: Upstream) -> Poll:
        return batch_poll(await self.gemini.resource(upstream["batch"]))

    async def results(self, job: Job, upstream: Upstream) -> AsyncIterator[Result]:
        """Each response of the batch's responses file (the requests it answered), by key."""
        responses = responses_file(await self.gemini.resource(upstream["batch"]))
        if responses is not None:
            with tempfile.TemporaryDirectory(prefix="bifrost-gemini-") as work:
                path = Path(work) / "responses.jsonl"
                await self._download(responses, path)
                for result in read_results(path):
                    yield result
        await _quietly(self.gemini.forget(upstream["file"]))

    async def cancel(self, job: Job, upstream: Upstream) -> None:
        try:
            await self.gemini.call(self.gemini.client.aio.batches.cancel(name=upstream["batch"]))
        except UpstreamRefused as refused:
            # 400 FAILED_PRECONDITION: the batch has already ended; the next poll tells how.
            if isinstance(refused, UpstreamAuth) or refused.status not in (400, 409):
                raise

    async def aclose(self) -> None:
        await self.gemini.aclose()

    async def _download(self, file_name: str, path: Path) -> None:
        """The SDK retries no downloads: retry here, as it retries every other call."""
        attempt = 0
        while True:
            try:
                await self.gemini.call(self.gemini.client.aio.files.download(
                    file=file_name, destination=str(path)))
                return
            except UpstreamUnavailable:
                if attempt >= self.settings.max_retries:
                    raise
            await asyncio.sleep(min(RETRY_DELAY * 2**attempt, MAX_RETRY_DELAY))
            attempt += 1


def batch_poll(operation: JsonObject) -> Poll:
    """A batch's operation JSON (`{name, metadata: batch, done, error}`) as a Poll."""
    batch = _batch_of(operation)
    state = _state(batch.get("state"))
    message = None
    if operation.get("error"):
        message = gemini_error(operation["error"])[1]
    elif state in _ENDED_MESSAGES:
        message = _ENDED_MESSAGES[state]
    return Poll(_STATES.get(state, IN_PROGRESS), batch_counts(batch.get("batchStats")), message,
                results_ready=state in _ENDED_STATES)


def batch_counts(stats: Any) -> Counts:
    """batchStats as proto3 JSON writes it: int64 counts as strings, zero counts left out."""
    stats = stats if isinstance(stats, dict) else {}

    def count(name: str) -> int:
        value = stats.get(name)
        return int(value) if decimal(str(value)) else 0

    succeeded, failed = count("successfulRequestCount"), count("failedRequestCount")
    total = count("requestCount") if "requestCount" in stats else None
    return Counts(total, succeeded + failed, succeeded, failed)


def responses_file(operation: JsonObject) -> str | None:
    output = _batch_of(operation).get("output") or operation.get("response") or {}
    name = output.get("responsesFile") if isinstance(output, dict) else None
    return name if isinstance(name, str) and name else None


def read_results(path: Path) -> Iterator[Result]:
    """The results in a downloaded responses file. Gemini writes them in request order, so an
    answer without its key is the answer to the request in its place."""
    with open(path, "rb") as lines:
        position = -1
        for raw in lines:
            if not raw.strip():
                continue
            position += 1
            try:
                line = json.loads(raw)
            except ValueError:
                line = None
            if not isinstance(line, dict) or not ("response" in line or "error" in line):
                log.warning("Gemini responses line %d is no answer; skipped", position + 1)
                continue
            keyed = read_result(line)
            key, outcome = keyed if keyed is not None else (None, read_outcome(line))
            yield (Result(key, completion=outcome, position=position)
                   if isinstance(outcome, Completion)
                   else Result(key, error=outcome, position=position))


def _batch_of(operation: JsonObject) -> JsonObject:
    """The batch inside an operation (its metadata), or the batch itself if that is what came."""
    metadata = operation.get("metadata")
    return metadata if isinstance(metadata, dict) else operation


def _state(value: Any) -> str:
    return str(value or "").removeprefix("BATCH_STATE_").removeprefix("JOB_STATE_")


async def _quietly(cleanup: Awaitable[None]) -> None:
    """Tidying upstream that may fail: a stray file expires on its own after 48 hours."""
    try:
        await cleanup
    except UpstreamError as exc:
        log.warning("gemini: could not delete a file (%s)", exc.message)
