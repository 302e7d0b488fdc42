"""Prompts as OpenAI Batch API lines, and the Batch API's output lines back as outcomes.

A request line is `{"custom_id", "method": "POST", "url", "body"}` with `body` a chat completions
request; the url is `/v1/chat/completions` on OpenAI and `/chat/completions` on Azure OpenAI. An
output or error line is `{"id", "custom_id", "response": {"status_code", "body"} | null,
"error": {"code", "message"} | null}`.
"""

from __future__ import annotations

from typing import Any

from bifrost_py.domain.records.neutral import Completion, JsonObject, Prompt
from bifrost_py.domain.records.openai_chat import from_openai_chat, to_openai_chat

CHAT_URL = "/v1/chat/completions"
AZURE_CHAT_URL = "/chat/completions"
# Error codes of requests that never ran because their batch expired or was cancelled first.
NEVER_RAN = frozenset({"batch_expired", "batch_cancelled"})

# (custom id, completion, error): what one output line says about its request.
Outcome = tuple[str, Completion | None, tuple[int, str] | None]


def batch_request(custom_id: str, prompt: Prompt, *, model: str,
                  url: str = CHAT_URL) -> JsonObject:
    """The request line for a prompt; `model` is the name OpenAI knows the job's model by, or
    the Azure deployment."""
    return {"custom_id": custom_id, "method": "POST", "url": url,
            "body": to_openai_chat(prompt, model)}


def native_custom_id(line: JsonObject) -> str | None:
    """The custom_id of a line already in Batch API format (`{custom_id, body, ...}`), else
    None. Such lines go upstream as they are: OpenAI judges their method, url and model."""
    custom_id = line.get("custom_id")
    if isinstance(custom_id, str) and isinstance(line.get("body"), dict):
        return custom_id
    return None


def read_output_line(line: Any) -> Outcome | None:
    """One line of a batch's output or error file; None for a request that never ran."""
    if not isinstance(line, dict) or not isinstance(line.get("custom_id"), str):
        return None
    custom_id: str = line["custom_id"]
    response = line.get("response")
    if isinstance(response, dict) and isinstance(response.get("status_code"), int):
        return _answered(custom_id, response["status_code"], response.get("body"))
    error = line.get("error")
    if isinstance(error, dict):
        code = str(error.get("code") or "error")
        if code in NEVER_RAN:
            return None
        return custom_id, None, (500, f"{code}: {error.get('message') or code}")
    return custom_id, None, (502, "OpenAI returned neither a response nor an error")


def _answered(custom_id: str, status: int, body: Any) -> Outcome:
    if 200 <= status < 300:
        try:
            return custom_id, from_openai_chat(body), None
        except ValueError as exc:
            return custom_id, None, (502, f"unreadable response from OpenAI: {exc}")
    return custom_id, None, (status, _error_message(body, status))


def _error_message(body: Any, status: int) -> str:
    """The message of an error body `{"error": {"message", "type", "code"}}`."""
    inner = body.get("error") if isinstance(body, dict) else None
    if isinstance(inner, dict) and inner.get("message"):
        return str(inner["message"])
    if isinstance(inner, str) and inner:
        return inner
    return f"OpenAI answered the request with status {status}"
