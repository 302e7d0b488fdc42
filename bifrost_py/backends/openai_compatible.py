"""Any server speaking OpenAI's /v1/chat/completions: OpenAI itself, vLLM, Ollama, LiteLLM, ...

One record is one chat completion. Throttling and upstream failures are retried here, so a
record only becomes an error line once the upstream has refused it or kept failing.

Requests go through a small keep-alive HTTP/1.1 pool of our own: at 64 requests in flight,
httpx's pool spends 2.5-10 ms of CPU per request scanning its connections, this one about 0.1 ms.
Pass an `httpx.AsyncClient` instead when you need what only httpx has (proxies, test transports).
"""

from __future__ import annotations

import asyncio
import json
import random
import ssl
import time
from asyncio import sleep
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Protocol
from urllib.parse import urlsplit

import httpx

from bifrost_py.backends.base import BackendError
from bifrost_py.domain.records.neutral import Completion, Prompt
from bifrost_py.domain.records.openai_chat import from_openai_chat, to_openai_chat

RETRY_BASE = 0.5
RETRY_CAP = 20.0
RETRY_AFTER_CAP = 60.0
MAX_CONNECTIONS = 256  # one pool serves every record of every job, many at once


class OpenAICompatibleBackend:
    def __init__(self, base_url: str, api_key: str = "", model: str | None = None,
                 timeout: float = 120, max_retries: int = 6,
                 client: httpx.AsyncClient | None = None) -> None:
        url = base_url.rstrip("/") + "/chat/completions"
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._transport: Transport = (HttpxTransport(client, url, headers) if client is not None
                                      else Http11Pool(url, headers, timeout, MAX_CONNECTIONS))
        self._api_key = api_key
        self._model = model
        self._max_retries = max_retries

    async def complete(self, model_id: str, prompt: Prompt) -> Completion:
        payload = json.dumps(to_openai_chat(prompt, self._model or model_id)).encode()
        attempt = 0
        while True:
            try:
                status, headers, content = await self._transport.post(payload)
            except TransportError as exc:  # refused, reset, timed out: worth another try
                if attempt >= self._max_retries:
                    raise BackendError(503, self._redact(
                        f"the upstream could not be reached: {exc}")) from None
                await sleep(retry_delay(attempt))
            else:
                if 200 <= status < 300:
                    return self._completion(content)
                if not is_retryable(status) or attempt >= self._max_retries:
                    raise BackendError(status, self._redact(
                        f"upstream returned {status}: {upstream_message(content)}"))
                await sleep(retry_delay(attempt, headers))
            attempt += 1

    async def aclose(self) -> None:
        await self._transport.aclose()

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


class HttpxTransport:
    """Through a caller's httpx client, which keeps its own pool, proxies and TLS settings."""

    def __init__(self, client: httpx.AsyncClient, url: str, headers: dict[str, str]) -> None:
        self._client = client
        self._url = url
        self._headers = headers

    async def post(self, body: bytes) -> Reply:
        try:
            response = await self._client.post(self._url, content=body, headers=self._headers)
        except httpx.TransportError as exc:
            raise TransportError(f"{type(exc).__name__}: {exc}") from None
        return response.status_code, response.headers, response.content

    async def aclose(self) -> None:
        return None  # the caller owns the client


# What a broken connection or a garbled response raises while we talk to it.
_CONNECTION_ERRORS = (OSError, EOFError, asyncio.LimitOverrunError, ValueError)


class _StaleConnection(Exception):
    """A pooled connection the server closed before answering: resend on another one."""


