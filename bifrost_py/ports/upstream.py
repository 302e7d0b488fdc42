"""What a provider with its own batch API implements, and how its failures are told apart.

Providers are stateless adapters: job state lives in the store (a job's `upstream` holds the
provider's own ids), and the engines in `jobs/` submit, poll, cancel and write the outputs. An
adapter sees neutral requests (a Prompt) and returns neutral results (a Completion or an error):
both directions of its provider's format are translated in one place, the adapter.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from bifrost_py.domain.jobs import Counts, Job
from bifrost_py.domain.records.neutral import Completion, JsonObject, Prompt
from bifrost_py.ports.backends import Embeddings

Upstream = dict[str, Any]  # the provider's ids and state, persisted as JSON with the job


class UpstreamError(Exception):
    """A provider's failure; never carries a secret in its message."""

    def __init__(self, provider: str, message: str, status: int = 502) -> None:
        super().__init__(f"{provider}: {message}")
        self.provider = provider
        self.message = message
        self.status = status


class UpstreamUnavailable(UpstreamError):
    """The provider is down, throttling or failing (429, 5xx, connection): try again later."""


class UpstreamRefused(UpstreamError):
    """The provider refused the request for good (4xx other than 429): the message says why."""


class UpstreamAuth(UpstreamRefused):
    """The provider rejected the server's credentials (401/403)."""


def status_error(provider: str, status: int, message: str) -> UpstreamError:
    """A provider API's HTTP error status as the failure the engines act on: 429 and 5xx are
    worth another try, 401 and 403 are the server's credentials, any other 4xx is final."""
    if status == 429 or status >= 500:
        return UpstreamUnavailable(provider, message, status)
    if status in (401, 403):
        return UpstreamAuth(provider, f"the API key was rejected ({message})", status)
    return UpstreamRefused(provider, message, status)


@dataclass(frozen=True)
class Poll:
    status: str  # a Bedrock status (SPEC §3's mapping of the provider's state)
    counts: Counts = field(default_factory=Counts)
    message: str | None = None
    results_ready: bool = False  # the batch has ended and its results can be fetched


@dataclass(frozen=True)
class UpstreamRequest:
    """One record, neutral, as it goes into a provider's batch."""

    custom_id: str
    model_id: str  # the job's model id; the adapter sends the name its provider knows it by
    prompt: Prompt


@dataclass(frozen=True)
class Result:
    """One request's outcome upstream, keyed by the custom id it was sent with; or, from a
    provider that answers in request order, by its place when the answer names no id."""

    custom_id: str | None
    completion: Completion | None = None
    error: tuple[int, str] | None = None  # (HTTP-like code, message)
    position: int | None = None  # 0-based, among the requests as they were sent
    embeddings: Embeddings | None = None
    # {"status_code", "body"}: the answer as OpenAI's API wrote it, from the openai provider,
    # which a client of the OpenAI dialect gets as it came.
    openai_response: JsonObject | None = None


class BatchAPI(Protocol):
    """A provider that runs a file of requests in its own format and answers one result each."""

    provider: str

    def request_line(self, request: UpstreamRequest) -> bytes:
        """One line of the provider's batch input (RecordError if the prompt cannot be said
        in the provider's format)."""

    def native(self, line: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
        """(custom id, the line to send) for an input line already in the provider's own
        format, else None: such lines go upstream as they are, in the spelling the provider
        documents."""

    async def submit(self, job: Job, requests: Path, count: int) -> Upstream:
        """Create the upstream batch from a JSONL file of `count` request lines."""

    async def poll(self, job: Job, upstream: Upstream) -> Poll: ...

    def results(self, job: Job, upstream: Upstream) -> AsyncIterator[Result]: ...

    async def cancel(self, job: Job, upstream: Upstream) -> None: ...

    async def aclose(self) -> None: ...


class DelegatedAPI(Protocol):
    """A provider that runs the whole job itself, reading its input and writing its outputs in
    storage of its own (real Bedrock, on real S3): nothing is translated."""

    provider: str

    async def submit(self, job: Job) -> Upstream: ...

    async def poll(self, job: Job, upstream: Upstream) -> Poll: ...

    async def cancel(self, job: Job, upstream: Upstream) -> None: ...

    async def aclose(self) -> None: ...
