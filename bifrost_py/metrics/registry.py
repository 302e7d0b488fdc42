"""The server's own metrics, one registry per server (tests run several in one process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

# Seconds: S3 small-object calls take a millisecond, a large upload or a batch create longer.
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                    10.0, 30.0, 60.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "bifrost_requests", "Requests answered, by mount, operation and HTTP status.",
            ["mount", "operation", "status"], registry=self.registry)
        self.latency = Histogram(
            "bifrost_request_duration_seconds", "Time to answer a request, by mount and "
            "operation.", ["mount", "operation"], buckets=_LATENCY_BUCKETS,
            registry=self.registry)
        self.body_bytes = Counter(
            "bifrost_body_bytes", "Bytes of request and response bodies, by mount and "
            "direction (in: received, out: sent).", ["mount", "direction"],
            registry=self.registry)
        self.upstream_calls = Counter(
            "bifrost_upstream_calls", "Calls to a provider's batch API, by provider, operation "
            "and outcome (ok; unavailable, which is retried; refused; auth).",
            ["provider", "operation", "outcome"], registry=self.registry)

    def request(self, mount: str, operation: str, status: int | None, seconds: float) -> None:
        self.requests.labels(mount, operation, str(status or 0)).inc()
        self.latency.labels(mount, operation).observe(seconds)
