"""The lines of an OpenAI batch: what makes an input line invalid, how each request is answered
(a chat completion echoing the last user text, or an embeddings list), the output and error file
line `{"id", "custom_id", "response", "error"}`, the batch's usage summed over answered lines, and
the output order (never the input order).
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from typing import Any

from tests.fakes.chat import _completion, _text

_LINE_URLS = {False: {"/v1/chat/completions", "/v1/embeddings"},
              True: {"/chat/completions", "/embeddings"}}
EMBEDDING_LENGTH = 8  # the fake's vectors: short, and derived from the text
_REQUIRED = ("custom_id", "method", "url", "body")
_EXPIRED = {"code": "batch_expired",
            "message": "This request could not be executed before the completion window expired."}


def _line_error(line: str, azure: bool, endpoint: str,
                seen: set[str]) -> tuple[str, str] | None:
    """The (code, message) that makes this input line invalid, if any."""
    try:
        request = json.loads(line)
    except ValueError:
        return "invalid_json_line", "This line is not parseable as valid JSON."
    if not isinstance(request, dict):
        return "invalid_json_line", "This line is not a JSON object."
    for name in _REQUIRED:
        if name not in request:
            return "missing_required_parameter", f"Missing required parameter: '{name}'."
    # A line's url must be the batch's endpoint (Azure writes both without the /v1).
    if request["url"] not in _LINE_URLS[azure] or (
            request["url"].removeprefix("/v1") != endpoint.removeprefix("/v1")):
        return "invalid_url", "The URL provided for this request does not match the batch " \
                              "endpoint."
    if request["custom_id"] in seen:
        return "duplicate_custom_id", "The custom_id for this request is a duplicate."
    return None


def _batch_error(code: str, message: str, line: int | None = None) -> dict[str, Any]:
    return {"code": code, "message": message, "param": None, "line": line}


def _result(request: dict[str, Any], number: int) -> tuple[bool, dict[str, Any]]:
    """The output line for one request: the echo, or a per-request 400 for a body that is not a
    chat request or whose last user message says FAIL."""
    body, custom_id = request["body"], request["custom_id"]
    if request["url"].endswith("/embeddings"):
        return _embeddings(custom_id, body)
    messages = body.get("messages") if isinstance(body, dict) else None
    if not isinstance(messages, list):
        return False, _refused(custom_id, "Missing required parameter: 'messages'.")
    last: dict[str, Any] = next((m for m in reversed(messages) if m.get("role") == "user"), {})
    if re.search(r"\bFAIL\b", _text(last.get("content"))):
        return False, _refused(custom_id, "The request was refused (fake FAIL cue).")
    return True, _output_line(custom_id, 200, _completion(body, number))


def _embeddings(custom_id: str, body: Any) -> tuple[bool, dict[str, Any]]:
    """An embeddings request answered as OpenAI's embeddings endpoint answers (a list of
    `embedding` objects, usage with prompt tokens only), a vector per input text."""
    inputs = body.get("input") if isinstance(body, dict) else None
    texts = [inputs] if isinstance(inputs, str) else inputs
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
        return False, _refused(custom_id, "Missing required parameter: 'input'.")
    data = [{"object": "embedding", "index": index, "embedding": [
        byte / 255 for byte in hashlib.sha256(text.encode()).digest()[:EMBEDDING_LENGTH]]}
        for index, text in enumerate(texts)]
    tokens = sum(len(text.split()) for text in texts)
    return True, _output_line(custom_id, 200, {
        "object": "list", "data": data, "model": body.get("model"),
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})


def _usage(done: list[tuple[bool, dict[str, Any]]]) -> dict[str, Any]:
    """The batch's token usage: the sum over the requests answered so far."""
    counts = [line["response"]["body"]["usage"] for ok, line in done if ok]
    prompt = sum(count["prompt_tokens"] for count in counts)
    completion = sum(count.get("completion_tokens", 0) for count in counts)
    return {"input_tokens": prompt, "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": completion, "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": prompt + completion}


def _refused(custom_id: str, message: str) -> dict[str, Any]:
    error = {"message": message, "type": "invalid_request_error", "param": None,
             "code": "invalid_request"}
    return _output_line(custom_id, 400, {"error": error})


def _output_line(custom_id: str, status: int | None = None, body: Any = None,
                 error: dict[str, str] | None = None) -> dict[str, Any]:
    """One line of an output or error file; `response` is null when the request never ran."""
    response = None if status is None else {
        "status_code": status, "request_id": secrets.token_hex(16), "body": body}
    return {"id": f"batch_req_{secrets.token_hex(16)}", "custom_id": custom_id,
            "response": response, "error": error}


def _shuffled(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A deterministic order that is never the input order, to catch readers that assume it."""
    order = sorted(lines, key=lambda line: hashlib.sha256(line["custom_id"].encode()).digest())
    return order[::-1] if order == lines else order
