"""Jobs on Anthropic's Message Batches API.

Anthropic batches take their requests inline, so files stay in the embedded store: `submit` reads
the request file the engine wrote and sends its lines in the create call. Anthropic fills in
`request_counts` only once a batch has ended, so processedRecordCount stays at the records refused
locally until then.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import anthropic
import orjson
from anthropic.types.messages import MessageBatch

from bifrost_py.config import AnthropicConfig
from bifrost_py.domain.jobs import (
    COMPLETED,
    EXPIRED,
    IN_PROGRESS,
    PARTIALLY_COMPLETED,
    STOPPED,
    STOPPING,
    Counts,
    Job,
)
from bifrost_py.domain.records.anthropic import (
    batch_request,
    native_custom_id,
    native_request,
    read_result,
    to_anthropic_params,
)
from bifrost_py.ports.upstream import (
    Poll,
    Result,
    Upstream,
    UpstreamRefused,
    UpstreamRequest,
    UpstreamUnavailable,
    status_error,
)

PROVIDER = "anthropic"
# The Message Batches API's limits on one create call.
MAX_REQUESTS = 100_000
MAX_BYTES = 256 * 1024 * 1024


class AnthropicBatch:
    provider = PROVIDER

    def __init__(self, settings: AnthropicConfig, model_name: Callable[[str], str]) -> None:
        self._secret = settings.api_key
        self._model_name = model_name
        # api_key is always passed (even ""), so the SDK never looks for credentials of its own
        # in the environment or in profiles on disk.
        self._client = anthropic.AsyncAnthropic(
            base_url=settings.base_url, api_key=settings.api_key,
            max_retries=settings.max_retries, timeout=settings.timeout_seconds)

    def request_line(self, request: UpstreamRequest) -> bytes:
        params = to_anthropic_params(request.prompt, self._model_name(request.model_id))
        return orjson.dumps(batch_request(request.custom_id, params))

    def native(self, line: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
        custom_id = native_custom_id(line)
        return (custom_id, line) if custom_id is not None else None

    async def submit(self, job: Job, requests: Path, count: int) -> Upstream:
        _check_limits(requests, count)
        model = self._model_name(job.model_id)
        items = [_request_item(line, model) for line in requests.read_bytes().splitlines()
                 if line.strip()]
        with self._errors():
            batch = await self._client.messages.batches.create(requests=items)
        return {"batch_id": batch.id}

    async def poll(self, job: Job, upstream: Upstream) -> Poll:
        with self._errors():
            batch = await self._client.messages.batches.retrieve(upstream["batch_id"])
        return _poll(batch, bool(upstream.get("cancelled")))

    async def results(self, job: Job, upstream: Upstream) -> AsyncIterator[Result]:
        with self._errors():
            lines = await self._client.messages.batches.results(upstream["batch_id"])
            async for line in lines:
                outcome = read_result(line.to_dict())
                if outcome is not None:
                    yield Result(*outcome)

    async def cancel(self, job: Job, upstream: Upstream) -> None:
        batch_id = upstream["batch_id"]
        try:
            with self._errors():
                await self._client.messages.batches.cancel(batch_id)
        except UpstreamRefused:
            # A batch that ended (or began canceling) meanwhile cannot be canceled: nothing to do.
            with self._errors():
                batch = await self._client.messages.batches.retrieve(batch_id)
            if batch.processing_status == "in_progress":
                raise

    async def aclose(self) -> None:
        await self._client.close()

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        """Anthropic's exceptions as the engines' Upstream* errors, with the key never in them."""
        try:
            yield
        except anthropic.APIStatusError as exc:
            raise status_error(PROVIDER, exc.status_code, self._clean(_api_message(exc))) \
                from None
        except anthropic.APIConnectionError as exc:
            raise UpstreamUnavailable(PROVIDER, self._clean(f"cannot reach the API: {exc}")) \
                from None
        except anthropic.AnthropicError as exc:
            # e.g. results() of a batch without a results_url yet: worth another try later.
            raise UpstreamUnavailable(PROVIDER, self._clean(str(exc))) from None

    def _clean(self, message: str) -> str:
        return message.replace(self._secret, "***") if self._secret else message


def _check_limits(requests: Path, count: int) -> None:
    if count > MAX_REQUESTS:
        raise UpstreamRefused(PROVIDER, f"a Message Batch takes at most {MAX_REQUESTS:,} "
                                        f"requests; this job has {count:,}")
    size = requests.stat().st_size
    if size > MAX_BYTES:
        raise UpstreamRefused(PROVIDER, f"a Message Batch takes at most 256 MB of requests; "
                                        f"this job's come to {size / 2**20:,.0f} MB")


def _request_item(line: bytes, model: str) -> Any:
    """A request as the create call takes it (Any: the SDK's TypedDict cannot type JSON).
    Lines written by request_line are already clean; lines passed through in Anthropic's own
    format may still carry Bedrock-only fields or lack model and max_tokens."""
    return native_request(orjson.loads(line), model)


def _api_message(exc: anthropic.APIStatusError) -> str:
    """`<status> <error type>: <message>` from Anthropic's error body."""
    body = exc.body if isinstance(exc.body, dict) else {}
    error = body.get("error")
    if not isinstance(error, dict):
        error = {}
    kind = error.get("type") or "error"
    return f"{exc.status_code} {kind}: {error.get('message') or exc.message}"


def _poll(batch: MessageBatch, cancelled: bool) -> Poll:
    """SPEC §3: in_progress / canceling / ended (Stopped after a stop, Expired if all expired,
    PartiallyCompleted if some, else Completed)."""
    counts = batch.request_counts
    if batch.processing_status == "canceling":
        return Poll(STOPPING)
    if batch.processing_status != "ended":
        return Poll(IN_PROGRESS)
    answered = counts.succeeded + counts.errored
    progress = Counts(None, answered, counts.succeeded, counts.errored)
    if cancelled or counts.canceled:
        status, message = STOPPED, None
    elif counts.expired:
        status = PARTIALLY_COMPLETED if answered else EXPIRED
        message = (f"{counts.expired} of {answered + counts.expired} requests expired before "
                   "Anthropic processed them.")
    else:
        status, message = COMPLETED, None
    return Poll(status, progress, message, results_ready=True)
