"""Following a batch upstream: calls retried while the provider is unavailable, polls until the
batch ends, and a stop sent upstream as a cancel. Both upstream engines (remote, delegated) do it
the same way."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from bifrost_py.domain.jobs import ENDED, STOPPING, Counts, Job
from bifrost_py.ports.jobs import JobRepository
from bifrost_py.ports.upstream import BatchAPI, DelegatedAPI, Poll, Upstream, UpstreamUnavailable

log = logging.getLogger("bifrost_py.remote")
MAX_BACKOFF = 300.0
T = TypeVar("T")


class Follower:
    def __init__(self, api: BatchAPI | DelegatedAPI, jobs: JobRepository,
                 poll_interval: float) -> None:
        self.api = api
        self.jobs = jobs
        self.poll_interval = poll_interval

    async def retrying(self, call: Callable[[], Awaitable[T]],
                       stop: asyncio.Event | None) -> T | None:
        """`call()` until the provider answers; None if a stop comes first."""
        delay = 1.0
        while True:
            try:
                return await call()
            except UpstreamUnavailable as exc:
                log.warning("%s unavailable (%s); retrying in %.0f s", self.api.provider, exc,
                            delay)
            if stop is not None and stop.is_set():
                return None
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF)

    async def until_ended(self, job: Job, upstream: Upstream, stop: asyncio.Event,
                          progress: Callable[[Counts], Counts]) -> Poll:
        """Poll until the batch ends, keeping the job's status and `progress(counts)` current;
        cancel it upstream once a stop is asked for."""
        delay = 0.0
        while True:
            if stop.is_set() and not upstream.get("cancelled"):
                await self.retrying(lambda: self._cancel(job, upstream), None)
            try:
                poll = await self.api.poll(job, upstream)
                delay = self.poll_interval
            except UpstreamUnavailable as exc:
                delay = min(max(delay, self.poll_interval) * 2, MAX_BACKOFF)
                log.warning("job %s: %s unavailable (%s); next poll in %.0f s", job.job_id,
                            self.api.provider, exc, delay)
            else:
                if poll.results_ready or poll.status in ENDED:
                    return poll
                status = STOPPING if stop.is_set() else poll.status
                await self.jobs.update(job.job_id, status=status, counts=progress(poll.counts))
            # Sleep until the next poll, or until a stop that is not yet sent upstream.
            waiting = asyncio.sleep(delay) if upstream.get("cancelled") else stop.wait()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiting, delay)

    async def _cancel(self, job: Job, upstream: Upstream) -> Upstream:
        await self.api.cancel(job, upstream)
        upstream["cancelled"] = True
        await self.jobs.update(job.job_id, upstream=upstream, status=STOPPING)
        return upstream
