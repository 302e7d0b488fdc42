"""Jobs' ends waiting to be acted on (a cost to set, webhooks to call), kept in the store so a
restart resumes them, and each webhook's deliveries of each."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from bifrost_py.domain.job_events import JobEvent


@dataclass(frozen=True)
class Delivery:
    attempts: int
    next_at: float  # when the next attempt may go
    delivered: bool


class Outbox(Protocol):
    async def pending(self, limit: int) -> list[JobEvent]:
        """Events not yet done, oldest first."""

    async def deliveries(self, event_id: str) -> dict[str, Delivery]:
        """Each webhook's deliveries of an event so far, by webhook."""

    async def attempted(self, event_id: str, hook: str, delivery: Delivery,
                        error: str | None) -> None: ...

    async def done(self, event_id: str, when: float) -> None: ...
