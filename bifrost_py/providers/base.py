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
from bifrost_py.domain.records.outputs import Completion

Upstream = dict[str, Any]  # the provider's ids and state, persisted as JSON with the job


class UpstreamUnavailable(Exception):
    """The provider is down, throttling or failing (429, 5xx, connection): try again later."""


class UpstreamRefused(Exception):
    """The provider refused the request for good (4xx other than 429): the message says why."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class UpstreamAuth(UpstreamRefused):
    """The provider rejected the server's credentials (401/403)."""


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
    # True when the provider writes Bedrock output files itself (real Bedrock).
    writes_outputs: bool

    def request_line(self, job: Job, record: Record, custom_id: str) -> bytes:
        """One line of the provider's batch input for a Bedrock record (RecordError if the
        record cannot be translated)."""

    def native_id(self, line: dict[str, Any]) -> str | None:
        """The custom id of a line already in the provider's own format, else None."""

    async def submit(self, job: Job, requests: Path, count: int) -> Upstream:
        """Create the upstream batch from a JSONL file of request lines."""

    async def poll(self, job: Job, upstream: Upstream) -> Poll: ...

    def results(self, job: Job, upstream: Upstream) -> AsyncIterator[Result]: ...

    async def cancel(self, job: Job, upstream: Upstream) -> None: ...

    async def aclose(self) -> None: ...


class FileMirror(Protocol):
    """Keeps a provider's file storage in step with the objects put through the S3 mount."""

    async def upload(self, name: str, path: Path, content_type: str) -> str:
        """Upload the file at `path`; the provider's file id (it becomes the object's ETag)."""

    async def delete(self, file_id: str) -> None: ...
