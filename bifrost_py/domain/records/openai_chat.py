"""The neutral request and response as OpenAI /v1/chat/completions bodies, both ways.

`to_openai_chat` and `from_openai_chat` talk to an OpenAI-compatible upstream; `read_chat_request`
and `chat_completion` answer a client that speaks OpenAI's dialect.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import orjson

from bifrost_py.domain.records.fields import (
    RecordError,
    checked_message,
    checked_tool,
    json_list,
    json_object,
    json_str,
    json_strs,
    opt_int,
    opt_num,
)
from bifrost_py.domain.records.neutral import (
    Block,
    Completion,
    JsonObject,
    Message,
    Prompt,
    image_block,
    text_block,
    tool_result_block,
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


# How read_chat_request treats each field of a /v1/chat/completions request:
#
#   read      model (required; the caller routes by it), messages, max_completion_tokens and
#             max_tokens (one limit: both may be sent only if they agree), temperature, top_p,
#             stop, tools (function tools), tool_choice
#   checked   n, stream, logprobs, top_logprobs, response_format, modalities, audio,
#             web_search_options, logit_bias, functions, function_call: each has values that
#             ask for nothing a Prompt cannot carry (n=1, stream=false, response_format text,
#             ...); any other value is refused, because dropping it would change the answer
#             (more choices, JSON or audio promised, the web searched, banned tokens allowed).
#   ignored   seed, frequency_penalty, presence_penalty, parallel_tool_calls, reasoning_effort,
#             verbosity, prediction, stream_options: sampling and latency hints that leave the
#             kind of answer alone, as to_openai_chat leaves out top_k going the other way;
#             user, safety_identifier, metadata, store, service_tier, prompt_cache_key,
#             prompt_cache_retention: bookkeeping the answer does not depend on.
#   refused   anything else, as OpenAI refuses an argument it does not know.
#
# In messages, a participant's `name` is ignored (the words are all carried), `strict` on a
# function is ignored (the schema is carried; only the guarantee of matching it is not), and
# audio, files and images by URL are refused: a Prompt holds inline images only.
_ONLY: dict[str, tuple[tuple[Any, ...], str]] = {
    "n": ((None, 1), "one choice is answered per request"),
    "stream": ((None, False), "answers are not streamed"),
    "logprobs": ((None, False), "log probabilities are not returned"),
    "top_logprobs": ((None,), "log probabilities are not returned"),
    "response_format": ((None, {"type": "text"}), "structured output cannot be promised"),
    "modalities": ((None, ["text"]), "only text is answered"),
    "audio": ((None,), "only text is answered"),
    "web_search_options": ((None,), "the model cannot search the web"),
    "logit_bias": ((None, {}), "token biases cannot be applied"),
    "functions": ((None,), "deprecated: send tools"),
    "function_call": ((None,), "deprecated: send tool_choice"),
}
_READ = frozenset({"model", "messages", "max_completion_tokens", "max_tokens", "temperature",
                   "top_p", "stop", "tools", "tool_choice"})
_IGNORED = frozenset({"seed", "frequency_penalty", "presence_penalty", "parallel_tool_calls",
                      "reasoning_effort", "verbosity", "prediction", "stream_options", "user",
                      "safety_identifier", "metadata", "store", "service_tier",
                      "prompt_cache_key", "prompt_cache_retention"})
# The image types OpenAI itself takes, which every upstream also takes.
_DATA_URL = re.compile(r"data:(image/(?:png|jpeg|gif|webp));base64,(.*)", re.DOTALL | re.I)


def read_chat_request(body: JsonObject) -> Prompt:
    """A /v1/chat/completions request body; RecordError for one a Prompt cannot carry."""
    _check_fields(json_object(body, "the request body"))
    json_str(body.get("model"), "model")
    system, messages = _chat_messages(json_list(body.get("messages"), "messages"))
    if not messages:
        raise RecordError("the request has no messages")
    return Prompt(
        system=system,
        messages=messages,
        max_tokens=_max_tokens(body),
        temperature=opt_num(body.get("temperature"), "temperature"),
        top_p=opt_num(body.get("top_p"), "top_p"),
        stop=json_strs(body.get("stop"), "stop"),
        tools=[_chat_tool(raw, f"tools[{i}]")
               for i, raw in enumerate(json_list(body.get("tools") or [], "tools"))],
        tool_choice=_chat_tool_choice(body.get("tool_choice")),
    )


def _check_fields(body: JsonObject) -> None:
    for key, value in body.items():
        if key in _ONLY:
            allowed, reason = _ONLY[key]
            # Compared with their types too: `true` is not 1, nor `0` false.
            if not any(type(value) is type(ok) and value == ok for ok in allowed):
                raise RecordError(f"{key} cannot be {json.dumps(value)}: {reason}")
        elif key not in _READ and key not in _IGNORED:
            raise RecordError(f"Unrecognized request argument supplied: {key}")


def _max_tokens(body: JsonObject) -> int | None:
    limit = opt_int(body.get("max_completion_tokens"), "max_completion_tokens", minimum=1)
    legacy = opt_int(body.get("max_tokens"), "max_tokens", minimum=1)
    if limit is not None and legacy is not None and limit != legacy:
        raise RecordError("max_tokens and max_completion_tokens disagree: send one of them")
    return legacy if limit is None else limit


def _chat_messages(raw: list[Any]) -> tuple[str | None, list[Message]]:
    systems: list[str] = []
    messages: list[Message] = []
    for i, item in enumerate(raw):
        where = f"messages[{i}]"
        message = json_object(item, where)
        role = message.get("role")
        if role in ("system", "developer"):
            if messages:  # a Prompt's system prompt comes before the whole conversation
                raise RecordError(f"{where}: a {role} message after the conversation has begun "
                                  "cannot be carried; put it first")
            systems.append(_text_content(message.get("content"), where))
        elif role == "assistant":
            messages.append(_assistant_message(message, where))
        elif role in ("user", "tool"):
            blocks = ([_tool_result(message, where)] if role == "tool"
                      else _user_blocks(message.get("content"), where))
            _add_user_blocks(messages, checked_message("user", blocks, where).content)
        else:
            raise RecordError(f"{where}.role must be system, developer, user, assistant or tool")
    return "\n".join(systems) or None, messages


def _add_user_blocks(messages: list[Message], blocks: list[Block]) -> None:
    """Tool messages, and the user message right after them, are one user turn: the inverse of
    to_openai_chat, and the shape Anthropic and Converse want tool results in."""
    last = messages[-1] if messages else None
    if (last is not None and last.role == "user" and last.content
            and all(block["type"] == "tool_result" for block in last.content)):
        last.content.extend(blocks)
    else:
        messages.append(Message("user", blocks))


def _text_content(content: Any, where: str) -> str:
    """The text of a system, developer or tool message: a string, or text parts."""
    if isinstance(content, str):
        return content
    texts = []
    for i, raw in enumerate(json_list(content, f"{where}.content")):
        part = json_object(raw, f"{where}.content[{i}]")
        if part.get("type") != "text":
            raise RecordError(f"{where}.content[{i}]: only text parts are supported here")
        texts.append(json_str(part.get("text"), f"{where}.content[{i}].text"))
    return "\n".join(texts)


def _user_blocks(content: Any, where: str) -> list[Block]:
    if isinstance(content, str):
        return [text_block(content)]
    return [_user_part(raw, f"{where}.content[{i}]")
            for i, raw in enumerate(json_list(content, f"{where}.content"))]


def _user_part(raw: Any, where: str) -> Block:
    part = json_object(raw, where)
    kind = part.get("type")
    if kind == "text":
        return text_block(json_str(part.get("text"), f"{where}.text"))
    if kind == "image_url":  # `detail` is a resolution hint; the image itself is carried
        image = json_object(part.get("image_url"), f"{where}.image_url")
        url = json_str(image.get("url"), f"{where}.image_url.url")
        found = _DATA_URL.fullmatch(url)
        if found is None:
            raise RecordError(f"{where}.image_url.url must be a base64 data: URL of a png, "
                              "jpeg, gif or webp image; images are not fetched")
        return image_block(found[1].lower(), found[2])
    raise RecordError(f"{where}: unsupported content part type {kind!r}; "
                      "only text and image_url parts are supported")


def _assistant_message(message: JsonObject, where: str) -> Message:
    for key in ("audio", "function_call"):
        if message.get(key) is not None:
            raise RecordError(f"{where}.{key} cannot be carried")
    content = message.get("content")
    if content is None or isinstance(content, str):
        texts = [content] if content else []
    else:
        texts = [_assistant_part(raw, f"{where}.content[{i}]")
                 for i, raw in enumerate(json_list(content, f"{where}.content"))]
    refusal = message.get("refusal")
    if not texts and refusal:  # a refusal was the model's answer, as from_openai_chat reads it
        texts = [json_str(refusal, f"{where}.refusal")]
    calls = [_tool_call(raw, f"{where}.tool_calls[{i}]") for i, raw in
             enumerate(json_list(message.get("tool_calls") or [], f"{where}.tool_calls"))]
    return checked_message("assistant", [text_block(text) for text in texts] + calls, where)


def _assistant_part(raw: Any, where: str) -> str:
    part = json_object(raw, where)
    kind = part.get("type")
    if kind in ("text", "refusal"):
        return json_str(part.get(kind), f"{where}.{kind}")
    raise RecordError(f"{where}: unsupported content part type {kind!r}")


def _tool_call(raw: Any, where: str) -> Block:
    call = json_object(raw, where)
    if call.get("type", "function") != "function":
        raise RecordError(f"{where}.type: only function tool calls are supported")
    function = json_object(call.get("function"), f"{where}.function")
    return tool_use_block(json_str(call.get("id"), f"{where}.id"),
                          json_str(function.get("name"), f"{where}.function.name"),
                          _call_arguments(function.get("arguments"), f"{where}.function"))


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def _call_arguments(raw: Any, where: str) -> JsonObject:
    text = json_str(raw, f"{where}.arguments")
    try:
        arguments = json.loads(text, parse_constant=_reject_constant) if text else {}
    except (ValueError, RecursionError):
        raise RecordError(f"{where}.arguments is not valid JSON") from None
    return json_object(arguments, f"{where}.arguments")


def _tool_result(message: JsonObject, where: str) -> Block:
    # OpenAI has no error flag on a tool's result: an error is in its words, kept as they are.
    return tool_result_block(json_str(message.get("tool_call_id"), f"{where}.tool_call_id"),
                             _text_content(message.get("content"), where))


def _chat_tool(raw: Any, where: str) -> Block:
    tool = json_object(raw, where)
    if tool.get("type") != "function":
        raise RecordError(f"{where}.type: only function tools are supported, "
                          f"not {tool.get('type')!r}")
    function = json_object(tool.get("function"), f"{where}.function")
    # A function without parameters takes none: an empty object schema says the same.
    schema = function.get("parameters", {"type": "object", "properties": {}})
    return checked_tool(function.get("name"), function.get("description"), schema,
                        f"{where}.function")


def _chat_tool_choice(raw: Any) -> str | None:
    if raw is None or raw in ("auto", "none"):
        return raw
    if raw == "required":
        return "any"
    if isinstance(raw, dict) and raw.get("type") == "function":
        function = json_object(raw.get("function"), "tool_choice.function")
        return json_str(function.get("name"), "tool_choice.function.name")
    raise RecordError("tool_choice must be auto, none, required or a function to call")


_CHAT_FINISH = {"max_tokens": "length", "tool_use": "tool_calls"}  # the others: "stop"


def chat_completion(completion: Completion, model: str, created: int) -> JsonObject:
    """The chat.completion body OpenAI answers with; `created` is a Unix time in seconds.

    The id follows the answer, so the same answer always writes the same output file.
    """
    calls = [{"id": block["id"], "type": "function",
              "function": {"name": block["name"], "arguments": json.dumps(block["input"])}}
             for block in completion.content if block["type"] == "tool_use"]
    # OpenAI's content is null beside tool calls, and a string otherwise.
    content = completion.text or (None if calls else "")
    message: JsonObject = {"role": "assistant", "content": content, "refusal": None,
                           "annotations": []}
    if calls:
        message["tool_calls"] = calls
    choice = {"index": 0, "message": message, "logprobs": None,
              "finish_reason": _CHAT_FINISH.get(completion.stop_reason, "stop")}
    usage = {"prompt_tokens": completion.input_tokens,
             "completion_tokens": completion.output_tokens,
             "total_tokens": completion.input_tokens + completion.output_tokens,
             "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
             "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                           "accepted_prediction_tokens": 0,
                                           "rejected_prediction_tokens": 0}}
    digest = hashlib.sha256(orjson.dumps([model, choice, usage], option=orjson.OPT_SORT_KEYS))
    # No backend configuration to fingerprint: null, as OpenAI's own batch example has it.
    return {"id": "chatcmpl-" + digest.hexdigest()[:29], "object": "chat.completion",
            "created": created, "model": model, "choices": [choice], "usage": usage,
            "system_fingerprint": None}
