"""Usage over time: what the jobs of one provider and tenant counted in one slot of a window."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Usage:
    start: float  # the slot's start, seconds since the epoch
    provider: str
    tenant: str
    jobs: int
    records: int
    errors: int
    input_tokens: int
    output_tokens: int
    cost: float  # dollars, of the jobs whose cost is set (ended, with a price configured)
