"""Request bodies of every supported format, read into one neutral `Prompt`.

Anthropic Messages, Converse (and Nova's InvokeModel body, the same shape), Titan text, and the
chat-templated prompts of Llama and Mistral.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from bifrost_py.domain.records.families import input_format
from bifrost_py.domain.records.fields import (
    RecordError,
    checked_message,
    checked_tool,
    first_set,
    json_list,
    json_object,
    json_str,
    json_strs,
    opt_int,
    opt_num,
)
from bifrost_py.domain.records.neutral import (
    Block,
    JsonObject,
    Message,
    Prompt,
    image_block,
    text_block,
    tool_result_block,
    tool_use_block,
)


def to_prompt(model_id: str, model_input: JsonObject,
              invocation_type: str = "InvokeModel") -> Prompt:
    reader = _READERS[input_format(model_id, model_input, invocation_type)]
    prompt = reader(model_input)
    if not prompt.messages:
        raise RecordError("the request has no messages")
    return prompt


def _read_anthropic(body: JsonObject) -> Prompt:
    messages = json_list(body.get("messages"), "messages")
    return Prompt(
        system=_anthropic_system(body.get("system")),
        messages=[_anthropic_message(raw, f"messages[{i}]") for i, raw in enumerate(messages)],
        max_tokens=opt_int(body.get("max_tokens"), "max_tokens", minimum=1),
        temperature=opt_num(body.get("temperature"), "temperature"),
        top_p=opt_num(body.get("top_p"), "top_p"),
        top_k=opt_int(body.get("top_k"), "top_k"),
        stop=json_strs(body.get("stop_sequences"), "stop_sequences"),
        tools=[_anthropic_tool(raw, f"tools[{i}]")
               for i, raw in enumerate(json_list(body.get("tools", []), "tools"))],
        tool_choice=_anthropic_tool_choice(body.get("tool_choice")),
    )


def _anthropic_system(system: Any) -> str | None:
    if system is None or isinstance(system, str):
        return system or None
    blocks = json_list(system, "system")
    texts = [json_str(json_object(b, f"system[{i}]").get("text"), f"system[{i}].text")
             for i, b in enumerate(blocks)]
    return "\n".join(texts) or None


def _anthropic_message(raw: Any, where: str) -> Message:
    message = json_object(raw, where)
    content = message.get("content")
    if isinstance(content, str):
        blocks = [text_block(content)]
    else:
        blocks = [_anthropic_block(b, f"{where}.content[{i}]")
                  for i, b in enumerate(json_list(content, f"{where}.content"))]
    return checked_message(message.get("role"), blocks, where)


def _anthropic_block(raw: Any, where: str) -> Block:
    block = json_object(raw, where)
    kind = block.get("type")
    if kind == "text":
        return text_block(json_str(block.get("text"), f"{where}.text"))
    if kind == "image":
        source = json_object(block.get("source"), f"{where}.source")
        if source.get("type") != "base64":
            raise RecordError(f"{where}: only base64 image sources are supported")
        return image_block(json_str(source.get("media_type"), f"{where}.source.media_type"),
                           json_str(source.get("data"), f"{where}.source.data"))
    if kind == "tool_use":
        return tool_use_block(json_str(block.get("id"), f"{where}.id"),
                              json_str(block.get("name"), f"{where}.name"),
                              json_object(block.get("input"), f"{where}.input"))
    if kind == "tool_result":
        return tool_result_block(json_str(block.get("tool_use_id"), f"{where}.tool_use_id"),
                                 _anthropic_result_text(block.get("content"), where),
                                 block.get("is_error") is True)
    raise RecordError(f"{where}: unsupported content block type {kind!r}")


def _anthropic_result_text(content: Any, where: str) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    texts = []
    for i, raw in enumerate(json_list(content, f"{where}.content")):
        block = json_object(raw, f"{where}.content[{i}]")
        if block.get("type") != "text":
            raise RecordError(f"{where}.content[{i}]: tool results may only hold text")
        texts.append(json_str(block.get("text"), f"{where}.content[{i}].text"))
    return "\n".join(texts)


def _anthropic_tool(raw: Any, where: str) -> Block:
    tool = json_object(raw, where)
    return checked_tool(tool.get("name"), tool.get("description"), tool.get("input_schema"), where)


def _anthropic_tool_choice(raw: Any) -> str | None:
    if raw is None:
        return None
    choice = json_object(raw, "tool_choice")
    kind = choice.get("type")
    if kind in ("auto", "any", "none"):
        return str(kind)
    if kind == "tool":
        return json_str(choice.get("name"), "tool_choice.name")
    raise RecordError(f"tool_choice: unsupported type {kind!r}")


def _read_converse(body: JsonObject) -> Prompt:
    """A Converse request, or a Nova InvokeModel body (the same shape with snake_case aliases)."""
    config = json_object(body.get("inferenceConfig", {}), "inferenceConfig")
    # Nova has topK in inferenceConfig; Converse passes it through additionalModelRequestFields.
    top_k = first_set(config, "topK", "top_k")
    if top_k is None:
        extra = json_object(body.get("additionalModelRequestFields", {}),
                            "additionalModelRequestFields")
        top_k = first_set(extra, "top_k", "topK")
    tools = json_object(body.get("toolConfig", {}), "toolConfig")
    messages = json_list(body.get("messages"), "messages")
    return Prompt(
        system=_converse_system(body.get("system")),
        messages=[_converse_message(raw, f"messages[{i}]") for i, raw in enumerate(messages)],
        max_tokens=opt_int(first_set(config, "maxTokens", "max_new_tokens"),
                           "inferenceConfig.maxTokens", minimum=1),
        temperature=opt_num(config.get("temperature"), "inferenceConfig.temperature"),
        top_p=opt_num(first_set(config, "topP", "top_p"), "inferenceConfig.topP"),
        top_k=opt_int(top_k, "inferenceConfig.topK"),
        stop=json_strs(config.get("stopSequences"), "inferenceConfig.stopSequences"),
        tools=[tool for i, raw in enumerate(json_list(tools.get("tools", []), "toolConfig.tools"))
               if (tool := _converse_tool(raw, f"toolConfig.tools[{i}]")) is not None],
        tool_choice=_converse_tool_choice(tools.get("toolChoice")),
    )


def _converse_system(system: Any) -> str | None:
    if system is None or isinstance(system, str):  # Nova also takes a bare string
        return system or None
    texts = []
    for i, raw in enumerate(json_list(system, "system")):
        block = json_object(raw, f"system[{i}]")
        if "text" in block:
            texts.append(json_str(block["text"], f"system[{i}].text"))
        elif "cachePoint" not in block:  # cache points only tune billing
            raise RecordError(f"system[{i}]: unsupported system block {sorted(block)}")
    return "\n".join(texts) or None


def _converse_message(raw: Any, where: str) -> Message:
    message = json_object(raw, where)
    blocks = [block for i, b in enumerate(json_list(message.get("content"), f"{where}.content"))
              if (block := _converse_block(b, f"{where}.content[{i}]")) is not None]
    return checked_message(message.get("role"), blocks, where)


def _converse_block(raw: Any, where: str) -> Block | None:
    block = json_object(raw, where)
    if "text" in block:
        return text_block(json_str(block["text"], f"{where}.text"))
    if "image" in block:
        return _converse_image(json_object(block["image"], f"{where}.image"), f"{where}.image")
    if "toolUse" in block:
        use = json_object(block["toolUse"], f"{where}.toolUse")
        return tool_use_block(json_str(use.get("toolUseId"), f"{where}.toolUse.toolUseId"),
                              json_str(use.get("name"), f"{where}.toolUse.name"),
                              json_object(use.get("input"), f"{where}.toolUse.input"))
    if "toolResult" in block:
        result = json_object(block["toolResult"], f"{where}.toolResult")
        return tool_result_block(json_str(result.get("toolUseId"), f"{where}.toolResult.toolUseId"),
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
    source = json_object(image.get("source"), f"{where}.source")
    if "bytes" not in source:
        raise RecordError(f"{where}.source: only inline base64 bytes are supported")
    return image_block(media_type, json_str(source["bytes"], f"{where}.source.bytes"))


def _converse_result_text(content: Any, where: str) -> str:
    parts = []
    for i, raw in enumerate(json_list(content or [], f"{where}.toolResult.content")):
        part = json_object(raw, f"{where}.toolResult.content[{i}]")
        if "text" in part:
            parts.append(json_str(part["text"], f"{where}.toolResult.content[{i}].text"))
        elif "json" in part:
            parts.append(json.dumps(part["json"]))
        else:
            raise RecordError(f"{where}.toolResult.content[{i}]: only text and json are supported")
    return "\n".join(parts)


def _converse_tool(raw: Any, where: str) -> Block | None:
    entry = json_object(raw, where)
    if "cachePoint" in entry:
        return None
    spec = json_object(entry.get("toolSpec"), f"{where}.toolSpec")
    schema = json_object(spec.get("inputSchema"), f"{where}.toolSpec.inputSchema")
    return checked_tool(spec.get("name"), spec.get("description"), schema.get("json"),
                        f"{where}.toolSpec")


def _converse_tool_choice(raw: Any) -> str | None:
    if raw is None:
        return None
    choice = json_object(raw, "toolConfig.toolChoice")
    if "auto" in choice:
        return "auto"
    if "any" in choice:
        return "any"
    if "tool" in choice:
        tool = json_object(choice["tool"], "toolConfig.toolChoice.tool")
        return json_str(tool.get("name"), "toolConfig.toolChoice.tool.name")
    raise RecordError(f"toolConfig.toolChoice: unsupported choice {sorted(choice)}")


def _read_titan(body: JsonObject) -> Prompt:
    config = json_object(body.get("textGenerationConfig", {}), "textGenerationConfig")
    return Prompt(
        messages=[Message("user", [text_block(json_str(body.get("inputText"), "inputText"))])],
        max_tokens=opt_int(config.get("maxTokenCount"), "textGenerationConfig.maxTokenCount",
                           minimum=1),
        temperature=opt_num(config.get("temperature"), "textGenerationConfig.temperature"),
        top_p=opt_num(config.get("topP"), "textGenerationConfig.topP"),
        stop=json_strs(config.get("stopSequences"), "textGenerationConfig.stopSequences"),
    )


def _read_prompt(body: JsonObject) -> Prompt:
    """Meta Llama (max_gen_len) and Mistral (max_tokens, top_k, stop) completion bodies."""
    system, messages = _template_turns(json_str(body.get("prompt"), "prompt"))
    return Prompt(
        system=system,
        messages=messages,
        max_tokens=opt_int(first_set(body, "max_gen_len", "max_tokens"), "max_tokens", minimum=1),
        temperature=opt_num(body.get("temperature"), "temperature"),
        top_p=opt_num(body.get("top_p"), "top_p"),
        top_k=opt_int(body.get("top_k"), "top_k"),
        stop=json_strs(body.get("stop"), "stop"),
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
