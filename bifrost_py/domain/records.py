"""Bedrock batch records and the model bodies inside them, as plain values; no I/O.

A record line carries one model's InvokeModel body (or a Converse request). `to_prompt` reads the
body of any supported family into one neutral `Prompt`, a backend answers with a neutral
`Completion`, and `to_model_output` writes that back in the shape the family returns on Bedrock.
Neutral content blocks are plain dicts shaped like Anthropic's, so the Anthropic side is a copy.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

Block = dict[str, Any]
JsonObject = dict[str, Any]


class RecordError(ValueError):
    """A modelInput no model would accept: the record becomes an error line, the job goes on."""


# ---------------------------------------------------------------------------------------------
# Lines


@dataclass(frozen=True, slots=True)
class Record:
    record_id: str
    model_input: JsonObject
    line_no: int


@dataclass(frozen=True, slots=True)
class BadLine:
    line_no: int
    record_id: str | None
    raw: str
    message: str
    # The line's modelInput when it was a JSON object carrying one; else the error shows `raw`.
    model_input: Any = None


def generated_record_id(line_no: int) -> str:
    """Bedrock's id for a record without one: the line number, zero-padded to 11 digits."""
    return f"{line_no:011d}"


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


# Python's json accepts NaN and Infinity; the readers of our output lines would not.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant)
# ASCII escapes keep lone surrogates (legal in JSON input) encodable as UTF-8 on the way out.
_ENCODER = json.JSONEncoder(separators=(",", ":"))


