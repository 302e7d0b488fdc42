"""What happens once when a job ends: its cost is set from its final token counts."""

from __future__ import annotations

import dataclasses

from bifrost_py.config import Config
from bifrost_py.domain.costs import cost, price_of
from bifrost_py.domain.job_events import JobEvent
from bifrost_py.domain.jobs import Job
from bifrost_py.ports.jobs import JobRepository


class Endings:
    def __init__(self, config: Config, jobs: JobRepository) -> None:
        self.prices = config.prices
        self.jobs = jobs

    async def settle(self, event: JobEvent) -> Job:
        """The ended job, with its cost set if a price is configured for its model."""
        job = await self.jobs.get(event.job_id)
        price = price_of(job.model_id, self.prices)
        if job.cost is not None or price is None:
            return job
        spent = cost(job.counts.input_tokens, job.counts.output_tokens, price)
        await self.jobs.set_cost(job.job_id, spent)
        return dataclasses.replace(job, cost=spent)
