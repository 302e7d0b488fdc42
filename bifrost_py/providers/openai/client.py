"""The openai SDK's client for OpenAI or Azure OpenAI, and its failures as Upstream* errors."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

import openai

from bifrost_py.config import OpenAIConfig
from bifrost_py.ports.upstream import UpstreamUnavailable, status_error

PROVIDER = "openai"
# What OpenAI's own error messages may quote of a key (it masks the middle, not the ends).
_KEYLIKE = re.compile(r"\bsk-[A-Za-z0-9_*\-]{4,}")


def new_client(settings: OpenAIConfig) -> openai.AsyncOpenAI:
    """The SDK's client for OpenAI, or for Azure OpenAI when `api_version` is set. api_key is
    always passed (even ""), so the SDK never takes a key of its own from the environment."""
    if settings.api_version:
        return openai.AsyncAzureOpenAI(
            azure_endpoint=settings.base_url, api_version=settings.api_version,
            api_key=settings.api_key, max_retries=settings.max_retries,
            timeout=settings.timeout_seconds)
    return openai.AsyncOpenAI(base_url=settings.base_url, api_key=settings.api_key,
                              max_retries=settings.max_retries, timeout=settings.timeout_seconds)


@contextlib.contextmanager
def translated_errors(secret: str) -> Iterator[None]:
    """The SDK's exceptions as the engines' Upstream* errors, with no key in their messages."""
    try:
        yield
    except openai.APIStatusError as exc:
        raise status_error(PROVIDER, exc.status_code, _clean(_api_message(exc), secret)) \
            from None
    except openai.APIConnectionError as exc:  # includes timeouts
        raise UpstreamUnavailable(PROVIDER, _clean(f"cannot reach the API: {exc}", secret)) \
            from None
    except openai.OpenAIError as exc:  # e.g. an answer the SDK could not read: try again later
        raise UpstreamUnavailable(PROVIDER, _clean(str(exc), secret)) from None


def _api_message(exc: openai.APIStatusError) -> str:
    """`<status> <code or type>: <message>` from the error body, which the SDK has already
    unwrapped from `{"error": ...}` (OpenAI's {message, type, code}; Azure's {code, message})."""
    body = exc.body if isinstance(exc.body, dict) else {}
    code = body.get("code")
    kind = code if code and str(code) != str(exc.status_code) else body.get("type") or "error"
    return f"{exc.status_code} {kind}: {body.get('message') or exc.message}"


def _clean(message: str, secret: str) -> str:
    if secret:
        message = message.replace(secret, "***")
    return _KEYLIKE.sub("sk-***", message)
