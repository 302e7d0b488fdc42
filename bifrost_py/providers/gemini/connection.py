"""One google-genai client for the Gemini API, and its failures as Upstream* errors."""

from __future__ import annotations

import contextlib
import io
import json
import mimetypes
from collections.abc import Awaitable
from pathlib import Path
from typing import TypeVar

import aiohttp
import httpx
from google import genai
from google.genai import errors, types

from bifrost_py.config import GeminiConfig
from bifrost_py.domain.records.neutral import JsonObject
from bifrost_py.ports.upstream import (
    UpstreamAuth,
    UpstreamError,
    UpstreamRefused,
    UpstreamUnavailable,
)

PROVIDER = "gemini"
T = TypeVar("T")
_GENERIC_TYPES = frozenset({"", "binary/octet-stream", "application/octet-stream"})
_DISPLAY_NAME_MAX = 512
RETRY_DELAY, MAX_RETRY_DELAY = 0.25, 8.0


def _transport_errors() -> tuple[type[BaseException], ...]:
    """What the SDK raises when the API cannot be reached: aiohttp's errors when it is installed
    (the SDK's async default), else httpx's or httpx2's."""
    found: list[type[BaseException]] = [aiohttp.ClientError, httpx.TransportError, TimeoutError]
    with contextlib.suppress(ImportError):
        import httpx2

        found.append(httpx2.TransportError)
    return tuple(found)


_TRANSPORT_ERRORS = _transport_errors()


class Connection:
    """One google-genai client and the translation of its failures into Upstream* errors."""

    def __init__(self, settings: GeminiConfig) -> None:
        self.settings = settings
        self._client: genai.Client | None = None
        # Retries (429, 5xx, connection errors) are the SDK's, off unless retry_options are set;
        # setting them also stops its own unconditional 1-10 s retry of aiohttp connect errors.
        retry = types.HttpRetryOptions(attempts=settings.max_retries + 1,
                                       initial_delay=RETRY_DELAY, max_delay=MAX_RETRY_DELAY,
                                       jitter=RETRY_DELAY)
        options = types.HttpOptions(base_url=settings.base_url, api_version=settings.api_version,
                                    timeout=int(settings.timeout_seconds * 1000),
                                    retry_options=retry)
        # With no api_key the SDK reads GEMINI_API_KEY or GOOGLE_API_KEY; with none at all, each
        # call fails with an access error instead of the server failing to start.
        with contextlib.suppress(ValueError):
            self._client = genai.Client(api_key=settings.api_key or None, http_options=options)

    @property
    def client(self) -> genai.Client:
        if self._client is None:
            raise UpstreamAuth(PROVIDER, "no API key: set api_key in [providers.gemini] (or "
                               "GEMINI_API_KEY in the server's environment)", 401)
        return self._client

    async def call(self, request: Awaitable[T]) -> T:
        try:
            return await request
        except errors.APIError as exc:
            raise self._refusal(exc) from None
        except _TRANSPORT_ERRORS as exc:
            raise UpstreamUnavailable(PROVIDER, f"cannot reach {self.settings.base_url} "
                                      f"({type(exc).__name__})") from None

    async def upload(self, content: bytes | Path, name: str, content_type: str) -> str:
        """Upload to Gemini Files; the file's name, `files/...`."""
        config = types.UploadFileConfig(mime_type=_mime_type(name, content_type),
                                        display_name=name[-_DISPLAY_NAME_MAX:])
        source = io.BytesIO(content) if isinstance(content, bytes) else content
        try:
            file = await self.call(self.client.aio.files.upload(file=source, config=config))
        except ValueError as exc:  # the SDK's word for an upload the server did not finalise
            raise UpstreamUnavailable(PROVIDER, f"the upload did not complete ({exc})") from None
        if not file.name:
            raise UpstreamUnavailable(PROVIDER, "the upload was answered without a file name")
        return file.name

    async def forget(self, file_name: str) -> None:
        """Delete a file; one that is already gone (Gemini keeps files 48 hours) is no error."""
        try:
            await self.call(self.client.aio.files.delete(name=file_name))
        except UpstreamRefused as refused:
            if refused.status != 404:
                raise

    async def resource(self, name: str) -> JsonObject:
        """The JSON the API answers for a resource (`batches/...`), with all its fields."""
        response = await self.call(self.client.aio._api_client.async_request("get", name, {}))
        try:
            value = json.loads(response.body or "{}")
        except ValueError:
            value = None
        if not isinstance(value, dict):
            raise UpstreamUnavailable(PROVIDER, f"{name} was answered with a body that is not "
                                      "a JSON object")
        return value

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aio.aclose()

    def _refusal(self, exc: errors.APIError) -> UpstreamError:
        code = exc.code or 500
        status = f" {exc.status}" if exc.status else ""
        text = f"{code}{status}: {exc.message or exc.details}"
        if self.settings.api_key:  # Google does not echo keys; be sure no message ever does
            text = text.replace(self.settings.api_key, "[redacted]")
        if code in (408, 429) or code >= 500:
            return UpstreamUnavailable(PROVIDER, text, code)
        if code in (401, 403) or (code == 400 and _bad_key(exc)):
            return UpstreamAuth(PROVIDER, f"the API key of [providers.gemini] was rejected "
                                f"({text})", code)
        return UpstreamRefused(PROVIDER, text, code)


def _bad_key(exc: errors.APIError) -> bool:
    """Gemini answers an unknown key with 400 INVALID_ARGUMENT, reason API_KEY_INVALID."""
    return "API key not valid" in str(exc.message) or "API_KEY_INVALID" in str(exc.details)


def _mime_type(name: str, content_type: str) -> str:
    """The object's content type, or one guessed from its name when the client sent none."""
    if content_type.lower() not in _GENERIC_TYPES:
        return content_type
    if name.lower().endswith(".jsonl"):
        return "application/jsonl"
    return mimetypes.guess_type(name)[0] or "application/octet-stream"
