"""The neutral request and response as OpenAI /v1/chat/completions bodies."""

from __future__ import annotations

import json
from typing import Any

from bifrost_py.domain.records.neutral import (
    Block,
    Completion,
    JsonObject,
    Prompt,
    text_block,
    tool_use_block,
)


def to_openai_chat(prompt: Prompt, model: str) -> JsonObject:
    """A /v1/chat/completions request body. OpenAI has no top_k, so it is dropped."""
    messages: list[JsonObject] = []
    if prompt.system:
        messages.append({"role": "system", "content": prompt.system})
    for message in prompt.messages:
        if message.role == "assistant":
            messages.append(_openai_assistant(message.content))
        else:
            messages += _openai_user(message.content)
    body: JsonObject = {"model": model, "messages": messages}
    options = {"max_tokens": prompt.max_tokens, "temperature": prompt.temperature,
               "top_p": prompt.top_p, "stop": prompt.stop or None}
    body.update((key, value) for key, value in options.items() if value is not None)
    if prompt.tools:
        body["tools"] = [{"type": "function",
                          "function": {"name": tool["name"], "description": tool["description"],
                                       "parameters": tool["input_schema"]}}
                         for tool in prompt.tools]
        if prompt.tool_choice:
            body["tool_choice"] = _openai_tool_choice(prompt.tool_choice)
    return body


def _openai_assistant(blocks: list[Block]) -> JsonObject:
    texts = [block["text"] for block in blocks if block["type"] == "text"]
    calls = [{"id": block["id"], "type": "function",
              "function": {"name": block["name"], "arguments": json.dumps(block["input"])}}
             for block in blocks if block["type"] == "tool_use"]
    message: JsonObject = {"role": "assistant", "content": "\n".join(texts) if texts else None}
    if calls:
        message["tool_calls"] = calls
    elif message["content"] is None:
        message["content"] = ""  # OpenAI wants content unless there are tool calls
    return message


def _openai_user(blocks: list[Block]) -> list[JsonObject]:
    # Tool results become `tool` messages, which OpenAI wants right after the assistant's calls,
    # so they go before whatever else the user's turn says.
    messages: list[JsonObject] = [
        {"role": "tool", "tool_call_id": block["tool_use_id"],
         "content": ("Error: " + block["content"]) if block["is_error"] else block["content"]}
        for block in blocks if block["type"] == "tool_result"]
    rest = [block for block in blocks if block["type"] != "tool_result"]
    if rest:
        messages.append({"role": "user", "content": _openai_user_content(rest)})
    return messages


def _openai_user_content(blocks: list[Block]) -> str | list[JsonObject]:
    if all(block["type"] == "text" for block in blocks):
        # Separate text blocks are separate passages; a newline keeps them apart.
        return "\n".join(block["text"] for block in blocks)
    return [{"type": "text", "text": block["text"]} if block["type"] == "text" else
            {"type": "image_url",
             "image_url": {"url": f"data:{block['media_type']};base64,{block['data']}"}}
            for block in blocks]


def _openai_tool_choice(choice: str) -> str | JsonObject:
    if choice in ("auto", "none"):
        return choice
    if choice == "any":
        return "required"
    return {"type": "function", "function": {"name": choice}}


_FINISH_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use",
                   "function_call": "tool_use", "content_filter": "end_turn"}


def from_openai_chat(body: JsonObject) -> Completion:
    """A chat.completion body; ValueError when it is not one."""
    try:
        choice = body["choices"][0]
        message = choice["message"]
        content = _openai_text(message) + [
            tool_use_block(call["id"], call["function"]["name"],
                           _openai_arguments(call["function"].get("arguments")))
            for call in message.get("tool_calls") or []]
        usage = body.get("usage") or {}
        return Completion(content, int(usage.get("prompt_tokens") or 0),
                          int(usage.get("completion_tokens") or 0),
                          _FINISH_REASONS.get(choice.get("finish_reason"), "end_turn"))
    except (KeyError, IndexError, TypeError, AttributeError) as exc:
        raise ValueError(f"not a chat completion ({type(exc).__name__}: {exc})") from None


def _openai_text(message: JsonObject) -> list[Block]:
    text = message.get("content") or message.get("refusal")  # a refusal is the model's answer
    return [text_block(text)] if isinstance(text, str) and text else []


def _openai_arguments(arguments: Any) -> JsonObject:
    value = json.loads(arguments) if arguments else {}
    if not isinstance(value, dict):
        raise ValueError("tool call arguments are not a JSON object")
    return value