class Http11Pool:
    """Keep-alive HTTP/1.1 connections to one origin, for one event loop.

    Each request is written in one piece (no Nagle stalls between headers and body) and idle
    connections are reused last-in first-out, so the warm ones stay warm.
    """

    def __init__(self, url: str, headers: dict[str, str], timeout: float,
                 max_connections: int) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url}")
        https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if https else 80)
        # httpx's TLS context: certifi's CAs, and SSL_CERT_FILE / SSL_CERT_DIR when set.
        self._ssl: ssl.SSLContext | None = httpx.create_ssl_context() if https else None
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        host = parts.netloc.rpartition("@")[2]  # never send credentials from the URL
        lines = [f"POST {target} HTTP/1.1", f"Host: {host}",
                 *(f"{name}: {value}" for name, value in headers.items())]
        self._head = ("\r\n".join(lines) + "\r\nContent-Length: ").encode("latin-1")
        self._timeout = timeout
        self._slots = asyncio.Semaphore(max_connections)
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self._closed = False

    async def post(self, body: bytes) -> Reply:
        request = self._head + b"%d\r\n\r\n" % len(body) + body
        async with self._slots:
            try:
                async with asyncio.timeout(self._timeout):
                    return await self._exchange(request)
            except TimeoutError:
                raise TransportError(f"no answer within {self._timeout:g} s") from None
            except _CONNECTION_ERRORS as exc:
                raise TransportError(f"{type(exc).__name__}: {exc}") from None

    async def aclose(self) -> None:
        self._closed = True
        while self._idle:
            self._idle.pop()[1].close()

    async def _exchange(self, request: bytes) -> Reply:
        while self._idle:
            reader, writer = self._idle.pop()
            if reader.at_eof() or writer.is_closing():
                writer.close()
                continue
            try:
                return await self._roundtrip(reader, writer, request, reused=True)
            except _StaleConnection:
                continue  # the server timed the idle connection out; try the next one
        reader, writer = await asyncio.open_connection(
            self._host, self._port, ssl=self._ssl, limit=1 << 20)
        return await self._roundtrip(reader, writer, request, reused=False)

    async def _roundtrip(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                         request: bytes, reused: bool) -> Reply:
        try:
            writer.write(request)
            await writer.drain()
            head = await _read_head(reader, reused)
            status, headers, keep_alive = _parse_head(head)
            content = await _read_body(reader, status, headers)
        except BaseException:
            writer.close()  # half a conversation leaves the connection unusable
            raise
        if keep_alive:
            self._release(reader, writer)
        else:
            writer.close()
        return status, headers, content

    def _release(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._closed:
            writer.close()
        else:
            self._idle.append((reader, writer))


async def _read_head(reader: asyncio.StreamReader, reused: bool) -> bytes:
    try:
        return await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError) as exc:
        nothing_came = not isinstance(exc, asyncio.IncompleteReadError) or not exc.partial
        if reused and nothing_came:
            raise _StaleConnection from exc
        raise


def _parse_head(head: bytes) -> tuple[int, dict[str, str], bool]:
    """Status, headers (lower-case names) and whether the connection may be reused."""
    status_line, *lines = head.decode("latin-1").split("\r\n")
    version, status, *_ = status_line.split(" ", 2)
    headers = {}
    for line in lines:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    # Without a length or chunks the body ends with the connection, which cannot be reused.
    delimited = "content-length" in headers or "transfer-encoding" in headers
    keep_alive = (version == "HTTP/1.1" and delimited
                  and headers.get("connection", "").lower() != "close")
    return int(status), headers, keep_alive


async def _read_body(reader: asyncio.StreamReader, status: int,
                     headers: Mapping[str, str]) -> bytes:
    if status in (204, 304):
        return b""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return await _read_chunked(reader)
    if "content-length" in headers:
        return await reader.readexactly(int(headers["content-length"]))
    return await reader.read()  # no length: the body runs to the end of the connection


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    chunks = []
    while size := int((await reader.readuntil(b"\r\n")).split(b";", 1)[0], 16):
        chunks.append(await reader.readexactly(size))
        await reader.readexactly(2)  # the CRLF after each chunk
    while await reader.readuntil(b"\r\n") != b"\r\n":
        pass  # trailers, which we have no use for
    return b"".join(chunks)
