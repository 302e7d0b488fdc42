"""The background loop that leases unfinished jobs from the store and runs them.

Jobs are rows in the store, so the runner holds no state a restart could lose: it leases every
unfinished job no live replica holds, and each executor resumes from what was already written.
While a job runs its lease is renewed every third of its length; a job whose lease another
replica has taken is cancelled here, and a replica that cannot reach the store for a whole lease
cancels all of its jobs, since by then others may have taken them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Protocol

from bifrost_py.domain.jobs import FAILED, Job
from bifrost_py.ports.jobs import JobRepository
from bifrost_py.ports.leases import LeaseLost, Leases

log = logging.getLogger("bifrost_py.jobs.runner")
UNLIMITED = 1000  # jobs claimed at once by a provider without a limit


class Executor(Protocol):
    async def run(self, job: Job, stop: asyncio.Event) -> None: ...


class ByDialect:
    """Runs each job with the engine for its dialect: a provider may run Bedrock's jobs one
    way and OpenAI's another."""

    def __init__(self, engines: dict[str, Executor]) -> None:
        self.engines = engines

    async def run(self, job: Job, stop: asyncio.Event) -> None:
        await self.engines[job.dialect].run(job, stop)


class Runner:
    def __init__(self, jobs: JobRepository, leases: Leases, executors: dict[str, Executor],
                 limits: dict[str, int], lease_seconds: float = 30.0,
                 interval: float = 1.0) -> None:
        self.jobs = jobs
        self.leases = leases
        self.executors = executors
        # Jobs of a provider running at once; providers without a limit (remote batches mostly
        # wait on upstream) run all of theirs.
        self.limits = limits
        self.lease_seconds = lease_seconds
        self.interval = interval
        self._wake = asyncio.Event()
        self._running: dict[str, tuple[asyncio.Task[None], asyncio.Event]] = {}
        self._providers: dict[str, str] = {}  # job id -> provider, of running jobs
        self._tasks: list[asyncio.Task[None]] = []

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._loop(), name="bifrost-runner"),
                       asyncio.create_task(self._renew_loop(), name="bifrost-leases")]

    async def stop(self) -> None:
        """Cancel the loops and every job task, and give their leases up, so that another
        replica (or the next start) carries on with them at once."""
        running = list(self._running)
        await self._cancel([t for t, _ in self._running.values()] + self._tasks)
        with contextlib.suppress(Exception):
            await self.leases.release(running)

    async def _loop(self) -> None:
        while True:
            try:
                await self._tick()
            except Exception:
                log.exception("job runner tick failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)
            self._wake.clear()

    async def _tick(self) -> None:
        waiting: set[str] = set()  # providers with unended jobs not running here
        for job_id, provider, stop_requested in await self.jobs.unfinished():
            running = self._running.get(job_id)
            if running is None:
                waiting.add(provider)
            elif stop_requested:
                running[1].set()
        for provider in waiting & self.executors.keys():
            room = self._room(provider)
            if room > 0:
                for job_id in await self.leases.claim(provider, room):
                    self._start(await self.jobs.get(job_id))

    def _room(self, provider: str) -> int:
        limit = self.limits.get(provider, UNLIMITED)
        return limit - sum(1 for p in self._providers.values() if p == provider)

    def _start(self, job: Job) -> None:
        stop = asyncio.Event()
        if job.stop_requested:
            stop.set()
        task = asyncio.create_task(self._run(job, stop), name=f"job-{job.job_id}")
        self._running[job.job_id] = (task, stop)
        self._providers[job.job_id] = job.provider

    async def _run(self, job: Job, stop: asyncio.Event) -> None:
        try:
            await self.executors[job.provider].run(job, stop)
        except asyncio.CancelledError:
            raise
        except LeaseLost:
            log.warning("job %s was taken over by another replica; stopped running it here",
                        job.job_id)
        except Exception as exc:
            log.exception("job %s failed", job.job_id)
            with contextlib.suppress(LeaseLost):
                await self.jobs.update(job.job_id, status=FAILED, end_time=time.time(),
                                       message=f"The job could not run: {exc}")
        finally:
            self._running.pop(job.job_id, None)
            self._providers.pop(job.job_id, None)
            self.wake()
        await self.leases.release([job.job_id])

    async def _renew_loop(self) -> None:
        renewed = time.monotonic()  # when the last renewal that went through was sent
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            asked, sent = list(self._running), time.monotonic()
            try:
                # Bounded: a store that cannot be reached may keep a renewal waiting for a
                # connection far longer than the lease lasts.
                held = await asyncio.wait_for(self.leases.renew(asked), self.lease_seconds / 3)
                renewed = sent
            except Exception as exc:
                # Give up with a third of the lease to spare, before another replica may claim.
                if time.monotonic() - renewed < self.lease_seconds * 2 / 3:
                    log.warning("cannot renew job leases (%s); retrying", exc)
                    continue
                log.error("no lease renewed for %.1f s (%s): stopping every job here before "
                          "other replicas take them", time.monotonic() - renewed, exc)
                held = set()
            lost = [job_id for job_id in asked if job_id not in held and job_id in self._running]
            for job_id in lost:
                log.warning("lost the lease of job %s; stopping it here", job_id)
            await self._cancel([self._running[j][0] for j in lost if j in self._running])

    @staticmethod
    async def _cancel(tasks: list[asyncio.Task[None]]) -> None:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
