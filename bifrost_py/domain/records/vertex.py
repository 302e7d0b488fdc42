"""The neutral request and response as Vertex AI batch prediction lines.

Vertex runs two families from one JSONL format of its own. A Gemini line is
`{"key", "request": GenerateContentRequest}`; its output line carries the input's fields and adds
`status` (empty, or the error's text) and `response`. A Claude line is
`{"custom_id", "request": Messages API body with anthropic_version}`, the model named by the job
only; its output line adds `response` (a Messages API response) and `status`. Vertex writes
output lines in no particular order, so a line is matched by its key or custom_id alone.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from bifrost_py.domain.records.anthropic import (
    BEDROCK_ONLY,
    from_anthropic_message,
    to_anthropic_params,
)
from bifrost_py.domain.records.gemini import Outcome, from_gemini, line_key, to_gemini
from bifrost_py.domain.records.neutral import JsonObject, Prompt

# The Messages API version Vertex AI's Claude models take in the request body.
ANTHROPIC_VERSION = "vertex-2023-10-16"
_CLAUDE_PATH = "publishers/anthropic/models/"
_GEMINI_PATH = "publishers/google/models/"


def model_path(name: str) -> str:
    """The model a job names, as a Vertex publisher model: `gemini-2.5-flash` and
    `anthropic/claude-...` (google-genai's spelling) become `publishers/.../models/...`; a full
    resource name (`publishers/...` or `projects/...`) stays as it is."""
    if name.startswith(("publishers/", "projects/")):
        return name
    if name.startswith("anthropic/"):
        return _CLAUDE_PATH + name.removeprefix("anthropic/")
    if name.startswith("claude"):
        return _CLAUDE_PATH + name
    return _GEMINI_PATH + name.removeprefix("google/")


def is_claude(path: str) -> bool:
    return f"/{_CLAUDE_PATH}" in f"/{path}"


def request_line(custom_id: str, prompt: Prompt, path: str) -> bytes:
    """One line of a Vertex batch input file for the model at `path`."""
    if is_claude(path):
        body = to_anthropic_params(prompt, "")
        del body["model"]  # the job names the model; a Claude request on Vertex may not
        line: JsonObject = {"custom_id": custom_id,
                            "request": {**body, "anthropic_version": ANTHROPIC_VERSION}}
    else:
        line = {"key": custom_id, "request": to_gemini(prompt)}
    return json.dumps(line, separators=(",", ":")).encode() + b"\n"


def native_line(line: JsonObject) -> tuple[str, JsonObject] | None:
    """(id, the line to send) for a line already in Vertex's format, else None: a Gemini line
    keyed by `key` (or the seed's `metadata.key`), or a Claude line with its `custom_id`
    (Bedrock-only fields dropped, anthropic_version set to Vertex's)."""
    request = line.get("request")
    if not isinstance(request, dict):
        return None
    custom_id = line.get("custom_id")
    if isinstance(custom_id, str) and custom_id and "messages" in request:
        body = {k: v for k, v in request.items() if k not in (*BEDROCK_ONLY, "model")}
        return custom_id, {"custom_id": custom_id,
                           "request": {**body, "anthropic_version": ANTHROPIC_VERSION}}
    key = line_key(line)
    return (key, {**line, "key": key}) if key is not None else None


def request_digest(request: Any) -> bytes:
    """What names a request by its content: its JSON with sorted keys, hashed."""
    encoded = json.dumps(request, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(encoded.encode()).digest()


def sent_id(line: Any) -> tuple[bytes, str] | None:
    """(request digest, id) of a line as it was sent, else None."""
    if not isinstance(line, dict):
        return None
    sent = line.get("custom_id") or line.get("key")
    return (request_digest(line.get("request")), sent) if isinstance(sent, str) else None


def read_line(line: Any) -> tuple[str | None, Outcome] | None:
    """(id, outcome) of an output line; id None when the line names none. None when the line
    is no answer at all."""
    if not isinstance(line, dict) or not ("response" in line or line.get("status")):
        return None
    custom_id = line.get("custom_id")
    claude = isinstance(custom_id, str)
    key = custom_id if claude else line_key(line)
    status = line.get("status")
    if status and "response" not in line:
        return key, (_failure_code(str(status)), str(status))
    try:
        answer = (from_anthropic_message(line["response"]) if claude
                  else from_gemini(line["response"]))
    except (ValueError, TypeError, KeyError) as exc:
        return key, (502, f"Vertex AI answered with an unreadable response: {exc}")
    return key, answer


def _failure_code(status: str) -> int:
    """Vertex writes a failed line's error as text: `Bad Request: {"error": {"code": 400, ...}}`,
    a bare status object, or a message led by its HTTP code. That code, else 500."""
    try:
        parsed = json.loads(status[status.index("{"):]) if "{" in status else None
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        code = parsed.get("code") or (parsed.get("error") or {}).get("code")
        if isinstance(code, int) and 400 <= code < 600:
            return code
    head = status.split(maxsplit=1)[0] if status.strip() else ""
    return int(head) if head.isdigit() and 400 <= int(head) < 600 else 500
