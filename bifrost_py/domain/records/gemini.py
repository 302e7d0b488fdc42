"""The neutral request and response as Gemini GenerateContent bodies and batch lines.

A batch input line is `{"key", "request"}`; an output line is `{"key", "response" | "error"}`.
The user's seed writes the key as `metadata.key`, which Gemini echoes back the same way, so both
spellings name a line.
"""

from __future__ import annotations

import json
from typing import Any

from bifrost_py.domain.records.fields import RecordError
from bifrost_py.domain.records.neutral import (
    Block,
    Completion,
    JsonObject,
    Message,
    Prompt,
    text_block,
    tool_use_block,
)

Outcome = Completion | tuple[int, str]  # the answer, or (HTTP-like code, message)

_ROLES = {"user": "user", "assistant": "model"}
_MODES = {"auto": "AUTO", "any": "ANY", "none": "NONE"}


def to_gemini(prompt: Prompt) -> JsonObject:
    """A GenerateContentRequest body (the model is named by the batch, not the request)."""
    names = _tool_names(prompt.messages)
    request: JsonObject = {"contents": [
        {"role": _ROLES[message.role], "parts": [_part(block, names) for block in message.content]}
        for message in prompt.messages]}
    if prompt.system:
        request["systemInstruction"] = {"parts": [{"text": prompt.system}]}
    options = {"maxOutputTokens": prompt.max_tokens, "temperature": prompt.temperature,
               "topP": prompt.top_p, "topK": prompt.top_k, "stopSequences": prompt.stop or None}
    config = {key: value for key, value in options.items() if value is not None}
    if config:
        request["generationConfig"] = config
    if prompt.tools:
        # parametersJsonSchema takes any JSON Schema as Anthropic and Converse tools give it;
        # `parameters` is an OpenAPI subset that refuses common keys such as additionalProperties.
        request["tools"] = [{"functionDeclarations": [
            {"name": tool["name"], "description": tool["description"],
             "parametersJsonSchema": tool["input_schema"]} for tool in prompt.tools]}]
        if prompt.tool_choice:
            request["toolConfig"] = {"functionCallingConfig": _calling_config(prompt.tool_choice)}
    return request


def batch_line(custom_id: str, prompt: Prompt) -> bytes:
    """One line of a Gemini batch input file."""
    return json.dumps({"key": custom_id, "request": to_gemini(prompt)},
                      separators=(",", ":")).encode() + b"\n"


def _tool_names(messages: list[Message]) -> dict[str, str]:
    """Tool use id -> function name: Gemini's functionResponse names the function it answers,
    where a neutral tool result only has the id of the call."""
    return {block["id"]: block["name"] for message in messages for block in message.content
            if block["type"] == "tool_use"}


def _part(block: Block, names: dict[str, str]) -> JsonObject:
    kind = block["type"]
    if kind == "text":
        return {"text": block["text"]}
    if kind == "image":
        return {"inlineData": {"mimeType": block["media_type"], "data": block["data"]}}
    if kind == "tool_use":
        return {"functionCall": {"id": block["id"], "name": block["name"],
                                 "args": block["input"]}}
    name = names.get(block["tool_use_id"])
    if name is None:
        raise RecordError(f"the tool result for {block['tool_use_id']!r} answers no earlier "
                          "tool use, so the function it answers is unknown")
    # Gemini reads `output` as the function's result and `error` as its failure.
    outcome = "error" if block["is_error"] else "output"
    return {"functionResponse": {"id": block["tool_use_id"], "name": name,
                                 "response": {outcome: block["content"]}}}


def _calling_config(choice: str) -> JsonObject:
    mode = _MODES.get(choice)
    if mode is not None:
        return {"mode": mode}
    return {"mode": "ANY", "allowedFunctionNames": [choice]}


def native_key(line: JsonObject) -> str | None:
    """The key of a line already in Gemini's batch format (`request` and a `key`, or the seed's
    `metadata.key`), else None."""
    if not isinstance(line.get("request"), dict):
        return None
    return line_key(line)