def parse_line(line: bytes, line_no: int) -> Record | BadLine | None:
    """One input line (with or without its line ending); None when the line is blank."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        raw = line.decode("utf-8", "replace").strip()
        return BadLine(line_no, None, raw, "the line is not valid UTF-8")
    text = text.removeprefix("\ufeff").strip()  # a file may start with a byte-order mark
    if not text:
        return None
    try:
        value = _DECODER.decode(text)
    except (ValueError, RecursionError) as exc:
        return BadLine(line_no, None, text, f"the line is not valid JSON: {exc}")
    if not isinstance(value, dict):
        return BadLine(line_no, None, text, "the line is not a JSON object")
    return _record(value, text, line_no)


def _record(value: JsonObject, text: str, line_no: int) -> Record | BadLine:
    record_id = value.get("recordId")
    model_input = value.get("modelInput")
    if record_id is None:
        record_id = generated_record_id(line_no)
    elif not isinstance(record_id, str):
        return BadLine(line_no, None, text, "recordId must be a string", model_input)
    if not isinstance(model_input, dict):
        return BadLine(line_no, record_id, text, "modelInput must be a JSON object", model_input)
    return Record(record_id, model_input, line_no)


def output_line(record: Record, model_output: JsonObject) -> bytes:
    return _line({"recordId": record.record_id, "modelInput": record.model_input,
                  "modelOutput": model_output})


def error_line(record: Record | BadLine, code: int, message: str) -> bytes:
    if isinstance(record, Record):
        record_id, model_input = record.record_id, record.model_input
    else:
        record_id = record.record_id or generated_record_id(record.line_no)
        model_input = record.raw if record.model_input is None else record.model_input
    return _line({"recordId": record_id, "modelInput": model_input,
                  "error": {"errorCode": code, "errorMessage": message}})


def _line(value: JsonObject) -> bytes:
    return (_ENCODER.encode(value) + "\n").encode()


# ---------------------------------------------------------------------------------------------
# The neutral request and response


@dataclass(slots=True)
class Message:
    role: str  # "user" or "assistant"
    content: list[Block]


@dataclass(slots=True)
class Prompt:
    system: str | None = None
    messages: list[Message] = field(default_factory=list)
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    stop: list[str] = field(default_factory=list)
    tools: list[Block] = field(default_factory=list)  # {"name", "description", "input_schema"}
    tool_choice: str | None = None  # "auto", "any", "none" or a tool's name


@dataclass(slots=True)
class Completion:
    content: list[Block]  # text and tool_use blocks
    input_tokens: int
    output_tokens: int
    stop_reason: str = "end_turn"  # end_turn, max_tokens, stop_sequence or tool_use
    stop_sequence: str | None = None  # which stop sequence ended the text, when one did

    @property
    def text(self) -> str:
        return "".join(block["text"] for block in self.content if block["type"] == "text")


def text_block(text: str) -> Block:
    return {"type": "text", "text": text}


def image_block(media_type: str, data: str) -> Block:
    return {"type": "image", "media_type": media_type, "data": data}


def tool_use_block(tool_use_id: str, name: str, tool_input: JsonObject) -> Block:
    return {"type": "tool_use", "id": tool_use_id, "name": name, "input": tool_input}


def tool_result_block(tool_use_id: str, content: str, is_error: bool = False) -> Block:
    return {"type": "tool_result", "tool_use_id": tool_use_id, "content": content,
            "is_error": is_error}


def count_tokens(text: str) -> int:
    """About four characters a token: deterministic, and close enough for English usage counts."""
    return (len(text) + 3) // 4


# ---------------------------------------------------------------------------------------------
# Model families


_FAMILIES = (("anthropic.", "anthropic"), ("amazon.nova", "nova"),
             ("amazon.titan-text", "titan"), ("meta.llama", "llama"), ("mistral.", "mistral"))


def model_family(model_id: str) -> str | None:
    """anthropic, nova, titan, llama or mistral, ignoring region prefixes and ARN paths."""
    name = model_id.rsplit("/", 1)[-1].lower()
    return next((family for marker, family in _FAMILIES if marker in name), None)


def input_format(model_id: str, model_input: JsonObject,
                 invocation_type: str = "InvokeModel") -> str:
    """Which request shape the body has: anthropic, converse, titan or prompt (Llama, Mistral)."""
    if invocation_type == "Converse":
        return "converse"
    if "messages" in model_input or "anthropic_version" in model_input:
        return _messages_format(model_id, model_input)
    if "inputText" in model_input:
        return "titan"
    if "prompt" in model_input:
        return "prompt"
    raise RecordError("modelInput has none of messages, inputText or prompt")


def _messages_format(model_id: str, body: JsonObject) -> str:
    if "anthropic_version" in body or isinstance(body.get("system"), str):
        return "anthropic"
    if any(key in body for key in ("inferenceConfig", "toolConfig", "schemaVersion")):
        return "converse"
    first = _first_content(body.get("messages"))
    if isinstance(first, str) or (isinstance(first, dict) and "type" in first):
        return "anthropic"
    if isinstance(first, dict):
        return "converse"
    # Nothing in the body tells (no messages yet): the model id decides.
    return "anthropic" if model_family(model_id) == "anthropic" else "converse"


def _first_content(messages: Any) -> Any:
    if not isinstance(messages, list) or not messages or not isinstance(messages[0], dict):
        return None
    content = messages[0].get("content")
    if isinstance(content, list):
        return content[0] if content else None
    return content


# ---------------------------------------------------------------------------------------------
# Request bodies -> Prompt


def to_prompt(model_id: str, model_input: JsonObject,
              invocation_type: str = "InvokeModel") -> Prompt:
    reader = _READERS[input_format(model_id, model_input, invocation_type)]
    prompt = reader(model_input)
    if not prompt.messages:
        raise RecordError("the request has no messages")
    return prompt


def _read_anthropic(body: JsonObject) -> Prompt:
    messages = _list(body.get("messages"), "messages")
    return Prompt(
        system=_anthropic_system(body.get("system")),
        messages=[_anthropic_message(raw, f"messages[{i}]") for i, raw in enumerate(messages)],
        max_tokens=_opt_int(body.get("max_tokens"), "max_tokens", minimum=1),
        temperature=_opt_num(body.get("temperature"), "temperature"),
        top_p=_opt_num(body.get("top_p"), "top_p"),
        top_k=_opt_int(body.get("top_k"), "top_k"),
        stop=_strs(body.get("stop_sequences"), "stop_sequences"),
        tools=[_anthropic_tool(raw, f"tools[{i}]")
               for i, raw in enumerate(_list(body.get("tools", []), "tools"))],
        tool_choice=_anthropic_tool_choice(body.get("tool_choice")),
    )


def _anthropic_system(system: Any) -> str | None:
    if system is None or isinstance(system, str):
        return system or None
    blocks = _list(system, "system")
    texts = [_str(_dict(b, f"system[{i}]").get("text"), f"system[{i}].text")
             for i, b in enumerate(blocks)]
    return "\n".join(texts) or None


def _anthropic_message(raw: Any, where: str) -> Message:
    message = _dict(raw, where)
    content = message.get("content")
    if isinstance(content, str):
        blocks = [text_block(content)]
    else:
        blocks = [_anthropic_block(b, f"{where}.content[{i}]")
                  for i, b in enumerate(_list(content, f"{where}.content"))]
    return _message(message.get("role"), blocks, where)


def _anthropic_block(raw: Any, where: str) -> Block:
    block = _dict(raw, where)
    kind = block.get("type")
    if kind == "text":
        return text_block(_str(block.get("text"), f"{where}.text"))
    if kind == "image":
        source = _dict(block.get("source"), f"{where}.source")
        if source.get("type") != "base64":
            raise RecordError(f"{where}: only base64 image sources are supported")
        return image_block(_str(source.get("media_type"), f"{where}.source.media_type"),
                           _str(source.get("data"), f"{where}.source.data"))
    if kind == "tool_use":
        return tool_use_block(_str(block.get("id"), f"{where}.id"),
                              _str(block.get("name"), f"{where}.name"),
                              _dict(block.get("input"), f"{where}.input"))
    if kind == "tool_result":
        return tool_result_block(_str(block.get("tool_use_id"), f"{where}.tool_use_id"),
                                 _anthropic_result_text(block.get("content"), where),
                                 block.get("is_error") is True)
    raise RecordError(f"{where}: unsupported content block type {kind!r}")


def _anthropic_result_text(content: Any, where: str) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    texts = []
    for i, raw in enumerate(_list(content, f"{where}.content")):
        block = _dict(raw, f"{where}.content[{i}]")
        if block.get("type") != "text":
            raise RecordError(f"{where}.content[{i}]: tool results may only hold text")
        texts.append(_str(block.get("text"), f"{where}.content[{i}].text"))
    return "\n".join(texts)


def _anthropic_tool(raw: Any, where: str) -> Block:
    tool = _dict(raw, where)
    return _tool(tool.get("name"), tool.get("description"), tool.get("input_schema"), where)


def _anthropic_tool_choice(raw: Any) -> str | None:
    if raw is None:
        return None
    choice = _dict(raw, "tool_choice")
    kind = choice.get("type")
    if kind in ("auto", "any", "none"):
        return str(kind)
    if kind == "tool":
        return _str(choice.get("name"), "tool_choice.name")
    raise RecordError(f"tool_choice: unsupported type {kind!r}")


def _read_converse(body: JsonObject) -> Prompt:
    """A Converse request, or a Nova InvokeModel body (the same shape with snake_case aliases)."""
    config = _dict(body.get("inferenceConfig", {}), "inferenceConfig")
    # Nova has topK in inferenceConfig; Converse passes it through additionalModelRequestFields.
    top_k = _first(config, "topK", "top_k")
    if top_k is None:
        extra = _dict(body.get("additionalModelRequestFields", {}), "additionalModelRequestFields")
        top_k = _first(extra, "top_k", "topK")
    tools = _dict(body.get("toolConfig", {}), "toolConfig")
    messages = _list(body.get("messages"), "messages")
    return Prompt(
        system=_converse_system(body.get("system")),
        messages=[_converse_message(raw, f"messages[{i}]") for i, raw in enumerate(messages)],
        max_tokens=_opt_int(_first(config, "maxTokens", "max_new_tokens"),
                            "inferenceConfig.maxTokens", minimum=1),
        temperature=_opt_num(config.get("temperature"), "inferenceConfig.temperature"),
        top_p=_opt_num(_first(config, "topP", "top_p"), "inferenceConfig.topP"),
        top_k=_opt_int(top_k, "inferenceConfig.topK"),
        stop=_strs(config.get("stopSequences"), "inferenceConfig.stopSequences"),
        tools=[tool for i, raw in enumerate(_list(tools.get("tools", []), "toolConfig.tools"))
               if (tool := _converse_tool(raw, f"toolConfig.tools[{i}]")) is not None],
        tool_choice=_converse_tool_choice(tools.get("toolChoice")),
    )


def _converse_system(system: Any) -> str | None:
    if system is None or isinstance(system, str):  # Nova also takes a bare string
        return system or None
    texts = []
    for i, raw in enumerate(_list(system, "system")):
        block = _dict(raw, f"system[{i}]")
        if "text" in block:
            texts.append(_str(block["text"], f"system[{i}].text"))
        elif "cachePoint" not in block:  # cache points only tune billing
            raise RecordError(f"system[{i}]: unsupported system block {sorted(block)}")
    return "\n".join(texts) or None


def _converse_message(raw: Any, where: str) -> Message:
    message = _dict(raw, where)
    blocks = [block for i, b in enumerate(_list(message.get("content"), f"{where}.content"))
              if (block := _converse_block(b, f"{where}.content[{i}]")) is not None]
    return _message(message.get("role"), blocks, where)


def _converse_block(raw: Any, where: str) -> Block | None:
    block = _dict(raw, where)
    if "text" in block:
        return text_block(_str(block["text"], f"{where}.text"))
    if "image" in block:
        return _converse_image(_dict(block["image"], f"{where}.image"), f"{where}.image")
    if "toolUse" in block:
        use = _dict(block["toolUse"], f"{where}.toolUse")
        return tool_use_block(_str(use.get("toolUseId"), f"{where}.toolUse.toolUseId"),
                              _str(use.get("name"), f"{where}.toolUse.name"),
                              _dict(use.get("input"), f"{where}.toolUse.input"))
    if "toolResult" in block:
        result = _dict(block["toolResult"], f"{where}.toolResult")
        return tool_result_block(_str(result.get("toolUseId"), f"{where}.toolResult.toolUseId"),
                                 _converse_result_text(result.get("content"), where),
                                 result.get("status") == "error")
    if "cachePoint" in block:
        return None
    raise RecordError(f"{where}: unsupported content block {sorted(block)}")


_IMAGE_FORMATS = {"png": "image/png", "jpeg": "image/jpeg", "jpg": "image/jpeg",
                  "gif": "image/gif", "webp": "image/webp"}


def _converse_image(image: JsonObject, where: str) -> Block:
    media_type = _IMAGE_FORMATS.get(str(image.get("format")).lower())
    if media_type is None:
        raise RecordError(f"{where}.format must be one of png, jpeg, gif or webp")
    source = _dict(image.get("source"), f"{where}.source")
    if "bytes" not in source:
        raise RecordError(f"{where}.source: only inline base64 bytes are supported")
    return image_block(media_type, _str(source["bytes"], f"{where}.source.bytes"))


def _converse_result_text(content: Any, where: str) -> str:
    parts = []
    for i, raw in enumerate(_list(content or [], f"{where}.toolResult.content")):
        part = _dict(raw, f"{where}.toolResult.content[{i}]")
        if "text" in part:
            parts.append(_str(part["text"], f"{where}.toolResult.content[{i}].text"))
        elif "json" in part:
            parts.append(json.dumps(part["json"]))
        else:
            raise RecordError(f"{where}.toolResult.content[{i}]: only text and json are supported")
    return "\n".join(parts)


def _converse_tool(raw: Any, where: str) -> Block | None:
    entry = _dict(raw, where)
    if "cachePoint" in entry:
        return None
    spec = _dict(entry.get("toolSpec"), f"{where}.toolSpec")
    schema = _dict(spec.get("inputSchema"), f"{where}.toolSpec.inputSchema")
    return _tool(spec.get("name"), spec.get("description"), schema.get("json"),
                 f"{where}.toolSpec")


def _converse_tool_choice(raw: Any) -> str | None:
    if raw is None:
        return None
    choice = _dict(raw, "toolConfig.toolChoice")
    if "auto" in choice:
        return "auto"
    if "any" in choice:
        return "any"
    if "tool" in choice:
        tool = _dict(choice["tool"], "toolConfig.toolChoice.tool")
        return _str(tool.get("name"), "toolConfig.toolChoice.tool.name")
    raise RecordError(f"toolConfig.toolChoice: unsupported choice {sorted(choice)}")


def _read_titan(body: JsonObject) -> Prompt:
    config = _dict(body.get("textGenerationConfig", {}), "textGenerationConfig")
    return Prompt(
        messages=[Message("user", [text_block(_str(body.get("inputText"), "inputText"))])],
        max_tokens=_opt_int(config.get("maxTokenCount"), "textGenerationConfig.maxTokenCount",
                            minimum=1),
        temperature=_opt_num(config.get("temperature"), "textGenerationConfig.temperature"),
        top_p=_opt_num(config.get("topP"), "textGenerationConfig.topP"),
        stop=_strs(config.get("stopSequences"), "textGenerationConfig.stopSequences"),
    )


def _read_prompt(body: JsonObject) -> Prompt:
    """Meta Llama (max_gen_len) and Mistral (max_tokens, top_k, stop) completion bodies."""
    system, messages = _template_turns(_str(body.get("prompt"), "prompt"))
    return Prompt(
        system=system,
        messages=messages,
        max_tokens=_opt_int(_first(body, "max_gen_len", "max_tokens"), "max_tokens", minimum=1),
        temperature=_opt_num(body.get("temperature"), "temperature"),
        top_p=_opt_num(body.get("top_p"), "top_p"),
        top_k=_opt_int(body.get("top_k"), "top_k"),
        stop=_strs(body.get("stop"), "stop"),
    )


_LLAMA3_TURN = re.compile(
    r"<\|start_header_id\|>(\w+)<\|end_header_id\|>(.*?)(?=<\|eot_id\|>|<\|start_header_id\|>|\Z)",
    re.DOTALL)
_LLAMA2_SYSTEM = re.compile(r"<<SYS>>(.*?)<</SYS>>", re.DOTALL)


def _template_turns(prompt: str) -> tuple[str | None, list[Message]]:
    """Turn a chat-templated prompt back into turns, so a chat backend sees no template tokens.

    Llama 3 uses header tokens, Llama 2 and Mistral [INST] markers; anything else (or a template
    yielding no turns) is one user message, verbatim.
    """
    if "<|start_header_id|>" in prompt:
        system, messages = _llama3_turns(prompt)
    elif "[INST]" in prompt:
        system, messages = _inst_turns(prompt)
    else:
        system, messages = None, []
    return (system, messages) if messages else (None, [Message("user", [text_block(prompt)])])


def _llama3_turns(prompt: str) -> tuple[str | None, list[Message]]:
    system = None
    messages = []
    for role, text in _LLAMA3_TURN.findall(prompt):
        text = text.strip()
        if role == "system":
            system = text or None
        elif role in ("user", "assistant") and text:  # the closing assistant header is empty
            messages.append(Message(role, [text_block(text)]))
    return system, messages


def _inst_turns(prompt: str) -> tuple[str | None, list[Message]]:
    text = prompt.replace("<s>", "").replace("</s>", "")
    system = None
    found = _LLAMA2_SYSTEM.search(text)
    if found:
        system = found.group(1).strip() or None
        text = text[:found.start()] + text[found.end():]
    messages = []
    for turn in text.split("[INST]")[1:]:
        question, _, answer = turn.partition("[/INST]")
        messages += [Message(role, [text_block(part.strip())])
                     for role, part in (("user", question), ("assistant", answer)) if part.strip()]
    return system, messages


_READERS: dict[str, Callable[[JsonObject], Prompt]] = {
    "anthropic": _read_anthropic, "converse": _read_converse, "titan": _read_titan,
    "prompt": _read_prompt}


# Which neutral blocks each role may carry, as both Anthropic and Converse allow.
_ROLE_BLOCKS = {"user": {"text", "image", "tool_result"}, "assistant": {"text", "tool_use"}}


def _message(role: Any, blocks: list[Block], where: str) -> Message:
    allowed = _ROLE_BLOCKS.get(role) if isinstance(role, str) else None
    if allowed is None:
        raise RecordError(f"{where}.role must be user or assistant")
    for block in blocks:
        if block["type"] not in allowed:
            raise RecordError(f"{where}: a {role} message cannot hold {block['type']} blocks")
    return Message(role, blocks)


def _tool(name: Any, description: Any, schema: Any, where: str) -> Block:
    return {"name": _str(name, f"{where}.name"),
            "description": "" if description is None else _str(description, f"{where}.description"),
            "input_schema": _dict(schema, f"{where} input schema")}


# Small validators: each names the offending field so the error line says what to fix.


def _dict(value: Any, where: str) -> JsonObject:
    if not isinstance(value, dict):
        raise RecordError(f"{where} must be a JSON object")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise RecordError(f"{where} must be a list")
    return value


def _str(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise RecordError(f"{where} must be a string")
    return value


def _strs(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [_str(item, f"{where}[{i}]") for i, item in enumerate(_list(value, where))]


def _opt_int(value: Any, where: str, minimum: int = 0) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise RecordError(f"{where} must be an integer of at least {minimum}")
    return value


def _opt_num(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RecordError(f"{where} must be a number")
    return float(value)


def _first(values: Mapping[str, Any], *keys: str) -> Any:
    """The first of these aliases that is set (Nova takes both camelCase and snake_case)."""
    return next((values[key] for key in keys if values.get(key) is not None), None)


# ---------------------------------------------------------------------------------------------
# Completion -> response bodies


def to_model_output(model_id: str, invocation_type: str, completion: Completion,
                    model_input: JsonObject | None = None) -> JsonObject:
    """The response body this model family returns on Bedrock.

    For a model of no known family, `model_input` decides: a Messages-style request gets an
    Anthropic Messages response, anything else a Converse one.
    """
    if invocation_type == "Converse":
        return _converse_output(model_id, completion)
    family = model_family(model_id)
    if family is None:
        looks_like_messages = (model_input is not None and "messages" in model_input
                               and _messages_format(model_id, model_input) == "anthropic")
        family = "anthropic" if looks_like_messages else "converse"
    return _WRITERS[family](model_id, completion)


def _anthropic_output(model_id: str, completion: Completion) -> JsonObject:
    content = [dict(block) for block in completion.content]
    return {"id": _message_id(content), "type": "message", "role": "assistant",
            "model": model_id, "content": content, "stop_reason": completion.stop_reason,
            "stop_sequence": completion.stop_sequence,
            "usage": {"input_tokens": completion.input_tokens,
                      "output_tokens": completion.output_tokens}}


def _message_id(content: list[Block]) -> str:
    # Derived from the content, so the same answer always writes the same output file.
    digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()
    return "msg_bdrk_" + digest[:24]


def _converse_output(model_id: str, completion: Completion) -> JsonObject:
    return {**_nova_output(model_id, completion), "metrics": {"latencyMs": 0}}


def _nova_output(_model_id: str, completion: Completion) -> JsonObject:
    return {"output": {"message": {"role": "assistant",
                                   "content": [_converse_content(b) for b in completion.content]}},
            "stopReason": completion.stop_reason,
            "usage": {"inputTokens": completion.input_tokens,
                      "outputTokens": completion.output_tokens,
                      "totalTokens": completion.input_tokens + completion.output_tokens}}


def _converse_content(block: Block) -> JsonObject:
    if block["type"] == "tool_use":
        return {"toolUse": {"toolUseId": block["id"], "name": block["name"],
                            "input": block["input"]}}
    return {"text": block["text"]}


_TITAN_REASONS = {"max_tokens": "LENGTH", "stop_sequence": "STOP_CRITERIA_MET"}


def _titan_output(_model_id: str, completion: Completion) -> JsonObject:
    return {"inputTextTokenCount": completion.input_tokens,
            "results": [{"tokenCount": completion.output_tokens,
                         "outputText": completion.text,
                         "completionReason": _TITAN_REASONS.get(completion.stop_reason,
                                                                "FINISH")}]}


def _short_reason(completion: Completion) -> str:
    return "length" if completion.stop_reason == "max_tokens" else "stop"


def _llama_output(_model_id: str, completion: Completion) -> JsonObject:
    return {"generation": completion.text, "prompt_token_count": completion.input_tokens,
            "generation_token_count": completion.output_tokens,
            "stop_reason": _short_reason(completion)}


def _mistral_output(_model_id: str, completion: Completion) -> JsonObject:
    return {"outputs": [{"text": completion.text, "stop_reason": _short_reason(completion)}]}


_WRITERS: dict[str, Callable[[str, Completion], JsonObject]] = {
    "anthropic": _anthropic_output, "converse": _converse_output, "nova": _nova_output,
    "titan": _titan_output, "llama": _llama_output, "mistral": _mistral_output}


# ---------------------------------------------------------------------------------------------
# OpenAI chat completions


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
