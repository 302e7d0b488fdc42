"""A fake AWS Bedrock control plane for batch inference, whose "files" live in S3 (moto).

`with MotoS3() as s3, FakeBedrock(s3.url) as fake:` serves the model-invocation-job operations
(rest-json, SigV4 verified with botocore's own signer) at `fake.url`; jobs read their JSONL input
from S3 and write `{outputUri}/{jobId}/{file}.out` and `manifest.json.out` back, echoing each
record. `fake.requests`, `fake.jobs` and `fake.tags` record what came.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import posixpath
import re
import socket
import subprocess
import sys
import threading
import time
import uuid
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import unquote

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bifrost_py.testing import ServerThread, free_port
from tests.fakes.bedrock_wire import (
    _CODES,
    AwsError,
    _check,
    _describe,
    _error,
    _Job,
    _json,
    _parse,
)

# One session for every S3 client made here: it caches the loaded service models (a new session
# per client costs ~0.3 s). Clients are made on the caller's thread only.
_SESSION = boto3.session.Session()
_ENDED = {"Completed", "PartiallyCompleted", "Failed", "Stopped", "Expired"}
_AUTH = re.compile(r"AWS4-HMAC-SHA256 Credential=([^/,]+)/[^,]*, ?SignedHeaders=([^,]+), ?"
                   r"Signature=([0-9a-f]+)")
_JOB_PATH = re.compile(r"/model-invocation-job/([^/]+)(/stop)?")
_TAG_OPS = {"/tagResource": "TagResource", "/untagResource": "UntagResource",
            "/listTagsForResource": "ListTagsForResource"}


class _InputError(Exception):
    """The job cannot run at all: it ends Failed with this message."""


class FakeBedrock:
    """`outcome` ("completed" | "failed" | "expired") applies to jobs created afterwards; `hold`
    keeps jobs InProgress before their first record until cleared; `fail_requests(n, status)`."""

    def __init__(self, s3_endpoint_url: str, access_key_id: str = "AKIAFAKEBEDROCK00001",
                 secret_access_key: str = "fake-secret", region: str = "us-west-2",
                 account_id: str = "111122223333", process_seconds: float = 0.2) -> None:
        self.access_key_id, self.secret_access_key = access_key_id, secret_access_key
        self.region, self.account_id = region, account_id
        self.process_seconds = process_seconds
        self.outcome = "completed"
        self.hold = False
        self.requests: list[tuple[str, str]] = []
        self.jobs: dict[str, _Job] = {}
        self.tags: dict[str, dict[str, str]] = {}
        self._failures: list[int] = []
        self._lock = threading.Lock()
        self._s3 = _SESSION.client(
            "s3", endpoint_url=s3_endpoint_url, aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key, region_name=region,
            config=Config(s3={"addressing_style": "path"}))
        # Jobs run on a loop of our own, not uvicorn's: they must survive stop()/start().
        self._loop: asyncio.AbstractEventLoop | None = None
        self._worker: threading.Thread | None = None
        app = Starlette(routes=[Route("/{rest:path}", self._handle, methods=["GET", "POST"])])
        self._server = ServerThread(app)
        self.url = self._server.url

    def fail_requests(self, n: int, status: int) -> None:
        self._failures.extend([status] * n)

    def start(self) -> FakeBedrock:
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
            self._worker = threading.Thread(target=self._loop.run_forever, daemon=True,
                                            name=f"fake-bedrock-jobs-{self._server.port}")
            self._worker.start()
        self._server.start()
        return self

    def stop(self) -> None:
        """Stop answering HTTP; jobs keep running and the state stays."""
        self._server.stop()

    def __enter__(self) -> FakeBedrock:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
        if self._loop is not None and self._worker is not None:
            asyncio.run_coroutine_threadsafe(_cancel_all(), self._loop).result(timeout=10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._worker.join(timeout=10)
            self._loop.close()
            self._loop = self._worker = None

    # --- HTTP ---------------------------------------------------------------------------------

    async def _handle(self, request: Request) -> Response:
        raw_path = request.scope["raw_path"].decode()
        self.requests.append((request.method, raw_path))
        if self._failures:
            status = self._failures.pop(0)
            return _error(AwsError(status, _CODES.get(status, "InternalServerException"),
                                   f"fake failure ({status})"))
        body = await request.body()
        try:
            self._authenticate(request, body)
            return _json(self._dispatch(request, raw_path, body))
        except AwsError as error:
            return _error(error)

    def _dispatch(self, request: Request, raw_path: str, body: bytes) -> dict[str, Any]:
        method, match = request.method, _JOB_PATH.fullmatch(raw_path)
        if method == "POST" and raw_path == "/model-invocation-job":
            return self._create(_parse(body, "CreateModelInvocationJob"))
        if method == "GET" and raw_path == "/model-invocation-jobs":
            return self._list(dict(request.query_params))
        if match and method == "GET" and not match.group(2):
            return _describe(self._find(match.group(1)))
        if match and method == "POST" and match.group(2):
            return self._stop(self._find(match.group(1)))
        if method == "POST" and raw_path in _TAG_OPS:
            return self._tag_op(_TAG_OPS[raw_path], _parse(body, _TAG_OPS[raw_path]))
        raise AwsError(404, "UnknownOperationException", f"No operation at {method} {raw_path}")

    def _authenticate(self, request: Request, body: bytes) -> None:
        header = request.headers.get("authorization")
        if header is None:
            raise AwsError(403, "MissingAuthenticationTokenException",
                           "Missing Authentication Token")
        match = _AUTH.fullmatch(header)
        if match is None:
            raise AwsError(403, "IncompleteSignatureException", "Malformed Authorization header.")
        access_key, signed_headers, signature = match.groups()
        if access_key != self.access_key_id:
            raise AwsError(403, "UnrecognizedClientException",
                           "The security token included in the request is invalid.")
        if not hmac.compare_digest(self._signature(request, body, signed_headers), signature):
            raise AwsError(403, "InvalidSignatureException",
                           "The request signature we calculated does not match the signature you "
                           "provided. Check your AWS Secret Access Key and signing method.")

    def _signature(self, request: Request, body: bytes, signed_headers: str) -> str:
        """botocore's own SigV4 over the raw path and query as they came (botocore re-quotes the
        path, so a %3A in an ARN is signed as %253A, just as the client signed it)."""
        query = request.scope["query_string"].decode()
        url = f"http://{request.headers.get('host', '')}{request.scope['raw_path'].decode()}"
        headers = {name: ",".join(request.headers.getlist(name))
                   for name in signed_headers.split(";")}
        rebuilt = AWSRequest(method=request.method, url=f"{url}?{query}" if query else url,
                             headers=headers, data=body)
        rebuilt.context["timestamp"] = request.headers.get("x-amz-date", "")
        signer = SigV4Auth(Credentials(self.access_key_id, self.secret_access_key), "bedrock",
                           self.region)
        return str(signer.signature(
            signer.string_to_sign(rebuilt, signer.canonical_request(rebuilt)), rebuilt))

    # --- operations ---------------------------------------------------------------------------

    def _create(self, spec: dict[str, Any]) -> dict[str, Any]:
        token = spec.get("clientRequestToken")
        with self._lock:
            for job in self.jobs.values():
                if token is not None and job.spec.get("clientRequestToken") == token:
                    return {"jobArn": job.arn}  # an idempotent retry, not a second job
            job_id = uuid.uuid4().hex[:12]  # 12 of [a-z0-9], as AWS's pattern wants
            arn = f"arn:aws:bedrock:{self.region}:{self.account_id}:model-invocation-job/{job_id}"
            job = self.jobs[job_id] = _Job(job_id, arn, spec, self.outcome)
            self.tags[arn] = {tag["key"]: tag["value"] for tag in spec.get("tags", [])}
        assert self._loop is not None
        asyncio.run_coroutine_threadsafe(self._run(job), self._loop)
        return {"jobArn": arn}

    def _find(self, raw_identifier: str) -> _Job:
        identifier = unquote(raw_identifier)
        _check("GetModelInvocationJob", {"jobIdentifier": identifier})
        job = self.jobs.get(identifier.rsplit("/", 1)[-1])
        if job is None or identifier not in (job.job_id, job.arn):
            raise AwsError(404, "ResourceNotFoundException", f"Job {identifier} not found.")
        return job

    def _list(self, query: dict[str, str]) -> dict[str, Any]:
        params: dict[str, Any] = dict(query)
        try:
            params["maxResults"] = int(query.get("maxResults", "1000"))
            offset = int(query.get("nextToken", "0"))
            after, before = (datetime.fromisoformat(query[name]).timestamp() if name in query
                             else default for name, default in
                             (("submitTimeAfter", 0.0), ("submitTimeBefore", float("inf"))))
        except ValueError as error:
            raise AwsError(400, "ValidationException", f"Invalid query: {error}") from error
        _check("ListModelInvocationJobs", params)
        jobs = sorted(self.jobs.values(), key=lambda job: job.submit_time,
                      reverse=query.get("sortOrder", "Descending") == "Descending")
        jobs = [job for job in jobs if after < job.submit_time < before
                and query.get("statusEquals", job.status) == job.status
                and query.get("nameContains", "") in job.spec["jobName"]]
        page = jobs[offset:offset + params["maxResults"]]
        answer: dict[str, Any] = {"invocationJobSummaries": [_describe(job) for job in page]}
        if offset + len(page) < len(jobs):
            answer["nextToken"] = str(offset + len(page))
        return answer

    def _stop(self, job: _Job) -> dict[str, Any]:
        with self._lock:
            if job.status in _ENDED or job.stop_requested:
                raise AwsError(400, "ValidationException",
                               f"The job {job.arn} cannot be stopped in status {job.status}.")
            job.stop_requested, job.status, job.modified = True, "Stopping", time.time()
        return {}

    def _tag_op(self, operation: str, body: dict[str, Any]) -> dict[str, Any]:
        tags = self.tags.get(body["resourceARN"])
        if tags is None:
            raise AwsError(404, "ResourceNotFoundException", f"{body['resourceARN']} not found.")
        if operation == "TagResource":
            tags.update({tag["key"]: tag["value"] for tag in body["tags"]})
        elif operation == "UntagResource":
            for key in body["tagKeys"]:
                tags.pop(key, None)
        else:
            return {"tags": [{"key": key, "value": value} for key, value in tags.items()]}
        return {}

    # --- processing ---------------------------------------------------------------------------

    async def _run(self, job: _Job) -> None:
        """Submitted -> Validating -> InProgress -> an end status, over process_seconds."""
        pace = self.process_seconds
        results: dict[str, list[dict[str, Any]]] = {}
        try:
            await asyncio.sleep(pace * 0.1)
            if self._advance(job, "Validating"):
                await asyncio.sleep(pace * 0.1)
                if job.outcome == "failed":
                    raise _InputError("Validation failed: the fake was told to fail this job.")
                files = await asyncio.to_thread(self._read_inputs, job)
                job.total = sum(len(lines) for _, lines in files)
                if self._advance(job, "InProgress"):
                    await self._process(job, files, results)
            await self._end(job, results)
        except _InputError as error:
            self._finish(job, "Failed", str(error))
        except Exception as error:  # a job must end Failed, never hang InProgress
            self._finish(job, "Failed", f"Internal error: {error!r}")

    async def _process(self, job: _Job, files: list[tuple[str, list[str]]],
                       results: dict[str, list[dict[str, Any]]]) -> None:
        while self.hold and not job.stop_requested:
            await asyncio.sleep(0.02)
        budget = job.total // 2 if job.outcome == "expired" else job.total
        delay = self.process_seconds * 0.8 / max(job.total, 1)
        for name, lines in files:
            out = results.setdefault(name, [])
            for line in lines:
                if job.stop_requested or job.processed >= budget:
                    return
                await asyncio.sleep(delay)
                entry, tokens_in, tokens_out = _answer(job.spec, job.processed + 1, line)
                out.append(entry)
                job.input_tokens += tokens_in
                job.output_tokens += tokens_out
                if "error" in entry:
                    job.errors += 1
                else:
                    job.success += 1
                job.processed += 1
                job.modified = time.time()

    async def _end(self, job: _Job, results: dict[str, list[dict[str, Any]]]) -> None:
        if job.stop_requested:
            await asyncio.sleep(self.process_seconds / 4)  # Stopping stays visible for a while
        await asyncio.to_thread(self._write_outputs, job, results)
        if job.processed == job.total:
            self._finish(job, "Completed")
        elif job.processed:
            self._finish(job, "PartiallyCompleted", "Not all records could be processed in time.")
        else:
            self._finish(job, "Expired", "The job timed out before it could begin.")

    def _advance(self, job: _Job, status: str) -> bool:
        with self._lock:
            if job.stop_requested:
                return False
            job.status, job.modified = status, time.time()
            return True

    def _finish(self, job: _Job, status: str, message: str | None = None) -> None:
        with self._lock:
            if job.stop_requested and status != "Failed":
                status, message = "Stopped", None
            job.status, job.message = status, message
            job.modified = job.end_time = time.time()

    def _read_inputs(self, job: _Job) -> list[tuple[str, list[str]]]:
        """One object, or every .jsonl under a prefix: (file name, non-blank lines) each."""
        uri = job.spec["inputDataConfig"]["s3InputDataConfig"]["s3Uri"]
        bucket, key = _split_uri(uri)
        folder = key.rstrip("/") + "/" if key else ""
        try:
            pages = self._s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key)
            found = [item["Key"] for page in pages for item in page.get("Contents", [])]
        except ClientError as error:
            raise _InputError(f"Unable to read the input {uri}: {error}") from error
        keys = [key] if key in found else sorted(
            name for name in found if name.startswith(folder) and name.endswith(".jsonl"))
        if not keys:
            raise _InputError(f"The input {uri} does not exist or holds no .jsonl file.")
        return [(posixpath.basename(name), self._lines(bucket, name)) for name in keys]

    def _lines(self, bucket: str, key: str) -> list[str]:
        text = self._s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")
        return [line for line in text.splitlines() if line.strip()]

    def _write_outputs(self, job: _Job, results: dict[str, list[dict[str, Any]]]) -> None:
        bucket, prefix = _split_uri(job.spec["outputDataConfig"]["s3OutputDataConfig"]["s3Uri"])
        base = "/".join(part for part in (prefix.strip("/"), job.job_id) if part)
        for name, entries in results.items():
            if entries:
                body = "".join(json.dumps(entry) + "\n" for entry in entries)
                self._s3.put_object(Bucket=bucket, Key=f"{base}/{name}.out", Body=body.encode())
        manifest = {"totalRecordCount": job.total, "processedRecordCount": job.processed,
                    "successRecordCount": job.success, "errorRecordCount": job.errors,
                    "inputTokenCount": job.input_tokens, "outputTokenCount": job.output_tokens}
        self._s3.put_object(Bucket=bucket, Key=f"{base}/manifest.json.out",
                            Body=json.dumps(manifest).encode())


class MotoS3:
    """moto_server on a free loopback port as a subprocess: `with MotoS3() as s3: s3.url`."""

    def __init__(self, port: int = 0) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None

    def client(self, access_key_id: str = "AKIAFAKEBEDROCK00001",
               secret_access_key: str = "fake-secret", region: str = "us-west-2") -> Any:
        return _SESSION.client(
            "s3", endpoint_url=self.url, aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key, region_name=region)

    def __enter__(self) -> MotoS3:
        binary = Path(sys.executable).parent / "moto_server"
        self._process = subprocess.Popen([str(binary), "-H", "127.0.0.1", "-p", str(self.port)],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while True:
            try:  # it serves as soon as it listens
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                if time.monotonic() > deadline or self._process.poll() is not None:
                    self.__exit__(None, None, None)
                    raise RuntimeError("moto_server did not start") from None
                time.sleep(0.05)

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process = None


# --- records ----------------------------------------------------------------------------------

def _answer(spec: dict[str, Any], number: int, line: str) -> tuple[dict[str, Any], int, int]:
    """One output line (an answer, or an error for FAIL and non-JSON lines) and its tokens."""
    try:
        record = json.loads(line)
    except ValueError:
        record = None
    if not isinstance(record, dict):
        return _failed(f"{number:011d}", line, "Malformed input: the line is not a JSON object.")
    record_id, model_input = record.get("recordId") or f"{number:011d}", record.get("modelInput")
    if "FAIL" in line or not isinstance(model_input, dict):
        return _failed(record_id, model_input, "The model refused this record (FAIL).")
    messages = model_input.get("messages") or []
    last: dict[str, Any] = next((m for m in reversed(messages) if m.get("role") == "user"), {})
    reply = "echo: " + _text(last.get("content"))
    prompt = [_text(m.get("content")) for m in messages] + [_text(model_input.get("system"))]
    tokens_in, tokens_out = sum(_tokens(text) for text in prompt), _tokens(reply)
    model_id = spec["modelId"]
    if "anthropic." in model_id and spec.get("modelInvocationType") != "Converse":
        output: dict[str, Any] = {
            "id": f"msg_bdrk_{uuid.uuid4().hex[:24]}", "type": "message", "role": "assistant",
            "model": re.sub(r"-v\d+(:\d+)?$", "", model_id.split("anthropic.", 1)[1]),
            "content": [{"type": "text", "text": reply}], "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": tokens_in, "output_tokens": tokens_out}}
    else:
        output = {"output": {"message": {"role": "assistant", "content": [{"text": reply}]}},
                  "stopReason": "end_turn",
                  "usage": {"inputTokens": tokens_in, "outputTokens": tokens_out,
                            "totalTokens": tokens_in + tokens_out}}
    entry = {"recordId": record_id, "modelInput": model_input, "modelOutput": output}
    return entry, tokens_in, tokens_out


def _failed(record_id: str, model_input: Any, message: str) -> tuple[dict[str, Any], int, int]:
    return {"recordId": record_id, "modelInput": model_input,
            "error": {"errorCode": 400, "errorMessage": message}}, 0, 0


def _text(content: Any) -> str:
    """Text of an Anthropic (str or typed blocks) or Converse ([{"text"}]) content/system."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(part["text"] for part in content
                         if isinstance(part, dict) and isinstance(part.get("text"), str))
    return ""


def _tokens(text: str) -> int:
    return (len(text) + 3) // 4  # about four characters a token: deterministic


def _split_uri(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


async def _cancel_all() -> None:
    """End the jobs still running when the fake closes, so their tasks do not outlive it."""
    tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.get_running_loop().shutdown_default_executor()
