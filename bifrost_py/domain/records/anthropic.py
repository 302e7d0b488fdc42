"""The neutral request and response as Anthropic Message Batches lines.

A request line is `{"custom_id", "params"}` with `params` a Messages API body; a result line is
`{"custom_id", "result": {"type": succeeded | errored | canceled | expired, ...}}`.
"""

from __future__ import annotations

from typing import Any

from bifrost_py.domain.records.neutral import (
    Block,
    Completion,
    JsonObject,
    Prompt,
    text_block,
    tool_use_block,
)

# The Messages API requires max_tokens; Bedrock's Converse and Titan bodies may leave it out.
DEFAULT_MAX_TOKENS = 4096
# Bedrock InvokeModel fields the Batches API refuses inside params ("Extra inputs").
BEDROCK_ONLY = ("anthropic_version", "anthropic_beta")
_STOP_REASONS = frozenset({"end_turn", "max_tokens", "stop_sequence", "tool_use"})
_ERROR_CODES = {"invalid_request_error": 400, "authentication_error": 401,
                "permission_error": 403, "not_found_error": 404, "request_too_large": 413,
                "rate_limit_error": 429, "api_error": 500, "overloaded_error": 529}

# (custom id, completion, error): what one result line says about its request.
Outcome = tuple[str, Completion | None, tuple[int, str] | None]


def to_anthropic_params(prompt: Prompt, model: str) -> JsonObject:
    """A Messages API body for `model`; never with anthropic_version or anthropic_beta."""
    params: JsonObject = {
        "model": model,
        "max_tokens": prompt.max_tokens or DEFAULT_MAX_TOKENS,
        "messages": [{"role": m.role, "content": [_block(b) for b in m.content]}
                     for m in prompt.messages],
    }
    options = {"system": prompt.system, "temperature": prompt.temperature,
               "top_p": prompt.top_p, "top_k": prompt.top_k,
               "stop_sequences": prompt.stop or None}
    params.update((key, value) for key, value in options.items() if value is not None)
    if prompt.tools:
        params["tools"] = [_tool(tool) for tool in prompt.tools]
        if prompt.tool_choice:
            params["tool_choice"] = _tool_choice(prompt.tool_choice)
    return params


def batch_request(custom_id: str, params: JsonObject) -> JsonObject:
    return {"custom_id": custom_id, "params": params}


def native_custom_id(line: JsonObject) -> str | None:
    """The custom_id of a line already in Batches format (`{custom_id, params}`), else None."""
    custom_id = line.get("custom_id")
    if isinstance(custom_id, str) and isinstance(line.get("params"), dict):
        return custom_id
    return None


def native_request(line: JsonObject, model: str) -> JsonObject:
    """A Batches-format line made acceptable upstream: Bedrock-only fields dropped, and the job's
    model and the default max_tokens filled in where the line has none."""
    params = {key: value for key, value in line["params"].items() if key not in BEDROCK_ONLY}
    params.setdefault("model", model)
    params.setdefault("max_tokens", DEFAULT_MAX_TOKENS)
    return {**line, "params": params}


def _block(block: Block) -> JsonObject:
    kind = block["type"]
    if kind == "image":
        return {"type": "image", "source": {"type": "base64", "media_type": block["media_type"],
                                            "data": block["data"]}}
    if kind == "tool_result":
        result: JsonObject = {"type": "tool_result", "tool_use_id": block["tool_use_id"],
                              "content": block["content"]}
        if block["is_error"]:
            result["is_error"] = True
        return result
    return dict(block)  # text and tool_use blocks are already Anthropic's shape


def _tool(tool: Block) -> JsonObject:
    out: JsonObject = {"name": tool["name"], "input_schema": tool["input_schema"]}
    if tool["description"]:
        out["description"] = tool["description"]
    return out


def _tool_choice(choice: str) -> JsonObject:
    if choice in ("auto", "any", "none"):
        return {"type": choice}
    return {"type": "tool", "name": choice}


def read_result(line: JsonObject) -> Outcome | None:
    """One result line; None for a request that never ran (canceled or expired)."""
    custom_id = str(line.get("custom_id", ""))
    result = line.get("result") or {}
    kind = result.get("type")
    if kind == "succeeded":
        try:
            return custom_id, from_anthropic_message(result["message"]), None
        except ValueError as exc:
            return custom_id, None, (502, f"unreadable response from Anthropic: {exc}")
    if kind == "errored":
        return custom_id, None, _error(result.get("error"))
    if kind in ("canceled", "expired"):
        return None
    return custom_id, None, (502, f"unknown result type {kind!r} from Anthropic")


def _error(body: Any) -> tuple[int, str]:
    """(code, message) of an errored result: `{"type": "error", "error": {type, message}}`."""
    inner = body.get("error") if isinstance(body, dict) else None
    detail = inner if isinstance(inner, dict) else body if isinstance(body, dict) else {}
    kind = str(detail.get("type") or "api_error")
    message = str(detail.get("message") or kind)
    return _ERROR_CODES.get(kind, 500), message


def from_anthropic_message(message: Any) -> Completion:
    """A Messages API response body; ValueError when it is not one."""
    try:
        # Thinking and other block kinds have no place in the neutral completion.
        content = [_content_block(block) for block in message["content"]
                   if block.get("type") in ("text", "tool_use")]
        usage = message.get("usage") or {}
        reason = message.get("stop_reason")
        return Completion(content, int(usage.get("input_tokens") or 0),
                          int(usage.get("output_tokens") or 0),
                          reason if reason in _STOP_REASONS else "end_turn",
                          message.get("stop_sequence"))
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"not a Messages response ({type(exc).__name__}: {exc})") from None


def _content_block(block: JsonObject) -> Block:
    if block["type"] == "text":
        return text_block(str(block["text"]))
    tool_input = block.get("input")
    if not isinstance(tool_input, dict):
        raise TypeError("tool_use input is not a JSON object")
    return tool_use_block(str(block["id"]), str(block["name"]), tool_input)
