"""A fake Gemini Developer API (files + batches) that google-genai can be pointed at.

`with FakeGemini() as fake:` then `genai.Client(api_key="test-key", http_options={"base_url":
fake.url, "api_version": "v1beta"})`. Batches answer every request with `echo: <last user text>`
after `process_seconds`. An input file holds lines `{"key", "request"}`; a results file holds
lines `{"key", "response" | "error"}` in input order (tests/fakes/README.md says where from).
Batch state is derived from the clock whenever the fake is asked anything, so batches keep
"running" while the fake is stopped, as a real provider's would.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bifrost_py.testing import ServerThread
from tests.fakes.faults import ResultFaults
from tests.fakes.gemini_answers import (
    INVALID_ARGUMENT,
    Json,
    _field,
    _inline_entries,
    _new_id,
    _result,
    _result_id,
    _rpc_status,
)

Handler = Callable[..., Awaitable[Response]]

_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
           404: "NOT_FOUND", 409: "ALREADY_EXISTS", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL",
           503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}
_BATCH_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch"
_OUTPUT_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatchOutput"
PENDING, RUNNING = "BATCH_STATE_PENDING", "BATCH_STATE_RUNNING"
SUCCEEDED, FAILED = "BATCH_STATE_SUCCEEDED", "BATCH_STATE_FAILED"
CANCELLED, EXPIRED = "BATCH_STATE_CANCELLED", "BATCH_STATE_EXPIRED"
_ENDED = {SUCCEEDED, FAILED, CANCELLED, EXPIRED}
_V = r"(v1|v1beta)"
_ID = r"([a-z0-9-]+)"
_FILE_TTL = 48 * 3600  # Gemini keeps uploaded files for 48 hours


@dataclass
class FakeFile:
    name: str  # "files/<id>"
    mime_type: str
    display_name: str | None
    source: str  # UPLOADED | GENERATED
    created: float
    data: bytes = b""
    declared_size: int | None = None
    complete: bool = False  # False while its resumable upload session is open
    deleted: bool = False


@dataclass
class FakeBatch:
    name: str  # "batches/<id>"
    model: str  # "models/<id>"
    display_name: str | None
    body: Json  # the create request as received
    outcome: str
    created: float
    results: list[Json]  # one result per request, in input order
    input_error: str | None
    inline: bool
    state: str = PENDING
    processed: int = 0
    updated: float = 0.0
    ended: float | None = None
    output: Json | None = None
    error: Json | None = None
    deleted: bool = False


class _Refused(Exception):
    """Raised by a handler to answer with a Google error."""

    def __init__(self, code: int, message: str, name: str | None = None) -> None:
        super().__init__(message)
        self.status = _status(code, message, name)


class FakeGemini:
    """`outcome`, `hold`, `process_seconds` and `result_faults` may be changed at any time;
    `requests` records (method, path) of every request, `files` and `batches` everything created,
    by resource name."""

    def __init__(self, api_key: str = "test-key", process_seconds: float = 0.2,
                 result_faults: ResultFaults | None = None) -> None:
        self.api_key = api_key
        self.result_faults = result_faults  # damage to the results of batches that end next
        self.process_seconds = process_seconds
        self.outcome = "completed"  # "completed" | "failed" | "expired", for batches created next
        self.hold = False  # True keeps unfinished batches running
        self.requests: list[tuple[str, str]] = []
        self.files: dict[str, FakeFile] = {}
        self.batches: dict[str, FakeBatch] = {}
        self._fail_left, self._fail_status = 0, 500
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = [
            ("POST", re.compile(f"/upload/{_V}/files"), self._upload),
            ("GET", re.compile(f"/(?:download/)?{_V}/files/{_ID}:download"), self._download),
            ("GET", re.compile(f"/{_V}/files"), self._list_files),
            ("GET", re.compile(f"/{_V}/files/{_ID}"), self._get_file),
            ("DELETE", re.compile(f"/{_V}/files/{_ID}"), self._delete_file),
            ("POST", re.compile(f"/{_V}/((?:models|tunedModels)/[^/:]+):batchGenerateContent"),
             self._create_batch),
            ("GET", re.compile(f"/{_V}/batches"), self._list_batches),
            ("GET", re.compile(f"/{_V}/batches/{_ID}"), self._get_batch),
            ("POST", re.compile(f"/{_V}/batches/{_ID}:cancel"), self._cancel_batch),
            ("DELETE", re.compile(f"/{_V}/batches/{_ID}"), self._delete_batch),
        ]
        app = Starlette(routes=[Route("/{path:path}", self._handle,
                                      methods=["GET", "POST", "DELETE"])])
        self._server = ServerThread(app)
        self.url = self._server.url

    def fail_requests(self, n: int, status: int) -> None:
        """The next n HTTP requests, to any endpoint, answer `status` in Google's error format."""
        self._fail_left, self._fail_status = n, status

    def start(self) -> FakeGemini:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> FakeGemini:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    async def _handle(self, request: Request) -> Response:
        self.requests.append((request.method, request.url.path))
        # An upload session URL is its own credential (the SDK sends no key with it), and the SDK
        # re-sends, sleeping 1+2+4 s, any answer on it that lacks X-Goog-Upload-Status.
        session = "upload_id" in request.query_params
        headers = {"X-Goog-Upload-Status": "final"} if session else {}
        try:
            return await self._dispatch(request, session)
        except _Refused as refused:
            if refused.status["code"] == 429:
                headers["Retry-After"] = "0"
            return Response(json.dumps({"error": refused.status}).encode(),
                            refused.status["code"], headers, "application/json")

    async def _dispatch(self, request: Request, session: bool) -> Response:
        if self._fail_left > 0:
            self._fail_left -= 1
            raise _Refused(self._fail_status, f"fake failure ({self._fail_status})")
        key = request.headers.get("x-goog-api-key") or request.query_params.get("key")
        if not session and key != self.api_key:
            raise _Refused(401, "API key not valid. Please pass a valid API key.")
        now = time.time()
        for batch in self.batches.values():
            self._advance(batch, now)
        for method, pattern, handler in self._routes:
            match = pattern.fullmatch(request.url.path)
            if match and method == request.method:
                return await handler(request, *match.groups())
        raise _Refused(404, f"Method not found: {request.method} {request.url.path}")

    async def _upload(self, request: Request, version: str) -> Response:
        upload_id = request.query_params.get("upload_id")
        if upload_id is not None:
            return await self._upload_chunk(request, upload_id, version)
        if request.headers.get("x-goog-upload-command", "").strip() != "start":
            raise _Refused(400, "Only resumable uploads (X-Goog-Upload-Command: start) are served")
        spec = (await _body(request)).get("file") or {}
        name = _field(spec, "name") or f"files/{_new_id()}"
        if name in self.files and not self.files[name].deleted:
            raise _Refused(409, f"File {name} already exists.")
        declared = request.headers.get("x-goog-upload-header-content-length", "")
        mime = (_field(spec, "mimeType") or request.headers.get("x-goog-upload-header-content-type")
                or "application/octet-stream")
        size = int(declared) if declared.isdigit() else None
        self.files[name] = FakeFile(name, mime, _field(spec, "displayName"), "UPLOADED",
                                    time.time(), declared_size=size)
        upload_url = (f"{self.url}/upload/{version}/files?upload_id={name.removeprefix('files/')}"
                      "&upload_protocol=resumable")
        return Response(b"", 200, {"X-Goog-Upload-URL": upload_url,
                                   "X-Goog-Upload-Status": "active"})

    async def _upload_chunk(self, request: Request, upload_id: str, version: str) -> Response:
        file = self.files.get(f"files/{upload_id}")
        if file is None or file.complete or file.deleted:
            raise _Refused(404, "No such upload session.")
        offset = int(request.headers.get("x-goog-upload-offset", "0"))
        if offset != len(file.data):
            raise _Refused(400, f"Upload offset {offset} != bytes received {len(file.data)}")
        file.data += await request.body()
        if "finalize" not in request.headers.get("x-goog-upload-command", ""):
            return Response(b"", 200, {"X-Goog-Upload-Status": "active"})
        if file.declared_size is not None and file.declared_size != len(file.data):
            raise _Refused(400, f"Declared {file.declared_size} bytes, got {len(file.data)}")
        file.complete = True
        return _json({"file": self._file_json(file, version)}, {"X-Goog-Upload-Status": "final"})

    async def _get_file(self, request: Request, version: str, file_id: str) -> Response:
        return _json(self._file_json(self._file(file_id), version))

    async def _list_files(self, request: Request, version: str) -> Response:
        files = [f for f in reversed(self.files.values()) if f.complete and not f.deleted]
        return _page(request, "files", [self._file_json(f, version) for f in files])

    async def _delete_file(self, request: Request, version: str, file_id: str) -> Response:
        self._file(file_id).deleted = True
        return _json({})

    async def _download(self, request: Request, version: str, file_id: str) -> Response:
        file = self._file(file_id)
        if file.source != "GENERATED":
            raise _Refused(400, "Only generated files can be downloaded.")
        return Response(file.data, 200, media_type=file.mime_type)

    def _file(self, file_id: str) -> FakeFile:
        file = self.files.get(f"files/{file_id}")
        if file is None or not file.complete or file.deleted:
            raise _Refused(404, f"files/{file_id} not found.")
        return file

    def _file_json(self, file: FakeFile, version: str) -> Json:
        digest = base64.b64encode(hashlib.sha256(file.data).digest()).decode()
        value: Json = {"name": file.name, "mimeType": file.mime_type,
                       "sizeBytes": str(len(file.data)), "createTime": _time(file.created),
                       "updateTime": _time(file.created),
                       "expirationTime": _time(file.created + _FILE_TTL), "sha256Hash": digest,
                       "uri": f"{self.url}/{version}/{file.name}", "state": "ACTIVE",
                       "source": file.source}
        if file.display_name:
            value["displayName"] = file.display_name
        if file.source == "GENERATED":
            value["downloadUri"] = f"{self.url}/download/{version}/{file.name}:download?alt=media"
        return value

    async def _create_batch(self, request: Request, version: str, model: str) -> Response:
        body = await _body(request)
        batch = body.get("batch") or {}
        config = _field(batch, "inputConfig") or {}
        file_name, inline = _field(config, "fileName"), _field(config, "requests")
        if (file_name is None) == (inline is None):
            raise _Refused(400, "batch.inputConfig needs exactly one of fileName or requests.")
        entries, input_error = (_inline_entries(inline) if inline is not None
                                else self._file_entries(str(file_name)))
        model_id = model.split("/", 1)[1]
        created = FakeBatch(f"batches/{_new_id()}", model, _field(batch, "displayName"), body,
                            self.outcome, time.time(),
                            [_result(e, model_id, inline is not None) for e in entries],
                            input_error, inline is not None)
        created.updated = created.created
        self.batches[created.name] = created
        return _json(self._batch_json(created))

    def _file_entries(self, file_name: str) -> tuple[list[Json], str | None]:
        """The input file's lines, or the error that will fail the batch when the file is missing.
        Lines that are not JSON objects refuse the create itself, one message line per bad line,
        as Gemini answers a file it cannot parse."""
        file = self.files.get(file_name)
        if file is None or not file.complete or file.deleted:
            return [], f"Input file {file_name} not found."
        entries: list[Json] = []
        problems: list[str] = []
        for number, line in enumerate(file.data.decode("utf-8", "replace").splitlines(), 1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except json.JSONDecodeError as bad:
                problems.append(f"Error on line {number}: invalid JSON, near column {bad.colno}: "
                                f"{bad.msg}")
                continue
            if not isinstance(entry, dict):
                problems.append(f"Error on line {number}: invalid JSON, near column 1: "
                                "expected '{'")
                continue
            entries.append(entry)
        if problems:
            raise _Refused(400, "\n".join(problems))
        return entries, None

    async def _get_batch(self, request: Request, version: str, batch_id: str) -> Response:
        return _json(self._batch_json(self._batch(batch_id)))

    async def _list_batches(self, request: Request, version: str) -> Response:
        batches = [b for b in reversed(self.batches.values()) if not b.deleted]
        # The list is of long-running operations: the SDK reads `operations`, not `batches`.
        return _page(request, "operations", [self._batch_json(b, listed=True) for b in batches])

    async def _cancel_batch(self, request: Request, version: str, batch_id: str) -> Response:
        batch = self._batch(batch_id)
        if batch.state in _ENDED:
            raise _Refused(400, f"{batch.name} has already ended ({batch.state}).",
                           "FAILED_PRECONDITION")
        self._end(batch, CANCELLED, batch.processed)
        return _json({})

    async def _delete_batch(self, request: Request, version: str, batch_id: str) -> Response:
        self._batch(batch_id).deleted = True
        return _json({})

    def _batch(self, batch_id: str) -> FakeBatch:
        batch = self.batches.get(f"batches/{batch_id}")
        if batch is None or batch.deleted:
            raise _Refused(404, f"batches/{batch_id} not found.")
        return batch

    def _advance(self, batch: FakeBatch, now: float) -> None:
        """Move a batch along the clock: PENDING for the first quarter of process_seconds, then
        RUNNING with a growing count of answered requests, then ended by its outcome."""
        elapsed, total = now - batch.created, len(batch.results)
        if batch.state in _ENDED or elapsed < self.process_seconds / 4:
            return
        done = elapsed >= self.process_seconds and not self.hold
        if batch.input_error is not None or batch.outcome == "failed":
            if done:
                self._end(batch, FAILED, 0)
        elif done:
            expired = batch.outcome == "expired"
            self._end(batch, EXPIRED if expired else SUCCEEDED, total // 2 if expired else total)
        else:
            # Still running: never report every request answered before the batch ends.
            share = elapsed / max(self.process_seconds, 1e-9)
            processed = min(int(total * share), max(total - 1, 0))
            if (batch.state, batch.processed) != (RUNNING, processed):
                batch.state, batch.processed, batch.updated = RUNNING, processed, now

    def _end(self, batch: FakeBatch, state: str, processed: int) -> None:
        batch.state, batch.processed = state, processed
        batch.updated = batch.ended = time.time()
        if state == FAILED:
            message = batch.input_error or "Batch validation failed (the fake was told to fail)."
            batch.error = _rpc_status(INVALID_ARGUMENT, message)
        elif state != EXPIRED and (processed or state == SUCCEEDED):
            # An expired batch has no results to retrieve, whatever it had answered.
            batch.output = self._write_output(batch, batch.results[:processed])

    def _write_output(self, batch: FakeBatch, results: list[Json]) -> Json:
        if self.result_faults is not None:
            results = self.result_faults.apply(results, _result_id)
        if batch.inline:
            return {"inlinedResponses": {"inlinedResponses": results}}
        batch_id = batch.name.removeprefix("batches/")
        data = "".join(json.dumps(r) + "\n" for r in results).encode()
        file = FakeFile(f"files/batch-{batch_id}", "application/jsonl", f"batch-{batch_id}",
                        "GENERATED", time.time(), data, len(data), complete=True)
        self.files[file.name] = file
        return {"responsesFile": file.name}

    def _batch_json(self, batch: FakeBatch, listed: bool = False) -> Json:
        """The batch as a long-running operation; a list leaves inline responses out."""
        inputs = batch.body.get("batch", {})
        metadata: Json = {"@type": _BATCH_TYPE, "model": batch.model,
                          "inputConfig": _field(inputs, "inputConfig"),
                          "createTime": _time(batch.created), "updateTime": _time(batch.updated),
                          "batchStats": _stats(batch), "state": batch.state, "name": batch.name}
        if batch.display_name:
            metadata["displayName"] = batch.display_name
        if batch.ended is not None:
            metadata["endTime"] = _time(batch.ended)
        output = batch.output
        if listed and output is not None and batch.inline:
            output = {}
        if output is not None:
            metadata["output"] = output
        operation: Json = {"name": batch.name, "metadata": metadata}
        if batch.state in _ENDED:
            operation["done"] = True
            if batch.error is not None:
                operation["error"] = batch.error
            elif output is not None:
                operation["response"] = {"@type": _OUTPUT_TYPE, **output}
        return operation


def _stats(batch: FakeBatch) -> Json:
    """batchStats as proto3 JSON writes it: int64 counts as strings, zero counts left out."""
    answered = batch.results[:batch.processed]
    succeeded = sum("response" in r for r in answered)
    counts = {"requestCount": len(batch.results), "successfulRequestCount": succeeded,
              "failedRequestCount": len(answered) - succeeded,
              "pendingRequestCount": len(batch.results) - len(answered)}
    return {name: str(count) for name, count in counts.items() if count}


def _page(request: Request, key: str, items: list[Json]) -> Response:
    try:
        size = min(max(int(request.query_params.get("pageSize") or 10), 1), 100)
        start = int(request.query_params.get("pageToken") or 0)
    except ValueError:
        raise _Refused(400, "Invalid pageSize or pageToken.") from None
    page: Json = {}
    if items[start:start + size]:  # proto3 JSON leaves empty lists out
        page[key] = items[start:start + size]
    if start + size < len(items):
        page["nextPageToken"] = str(start + size)
    return _json(page)


def _time(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="microseconds").replace(
        "+00:00", "Z")


def _json(value: Json, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(value).encode(), 200, headers, "application/json")


def _status(code: int, message: str, name: str | None = None) -> Json:
    """The `error` of an HTTP error answer: the HTTP status, its google.rpc.Code name, a message."""
    return {"code": code, "message": message, "status": name or _STATUS.get(code, "UNKNOWN")}


async def _body(request: Request) -> Json:
    try:
        body = json.loads(await request.body() or b"{}")
    except json.JSONDecodeError as bad:
        raise _Refused(400, f"Invalid JSON payload received. {bad}") from bad
    if not isinstance(body, dict):
        raise _Refused(400, "Invalid JSON payload received: not an object.")
    return body
