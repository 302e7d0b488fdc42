"""GET /metrics: Prometheus text for scrapers.

On a server with [[keys]] the metrics are every tenant's, so they are not for a tenant's key:
a scraper presents `Authorization: Bearer <server.metrics_token>`. A server with keys and no
metrics_token keeps /metrics closed; an open server (no keys) serves it to anyone, as every
other mount.
"""

from __future__ import annotations

import hmac

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bifrost_py.metrics.exposition import exposition
from bifrost_py.metrics.registry import Metrics
from bifrost_py.ports.jobs import JobRepository


class MetricsEndpoint:
    def __init__(self, metrics: Metrics, jobs: JobRepository, token: str,
                 keys_configured: bool) -> None:
        self.metrics = metrics
        self.jobs = jobs
        self.token = token
        self.keys_configured = keys_configured

    async def serve(self, request: Request) -> Response:
        refusal = self._refusal(request.headers.get("authorization", ""))
        if refusal:
            return JSONResponse({"error": refusal}, 401,
                                headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
        body = exposition(self.metrics, await self.jobs.totals())
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    def _refusal(self, authorization: str) -> str | None:
        if not self.token:
            return ("/metrics is closed on a server with [[keys]]: set server.metrics_token "
                    "and scrape with it as a bearer token") if self.keys_configured else None
        scheme, _, presented = authorization.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(presented.strip().encode(),
                                                              self.token.encode()):
            return None
        return "a bearer token of server.metrics_token is required"
