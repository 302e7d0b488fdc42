"""A neutral `Completion` written back as the response body each model family returns."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

from bifrost_py.domain.records.families import messages_format, model_family
from bifrost_py.domain.records.neutral import Block, Completion, JsonObject


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
                               and messages_format(model_id, model_input) == "anthropic")
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
