"""The Prometheus text a scrape gets: the server's counters, then the job store's totals."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from bifrost_py.domain.jobs import JobTotals
from bifrost_py.metrics.jobs import JobsCollector
from bifrost_py.metrics.registry import Metrics


def exposition(metrics: Metrics, totals: list[JobTotals]) -> bytes:
    jobs = CollectorRegistry(auto_describe=False)
    jobs.register(JobsCollector(totals))
    return generate_latest(metrics.registry) + generate_latest(jobs)
