"""Jobs on OpenAI's Batch API; Azure OpenAI when `api_version` is set.

A job's requests go up as a file of their own: `submit` uploads it and creates the batch, tagged
with the job id in its metadata so that a create whose answer was lost is found again instead of
being made twice. Results come back from the output and error files, read as they stream.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, cast

import openai
import orjson
from openai.types import Batch

from bifrost_py.config import OpenAIConfig
from bifrost_py.domain.jobs import (
    COMPLETED,
    EXPIRED,
    FAILED,
    IN_PROGRESS,
    PARTIALLY_COMPLETED,
    STOPPED,
    STOPPING,
    VALIDATING,
    Counts,
    Job,
)
from bifrost_py.domain.records.openai_batch import (
    AZURE_CHAT_URL,
    CHAT_URL,
    batch_request,
    native_custom_id,
    read_output_line,
)
from bifrost_py.ports.upstream import Poll, Result, Upstream, UpstreamRefused, UpstreamRequest
from bifrost_py.providers.openai.client import new_client, translated_errors

METADATA_KEY = "bifrost_job"
_RUNNING = frozenset({"validating", "in_progress", "finalizing"})
_SIMPLE = {"validating": VALIDATING, "in_progress": IN_PROGRESS, "finalizing": IN_PROGRESS,
           "cancelling": STOPPING}
_ENDED = {"completed": COMPLETED, "cancelled": STOPPED}
_MAX_REASONS = 3  # of a failed batch's errors, how many its job's message quotes


class OpenAIBatch:
    provider = "openai"

    def __init__(self, settings: OpenAIConfig, model_name: Callable[[str], str]) -> None:
        self._settings = settings
        self._model_name = model_name
        self._url = AZURE_CHAT_URL if settings.api_version else CHAT_URL
        self._client = new_client(settings)

    def request_line(self, request: UpstreamRequest) -> bytes:
        return orjson.dumps(batch_request(request.custom_id, request.prompt,
                                          model=self._model_name(request.model_id),
                                          url=self._url))

    def native(self, line: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
        """A line in OpenAI's own format goes as it is, its model mapped by [models]; Azure's
        urls lack the /v1 and its models are deployments."""
        custom_id = native_custom_id(line)
        if custom_id is None:
            return None
        body = line["body"]
        if isinstance(body.get("model"), str):
            body = {**body, "model": self._model_name(body["model"])}
        url = line.get("url")
        if self._settings.api_version and isinstance(url, str):
            url = url.removeprefix("/v1")
        return custom_id, {**line, "url": url, "body": body}

    async def submit(self, job: Job, requests: Path, count: int) -> Upstream:
        with self._errors():
            existing = await self._existing(job.job_id)
            if existing is not None:
                return {"batch_id": existing.id, "input_file_id": existing.input_file_id}
            with requests.open("rb") as body:
                upload = await self._client.files.create(
                    file=(f"bifrost-{job.job_id}.jsonl", body), purpose="batch")
            batch = await self._create(job, upload.id)
        return {"batch_id": batch.id, "input_file_id": upload.id}

    async def poll(self, job: Job, upstream: Upstream) -> Poll:
        with self._errors():
            batch = await self._client.batches.retrieve(upstream["batch_id"])
        return batch_poll(batch)

    async def results(self, job: Job, upstream: Upstream) -> AsyncIterator[Result]:
        with self._errors():
            batch = await self._client.batches.retrieve(upstream["batch_id"])
            # Either file may be missing: no request succeeded, or none failed.
            for file_id in (batch.output_file_id, batch.error_file_id):
                if not file_id:
                    continue
                async for line in self._jsonl(file_id):
                    outcome = read_output_line(line)
                    if outcome is not None:
                        custom_id, completion, error = outcome
                        response = line.get("response")
                        yield Result(custom_id, completion, error, openai_response=response
                                     if isinstance(response, dict) else None)

    async def cancel(self, job: Job, upstream: Upstream) -> None:
        batch_id = upstream["batch_id"]
        try:
            with self._errors():
                await self._client.batches.cancel(batch_id)
        except UpstreamRefused:
            # A batch that ended meanwhile cannot be cancelled (409): nothing left to do.
            with self._errors():
                batch = await self._client.batches.retrieve(batch_id)
            if batch.status in _RUNNING:
                raise

    async def aclose(self) -> None:
        await self._client.close()

    def _endpoint(self, job: Job) -> str:
        """The endpoint a batch of the OpenAI dialect asked for; chat for Bedrock's records."""
        endpoint = str(job.extra.get("endpoint") or CHAT_URL)
        return endpoint.removeprefix("/v1") if self._settings.api_version else endpoint

    async def _existing(self, job_id: str) -> Batch | None:
        """The batch an earlier attempt of this submit created, if any (newest batches first)."""
        page = await self._client.batches.list(limit=100)
        return next((batch for batch in page.data
                     if (batch.metadata or {}).get(METADATA_KEY) == job_id), None)

    async def _create(self, job: Job, input_file_id: str) -> Batch:
        try:
            # cast: the SDK types these as literals of OpenAI's own values; Azure's endpoint is
            # not among them, and completion_window comes from the config.
            return await self._client.batches.create(
                input_file_id=input_file_id, endpoint=cast(Any, self._endpoint(job)),
                completion_window=cast(Any, self._settings.completion_window),
                metadata={METADATA_KEY: job.job_id})
        except openai.APIStatusError as exc:
            # Answered with a 4xx, the create made nothing: the uploaded requests are litter.
            # After a 5xx or no answer it may have, and the batch would need its file.
            if exc.status_code < 500:
                with contextlib.suppress(openai.OpenAIError):
                    await self._client.files.delete(input_file_id)
            raise

    async def _jsonl(self, file_id: str) -> AsyncIterator[Any]:
        """The lines of a result file, streamed: such files can be hundreds of megabytes."""
        async with self._client.files.with_streaming_response.content(file_id) as response:
            async for text in response.iter_lines():
                if text.strip():
                    try:
                        yield orjson.loads(text)
                    except orjson.JSONDecodeError:
                        continue  # a line with no custom_id to report it under

    def _errors(self) -> contextlib.AbstractContextManager[None]:
        return translated_errors(self._settings.api_key)


