"""A dialect: how the input lines of a job read, and how its output lines and files are written.

The engines run records the same way whatever API created the job; the dialect (Bedrock's
batch records, OpenAI's batch lines) is all that knows the client's formats, in both directions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from bifrost_py.domain.jobs import Counts, Job
from bifrost_py.domain.objects import ObjectInfo
from bifrost_py.domain.records.neutral import JsonObject, Prompt
from bifrost_py.domain.records.openai_embeddings import EmbeddingsRequest
from bifrost_py.ports.files import Objects
from bifrost_py.ports.spools import Spool
from bifrost_py.ports.upstream import Result

CHAT = "chat"
EMBEDDINGS = "embeddings"


@dataclass(frozen=True)
class Item:
    """One input line as a dialect reads it."""

    line_no: int
    id: str  # recordId, custom_id: what the output line names it by
    value: Any  # the line as written, quoted back in output lines where the dialect does
    request: JsonObject  # the model request: a Bedrock modelInput, an OpenAI body
    kind: str = CHAT


@dataclass(frozen=True)
class Refused:
    """An input line that cannot be read as a request; it gets an error line of its own."""

    line_no: int
    id: str | None
    value: Any
    message: str


Written = tuple[bool, int, int, bytes]  # ok, input tokens, output tokens, output line


class Dialect(Protocol):
    name: str
    objects: Objects  # where the job's inputs are, and its outputs go

    async def prepare(self, job: Job, inputs: list[ObjectInfo]) -> Job:
        """Before any record runs: the whole input checked as the dialect's API checks it
        (JobFailed when it refuses it), and what it tells of the job (its model)."""

    def read(self, job: Job, line_no: int, line: bytes) -> Item | Refused | None:
        """One input line (None when blank)."""

    def request(self, job: Job, item: Item) -> Prompt | EmbeddingsRequest:
        """The item's neutral request (RecordError when it cannot be read)."""

    def model(self, job: Job, item: Item) -> str:
        """The model the item asks for."""

    def written(self, job: Job, item: Item | Refused, result: Result) -> Written:
        """The output line for what became of one input line."""

    async def publish(self, job: Job, inputs: list[ObjectInfo], spools: list[Spool],
                      counts: Counts) -> dict[str, Any]:
        """The job's outputs from its spools, once it ends; what to add to its extra fields
        (the ids of the files it wrote)."""
