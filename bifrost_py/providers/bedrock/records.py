"""The bedrock provider running batches it did not get as Bedrock records (OpenAI's): each
request written as a Bedrock record in its model family's body, the file staged in S3
(`staging_uri`), run as a batch inference job with the configured role, and the job's output
lines read back from S3 as Completions.
"""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson

from bifrost_py.config import BedrockConfig
from bifrost_py.domain.jobs import Job, parse_s3_uri
from bifrost_py.domain.records.bedrock_bodies import from_model_output, to_model_input
from bifrost_py.ports.upstream import (
    Poll,
    Result,
    Upstream,
    UpstreamRefused,
    UpstreamRequest,
    UpstreamUnavailable,
)
from bifrost_py.providers.bedrock.batch import BedrockBatch
from bifrost_py.providers.bedrock.s3 import S3Endpoint

PROVIDER = "bedrock"
_KEY = re.compile(rb"<Key>([^<]*)</Key>")
_READ = 1 << 20


class BedrockRecords:
    provider = PROVIDER

    def __init__(self, settings: BedrockConfig, model_name: Callable[[str], str],
                 control: BedrockBatch, s3: S3Endpoint) -> None:
        self.settings = settings
        self.model_name = model_name
        self.control = control  # CreateModelInvocationJob, Get and Stop, signed and retried
        self.s3 = s3

    def request_line(self, request: UpstreamRequest) -> bytes:
        body = to_model_input(self.model_name(request.model_id), request.prompt)
        return orjson.dumps({"recordId": request.custom_id, "modelInput": body})

    def native(self, line: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
        return None  # a line of another dialect is never a Bedrock record as it is

    async def submit(self, job: Job, requests: Path, count: int) -> Upstream:
        bucket, prefix = self._staging(job)
        await self._put(bucket, f"{prefix}input.jsonl", requests)
        answer = await self.control.call("CreateModelInvocationJob", {
            "jobName": f"bifrost-{job.job_id}", "roleArn": self.settings.role_arn,
            "clientRequestToken": job.job_id, "modelId": self.model_name(job.model_id),
            "inputDataConfig": {"s3InputDataConfig": {
                "s3Uri": f"s3://{bucket}/{prefix}input.jsonl"}},
            "outputDataConfig": {"s3OutputDataConfig": {
                "s3Uri": f"s3://{bucket}/{prefix}output/"}},
            "timeoutDurationInHours": job.timeout_hours})
        arn = answer.get("jobArn")
        if not isinstance(arn, str):
            raise UpstreamUnavailable(PROVIDER, "CreateModelInvocationJob answered no jobArn")
        return {"arn": arn, "output": f"{prefix}output/"}

    async def poll(self, job: Job, upstream: Upstream) -> Poll:
        return await self.control.poll(job, upstream)

    async def results(self, job: Job, upstream: Upstream) -> AsyncIterator[Result]:
        """Every `.out` file the job wrote under its output prefix, line by line."""
        bucket, _ = self._staging(job)
        model = self.model_name(job.model_id)
        for key in await self._keys(bucket, upstream["output"]):
            if key.endswith(".jsonl.out"):
                async for line in self._lines(bucket, key):
                    yield _result(model, line)

    async def cancel(self, job: Job, upstream: Upstream) -> None:
        await self.control.cancel(job, upstream)

    async def aclose(self) -> None:
        return None  # the control plane and S3 clients are closed by their owners

    def _staging(self, job: Job) -> tuple[str, str]:
        if not self.settings.staging_uri or not self.settings.role_arn:
            raise UpstreamRefused(PROVIDER, "batches of the OpenAI dialect need "
                                  "providers.bedrock.staging_uri and role_arn", 400)
        bucket, prefix = parse_s3_uri(self.settings.staging_uri)
        prefix = f"{prefix.rstrip('/')}/" if prefix.strip("/") else ""
        return bucket, f"{prefix}{job.job_id}/"

    async def _put(self, bucket: str, key: str, path: Path) -> None:
        size = path.stat().st_size
        answer = await self.s3.send("PUT", f"/{bucket}/{quote(key, safe='/~')}", "",
                                    {"content-length": str(size),
                                     "content-type": "application/jsonl"},
                                    _chunks(path), "UNSIGNED-PAYLOAD")
        body = await answer.read()
        await answer.aclose()
        _check(answer.status, body, f"PUT s3://{bucket}/{key}")

    async def _keys(self, bucket: str, prefix: str) -> list[str]:
        keys: list[str] = []
        token = ""
        while True:
            query = f"list-type=2&prefix={quote(prefix, safe='')}" + (
                f"&continuation-token={quote(token, safe='')}" if token else "")
            answer = await self.s3.send("GET", f"/{bucket}", query, {}, None, "UNSIGNED-PAYLOAD")
            body = await answer.read()
            await answer.aclose()
            _check(answer.status, body, f"listing s3://{bucket}/{prefix}")
            keys += [html.unescape(key.decode()) for key in _KEY.findall(body)]
            found = re.search(rb"<NextContinuationToken>([^<]*)</NextContinuationToken>", body)
            if found is None:
                return keys
            token = html.unescape(found.group(1).decode())

    async def _lines(self, bucket: str, key: str) -> AsyncIterator[bytes]:
        answer = await self.s3.send("GET", f"/{bucket}/{quote(key, safe='/~')}", "", {}, None,
                                    "UNSIGNED-PAYLOAD")
        try:
            if answer.status != 200:
                _check(answer.status, await answer.read(), f"GET s3://{bucket}/{key}")
            rest = b""
            async for chunk in answer.chunks():
                lines = (rest + chunk).split(b"\n")
                rest = lines.pop()
                for line in lines:
                    if line.strip():
                        yield line
            if rest.strip():
                yield rest
        finally:
            await answer.aclose()


def _result(model: str, raw: bytes) -> Result:
    """One output line of the job: its record's answer, or the error Bedrock gave it."""
    try:
        line = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return Result(None, error=(502, "Bedrock wrote an output line that is not JSON"))
    record_id = line.get("recordId") if isinstance(line, dict) else None
    if not isinstance(record_id, str):
        return Result(None, error=(502, "Bedrock wrote an output line without its recordId"))
    error = line.get("error")
    if isinstance(error, dict):
        code = error.get("errorCode")
        return Result(record_id, error=(code if isinstance(code, int) else 500,
                                        str(error.get("errorMessage") or "Bedrock refused it")))
    try:
        return Result(record_id, completion=from_model_output(model, line.get("modelOutput")))
    except ValueError as exc:
        return Result(record_id, error=(502, f"unreadable answer from Bedrock: {exc}"))


def _check(status: int, body: bytes, what: str) -> None:
    if 200 <= status < 300:
        return
    code = re.search(rb"<Code>([^<]*)</Code>", body)
    message = f"{what}: {status} {code.group(1).decode() if code else 'error'}"
    if status in (429, 503) or status >= 500:
        raise UpstreamUnavailable(PROVIDER, message, status)
    raise UpstreamRefused(PROVIDER, message, status)


async def _chunks(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as file:
        while chunk := file.read(_READ):
            yield chunk
