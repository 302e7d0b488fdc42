"""A model that repeats the user: deterministic answers and usage, for tests and benchmarks."""

from __future__ import annotations

import asyncio
import hashlib

from bifrost_py.domain.records.neutral import (
    Completion,
    Prompt,
    count_tokens,
    text_block,
    tool_use_block,
)
from bifrost_py.domain.records.openai_embeddings import echo_embedding
from bifrost_py.ports.backends import Embeddings

PREFIX = "echo: "


class EchoBackend:
    def __init__(self, latency_ms: float = 0) -> None:
        self.latency_ms = latency_ms

    async def complete(self, model_id: str, prompt: Prompt) -> Completion:
        if self.latency_ms > 0:
            await asyncio.sleep(self.latency_ms / 1000)
        input_tokens = count_tokens("".join(_input_texts(prompt)))
        tool = _forced_tool(prompt)
        if tool is not None:
            block = tool_use_block(_tool_use_id(tool, _last_user_text(prompt)), tool, {})
            return Completion([block], input_tokens, count_tokens(tool), "tool_use")
        answer, stop_reason, stop_sequence = _answer(prompt)
        return Completion([text_block(answer)], input_tokens, count_tokens(answer), stop_reason,
                          stop_sequence)

    async def embed(self, model_id: str, texts: list[str], dimensions: int) -> Embeddings:
        if self.latency_ms > 0:
            await asyncio.sleep(self.latency_ms / 1000)
        return Embeddings([echo_embedding(text, dimensions) for text in texts],
                          sum(count_tokens(text) for text in texts))

    async def aclose(self) -> None:
        return None


def _input_texts(prompt: Prompt) -> list[str]:
    texts = [prompt.system] if prompt.system else []
    for message in prompt.messages:
        for block in message.content:
            if block["type"] == "text":
                texts.append(block["text"])
            elif block["type"] == "tool_result":
                texts.append(block["content"])
    return texts


def _last_user_text(prompt: Prompt) -> str:
    for message in reversed(prompt.messages):
        if message.role == "user":
            return "\n".join(b["text"] for b in message.content if b["type"] == "text")
    return ""


def _forced_tool(prompt: Prompt) -> str | None:
    """The tool the request obliges the model to call, if any."""
    names = [tool["name"] for tool in prompt.tools]
    if not names or prompt.tool_choice is None:
        return None
    if prompt.tool_choice == "any":
        return names[0]
    return prompt.tool_choice if prompt.tool_choice in names else None


def _tool_use_id(name: str, text: str) -> str:
    return "toolu_" + hashlib.sha256(f"{name}\0{text}".encode()).hexdigest()[:24]


def _answer(prompt: Prompt) -> tuple[str, str, str | None]:
    """The echo, ended like a model would: at the first stop sequence, or at max_tokens."""
    answer = PREFIX + _last_user_text(prompt)
    stop_reason, stop_sequence = "end_turn", None
    # Stop sequences are looked for in the echoed text only, not in our own prefix.
    hits = [(answer.find(s, len(PREFIX)), s) for s in prompt.stop if s]
    hits = [(at, s) for at, s in hits if at >= 0]
    if hits:
        at, stop_sequence = min(hits)
        answer, stop_reason = answer[:at], "stop_sequence"
    if prompt.max_tokens is not None and count_tokens(answer) > prompt.max_tokens:
        # count_tokens is 4 characters a token, so this many characters is max_tokens tokens.
        answer, stop_reason, stop_sequence = answer[:prompt.max_tokens * 4], "max_tokens", None
    return answer, stop_reason, stop_sequence
