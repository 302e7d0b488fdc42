"""Providers' batch APIs, counted: every call's provider, operation and outcome.

Wrapped around an adapter at assembly, so neither the engines nor the adapters know of metrics.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Any, TypeVar

from bifrost_py.domain.jobs import Job
from bifrost_py.metrics.registry import Metrics
from bifrost_py.ports.upstream import (
    BatchAPI,
    DelegatedAPI,
    Poll,
    Result,
    Upstream,
    UpstreamAuth,
    UpstreamRefused,
    UpstreamRequest,
    UpstreamUnavailable,
)

T = TypeVar("T")


def outcome(error: BaseException | None) -> str:
    if error is None:
        return "ok"
    if isinstance(error, UpstreamUnavailable):
        return "unavailable"
    if isinstance(error, UpstreamAuth):
        return "auth"
    return "refused" if isinstance(error, UpstreamRefused) else "error"


class _Counted:
    def __init__(self, provider: str, metrics: Metrics) -> None:
        self.provider = provider
        self._calls = metrics.upstream_calls

    async def _count(self, operation: str, call: Awaitable[T]) -> T:
        try:
            answer = await call
        except Exception as error:
            self._calls.labels(self.provider, operation, outcome(error)).inc()
            raise
        self._calls.labels(self.provider, operation, "ok").inc()
        return answer


class MeteredBatchAPI(_Counted):
    def __init__(self, api: BatchAPI, provider: str, metrics: Metrics) -> None:
        super().__init__(provider, metrics)
        self.api = api

    def request_line(self, request: UpstreamRequest) -> bytes:
        return self.api.request_line(request)

    def native(self, line: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
        return self.api.native(line)

    async def submit(self, job: Job, requests: Path, count: int) -> Upstream:
        return await self._count("submit", self.api.submit(job, requests, count))

    async def poll(self, job: Job, upstream: Upstream) -> Poll:
        return await self._count("poll", self.api.poll(job, upstream))

    async def results(self, job: Job, upstream: Upstream) -> AsyncIterator[Result]:
        try:
            async for result in self.api.results(job, upstream):
                yield result
        except Exception as error:
            self._calls.labels(self.provider, "results", outcome(error)).inc()
            raise
        self._calls.labels(self.provider, "results", "ok").inc()

    async def cancel(self, job: Job, upstream: Upstream) -> None:
        await self._count("cancel", self.api.cancel(job, upstream))

    async def aclose(self) -> None:
        await self.api.aclose()


class MeteredDelegatedAPI(_Counted):
    def __init__(self, api: DelegatedAPI, provider: str, metrics: Metrics) -> None:
        super().__init__(provider, metrics)
        self.api = api

    async def submit(self, job: Job) -> Upstream:
        return await self._count("submit", self.api.submit(job))

    async def poll(self, job: Job, upstream: Upstream) -> Poll:
        return await self._count("poll", self.api.poll(job, upstream))

    async def cancel(self, job: Job, upstream: Upstream) -> None:
        await self._count("cancel", self.api.cancel(job, upstream))

    async def aclose(self) -> None:
        await self.api.aclose()
