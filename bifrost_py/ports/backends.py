"""What the batch runner asks of a model backend: one neutral prompt in, one completion out;
or texts in, one embedding vector each out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from bifrost_py.domain.records.neutral import Completion, Prompt


class BackendError(Exception):
    """A record the backend could not answer; `code` is HTTP-like and lands in the error line.

    400 the request was refused, 429 still throttled after retries, 500/503 upstream failures.
    """

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Embeddings:
    vectors: list[list[float]]  # one per text, in order
    input_tokens: int


class Backend(Protocol):
    async def complete(self, model_id: str, prompt: Prompt) -> Completion: ...

    async def embed(self, model_id: str, texts: list[str], dimensions: int) -> Embeddings: ...

    async def aclose(self) -> None: ...
