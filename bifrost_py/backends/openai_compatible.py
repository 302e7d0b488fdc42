"""Any server speaking OpenAI's /v1/chat/completions: OpenAI itself, vLLM, Ollama, LiteLLM, ...

One record is one chat completion. Throttling and upstream failures are retried here, so a
record only becomes an error line once the upstream has refused it or kept failing.
"""

from __future__ import annotations

import json
import random
import time
from asyncio import sleep
from collections.abc import Mapping
from email.utils import parsedate_to_datetime

import httpx

from bifrost_py.backends.base import BackendError
from bifrost_py.domain.records import Completion, Prompt, from_openai_chat, to_openai_chat

RETRY_BASE = 0.5
RETRY_CAP = 20.0
RETRY_AFTER_CAP = 60.0
# One client serves every record of every job, and batch jobs run many records at once.
POOL_LIMITS = httpx.Limits(max_connections=256, max_keepalive_connections=256)


class OpenAICompatibleBackend:
    def __init__(self, base_url: str, api_key: str = "", model: str | None = None,
                 timeout: float = 120, max_retries: int = 6,
                 client: httpx.AsyncClient | None = None) -> None:
        self._url = base_url.rstrip("/") + "/chat/completions"
        self._api_key = api_key
        self._model = model
        self._max_retries = max_retries
        self._headers = {"Content-Type": "application/json"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._owns_client = client is None
        self._client = client or httpx.AsyncClient(timeout=timeout, limits=POOL_LIMITS)

    async def complete(self, model_id: str, prompt: Prompt) -> Completion:
        payload = json.dumps(to_openai_chat(prompt, self._model or model_id)).encode()
        attempt = 0
        while True:
            try:
                response = await self._client.post(self._url, content=payload,
                                                   headers=self._headers)
            except httpx.TransportError as exc:  # refused, reset, timed out: worth another try
                if attempt >= self._max_retries:
                    raise BackendError(503, self._redact(
                        f"the upstream could not be reached: {type(exc).__name__}: {exc}"),
                    ) from None
                await sleep(retry_delay(attempt))
            else:
                status = response.status_code
                if 200 <= status < 300:
                    return self._completion(response)
                if not is_retryable(status) or attempt >= self._max_retries:
                    raise BackendError(status, self._upstream_error(response))
                await sleep(retry_delay(attempt, response.headers))
            attempt += 1

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    def _completion(self, response: httpx.Response) -> Completion:
        try:
            return from_openai_chat(json.loads(response.content))
        except ValueError as exc:
            raise BackendError(500, self._redact(
                f"the upstream answered with something other than a chat completion: {exc}"),
            ) from None

    def _upstream_error(self, response: httpx.Response) -> str:
        return self._redact(f"upstream returned {response.status_code}: "
                            f"{upstream_message(response.content)}")

    def _redact(self, message: str) -> str:
        # Some upstreams quote the key they were given back in their error messages.
        return message.replace(self._api_key, "***") if self._api_key else message


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
