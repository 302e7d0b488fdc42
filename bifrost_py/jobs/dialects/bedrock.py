"""Bedrock's batch records: `{"recordId", "modelInput"}` lines in, `.jsonl.out` files and a
manifest out (SPEC section 3)."""

from __future__ import annotations

from typing import Any

from bifrost_py.domain.jobs import BEDROCK, Counts, Job
from bifrost_py.domain.objects import ObjectInfo
from bifrost_py.domain.records.lines import BadLine, Record, error_line, output_line, parse_line
from bifrost_py.domain.records.neutral import Prompt
from bifrost_py.domain.records.outputs import to_model_output
from bifrost_py.domain.records.prompt import to_prompt
from bifrost_py.jobs.batch_io import publish_outputs
from bifrost_py.jobs.dialects.base import Item, Refused, Written
from bifrost_py.ports.files import Objects
from bifrost_py.ports.spools import Spool
from bifrost_py.ports.upstream import Result


class BedrockDialect:
    name = BEDROCK

    def __init__(self, objects: Objects) -> None:
        self.objects = objects  # where the job's inputs are and its outputs go

    async def prepare(self, job: Job, inputs: list[ObjectInfo]) -> Job:
        return job  # Bedrock reports a bad line in its own output line, not by failing

    def read(self, job: Job, line_no: int, line: bytes) -> Item | Refused | None:
        parsed = parse_line(line, line_no)
        if parsed is None:
            return None
        if isinstance(parsed, BadLine):
            value = parsed.raw if parsed.model_input is None else parsed.model_input
            return Refused(line_no, parsed.record_id, value, parsed.message)
        return Item(line_no, parsed.record_id, parsed.model_input, parsed.model_input)

    def request(self, job: Job, item: Item) -> Prompt:
        return to_prompt(job.model_id, item.request, _invocation(job))

    def model(self, job: Job, item: Item) -> str:
        return job.model_id

    def written(self, job: Job, item: Item | Refused, result: Result) -> Written:
        record = Record(item.id or "", item.value, item.line_no)
        if isinstance(item, Refused) or result.completion is None:
            code, message = result.error or (500, "The provider returned no result.")
            return False, 0, 0, error_line(_errored(item), code, message)
        completion = result.completion
        output = to_model_output(job.model_id, _invocation(job), completion, item.request)
        return (True, completion.input_tokens, completion.output_tokens,
                output_line(record, output))

    async def publish(self, job: Job, inputs: list[ObjectInfo], spools: list[Spool],
                      counts: Counts) -> dict[str, Any]:
        await publish_outputs(self.objects, job, inputs, spools, counts)
        return {}


def _errored(item: Item | Refused) -> Record | BadLine:
    if isinstance(item, Item):
        return Record(item.id, item.request, item.line_no)
    return BadLine(item.line_no, item.id, item.value if isinstance(item.value, str) else "",
                   item.message, None if isinstance(item.value, str) else item.value)


def _invocation(job: Job) -> str:
    return job.invocation_type or "InvokeModel"
