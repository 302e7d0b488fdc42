"""What Gemini answers for each request of a batch: the result a file line or an inline request
gets (`{"key" | "metadata", "response" | "error"}`), the generated response (`echo: <last user
text>`), and the per-request error as a google.rpc.Status. Also the proto-JSON field lookup that
accepts camelCase and snake_case names.
"""

from __future__ import annotations

import re
import secrets
from typing import Any, TypeGuard

Json = dict[str, Any]

# google.rpc.Code values: a google.rpc.Status inside a body (a per-request error, an operation's
# error) carries these, where an HTTP error carries the HTTP status and the code's name.
INVALID_ARGUMENT, INTERNAL = 3, 13


def _inline_entries(inline: Json) -> tuple[list[Json], str | None]:
    requests = inline.get("requests")
    if not isinstance(requests, list):
        return [], "inputConfig.requests.requests must be a list."
    return [r if isinstance(r, dict) else {} for r in requests], None


def _result(entry: Json, model_id: str, inline: bool) -> Json:
    """One result: a file line carries the input line's `key` (and nothing for a line without
    one: its place in the file is all that ties it to its request); an inline response carries
    the request's `metadata`. Then a response, or a per-request google.rpc.Status for a request
    without contents or asking to FAIL."""
    echoed = "metadata" if inline else "key"
    result: Json = {echoed: entry[echoed]} if echoed in entry else {}
    request = entry.get("request")
    if not _well_formed(request):
        result["error"] = _rpc_status(INVALID_ARGUMENT,
                                      "request needs contents: a list of {role, parts}.")
    elif re.search(r"\bFAIL\b", _last_user_text(request)):
        result["error"] = _rpc_status(INTERNAL, "fake per-request failure (FAIL in the prompt)")
    else:
        result["response"] = _generate(request, model_id)
    return result


def _result_id(result: Json) -> str | None:
    """What names a result: a file line's `key`, an inline response's `metadata.key`."""
    key = result.get("key", (result.get("metadata") or {}).get("key"))
    return key if isinstance(key, str) else None


def _well_formed(request: Any) -> TypeGuard[Json]:
    if not isinstance(request, dict) or not isinstance(request.get("contents"), list):
        return False
    contents = [*request["contents"], _field(request, "systemInstruction") or {}]
    return all(isinstance(c, dict) and isinstance(c.get("parts", []), list)
               and all(isinstance(p, dict) for p in c.get("parts", [])) for c in contents)


def _generate(request: Json, model_id: str) -> Json:
    answer, finish = "echo: " + _last_user_text(request), "STOP"
    limit = str(_field(_field(request, "generationConfig") or {}, "maxOutputTokens"))
    if limit.isdigit() and _tokens(answer) > int(limit):
        answer, finish = answer[:int(limit) * 4], "MAX_TOKENS"
    system = _field(request, "systemInstruction") or {}
    prompt = _tokens(_text(system)) + sum(_tokens(_text(c)) for c in request["contents"])
    completion = _tokens(answer)
    return {"candidates": [{"content": {"role": "model", "parts": [{"text": answer}]},
                            "finishReason": finish, "index": 0}],
            "usageMetadata": {"promptTokenCount": prompt, "candidatesTokenCount": completion,
                              "totalTokenCount": prompt + completion},
            "modelVersion": model_id, "responseId": _new_id()}


def _last_user_text(request: Json) -> str:
    users = [c for c in request["contents"] if c.get("role", "user") == "user"]
    return _text(users[-1]) if users else ""


def _text(content: Json) -> str:
    return "\n".join(str(p["text"]) for p in content.get("parts") or [] if "text" in p)


def _tokens(text: str) -> int:
    # Same estimate as bifrost's records (four characters a token), kept here so the fake does not
    # depend on the package under test.
    return (len(text) + 3) // 4


def _field(value: Json, camel: str) -> Any:
    """A field by its camelCase name or its snake_case one: proto JSON accepts both, and the SDK
    sends the upload start body in snake_case."""
    snake = re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), camel)
    return value.get(camel, value.get(snake))


def _new_id() -> str:
    return secrets.token_hex(6)


def _rpc_status(code: int, message: str) -> Json:
    """A google.rpc.Status inside a body (a per-request error, a failed operation's error): a
    google.rpc.Code value and a message, no HTTP status and no `status` name."""
    return {"code": code, "message": message}
