"""Jobs, records and tokens as metrics, read from the job store when scraped.

The store holds every job's counts, so these survive restarts and agree across replicas that
share a database, where counters kept in one process would not.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from bifrost_py.domain.jobs import JobTotals


class JobsCollector(Collector):
    def __init__(self, totals: list[JobTotals]) -> None:
        self.totals = totals

    def collect(self) -> Iterator[Metric]:
        jobs = GaugeMetricFamily("bifrost_jobs", "Jobs by provider and status.",
                                 labels=["provider", "status"])
        records = CounterMetricFamily("bifrost_records", "Records processed, by provider and "
                                      "outcome (succeeded, failed).",
                                      labels=["provider", "outcome"])
        tokens = CounterMetricFamily("bifrost_tokens", "Model tokens, by provider and "
                                     "direction (input, output).",
                                     labels=["provider", "direction"])
        cost = CounterMetricFamily("bifrost_cost_dollars", "What ended jobs cost at the "
                                   "configured [prices], by provider.", labels=["provider"])
        for provider, rows in _by_provider(self.totals).items():
            for row in rows:
                jobs.add_metric([provider, row.status], row.jobs)
            processed = sum(r.processed for r in rows)
            errors = sum(r.errors for r in rows)
            records.add_metric([provider, "succeeded"], processed - errors)
            records.add_metric([provider, "failed"], errors)
            tokens.add_metric([provider, "input"], sum(r.input_tokens for r in rows))
            tokens.add_metric([provider, "output"], sum(r.output_tokens for r in rows))
            cost.add_metric([provider], sum(r.cost for r in rows))
        yield from (jobs, records, tokens, cost)


def _by_provider(totals: list[JobTotals]) -> dict[str, list[JobTotals]]:
    grouped: dict[str, list[JobTotals]] = {}
    for row in totals:
        grouped.setdefault(row.provider, []).append(row)
    return grouped
