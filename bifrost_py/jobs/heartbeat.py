"""This replica's heartbeat in the shared store, and what it learns from it: how many replicas
are alive, so that limits meant for the whole gateway (requests a second per key) are shared
out among them without a service of their own."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from bifrost_py.ports.replicas import Replicas

log = logging.getLogger("bifrost_py.jobs.heartbeat")


class Heartbeat:
    def __init__(self, replicas: Replicas, replica: str, interval: float,
                 on_count: Callable[[int], None]) -> None:
        self.replicas = replicas
        self.replica = replica
        self.interval = interval
        self.on_count = on_count
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="bifrost-heartbeat")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        with contextlib.suppress(Exception):
            await self.replicas.leave(self.replica)

    async def _loop(self) -> None:
        while True:
            try:
                # A replica is alive while it beats at least every third of the window.
                self.on_count(await self.replicas.beat(self.replica, 3 * self.interval))
            except Exception as exc:
                log.warning("cannot record this replica's heartbeat (%s); retrying", exc)
            await asyncio.sleep(self.interval)
