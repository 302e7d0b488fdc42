"""What a provider with its own Files and Batch APIs implements.

Providers are stateless adapters: job state lives in the store (jobs.upstream holds the provider's
own ids), translation of records lives in pure functions (domain/records/), and the shared loop in
providers/remote.py submits, polls, cancels and writes the outputs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from bifrost_py.domain.jobs import Counts, Job
from bifrost_py.domain.records.lines import Record
from bifrost_py.domain.records.neutral import Completion
from bifrost_py.errors import AccessDenied, AwsError, InvalidRequest, ServiceUnavailable

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


def upstream_error(failure: UpstreamError) -> AwsError:
    """A provider's failure as the S3 mount answers it: never a 500 of ours."""
    if isinstance(failure, UpstreamAuth):
        return AccessDenied(f"The {failure.provider} provider rejected this server's "
                            f"credentials: {failure.message}")
    if isinstance(failure, UpstreamRefused):
        return InvalidRequest(f"The {failure.provider} provider refused the request: "
                              f"{failure.message}")
    return ServiceUnavailable(f"The {failure.provider} provider is unavailable: "
                              f"{failure.message}")


@dataclass(frozen=True)
class Poll:
    status: str  # a Bedrock status (SPEC §3's mapping of the provider's state)
    counts: Counts = field(default_factory=Counts)
    message: str | None = None
    results_ready: bool = False  # the batch has ended and its results can be fetched


@dataclass(frozen=True)
class Result:
    """One request's outcome upstream, keyed by the custom id it was sent with."""

    custom_id: str
    completion: Completion | None = None
    error: tuple[int, str] | None = None  # (HTTP-like code, message)


class BatchAPI(Protocol):
    provider: str
    # True when the provider reads the Bedrock input and writes the Bedrock outputs in S3 itself
    # (real Bedrock): nothing is translated, submit gets no request file.
    native_io: bool

    def request_line(self, job: Job, record: Record, custom_id: str) -> bytes:
        """One line of the provider's batch input for a Bedrock record (RecordError if the
        record cannot be translated)."""

    def native_id(self, line: dict[str, Any]) -> str | None:
        """The custom id of a line already in the provider's own format, else None."""

    async def submit(self, job: Job, requests: Path | None, count: int) -> Upstream:
        """Create the upstream batch from a JSONL file of `count` request lines."""

    async def poll(self, job: Job, upstream: Upstream) -> Poll: ...

    def results(self, job: Job, upstream: Upstream) -> AsyncIterator[Result]: ...

    async def cancel(self, job: Job, upstream: Upstream) -> None: ...

    async def aclose(self) -> None: ...


class FileMirror(Protocol):
    """Keeps a provider's file storage in step with the objects put through the S3 mount."""

    async def upload(self, name: str, content: bytes | Path, content_type: str) -> str:
        """Upload `content` (bytes, or the file at a path) under `name`; the provider's file id,
        which becomes the object's ETag."""

    async def delete(self, file_id: str) -> None: ...

    async def aclose(self) -> None: ...
