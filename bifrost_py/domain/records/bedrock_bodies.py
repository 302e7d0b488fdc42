"""Bedrock as a provider of answers: a Prompt written as the request body a Bedrock model takes,
and the model's response body read back into a Completion.

The inverses of prompt.to_prompt and outputs.to_model_output. A family whose body cannot carry
part of a prompt (tools or images for Llama, Mistral and Titan) refuses it with a RecordError;
top_k, which Llama and Titan do not take, is left out like the other upstreams leave it out.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bifrost_py.domain.records.anthropic import from_anthropic_message, to_anthropic_params
from bifrost_py.domain.records.families import model_family
from bifrost_py.domain.records.fields import RecordError
from bifrost_py.domain.records.neutral import Block, Completion, JsonObject, Prompt, text_block
from bifrost_py.domain.records.templates import inst_prompt, llama3_prompt, titan_text

ANTHROPIC_VERSION = "bedrock-2023-05-31"
_IMAGE_FORMATS = {"image/png": "png", "image/jpeg": "jpeg", "image/gif": "gif",
                  "image/webp": "webp"}


def to_model_input(model_id: str, prompt: Prompt,
                   invocation_type: str = "InvokeModel") -> JsonObject:
    """The body of an InvokeModel request to this model, or with invocation_type Converse the
    body of a Converse request, which every model takes."""
    if not prompt.messages:
        raise RecordError("the request has no messages")
    if invocation_type == "Converse":
        return _converse_request(prompt)
    family = model_family(model_id)
    if family is None:
        raise RecordError(f"no InvokeModel body is known for {model_id}; use Converse")
    if family == "llama" and "llama2" in model_id.rsplit("/", 1)[-1].lower():
        family = "llama2"  # Llama 2 reads [INST] prompts, not Llama 3's headers
    return _WRITERS[family](prompt)


def _anthropic_input(prompt: Prompt) -> JsonObject:
    # Bedrock names the model in the request's path and refuses it in the body.
    params = {key: value for key, value in to_anthropic_params(prompt, "").items()
              if key != "model"}
    return {"anthropic_version": ANTHROPIC_VERSION, **params}


def _nova_input(prompt: Prompt) -> JsonObject:
    """Nova's InvokeModel body: Converse's messages, with its own inferenceConfig names."""
    config = {"max_new_tokens": prompt.max_tokens, "temperature": prompt.temperature,
              "top_p": prompt.top_p, "top_k": prompt.top_k, "stopSequences": prompt.stop or None}
    return {"schemaVersion": "messages-v1", **_converse_parts(prompt), **_options(
        "inferenceConfig", config)}


def _converse_request(prompt: Prompt) -> JsonObject:
    config = {"maxTokens": prompt.max_tokens, "temperature": prompt.temperature,
              "topP": prompt.top_p, "stopSequences": prompt.stop or None}
    # Converse has no top_k of its own; Anthropic's models take theirs as an additional field.
    return {**_converse_parts(prompt), **_options("inferenceConfig", config),
            **_options("additionalModelRequestFields", {"top_k": prompt.top_k})}


def _options(name: str, values: JsonObject) -> JsonObject:
    """{name: the values that are set}, or nothing when none is."""
    values = {key: value for key, value in values.items() if value is not None}
    return {name: values} if values else {}


def _converse_parts(prompt: Prompt) -> JsonObject:
    parts: JsonObject = {"messages": [
        {"role": message.role,
         "content": [_converse_block(block, f"messages[{i}].content[{j}]")
                     for j, block in enumerate(message.content)]}
        for i, message in enumerate(prompt.messages)]}
    if prompt.system:
        parts["system"] = [{"text": prompt.system}]
    if prompt.tools:
        parts["toolConfig"] = _tool_config(prompt)
    return parts


def _converse_block(block: Block, where: str) -> JsonObject:
    kind = block["type"]
    if kind == "image":
        image_format = _IMAGE_FORMATS.get(block["media_type"])
        if image_format is None:
            raise RecordError(f"{where}: images must be png, jpeg, gif or webp")
        return {"image": {"format": image_format, "source": {"bytes": block["data"]}}}
    if kind == "tool_use":
        return {"toolUse": {"toolUseId": block["id"], "name": block["name"],
                            "input": block["input"]}}
    if kind == "tool_result":
        result: JsonObject = {"toolUseId": block["tool_use_id"],
                              "content": [{"text": block["content"]}]}
        if block["is_error"]:
            result["status"] = "error"
        return {"toolResult": result}
    return {"text": block["text"]}


def _tool_config(prompt: Prompt) -> JsonObject:
    tools = [{"toolSpec": {"name": tool["name"],
                           **({"description": tool["description"]} if tool["description"]
                              else {}),
                           "inputSchema": {"json": tool["input_schema"]}}}
             for tool in prompt.tools]
    config: JsonObject = {"tools": tools}
    choice = prompt.tool_choice
    if choice == "none":
        raise RecordError("tool_choice: Converse cannot be told not to use the tools it is given")
    if choice in ("auto", "any"):
        config["toolChoice"] = {choice: {}}
    elif choice is not None:
        config["toolChoice"] = {"tool": {"name": choice}}
    return config


def _text_only(prompt: Prompt, family: str, takes_stop: bool = True) -> None:
    """Refuse what a family's text-completion body has no field for."""
    if prompt.tools:
        raise RecordError(f"tools: {family} on Bedrock takes no tools")
    if prompt.stop and not takes_stop:
        raise RecordError(f"stop sequences: {family} on Bedrock takes none")


