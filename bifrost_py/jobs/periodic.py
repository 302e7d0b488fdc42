"""A piece of background work done every so often while the server runs."""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod


class Periodic(ABC):
    """`tick()` on a task of its own every `interval` seconds, from start() until stop(). A tick
    that fails is logged as `failing` and the next one comes as usual: the work is retried, never
    abandoned."""

    name: str
    failing: str

    def __init__(self, interval: float, log: logging.Logger, first_delay: float = 0.0) -> None:
        self.interval = interval
        self.log = log
        self.first_delay = first_delay
        self._task: asyncio.Task[None] | None = None

    @abstractmethod
    async def tick(self) -> None: ...

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name=self.name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _loop(self) -> None:
        await asyncio.sleep(self.first_delay)
        while True:
            try:
                await self.tick()
            except Exception as exc:
                self.log.warning("%s (%s); trying again in %.0f s", self.failing, exc,
                                 self.interval)
                self.log.debug("%s", self.failing, exc_info=True)
            await asyncio.sleep(self.interval)
