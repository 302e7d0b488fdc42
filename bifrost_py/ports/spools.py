"""A job's answers as they are produced, kept until the job ends and they become its outputs.

One spool per input file, keyed by input line number: the line numbers say which records are
done, so a job resumed after a restart, or taken over by another replica, runs every record
exactly once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from bifrost_py.domain.jobs import Job


@dataclass
class Tally:
    processed: int = 0
    success: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0

    def add(self, ok: bool, input_tokens: int, output_tokens: int) -> None:
        self.processed += 1
        if ok:
            self.success += 1
        else:
            self.errors += 1
        self.input_tokens += input_tokens
        self.output_tokens += output_tokens


class Spool(Protocol):
    @property
    def done(self) -> set[int]:
        """The line numbers answered so far."""

    @property
    def tally(self) -> Tally: ...

    def append(self, line_no: int, ok: bool, input_tokens: int, output_tokens: int,
               output: bytes) -> None:
        """Add the answer to one line; it is durable once `flush` returns."""

    async def flush(self) -> None:
        """Make every appended answer durable; LeaseLost if the job is no longer ours."""

    def outputs(self, ok: bool | None = None) -> AsyncIterator[bytes]:
        """The answers, a chunk of lines at a time; only the successes or only the failures
        when `ok` says which."""

    async def close(self) -> None:
        """Flush, and let go of what the spool holds open."""


class Spools(Protocol):
    async def open(self, job: Job, count: int) -> list[Spool]:
        """The spools of a job with `count` input files, holding what was answered before."""

    async def write_order(self, job: Job, custom_ids: list[str]) -> None:
        """Keep the custom ids of a job's requests in the order they went upstream, for
        providers that answer by place rather than by id."""

    async def read_order(self, job: Job) -> list[str]:
        """The ids `write_order` kept; none if it never ran."""

    async def remove(self, job: Job) -> None:
        """Drop a job's spools and order, once its outputs are written."""
