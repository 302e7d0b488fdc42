"""Any server speaking OpenAI's /v1/chat/completions: OpenAI itself, vLLM, Ollama, LiteLLM, ...

One record is one chat completion. Throttling and upstream failures are retried here, so a
record only becomes an error line once the upstream has refused it or kept failing.

Requests go through one aiohttp session per backend: at 64 requests in flight it costs about
0.2 ms of CPU per request, where a shared httpx client spends 2.5-10 ms scanning its pool.
Pass your own `aiohttp.ClientSession` for what ours lacks (proxies, custom TLS, test doubles).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from asyncio import sleep
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Protocol
from urllib.parse import urlsplit

import aiohttp

from bifrost_py.domain.records.neutral import Completion, Prompt
from bifrost_py.domain.records.openai_chat import from_openai_chat, to_openai_chat
from bifrost_py.ports.backends import BackendError, Embeddings

RETRY_BASE = 0.5
RETRY_CAP = 20.0
RETRY_AFTER_CAP = 60.0
MAX_CONNECTIONS = 256  # one pool serves every record of every job, many at once


class OpenAICompatibleBackend:
    def __init__(self, base_url: str, api_key: str = "", model: str | None = None,
                 timeout: float = 120, max_retries: int = 6,
                 session: aiohttp.ClientSession | None = None) -> None:
        base = base_url.rstrip("/")
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._transport: Transport = AiohttpTransport(base + "/chat/completions", headers,
                                                      timeout, session)
        # Embeddings are asked for far less often: a session of their own, made on first use.
        self._embeddings: Transport = AiohttpTransport(base + "/embeddings", headers, timeout,
                                                       session)
        self._api_key = api_key
        self._model = model
        self._max_retries = max_retries

    async def complete(self, model_id: str, prompt: Prompt) -> Completion:
        payload = json.dumps(to_openai_chat(prompt, self._model or model_id)).encode()
        return self._completion(await self._post(self._transport, payload))

    async def embed(self, model_id: str, texts: list[str], dimensions: int) -> Embeddings:
        payload = json.dumps({"model": self._model or model_id, "input": texts,
                              "dimensions": dimensions, "encoding_format": "float"}).encode()
        return self._embeddings_of(await self._post(self._embeddings, payload), len(texts))

    async def aclose(self) -> None:
        await self._transport.aclose()
        await self._embeddings.aclose()

    async def _post(self, transport: Transport, payload: bytes) -> bytes:
        """The answer's body, after retrying what passes with time."""
        attempt = 0
        while True:
            try:
                status, headers, content = await transport.post(payload)
            except TransportError as exc:  # refused, reset, timed out: worth another try
                if attempt >= self._max_retries:
                    raise BackendError(503, self._redact(
                        f"the upstream could not be reached: {exc}")) from None
                await sleep(retry_delay(attempt))
            else:
                if 200 <= status < 300:
                    return content
                if not is_retryable(status) or attempt >= self._max_retries:
                    raise BackendError(status, self._redact(
                        f"upstream returned {status}: {upstream_message(content)}"))
                await sleep(retry_delay(attempt, headers))
            attempt += 1

    def _embeddings_of(self, content: bytes, count: int) -> Embeddings:
        try:
            body = json.loads(content)
            vectors = [[float(x) for x in item["embedding"]]
                       for item in sorted(body["data"], key=lambda item: item["index"])]
            tokens = int((body.get("usage") or {}).get("prompt_tokens") or 0)
        except (ValueError, KeyError, TypeError) as exc:
            raise BackendError(500, self._redact(
                f"the upstream answered with something other than embeddings: {exc}"),
            ) from None
        if len(vectors) != count:
            raise BackendError(500, f"the upstream answered {len(vectors)} embeddings for "
                                    f"{count} inputs")
        return Embeddings(vectors, tokens)

    def _completion(self, content: bytes) -> Completion:
        try:
            return from_openai_chat(json.loads(content))
        except ValueError as exc:
            raise BackendError(500, self._redact(
                f"the upstream answered with something other than a chat completion: {exc}"),
            ) from None

    def _redact(self, message: str) -> str:
        # Some upstreams quote the key they were given back in their error messages.
        return message.replace(self._api_key, "***") if self._api_key else message