def native_line(line: JsonObject) -> tuple[str, JsonObject] | None:
    """(key, the line as Gemini documents it: `{"key", "request"}`) for a line already in
    Gemini's batch format, whichever spelling of the key it came with; else None. Gemini reads
    the key from `key` only, so a line keyed by `metadata.key` would come back keyless."""
    key = native_key(line)
    return (key, {"key": key, "request": line["request"]}) if key is not None else None


def line_key(line: JsonObject) -> str | None:
    metadata = line.get("metadata")
    key = line.get("key")
    if key is None and isinstance(metadata, dict):
        key = metadata.get("key")
    return key if isinstance(key, str) and key else None


def read_result(line: JsonObject) -> tuple[str, Outcome] | None:
    """(key, outcome) of a batch output line; None for a line that names no request."""
    key = line_key(line)
    if key is None:
        return None
    return key, read_outcome(line)


def read_outcome(line: JsonObject) -> Outcome:
    """What a batch output line answers: its response, or its error."""
    if "error" in line:
        return gemini_error(line["error"])
    try:
        return from_gemini(line.get("response"))
    except ValueError as exc:
        return 502, f"Gemini answered with an unreadable response: {exc}"


_FINISH_REASONS = {"STOP": "end_turn", "MAX_TOKENS": "max_tokens"}


def from_gemini(body: Any) -> Completion:
    """A GenerateContentResponse; ValueError when it is not one or holds no answer."""
    if not isinstance(body, dict):
        raise ValueError("the response is not a JSON object")
    candidates = body.get("candidates")
    if not candidates:
        blocked = (body.get("promptFeedback") or {}).get("blockReason")
        raise ValueError(f"the prompt was blocked ({blocked})" if blocked
                         else "the response has no candidates")
    try:
        candidate = candidates[0]
        parts = (candidate.get("content") or {}).get("parts") or []
        content = _content(parts)
        usage = body.get("usageMetadata") or {}
        # Thinking models bill their thoughts as output, as Anthropic's output_tokens count them.
        output = int(usage.get("candidatesTokenCount") or 0) + int(
            usage.get("thoughtsTokenCount") or 0)
        reason = _FINISH_REASONS.get(candidate.get("finishReason"), "end_turn")
    except (AttributeError, TypeError, KeyError) as exc:
        raise ValueError(f"{type(exc).__name__}: {exc}") from None
    if any(block["type"] == "tool_use" for block in content):
        reason = "tool_use"
    return Completion(content, int(usage.get("promptTokenCount") or 0), output, reason)


def _content(parts: list[JsonObject]) -> list[Block]:
    blocks: list[Block] = []
    for part in parts:
        if part.get("thought"):  # the model's reasoning, not its answer
            continue
        if "text" in part:
            blocks.append(text_block(str(part["text"])))
        elif "functionCall" in part:
            call = part["functionCall"]
            # Gemini may leave the call's id out; the answer still needs one per tool use.
            blocks.append(tool_use_block(call.get("id") or f"toolu_gemini_{len(blocks)}",
                                         call["name"], call.get("args") or {}))
    return blocks


# google.rpc.Code -> the HTTP status Google maps it to, for errors given as gRPC codes.
_GRPC_HTTP = {1: 499, 2: 500, 3: 400, 4: 504, 5: 404, 6: 409, 7: 403, 8: 429, 9: 400, 10: 409,
              11: 400, 12: 501, 13: 500, 14: 503, 15: 500, 16: 401}


def gemini_error(status: Any) -> tuple[int, str]:
    """A google.rpc.Status as (HTTP-like code, message)."""
    if not isinstance(status, dict):
        return 500, f"Gemini reported an error: {status}"
    code = status.get("code")
    code = code if isinstance(code, int) and not isinstance(code, bool) else 500
    message = str(status.get("message") or status.get("status") or "unknown error")
    return (_GRPC_HTTP.get(code, 500) if code < 100 else code), message
