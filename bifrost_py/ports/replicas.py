"""The replicas sharing a store, known by their heartbeats in it."""

from __future__ import annotations

from typing import Protocol


class Replicas(Protocol):
    async def beat(self, replica: str, ttl: float) -> int:
        """Record that `replica` is alive now; how many replicas beat within `ttl` seconds,
        itself included."""

    async def leave(self, replica: str) -> None:
        """Forget `replica`, as it shuts down."""