def _llama_input(prompt: Prompt, template: Callable[[Prompt], str] = llama3_prompt) -> JsonObject:
    _text_only(prompt, "Llama", takes_stop=False)
    return {"prompt": template(prompt), **_set(
        max_gen_len=prompt.max_tokens, temperature=prompt.temperature, top_p=prompt.top_p)}


def _mistral_input(prompt: Prompt) -> JsonObject:
    _text_only(prompt, "Mistral")
    return {"prompt": inst_prompt(prompt), **_set(
        max_tokens=prompt.max_tokens, temperature=prompt.temperature, top_p=prompt.top_p,
        top_k=prompt.top_k, stop=prompt.stop or None)}


def _titan_input(prompt: Prompt) -> JsonObject:
    _text_only(prompt, "Titan")
    return {"inputText": titan_text(prompt), **_options("textGenerationConfig", _set(
        maxTokenCount=prompt.max_tokens, temperature=prompt.temperature, topP=prompt.top_p,
        stopSequences=prompt.stop or None))}


def _set(**values: Any) -> JsonObject:
    return {key: value for key, value in values.items() if value is not None}


_WRITERS: dict[str, Callable[[Prompt], JsonObject]] = {
    "anthropic": _anthropic_input, "nova": _nova_input, "llama": _llama_input,
    "llama2": lambda prompt: _llama_input(prompt, inst_prompt), "mistral": _mistral_input,
    "titan": _titan_input}


def from_model_output(model_id: str, body: Any,
                      invocation_type: str = "InvokeModel") -> Completion:
    """A model's InvokeModel (or any model's Converse) response body; ValueError when it is not
    one. For a model of no known family the body's shape tells Anthropic's from Converse's."""
    if not isinstance(body, dict):
        raise ValueError("the response is not a JSON object")
    family = "converse" if invocation_type == "Converse" else model_family(model_id)
    if family is None:
        family = "anthropic" if body.get("type") == "message" else "converse"
    if family == "anthropic":
        return from_anthropic_message(body)
    try:
        return _READERS[family](body)
    except (KeyError, IndexError, TypeError, AttributeError) as exc:
        raise ValueError(f"not a {family} response ({type(exc).__name__}: {exc})") from None


_STOP_REASONS = {"end_turn": "end_turn", "max_tokens": "max_tokens", "tool_use": "tool_use",
                 "stop_sequence": "stop_sequence", "model_context_window_exceeded": "max_tokens"}


def _converse_output(body: JsonObject) -> Completion:
    """Converse's response, and Nova's InvokeModel response of the same shape. Reasoning and
    other block kinds have no place in the neutral completion."""
    content = [_converse_content(block) for block in body["output"]["message"]["content"]
               if "text" in block or "toolUse" in block]
    usage = body.get("usage") or {}
    # Anthropic's models say which stop sequence ended the text when Converse was asked to.
    extra = body.get("additionalModelResponseFields") or {}
    return Completion(content, int(usage.get("inputTokens") or 0),
                      int(usage.get("outputTokens") or 0),
                      _STOP_REASONS.get(str(body.get("stopReason")), "end_turn"),
                      extra.get("stop_sequence"))


def _converse_content(block: JsonObject) -> Block:
    if "text" in block:
        return text_block(_string(block["text"]))
    use = block["toolUse"]
    if not isinstance(use["input"], dict):
        raise TypeError("toolUse input is not a JSON object")
    return {"type": "tool_use", "id": _string(use["toolUseId"]), "name": _string(use["name"]),
            "input": use["input"]}


_TITAN_REASONS = {"LENGTH": "max_tokens", "STOP_CRITERIA_MET": "stop_sequence"}


def _titan_output(body: JsonObject) -> Completion:
    result = body["results"][0]
    return Completion(_text(result["outputText"]), int(body.get("inputTextTokenCount") or 0),
                      int(result.get("tokenCount") or 0),
                      _TITAN_REASONS.get(result.get("completionReason"), "end_turn"))


def _llama_output(body: JsonObject) -> Completion:
    return Completion(_text(body["generation"]), int(body.get("prompt_token_count") or 0),
                      int(body.get("generation_token_count") or 0),
                      _short_reason(body.get("stop_reason")))


def _mistral_output(body: JsonObject) -> Completion:
    # Bedrock gives Mistral's token counts in response headers only: the body has none.
    output = body["outputs"][0]
    return Completion(_text(output["text"]), 0, 0, _short_reason(output.get("stop_reason")))


def _short_reason(reason: Any) -> str:
    return "max_tokens" if reason in ("length", "model_length") else "end_turn"


def _text(value: Any) -> list[Block]:
    return [text_block(text)] if (text := _string(value)) else []


def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{value!r} is not a string")
    return value


_READERS: dict[str, Callable[[JsonObject], Completion]] = {
    "converse": _converse_output, "nova": _converse_output, "titan": _titan_output,
    "llama": _llama_output, "mistral": _mistral_output}
