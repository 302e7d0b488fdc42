"""What the Vertex AI fake answers for each input line of a batch prediction job.

Gemini lines are `{"request": GenerateContentRequest, ...}`; every other field of the line is
carried into the output, which adds `status` ("" or the error text), `processed_time` and
`response`. Claude lines are `{"custom_id", "request": {messages, max_tokens, anthropic_version}}`
(the model is the job's); the output adds `response` (an Anthropic Message) and `status`. The
answers are the echo the Gemini and Anthropic fakes give (tests/fakes/README.md, Vertex AI
section, says which parts have a source).
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from typing import Any

from tests.fakes.anthropic_fake import _answer
from tests.fakes.gemini_answers import _generate, _last_user_text, _well_formed

Json = dict[str, Any]

CLAUDE_VERSION = "vertex-2023-10-16"


def answer(entry: Json, publisher: str, model_id: str) -> Json:
    """The output line for one input line, for a model of `publisher` ("google" or
    "anthropic")."""
    if publisher == "anthropic":
        return _claude(entry, model_id)
    return _gemini(entry, model_id)


def succeeded(line: Json) -> bool:
    return "response" in line


def line_id(line: Json) -> str | None:
    """What names an output line for ResultFaults: Claude's `custom_id`, else a carried `key`."""
    ident = line.get("custom_id", line.get("key"))
    return ident if isinstance(ident, str) else None


def _gemini(entry: Json, model_id: str) -> Json:
    request = entry.get("request")
    carried = {k: v for k, v in entry.items() if k not in ("request", "response", "status")}
    line: Json = {**carried, "status": "",
                  "processed_time": datetime.now(UTC).isoformat(timespec="milliseconds"),
                  "request": request}
    if not _well_formed(request):
        line["status"] = _bad_request("Invalid JSON payload: request needs contents, a list of "
                                      "{role, parts}.")
    elif re.search(r"\bFAIL\b", _last_user_text(request)):
        line["status"] = _bad_request("fake per-request failure (FAIL in the prompt)")
    else:
        response = _generate(request, model_id)
        response["createTime"] = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        line["response"] = response
    return line


def _claude(entry: Json, model_id: str) -> Json:
    request = entry.get("request")
    line: Json = {"custom_id": entry.get("custom_id"), "request": request}
    problem = _claude_problem(request)
    if problem is None and isinstance(request, dict):
        # The message id is derived from the line so that answers are the same run after run.
        digest = hashlib.sha256(json.dumps(entry, sort_keys=True).encode()).hexdigest()[:24]
        # Vertex names the model in a Message with a dash where its model id has "@".
        result = _answer({**request, "model": model_id.replace("@", "-")}, f"vrtx_{digest}")
        if result["type"] == "succeeded":
            line["response"] = result["message"]
        else:
            problem = result["error"]["error"]["message"]
    line["status"] = "" if problem is None else _bad_request(problem)
    return line


def _claude_problem(request: Any) -> str | None:
    if not isinstance(request, dict):
        return "request: Field required"
    if request.get("anthropic_version") != CLAUDE_VERSION:
        return f"anthropic_version: must be {CLAUDE_VERSION}"
    if not isinstance(request.get("max_tokens"), int):
        return "max_tokens: Field required"
    messages = request.get("messages")
    if not isinstance(messages, list) or not messages or not all(
            isinstance(m, dict) for m in messages):
        return "messages: Field required"
    if "model" in request:
        return "model: Extra inputs are not permitted"
    return None


def _bad_request(message: str) -> str:
    """A failed line's `status`: the error the online endpoint would have answered, as text."""
    return "Bad Request: " + json.dumps({"error": {"code": 400, "message": message,
                                                   "status": "INVALID_ARGUMENT"}})
