"""Which model family an id names, and which request shape a modelInput has."""

from __future__ import annotations

from typing import Any

from bifrost_py.domain.records.fields import RecordError
from bifrost_py.domain.records.neutral import JsonObject

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
        return messages_format(model_id, model_input)
    if "inputText" in model_input:
        return "titan"
    if "prompt" in model_input:
        return "prompt"
    raise RecordError("modelInput has none of messages, inputText or prompt")


def messages_format(model_id: str, body: JsonObject) -> str:
    """anthropic or converse, for a body with messages: what it holds, else the model id."""
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
