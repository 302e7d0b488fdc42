"""What the OpenAI-dialect tests share: batch input lines, the four steps of a batch with the real
openai SDK, and reading its output and error files."""

from __future__ import annotations

import io
import json
import time
from typing import Any

import openai
from openai.types import Batch

Line = dict[str, Any]
ENDED = frozenset({"completed", "failed", "expired", "cancelled"})
CHAT = "/v1/chat/completions"
EMBEDDINGS = "/v1/embeddings"


def chat_line(i: int, model: str, text: str | None = None) -> Line:
    return {"custom_id": f"request-{i}", "method": "POST", "url": CHAT,
            "body": {"model": model, "max_tokens": 100, "messages": [
                {"role": "system", "content": "You are a helpful assistant."},
                {"role": "user", "content": text or f"What is {i} + {i}?"}]}}


def embeddings_line(i: int, model: str = "text-embedding-3-small") -> Line:
    return {"custom_id": f"embed-{i}", "method": "POST", "url": EMBEDDINGS,
            "body": {"model": model, "input": [f"text {i}", f"more {i}"],
                     "encoding_format": "float"}}


def jsonl(lines: list[Line]) -> bytes:
    return "\n".join(json.dumps(line) for line in lines).encode()


def client(url: str, provider: str | None = None, api_key: str = "any-key",
           **options: Any) -> openai.OpenAI:
    headers = {"x-model-provider": provider} if provider else {}
    return openai.OpenAI(base_url=url, api_key=api_key, default_headers=headers,
                         max_retries=0, **options)


def upload(sdk: openai.OpenAI, lines: list[Line] | bytes, name: str = "batch.jsonl") -> str:
    content = lines if isinstance(lines, bytes) else jsonl(lines)
    return sdk.files.create(file=(name, io.BytesIO(content)), purpose="batch").id


def wait(sdk: openai.OpenAI, batch_id: str, statuses: frozenset[str] = ENDED,
         timeout: float = 30) -> Batch:
    deadline = time.monotonic() + timeout
    while (batch := sdk.batches.retrieve(batch_id)).status not in statuses:
        if time.monotonic() > deadline:
            raise AssertionError(f"batch {batch_id} still {batch.status} after {timeout} s")
        time.sleep(0.1)
    return batch


def run(sdk: openai.OpenAI, lines: list[Line], endpoint: str = CHAT) -> Batch:
    """Upload, create, poll: the seed's first three steps."""
    batch = sdk.batches.create(input_file_id=upload(sdk, lines), endpoint=endpoint,  # type: ignore[arg-type]
                               completion_window="24h")
    return wait(sdk, batch.id)


def file_lines(sdk: openai.OpenAI, file_id: str | None) -> dict[str, Line]:
    """A batch's output or error file, by custom_id ({} when the batch has none)."""
    if file_id is None:
        return {}
    lines = [json.loads(line) for line in sdk.files.content(file_id).text.splitlines()]
    return {line["custom_id"]: line for line in lines}


def answer(line: Line) -> str:
    """The assistant's text in an output line's chat.completion."""
    text: str = line["response"]["body"]["choices"][0]["message"]["content"]
    return text
