"""The background loop that takes unfinished jobs from the store and runs them.

Jobs are rows in the store, so the runner holds no state a restart could lose: on start-up it picks
up every unfinished job again, and each executor resumes from what it already wrote.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Protocol

from bifrost_py.domain.jobs import FAILED, Job
from bifrost_py.ports.jobs import JobRepository

log = logging.getLogger("bifrost_py.jobs.runner")


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
    def __init__(self, jobs: JobRepository, executors: dict[str, Executor], limits: dict[str, int],
                 interval: float = 1.0) -> None:
        self.jobs = jobs
        self.executors = executors
        # Jobs of a provider running at once; providers without a limit (remote batches mostly
        # wait on upstream) run all of theirs.
        self.limits = limits
        self.interval = interval
        self._wake = asyncio.Event()
        self._running: dict[str, tuple[asyncio.Task[None], asyncio.Event]] = {}
        self._providers: dict[str, str] = {}  # job id -> provider, of running jobs
        self._loop_task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._loop_task = asyncio.create_task(self._loop(), name="bifrost-runner")

    async def stop(self) -> None:
        """Cancel the loop and every job task; their progress is on disk for the next start."""
        tasks = [t for t, _ in self._running.values()]
        if self._loop_task:
            tasks.append(self._loop_task)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

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
        for job_id, provider, stop_requested in await self.jobs.unfinished():
            running = self._running.get(job_id)
            if running is not None:
                if stop_requested:
                    running[1].set()
            elif provider in self.executors and self._has_room(provider):
                self._start(await self.jobs.get(job_id))

    def _has_room(self, provider: str) -> bool:
        limit = self.limits.get(provider)
        running = sum(1 for p in self._providers.values() if p == provider)
        return limit is None or running < limit

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
        except Exception as exc:
            log.exception("job %s failed", job.job_id)
            await self.jobs.update(job.job_id, status=FAILED, end_time=time.time(),
                                   message=f"The job could not run: {exc}")
        finally:
            self._running.pop(job.job_id, None)
            self._providers.pop(job.job_id, None)
            self.wake()
