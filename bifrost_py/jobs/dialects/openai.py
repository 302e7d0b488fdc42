"""OpenAI's batch lines: a file of `{"custom_id", "method", "url", "body"}` requests in, an output
file of the answers and an error file of the failures out, each a file of the Files API.

The whole input is checked before any request runs, as OpenAI checks it: one bad line fails the
batch with the errors listed (SPEC section 7).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator
from typing import Any

from bifrost_py.domain.jobs import OPENAI, Counts, Job
from bifrost_py.domain.objects import ObjectInfo
from bifrost_py.domain.records.neutral import Prompt
from bifrost_py.domain.records.openai_batch_lines import (
    EMBEDDINGS,
    EMPTY_FILE,
    BatchLine,
    LineError,
    answer_line,
    duplicate_custom_ids,
    error_answer_line,
    mismatched_models,
    parse_input_line,
)
from bifrost_py.domain.records.openai_chat import chat_completion, read_chat_request
from bifrost_py.domain.records.openai_embeddings import (
    EmbeddingsRequest,
    embeddings_response,
    read_embeddings_request,
)
from bifrost_py.jobs.batch_io import JobFailed, numbered_lines
from bifrost_py.jobs.dialects.base import CHAT, Item, Refused, Written
from bifrost_py.jobs.dialects.base import EMBEDDINGS as EMBEDDINGS_KIND
from bifrost_py.ports.file_store import FileStore
from bifrost_py.ports.files import Objects
from bifrost_py.ports.spools import Spool
from bifrost_py.ports.upstream import Result

MAX_ERRORS = 100  # of a refused input, how many errors the batch lists


class OpenAIDialect:
    name = OPENAI

    def __init__(self, objects: Objects, files: FileStore) -> None:
        self.objects = objects  # where the Files API keeps the bytes of its files
        self.files = files

    async def prepare(self, job: Job, inputs: list[ObjectInfo]) -> Job:
        endpoint = job.extra["endpoint"]
        requests: list[BatchLine] = []  # custom_id and model only: a file may be large
        errors: list[LineError] = []
        for obj in inputs:
            async for line_no, line in numbered_lines(self.objects.read(obj, 0, obj.size - 1)):
                parsed = parse_input_line(line, line_no, endpoint)
                if isinstance(parsed, BatchLine):
                    requests.append(BatchLine(parsed.custom_id,
                                              {"model": parsed.body.get("model")}, line_no))
                elif parsed is not None:
                    errors.append(parsed)
        if not requests and not errors:
            errors.append(EMPTY_FILE)
        errors += duplicate_custom_ids(requests) + mismatched_models(requests)
        if errors:
            errors.sort(key=lambda error: error.line or 0)
            raise JobFailed(f"The input file {job.extra['input_file_id']} has {len(errors)} "
                            f"invalid line(s); the first: {errors[0].message}",
                            [error.as_json() for error in errors[:MAX_ERRORS]])
        return dataclasses.replace(job, model_id=str(requests[0].body["model"]))

    def read(self, job: Job, line_no: int, line: bytes) -> Item | Refused | None:
        endpoint = job.extra["endpoint"]
        parsed = parse_input_line(line, line_no, endpoint)
        if parsed is None:
            return None
        if isinstance(parsed, LineError):
            return Refused(line_no, None, line, parsed.message)
        kind = EMBEDDINGS_KIND if endpoint == EMBEDDINGS else CHAT
        return Item(line_no, parsed.custom_id, parsed.body, parsed.body, kind)

    def request(self, job: Job, item: Item) -> Prompt | EmbeddingsRequest:
        if item.kind == EMBEDDINGS_KIND:
            return read_embeddings_request(item.request)
        return read_chat_request(item.request)

    def model(self, job: Job, item: Item) -> str:
        return job.model_id

    def written(self, job: Job, item: Item | Refused, result: Result) -> Written:
        custom_id = item.id or ""
        if result.openai_response is not None:
            status = int(result.openai_response.get("status_code", 200))
            body = result.openai_response.get("body") or {}
            usage = (body.get("usage") or {}) if isinstance(body, dict) else {}
            return (200 <= status < 300, int(usage.get("prompt_tokens") or 0),
                    int(usage.get("completion_tokens") or 0),
                    answer_line(custom_id, body, status))
        if result.completion is not None:
            completion = result.completion
            body = chat_completion(completion, job.model_id, int(time.time()))
            return (True, completion.input_tokens, completion.output_tokens,
                    answer_line(custom_id, body))
        if result.embeddings is not None and isinstance(item, Item):
            request = read_embeddings_request(item.request)
            body = embeddings_response(result.embeddings.vectors, request.model,
                                       result.embeddings.input_tokens, request.encoding_format)
            return True, result.embeddings.input_tokens, 0, answer_line(custom_id, body)
        status, message = result.error or (500, "The provider returned no result.")
        return False, 0, 0, error_answer_line(custom_id, status, message)

    async def publish(self, job: Job, inputs: list[ObjectInfo], spools: list[Spool],
                      counts: Counts) -> dict[str, Any]:
        """The output file if any request was answered, the error file if any failed."""
        written: dict[str, Any] = {}
        for ok, field, count in ((True, "output_file_id", counts.success),
                                 (False, "error_file_id", counts.errors)):
            if count:
                kind = "output" if ok else "error"
                file = await self.files.write(job.tenant, f"{job.name}_{kind}.jsonl",
                                              "batch_output", _lines(spools, ok))
                written[field] = file.file_id
        return written


async def _lines(spools: list[Spool], ok: bool) -> AsyncIterator[bytes]:
    for spool in spools:
        async for chunk in spool.outputs(ok):
            if chunk:
                yield chunk
