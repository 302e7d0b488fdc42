"""A job's outputs as the dashboard offers them: the files it wrote, and its first error lines.

Bedrock jobs' outputs are objects under `{output}/{job id}/` in their provider's files; OpenAI
batches' are the output and error files of the Files API. Jobs on the bedrock provider write to
real S3, which the dashboard does not read.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass

import orjson

from bifrost_py.domain.jobs import OPENAI, Job
from bifrost_py.domain.objects import ObjectInfo
from bifrost_py.errors import AwsError
from bifrost_py.jobs.batch_io import numbered_lines, output_location
from bifrost_py.ports.file_store import FileStore
from bifrost_py.ports.files import Objects

MAX_ERROR_LINES = 50
MAX_SCANNED = 64 * 2**20  # bytes of output read looking for error lines, at most
MAX_ERROR_TEXT = 500
_OPENAI_FILES = ("output_file_id", "error_file_id")


@dataclass(frozen=True)
class Output:
    name: str  # what its download link names it by: a key under the job's prefix, a file id
    label: str
    size: int
    read: Callable[[], AsyncIterator[bytes]]
    errors_only: bool = False  # an OpenAI batch's error file


@dataclass(frozen=True)
class ErrorLine:
    record: str  # recordId or custom_id
    text: str


class Outputs:
    def __init__(self, objects: Mapping[str, Objects], files: FileStore) -> None:
        self.objects = objects
        self.files = files

    async def of(self, job: Job) -> list[Output]:
        """What the job wrote; nothing before it ends (outputs are published at the end)."""
        if not job.ended:
            return []
        if job.dialect == OPENAI:
            return await self._batch_files(job)
        objects = self.objects.get(job.provider)
        return await _objects(objects, job) if objects is not None else []

    async def errors(self, job: Job, outputs: list[Output]) -> list[ErrorLine]:
        """Up to MAX_ERROR_LINES of the job's error lines, from its first MAX_SCANNED bytes."""
        found: list[ErrorLine] = []
        scanned = 0
        # A batch's error file holds them all; a Bedrock job's lines are mixed in its outputs.
        sources = [o for o in outputs if o.errors_only] or outputs
        for output in sources if job.counts.errors else []:
            async for _, line in numbered_lines(output.read()):
                scanned += len(line) + 1
                error = _error_line(line, output.errors_only)
                if error is not None:
                    found.append(error)
                if len(found) >= MAX_ERROR_LINES or scanned >= MAX_SCANNED:
                    return found
        return found

    async def _batch_files(self, job: Job) -> list[Output]:
        found = []
        for field in _OPENAI_FILES:
            file_id = job.extra.get(field)
            try:
                file = await self.files.get(job.tenant, file_id) if file_id else None
            except AwsError:
                continue  # deleted by its owner
            if file is not None:
                found.append(Output(file.file_id, file.filename, file.bytes,
                                    functools.partial(self.files.read, file),
                                    field == "error_file_id"))
        return found


async def _objects(objects: Objects, job: Job) -> list[Output]:
    bucket, prefix = output_location(job)
    try:
        listing = await objects.list_keys(bucket, prefix=prefix)
    except AwsError:
        return []
    return [Output(obj.key[len(prefix):], obj.key[len(prefix):], obj.size,
                   _reader(objects, obj)) for obj in listing.objects]


def _reader(objects: Objects, obj: ObjectInfo) -> Callable[[], AsyncIterator[bytes]]:
    async def read() -> AsyncIterator[bytes]:
        if obj.size:
            async for chunk in objects.read(obj, 0, obj.size - 1):
                yield chunk

    return read


def _error_line(line: bytes, errors_only: bool) -> ErrorLine | None:
    """The record and message of an error line; None for an answer or a manifest."""
    if not errors_only and b'"error"' not in line:
        return None
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(value, dict):
        return None
    error = value.get("error") or _response_error(value)
    if not error:
        return None
    record = str(value.get("recordId") or value.get("custom_id") or "")
    return ErrorLine(record, _error_text(error)[:MAX_ERROR_TEXT])


def _response_error(value: dict[str, object]) -> object:
    """An OpenAI error file's line carries the error in its response's body."""
    response = value.get("response")
    body = response.get("body") if isinstance(response, dict) else None
    return body.get("error") if isinstance(body, dict) else None


def _error_text(error: object) -> str:
    if not isinstance(error, dict):
        return str(error)
    code = error.get("errorCode") or error.get("code") or error.get("type") or ""
    message = error.get("errorMessage") or error.get("message") or orjson.dumps(error).decode()
    return f"{code}: {message}" if code else str(message)
