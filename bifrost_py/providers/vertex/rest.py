"""Vertex AI's REST API for batch prediction jobs (httpx), with Google's credentials, retries
and its errors as Upstream* errors."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import httpx

from bifrost_py.config import VertexConfig
from bifrost_py.domain.records.neutral import JsonObject
from bifrost_py.ports.upstream import (
    UpstreamAuth,
    UpstreamError,
    UpstreamUnavailable,
    status_error,
)
from bifrost_py.providers.vertex.auth import PROVIDER, Tokens

RETRY_DELAY, MAX_RETRY_DELAY = 0.25, 8.0


def api_root(settings: VertexConfig) -> str:
    """The regional endpoint of `location` (the global one for "global"), unless configured."""
    if settings.base_url:
        return settings.base_url.rstrip("/")
    if settings.location == "global":
        return "https://aiplatform.googleapis.com"
    return f"https://{settings.location}-aiplatform.googleapis.com"


class VertexREST:
    def __init__(self, settings: VertexConfig, tokens: Tokens) -> None:
        self.settings = settings
        self.tokens = tokens
        self.jobs = (f"{api_root(settings)}/v1/projects/{settings.project}/locations/"
                     f"{settings.location}/batchPredictionJobs")
        self._http = httpx.AsyncClient(timeout=settings.timeout_seconds)

    async def call(self, method: str, url: str, body: JsonObject | None = None) -> JsonObject:
        """One API call, retried on 429, 5xx and connection errors; a refused token is renewed
        once."""
        attempt, renew = 0, False
        while True:
            try:
                response = await self._http.request(
                    method, url, json=body, headers=await self.tokens.header(renew))
                if response.status_code == 401 and not renew:
                    renew = True
                    continue
                return _answer(response)
            except httpx.TransportError as exc:
                failure: UpstreamError = UpstreamUnavailable(
                    PROVIDER, f"cannot reach {url.split('/v1/')[0]} ({type(exc).__name__})")
            except UpstreamUnavailable as exc:
                failure = exc
            if attempt >= self.settings.max_retries:
                raise failure
            delay = min(RETRY_DELAY * 2**attempt, MAX_RETRY_DELAY)
            await asyncio.sleep(delay + random.uniform(0, RETRY_DELAY))
            attempt += 1

    async def aclose(self) -> None:
        await self._http.aclose()


def _answer(response: httpx.Response) -> JsonObject:
    try:
        body: Any = response.json() if response.content else {}
    except ValueError:
        body = None
    if response.is_success and isinstance(body, dict):
        return body
    if response.is_success:
        raise UpstreamUnavailable(PROVIDER, f"{response.request.url.path} was answered with a "
                                  "body that is not a JSON object", 502)
    error = body.get("error") if isinstance(body, dict) else None
    detail = error if isinstance(error, dict) else {}
    code = response.status_code
    text = f"{code} {detail.get('status') or ''}".rstrip()
    message = f"{text}: {detail.get('message') or response.reason_phrase}"
    if code in (401, 403):
        raise UpstreamAuth(PROVIDER, f"Google refused the server's credentials ({message})", code)
    raise status_error(PROVIDER, code, message)
