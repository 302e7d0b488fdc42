"""The neutral request and response every model body is read into and written back from.

Content blocks are plain dicts shaped like Anthropic's, so the Anthropic side is a copy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Block = dict[str, Any]
JsonObject = dict[str, Any]


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