# ---------------------------------------------------------------------------------------------
# Retry policy


def is_retryable(status: int) -> bool:
    """Throttling, the upstream's own timeout, and server failures pass with time."""
    return status in (408, 429) or status >= 500


def upstream_message(content: bytes) -> str:
    """OpenAI's `{"error": {"message"}}`, or the start of whatever else the upstream said."""
    try:
        error = json.loads(content)["error"]
        message = error["message"] if isinstance(error, dict) else error
        if isinstance(message, str) and message:
            return message
    except (ValueError, KeyError, TypeError):
        pass
    return content[:500].decode("utf-8", "replace") or "no message"


def retry_delay(attempt: int, headers: Mapping[str, str] | None = None) -> float:
    """Seconds to wait before retry `attempt` + 1: the upstream's hint, else full jitter."""
    hinted = retry_after(headers) if headers is not None else None
    if hinted is not None:
        return hinted
    # Full jitter spreads a burst of throttled records out instead of retrying them in step.
    return random.uniform(0, min(RETRY_CAP, RETRY_BASE * 2 ** min(attempt, 16)))


def retry_after(headers: Mapping[str, str]) -> float | None:
    """`retry-after-ms` (OpenAI's), or `Retry-After` in seconds or as an HTTP date; capped."""
    seconds = _seconds(headers.get("retry-after-ms"), 1000)
    if seconds is None:
        seconds = _seconds(headers.get("retry-after"), 1)
    if seconds is None:
        seconds = _until(headers.get("retry-after"))
    return None if seconds is None else min(RETRY_AFTER_CAP, max(0.0, seconds))


def _seconds(value: str | None, per_second: float) -> float | None:
    try:
        return float(value) / per_second if value is not None else None
    except ValueError:
        return None


def _until(date: str | None) -> float | None:
    if not date:
        return None
    try:
        return parsedate_to_datetime(date).timestamp() - time.time()
    except (TypeError, ValueError):
        return None


# ---------------------------------------------------------------------------------------------
# Transports: POST one body to one URL, answer (status, lower-case headers, body)


class TransportError(Exception):
    """No HTTP answer came back (connection refused or reset, timeout, garbled response)."""


Reply = tuple[int, Mapping[str, str], bytes]


class Transport(Protocol):
    async def post(self, body: bytes) -> Reply: ...

    async def aclose(self) -> None: ...


class AiohttpTransport:
    """Keep-alive connections to one origin through an aiohttp session, for one event loop."""

    def __init__(self, url: str, headers: dict[str, str], timeout: float,
                 session: aiohttp.ClientSession | None = None) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url}")
        # aiohttp would turn credentials in the URL into Basic auth; the API key is the auth.
        self._url = parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()
        self._headers = headers
        self._timeout = timeout
        self._session = session
        self._owned = session is None  # a caller's session is the caller's to close
        # Records beyond the pool's size wait here, before their timeout starts, not in aiohttp.
        self._slots = asyncio.Semaphore(MAX_CONNECTIONS)

    async def post(self, body: bytes) -> Reply:
        session = self._session or self._open()
        try:
            async with self._slots, session.post(self._url, data=body,
                                                 headers=self._headers) as response:
                return response.status, response.headers, await response.read()
        except TimeoutError:  # aiohttp's timeouts are TimeoutErrors, some also ClientErrors
            limit = session.timeout.total  # a caller's session keeps its own timeout
            raise TransportError(f"no answer within {limit:g} s" if limit else
                                 "no answer in time") from None
        except aiohttp.ClientError as exc:
            raise TransportError(f"{type(exc).__name__}: {exc}") from None

    async def aclose(self) -> None:
        if self._owned and self._session is not None:
            await self._session.close()
            self._session = None

    def _open(self) -> aiohttp.ClientSession:
        # Made on first use, inside the running loop: a session belongs to the loop it was made in.
        connector = aiohttp.TCPConnector(limit=MAX_CONNECTIONS, limit_per_host=MAX_CONNECTIONS,
                                         keepalive_timeout=30)
        self._session = aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=self._timeout))
        return self._session
