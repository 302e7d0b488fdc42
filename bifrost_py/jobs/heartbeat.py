"""This replica's heartbeat in the shared store, and what it learns from it: how many replicas
are alive, so that limits meant for the whole gateway (requests a second per key) are shared
out among them without a service of their own."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable

from bifrost_py.jobs.periodic import Periodic
from bifrost_py.ports.replicas import Replicas

log = logging.getLogger("bifrost_py.jobs.heartbeat")


class Heartbeat(Periodic):
    name = "bifrost-heartbeat"
    failing = "cannot record this replica's heartbeat"

    def __init__(self, replicas: Replicas, replica: str, interval: float,
                 on_count: Callable[[int], None]) -> None:
        super().__init__(interval, log)
        self.replicas = replicas
        self.replica = replica
        self.on_count = on_count

    async def stop(self) -> None:
        await super().stop()
        with contextlib.suppress(Exception):
            await self.replicas.leave(self.replica)

    async def tick(self) -> None:
        # A replica is alive while it beats at least every third of the window.
        self.on_count(await self.replicas.beat(self.replica, 3 * self.interval))
