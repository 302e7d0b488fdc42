"""Reading a job's input and publishing its outputs: the same for every provider that runs
records itself or fetches results from upstream."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson

from bifrost_py.domain.jobs import Counts, Job, parse_s3_uri
from bifrost_py.domain.objects import ObjectInfo
from bifrost_py.domain.tenancy import stored_bucket
from bifrost_py.errors import AwsError
from bifrost_py.ports.files import Objects
from bifrost_py.ports.spools import Spool


class JobFailed(Exception):
    """The job cannot run at all (its input is missing, unreadable, ...): status Failed.
    `errors` are the dialect's own account of why, kept with the job (OpenAI's batch errors)."""

    def __init__(self, message: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.errors = errors


async def find_inputs(objects: Objects, job: Job) -> list[ObjectInfo]:
    """The input object, or every .jsonl object under the input prefix.

    For providers whose ETags are their file ids, `s3://<any bucket>/<file id>` names the file.
    """
    bucket, key = job_location(job, job.input_uri)
    try:
        if key and not key.endswith("/"):
            with contextlib.suppress(AwsError):
                return [await objects.get(bucket, key)]
            by_id = await objects.find_by_etag(key, job.tenant)
            if by_id is not None:
                return [by_id]
        found = [o async for o in _under(objects, bucket, key) if o.key.endswith(".jsonl")]
    except AwsError as exc:
        raise JobFailed(f"The input {job.input_uri} cannot be read: {exc.message}") from None
    if not found:
        raise JobFailed(f"The input {job.input_uri} does not name an object or a prefix with "
                        ".jsonl files.")
    return found


async def publish_outputs(objects: Objects, job: Job, inputs: list[ObjectInfo],
                          spools: list[Spool], counts: Counts) -> None:
    """`{output}/{job id}/{input name}.out` per input, and `manifest.json.out`."""
    bucket, base = output_location(job)
    input_prefix = parse_s3_uri(job.input_uri)[1]
    try:
        for obj, spool in zip(inputs, spools, strict=True):
            # One input file keeps its name; files under a prefix keep their relative path.
            name = obj.key.rsplit("/", 1)[-1] if len(inputs) == 1 else obj.key[len(input_prefix):]
            await objects.write(bucket, f"{base}{name}.out", spool.outputs(), "application/jsonl")
        await objects.write(bucket, f"{base}manifest.json.out", _one(manifest(counts)),
                            "application/json")
    except AwsError as exc:
        raise JobFailed(f"The output {job.output_uri} cannot be written: {exc.message}") from None


def check_record_count(total: int, limit: int) -> None:
    """A job may hold at most `limit` records (0: any number), as AWS's quota per job."""
    if limit and total > limit:
        raise JobFailed(f"The input holds {total} records, more than the {limit} a job may have "
                        "(server.max_records_per_job).")


def output_location(job: Job) -> tuple[str, str]:
    """The stored bucket of a job's outputs, and the prefix they are written under."""
    bucket, prefix = job_location(job, job.output_uri)
    return bucket, f"{prefix.rstrip('/')}/{job.job_id}/" if prefix.strip("/") else f"{job.job_id}/"


def job_location(job: Job, uri: str) -> tuple[str, str]:
    """The stored bucket and the key of an s3:// URI of a job: in its tenant's buckets."""
    bucket, key = parse_s3_uri(uri)
    return stored_bucket(job.tenant, bucket), key


def remove_work(work_dir: Path, job: Job) -> None:
    """Everything a job kept on disk while it ran: spools, a request file."""
    directory = work_dir / job.job_id
    for path in directory.glob("*"):
        path.unlink()
    with contextlib.suppress(FileNotFoundError):
        directory.rmdir()


def manifest(counts: Counts) -> bytes:
    return orjson.dumps({
        "totalRecordCount": counts.total, "processedRecordCount": counts.processed,
        "successRecordCount": counts.success, "errorRecordCount": counts.errors,
        "inputTokenCount": counts.input_tokens, "outputTokenCount": counts.output_tokens,
    }) + b"\n"


def counts_of(spools: list[Spool], total: int | None) -> Counts:
    tallies = [s.tally for s in spools]
    return Counts(total, sum(t.processed for t in tallies), sum(t.success for t in tallies),
                  sum(t.errors for t in tallies), sum(t.input_tokens for t in tallies),
                  sum(t.output_tokens for t in tallies))


async def numbered_lines(chunks: AsyncIterator[bytes]) -> AsyncIterator[tuple[int, bytes]]:
    """Numbered lines (from 1) of a byte stream; the last may lack its newline."""
    number, rest = 0, b""
    async for chunk in chunks:
        lines = (rest + chunk).split(b"\n")
        rest = lines.pop()
        for line in lines:
            number += 1
            yield number, line
    if rest:
        yield number + 1, rest


async def count_records(objects: Objects, inputs: list[ObjectInfo]) -> int:
    total = 0
    for obj in inputs:
        total += sum([1 async for _, line in numbered_lines(objects.read(obj, 0, obj.size - 1))
                      if line.strip()])
    return total


async def _under(objects: Objects, bucket: str, prefix: str) -> AsyncIterator[ObjectInfo]:
    after = ""
    while True:
        page = await objects.list_keys(bucket, prefix=prefix, after=after)
        for obj in page.objects:
            yield obj
        if not page.truncated:
            return
        after = page.last_key or ""


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data