def batch_poll(batch: Batch) -> Poll:
    """SPEC §3: validating / in_progress, finalizing / completed / failed / expired (Partially
    Completed if any request was answered, else Expired) / cancelling, cancelled. Counts come
    from request_counts: processed = completed + failed."""
    counts = batch.request_counts
    completed, failed = (counts.completed, counts.failed) if counts else (0, 0)
    progress = Counts(None, completed + failed, completed, failed)
    if batch.status in _SIMPLE:
        return Poll(_SIMPLE[batch.status], progress)
    if batch.status in _ENDED:
        return Poll(_ENDED[batch.status], progress, results_ready=True)
    if batch.status == "failed":
        return Poll(FAILED, progress, failure_message(batch), results_ready=True)
    if batch.status == "expired":
        total = counts.total if counts else 0
        status = PARTIALLY_COMPLETED if progress.processed else EXPIRED
        message = (f"{max(total - progress.processed, 0)} of {total} requests expired before "
                   "OpenAI processed them.")
        return Poll(status, progress, message, results_ready=True)
    return Poll(IN_PROGRESS, progress)  # a state newer than this adapter: keep watching


def failure_message(batch: Batch) -> str:
    """Why OpenAI failed a batch, from its errors (line numbers are the request file's)."""
    errors = batch.errors.data if batch.errors and batch.errors.data else []
    if not errors:
        return "OpenAI failed the batch without giving a reason."
    reasons = [(f"request line {e.line}: " if e.line else "") + f"{e.code}: {e.message}"
               for e in errors[:_MAX_REASONS]]
    more = f" (and {len(errors) - _MAX_REASONS} more)" if len(errors) > _MAX_REASONS else ""
    return f"OpenAI failed the batch: {'; '.join(reasons)}{more}"
