"""The gemini provider: files in the Gemini Files API, jobs on the Gemini Batch API (google-genai).

Every object put through the S3 mount is also uploaded to Gemini Files, and the file's name
(`files/abc...`) is its ETag (`GeminiFiles`). A job's records are translated into one Gemini batch
input file of `{"key", "request"}` lines (lines already in that format pass through), uploaded,
and run as a batch (`GeminiBatch`); its responses file is read back by key when the batch ends.

The SDK's BatchJob drops the batch's `batchStats` and the operation's `error`, so polls read the
JSON the API answered through the SDK's own client (same base URL, key, timeout and retries).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import mimetypes
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import httpx
from google import genai
from google.genai import errors, types

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
from bifrost_py.domain.records.gemini import batch_line, gemini_error, native_key, read_result
from bifrost_py.domain.records.lines import Record
from bifrost_py.domain.records.neutral import Completion, JsonObject
from bifrost_py.domain.records.prompt import to_prompt
from bifrost_py.providers.base import (
    Poll,
    Result,
    Upstream,
    UpstreamAuth,
    UpstreamError,
    UpstreamRefused,
    UpstreamUnavailable,
)

__all__ = ["GeminiBatch", "GeminiFiles"]

PROVIDER = "gemini"
log = logging.getLogger("bifrost_py.gemini")
T = TypeVar("T")

# Batch states (BATCH_STATE_* on the Gemini API, JOB_STATE_* in the SDK) as Bedrock statuses.
_STATES = {"UNSPECIFIED": SCHEDULED, "PENDING": SCHEDULED, "QUEUED": SCHEDULED,
           "RUNNING": IN_PROGRESS, "SUCCEEDED": COMPLETED, "FAILED": FAILED,
           "CANCELLING": STOPPING, "CANCELLED": STOPPED, "EXPIRED": EXPIRED}
_ENDED_STATES = frozenset({"SUCCEEDED", "FAILED", "CANCELLED", "EXPIRED"})
_ENDED_MESSAGES = {"FAILED": "The Gemini batch failed.",
                   "EXPIRED": "The Gemini batch expired before every request was answered."}
_GENERIC_TYPES = frozenset({"", "binary/octet-stream", "application/octet-stream"})
_DISPLAY_NAME_MAX = 512
_RETRY_DELAY, _MAX_RETRY_DELAY = 0.25, 8.0


def _transport_errors() -> tuple[type[BaseException], ...]:
    """What the SDK raises when the API cannot be reached: aiohttp's errors when it is installed
    (the SDK's async default), else httpx's or httpx2's."""
    found: list[type[BaseException]] = [aiohttp.ClientError, httpx.TransportError, TimeoutError]
    with contextlib.suppress(ImportError):
        import httpx2

        found.append(httpx2.TransportError)
    return tuple(found)


_TRANSPORT_ERRORS = _transport_errors()


class Connection:
    """One google-genai client and the translation of its failures into Upstream* errors."""

    def __init__(self, settings: GeminiConfig) -> None:
        self.settings = settings
        self._client: genai.Client | None = None
        # Retries (429, 5xx, connection errors) are the SDK's, off unless retry_options are set;
        # setting them also stops its own unconditional 1-10 s retry of aiohttp connect errors.
        retry = types.HttpRetryOptions(attempts=settings.max_retries + 1,
                                       initial_delay=_RETRY_DELAY, max_delay=_MAX_RETRY_DELAY,
                                       jitter=_RETRY_DELAY)
        options = types.HttpOptions(base_url=settings.base_url, api_version=settings.api_version,
                                    timeout=int(settings.timeout_seconds * 1000),
                                    retry_options=retry)
        # With no api_key the SDK reads GEMINI_API_KEY or GOOGLE_API_KEY; with none at all, each
        # call fails with an access error instead of the server failing to start.
        with contextlib.suppress(ValueError):
            self._client = genai.Client(api_key=settings.api_key or None, http_options=options)

    @property
    def client(self) -> genai.Client:
        if self._client is None:
            raise UpstreamAuth(PROVIDER, "no API key: set api_key in [providers.gemini] (or "
                               "GEMINI_API_KEY in the server's environment)", 401)
        return self._client

    async def call(self, request: Awaitable[T]) -> T:
        try:
            return await request
        except errors.APIError as exc:
            raise self._refusal(exc) from None
        except _TRANSPORT_ERRORS as exc:
            raise UpstreamUnavailable(PROVIDER, f"cannot reach {self.settings.base_url} "
                                      f"({type(exc).__name__})") from None

    async def upload(self, content: bytes | Path, name: str, content_type: str) -> str:
        """Upload to Gemini Files; the file's name, `files/...`."""
        config = types.UploadFileConfig(mime_type=_mime_type(name, content_type),
                                        display_name=name[-_DISPLAY_NAME_MAX:])
        source = io.BytesIO(content) if isinstance(content, bytes) else content
        try:
            file = await self.call(self.client.aio.files.upload(file=source, config=config))
        except ValueError as exc:  # the SDK's word for an upload the server did not finalise
            raise UpstreamUnavailable(PROVIDER, f"the upload did not complete ({exc})") from None
        if not file.name:
            raise UpstreamUnavailable(PROVIDER, "the upload was answered without a file name")
        return file.name

    async def forget(self, file_name: str) -> None:
        """Delete a file; one that is already gone (Gemini keeps files 48 hours) is no error."""
        try:
            await self.call(self.client.aio.files.delete(name=file_name))
        except UpstreamRefused as refused:
            if refused.status != 404:
                raise

    async def resource(self, name: str) -> JsonObject:
        """The JSON the API answers for a resource (`batches/...`), with all its fields."""
        response = await self.call(self.client.aio._api_client.async_request("get", name, {}))
        try:
            value = json.loads(response.body or "{}")
        except ValueError:
            value = None
        if not isinstance(value, dict):
            raise UpstreamUnavailable(PROVIDER, f"{name} was answered with a body that is not "
                                      "a JSON object")
        return value

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aio.aclose()

    def _refusal(self, exc: errors.APIError) -> UpstreamError:
        code = exc.code or 500
        status = f" {exc.status}" if exc.status else ""
        text = f"{code}{status}: {exc.message or exc.details}"
        if self.settings.api_key:  # Google does not echo keys; be sure no message ever does
            text = text.replace(self.settings.api_key, "[redacted]")
        if code in (408, 429) or code >= 500:
            return UpstreamUnavailable(PROVIDER, text, code)
        if code in (401, 403) or (code == 400 and _bad_key(exc)):
            return UpstreamAuth(PROVIDER, f"the API key of [providers.gemini] was rejected "
                                f"({text})", code)
        return UpstreamRefused(PROVIDER, text, code)


def _bad_key(exc: errors.APIError) -> bool:
    """Gemini answers an unknown key with 400 INVALID_ARGUMENT, reason API_KEY_INVALID."""
    return "API key not valid" in str(exc.message) or "API_KEY_INVALID" in str(exc.details)


def _mime_type(name: str, content_type: str) -> str:
    """The object's content type, or one guessed from its name when the client sent none."""
    if content_type.lower() not in _GENERIC_TYPES:
        return content_type
    if name.lower().endswith(".jsonl"):
        return "application/jsonl"
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


class GeminiFiles:
    """The FileMirror of the gemini provider: objects' bytes also live in Gemini Files."""

    def __init__(self, settings: GeminiConfig) -> None:
        self.gemini = Connection(settings)

    async def upload(self, name: str, content: bytes | Path, content_type: str) -> str:
        return await self.gemini.upload(content, name, content_type)

    async def delete(self, file_id: str) -> None:
        await self.gemini.forget(file_id)

    async def aclose(self) -> None:
        await self.gemini.aclose()


class GeminiBatch:
    provider = PROVIDER
    native_io = False

    def __init__(self, settings: GeminiConfig, model_name: Callable[[str], str]) -> None:
        self.settings = settings
        self.model_name = model_name
        self.gemini = Connection(settings)

    def request_line(self, job: Job, record: Record, custom_id: str) -> bytes:
        prompt = to_prompt(job.model_id, record.model_input, job.invocation_type or "InvokeModel")
        return batch_line(custom_id, prompt)

    def native_id(self, line: dict[str, Any]) -> str | None:
        return native_key(line)

    async def submit(self, job: Job, requests: Path | None, count: int) -> Upstream:
        """Upload the request file, create the batch from it."""
        if requests is None:
            raise UpstreamRefused(PROVIDER, "a Gemini batch needs a request file", 400)
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
            await asyncio.sleep(min(_RETRY_DELAY * 2**attempt, _MAX_RETRY_DELAY))
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
    """The results in a downloaded responses file; lines that name no request are skipped."""
    with open(path, "rb") as lines:
        for number, raw in enumerate(lines, 1):
            if not raw.strip():
                continue
            try:
                line = json.loads(raw)
            except ValueError:
                line = None
            found = read_result(line) if isinstance(line, dict) else None
            if found is None:
                log.warning("Gemini responses line %d names no request; skipped", number)
                continue
            key, outcome = found
            yield (Result(key, completion=outcome) if isinstance(outcome, Completion)
                   else Result(key, error=outcome))


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
