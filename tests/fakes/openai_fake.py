"""A fake OpenAI Files + Batch API (and its Azure OpenAI dialect) on a loopback port.

`with FakeOpenAI() as fake:` serves `{fake.url}/v1/files|batches...` for `openai.OpenAI(base_url=
fake.url + "/v1")` and `{fake.url}/openai/files|batches...?api-version=` for `openai.AzureOpenAI(
azure_endpoint=fake.url)`, over one shared state. A batch answers each chat request with
`echo: <last user text>`; its status is a function of the clock (validating for the first 20% of
`process_seconds`, in_progress until 80%, then finalizing, then completed), evaluated whenever it is
looked at, so batches keep going while the server is stopped, as a real provider's would.
"""

from __future__ import annotations

import json
import re
import secrets
import string
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, NamedTuple

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bifrost_py.testing import ServerThread
from tests.fakes.faults import ResultFaults
from tests.fakes.openai_lines import (
    _EXPIRED,
    _batch_error,
    _line_error,
    _output_line,
    _result,
    _shuffled,
    _usage,
)
from tests.fakes.openai_lines import EMBEDDING_LENGTH as EMBEDDING_LENGTH  # public, re-exported

_TERMINAL = {"completed", "failed", "expired", "cancelled"}
_BATCH_ENDPOINTS = {False: {"/v1/chat/completions", "/v1/embeddings"},
                    True: {"/chat/completions", "/v1/chat/completions", "/embeddings"}}
_AZURE_401 = "Access denied due to invalid subscription key or wrong API endpoint."


class _ApiError(Exception):
    """An error answer; `bare` is Azure's gateway shape `{"error": {"code", "message"}}`."""

    def __init__(self, status: int, message: str, param: str | None = None,
                 code: str | None = None, bare: bool = False) -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.bare = (
            status, message, param, code, bare)

    def response(self) -> Response:
        if self.bare:
            error: dict[str, Any] = {"code": str(self.status), "message": self.message}
        else:
            kind = ("requests" if self.status == 429 else
                    "server_error" if self.status >= 500 else "invalid_request_error")
            error = {"message": self.message, "type": kind, "param": self.param, "code": self.code}
        headers = {"Retry-After": "0"} if self.status == 429 else None
        return _json({"error": error}, self.status, headers)


class _Call(NamedTuple):
    query: Mapping[str, str]
    content_type: str
    body: bytes
    azure: bool


@dataclass
class StoredFile:
    id: str
    filename: str
    purpose: str
    content: bytes
    created_at: int = field(default_factory=lambda: int(time.time()))

    def view(self) -> dict[str, Any]:
        return {"id": self.id, "object": "file", "bytes": len(self.content),
                "created_at": self.created_at, "expires_at": self.created_at + 30 * 86400,
                "filename": self.filename, "purpose": self.purpose, "status": "processed",
                "status_details": None}


@dataclass
class _Batch:
    obj: dict[str, Any]
    started: float
    outcome: str
    held: bool
    errors: list[dict[str, Any]]
    results: list[tuple[bool, dict[str, Any]]]  # (answered, output line) per request, in order
    done: int = 0
    cancelled_by: float | None = None


class FakeOpenAI:
    """`outcome` ("completed" | "failed" | "expired") and `hold` apply to batches created after
    they are set, `result_faults` to output and error files written after it is set (each file
    damaged on its own); `requests` lists (method, path) received; `files` and `batches` hold the
    state."""

    def __init__(self, api_key: str = "test-key", process_seconds: float = 0.2,
                 result_faults: ResultFaults | None = None) -> None:
        self.api_key = api_key
        self.result_faults = result_faults
        self.process_seconds = process_seconds
        self.outcome = "completed"
        self.hold = False
        self.requests: list[tuple[str, str]] = []
        self.files: dict[str, StoredFile] = {}
        self._batches: dict[str, _Batch] = {}
        self._failures: list[int] = []
        self._lock = threading.Lock()  # the server thread and the test thread both advance batches
        self._routes: list[tuple[str, str, Callable[..., Any]]] = [
            ("POST", r"/files", self._create_file), ("GET", r"/files", self._list_files),
            ("GET", r"/files/([^/]+)", self._get_file),
            ("DELETE", r"/files/([^/]+)", self._delete_file),
            ("GET", r"/files/([^/]+)/content", self._file_content),
            ("POST", r"/batches", self._create_batch), ("GET", r"/batches", self._list_batches),
            ("GET", r"/batches/([^/]+)", self._get_batch),
            ("POST", r"/batches/([^/]+)/cancel", self._cancel_batch)]
        app = Starlette(routes=[Route("/{path:path}", self._dispatch,
                                      methods=["GET", "POST", "DELETE", "PUT", "PATCH"])])
        self._server = ServerThread(app)
        self.url = self._server.url

    # -- lifecycle and cues ---------------------------------------------------------------------

    def start(self) -> FakeOpenAI:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def fail_requests(self, n: int, status: int = 500) -> None:
        """The next `n` HTTP requests, whatever the endpoint, answer `status`."""
        self._failures.extend([status] * n)

    @property
    def batches(self) -> dict[str, dict[str, Any]]:
        """Every batch object as a GET would show it now."""
        with self._lock:
            for batch in self._batches.values():
                self._advance(batch)
            return {key: batch.obj for key, batch in self._batches.items()}

    # -- HTTP -----------------------------------------------------------------------------------

    async def _dispatch(self, request: Request) -> Response:
        path = request.url.path
        self.requests.append((request.method, path))
        azure = path.startswith("/openai/")
        try:
            if self._failures:
                raise _ApiError(self._failures.pop(0), "fake failure on cue")
            self._authorize(request, azure)
            handler, ids = self._route(request.method, path)
            call = _Call(request.query_params, request.headers.get("content-type", ""),
                         await request.body(), azure)
            with self._lock:
                answer = handler(call, *ids)
        except _ApiError as error:
            return error.response()
        return answer if isinstance(answer, Response) else _json(answer)

    def _authorize(self, request: Request, azure: bool) -> None:
        if not azure:
            if request.headers.get("authorization") != f"Bearer {self.api_key}":
                raise _ApiError(401, "Incorrect API key provided.", code="invalid_api_key")
            return
        if request.headers.get("api-key") != self.api_key:
            raise _ApiError(401, _AZURE_401, bare=True)
        if not request.query_params.get("api-version"):
            raise _ApiError(404, "Resource not found", bare=True)  # Azure routes on api-version

    def _route(self, method: str, path: str) -> tuple[Callable[..., Any], tuple[str, ...]]:
        prefix = re.fullmatch(r"/(?:v1|openai)(/.*)", path)
        for verb, pattern, handler in self._routes:
            found = re.fullmatch(pattern, prefix.group(1)) if prefix else None
            if found and verb == method:
                return handler, found.groups()
        raise _ApiError(404, f"Invalid URL ({method} {path})")

    # -- files ----------------------------------------------------------------------------------

    def _create_file(self, call: _Call) -> dict[str, Any]:
        form = _multipart(call.body, call.content_type)
        for name in ("file", "purpose"):
            if name not in form:
                raise _missing(name)
        (filename, content), purpose = form["file"], form["purpose"][1].decode()
        if purpose == "batch" and not str(filename).endswith(".jsonl"):
            raise _ApiError(400, "Invalid file format for Batch API. Must be .jsonl", "file")
        return self._store(str(filename), purpose, content).view()

    def _store(self, filename: str, purpose: str, content: bytes) -> StoredFile:
        alphabet = string.ascii_letters + string.digits
        key = "file-" + "".join(secrets.choice(alphabet) for _ in range(24))
        self.files[key] = StoredFile(key, filename, purpose, content)
        return self.files[key]

    def _file(self, key: str) -> StoredFile:
        if key not in self.files:
            raise _ApiError(404, f"No such File object: {key}", "id")
        return self.files[key]

    def _list_files(self, call: _Call) -> dict[str, Any]:
        purpose = call.query.get("purpose")
        files = [f.view() for f in self.files.values() if purpose in (None, f.purpose)]
        if call.query.get("order", "desc") == "desc":
            files.reverse()
        return _page(files, call.query, default_limit=10000)

    def _get_file(self, call: _Call, key: str) -> dict[str, Any]:
        return self._file(key).view()

    def _delete_file(self, call: _Call, key: str) -> dict[str, Any]:
        del self.files[self._file(key).id]
        return {"id": key, "object": "file", "deleted": True}

    def _file_content(self, call: _Call, key: str) -> Response:
        return Response(self._file(key).content, 200, media_type="application/octet-stream")

    # -- batches --------------------------------------------------------------------------------

    def _create_batch(self, call: _Call) -> dict[str, Any]:
        params = _json_body(call.body)
        for name in ("input_file_id", "endpoint", "completion_window"):
            if not params.get(name):
                raise _missing(name)
        if params["endpoint"] not in _BATCH_ENDPOINTS[call.azure]:
            raise _ApiError(400, f"Invalid value for 'endpoint': {params['endpoint']} is not "
                            "supported by this fake.", "endpoint", "invalid_value")
        if params["completion_window"] != "24h":
            raise _ApiError(400, "Invalid value for 'completion_window': only '24h' is supported.",
                            "completion_window", "invalid_value")
        now, key = time.time(), f"batch_{secrets.token_hex(16)}"
        obj: dict[str, Any] = {
            "id": key, "object": "batch", "endpoint": params["endpoint"], "errors": None,
            "input_file_id": params["input_file_id"], "completion_window": "24h",
            "status": "validating", "output_file_id": None, "error_file_id": None,
            "created_at": int(now), "in_progress_at": None, "expires_at": int(now) + 86400,
            "finalizing_at": None, "completed_at": None, "failed_at": None, "expired_at": None,
            "cancelling_at": None, "cancelled_at": None, "metadata": params.get("metadata"),
            "request_counts": {"total": 0, "completed": 0, "failed": 0}, "model": None,
            "usage": None}
        requests, errors = self._validate(params["input_file_id"], call.azure,
                                          params["endpoint"])
        obj["model"] = next((r["body"].get("model") for r in requests
                             if isinstance(r["body"], dict)), None)
        if not errors and self.outcome == "failed":
            errors = [_batch_error("token_limit_exceeded", "Enqueued token limit reached for "
                                   "this model in organization org-fake. Please try again later.")]
        results = [_result(request, number) for number, request in enumerate(requests, 1)]
        self._batches[key] = _Batch(obj, now, self.outcome, self.hold, errors, results)
        return obj

    def _validate(self, file_id: str, azure: bool, endpoint: str,
                  ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Check the input file as OpenAI does: any bad line fails the whole batch."""
        if file_id not in self.files:
            return [], [_batch_error("file_not_found", f"Input file {file_id} not found.")]
        requests: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        seen: set[str] = set()
        for number, line in enumerate(self.files[file_id].content.decode().splitlines(), 1):
            if not line.strip():
                continue
            error = _line_error(line, azure, endpoint, seen)
            if error:
                errors.append(_batch_error(*error, line=number))
            else:
                requests.append(json.loads(line))
                seen.add(requests[-1]["custom_id"])
        if not requests and not errors:
            errors.append(_batch_error("empty_file", "The input file is empty."))
        return requests, errors

    def _batch(self, key: str) -> _Batch:
        if key not in self._batches:
            raise _ApiError(404, f"No batch found with id '{key}'.", "batch_id")
        batch = self._batches[key]
        self._advance(batch)
        return batch

    def _get_batch(self, call: _Call, key: str) -> dict[str, Any]:
        return self._batch(key).obj

    def _list_batches(self, call: _Call) -> dict[str, Any]:
        newest_first = [self._batch(key).obj for key in reversed(self._batches)]
        return _page(newest_first, call.query, default_limit=20)

    def _cancel_batch(self, call: _Call, key: str) -> dict[str, Any]:
        batch = self._batch(key)
        if batch.obj["status"] in _TERMINAL - {"cancelled"}:
            raise _ApiError(409, f"Cannot cancel a batch with status '{batch.obj['status']}'.")
        if batch.cancelled_by is None:
            now = time.time()
            batch.obj.update(status="cancelling", cancelling_at=int(now))
            batch.cancelled_by = now + self.process_seconds / 4
        return batch.obj

    def _advance(self, batch: _Batch) -> None:
        """Bring a batch to where the clock says it is now."""
        obj, now, span = batch.obj, time.time(), max(self.process_seconds, 1e-6)
        if obj["status"] in _TERMINAL:
            return
        if batch.cancelled_by is not None:
            if now >= batch.cancelled_by:
                self._finish(batch, "cancelled", batch.cancelled_by)
            return
        batch.held = batch.held and self.hold
        phase = (now - batch.started) / span
        if phase < 0.2:
            return
        at = batch.started + 0.2 * span
        if batch.errors:
            obj["errors"] = {"object": "list", "data": batch.errors}
            self._finish(batch, "failed", at)
            return
        total = len(batch.results)
        cap = total // 2 if batch.held or batch.outcome == "expired" else total
        batch.done = min(cap, int(total * (phase - 0.2) / 0.6))
        answered = sum(ok for ok, _ in batch.results[:batch.done])
        obj.update(status="in_progress", in_progress_at=int(at), request_counts={
            "total": total, "completed": answered, "failed": batch.done - answered},
            usage=_usage(batch.results[:batch.done]))
        if batch.held or phase < 0.8:
            return
        if batch.outcome == "expired":
            if phase >= 1:
                self._finish(batch, "expired", batch.started + span)
            return
        obj.update(status="finalizing", finalizing_at=int(batch.started + 0.8 * span))
        if phase >= 1:
            self._finish(batch, "completed", batch.started + span)

    def _finish(self, batch: _Batch, status: str, at: float) -> None:
        """End a batch, writing the done requests' lines (and for an expired batch the rest, as
        `batch_expired` errors) to output and error files; a file is only made when non-empty."""
        done = batch.results[:batch.done]
        outputs = [line for ok, line in done if ok]
        errors = [line for ok, line in done if not ok]
        if status == "expired":
            errors += [_output_line(line["custom_id"], error=_EXPIRED)
                       for _, line in batch.results[batch.done:]]
        key = batch.obj["id"]
        batch.obj.update({"status": status, f"{status}_at": int(at),
                          "output_file_id": self._result_file(f"{key}_output.jsonl", outputs),
                          "error_file_id": self._result_file(f"{key}_error.jsonl", errors)})

    def _result_file(self, filename: str, lines: list[dict[str, Any]]) -> str | None:
        if not lines:
            return None
        lines = _shuffled(lines)
        if self.result_faults is not None:
            lines = self.result_faults.apply(lines, lambda line: line["custom_id"])
        text = "".join(json.dumps(line) + "\n" for line in lines)
        return self._store(filename, "batch_output", text.encode()).id


def _missing(name: str) -> _ApiError:
    return _ApiError(400, f"Missing required parameter: '{name}'.", name,
                     "missing_required_parameter")


def _page(items: list[dict[str, Any]], query: Mapping[str, str],
          default_limit: int) -> dict[str, Any]:
    """A cursor page: the items after the one whose id is `after` (none after an unknown id, so
    a client following a vanished cursor stops instead of looping), up to `limit`."""
    ids, after = [item["id"] for item in items], query.get("after")
    start = ids.index(after) + 1 if after in ids else len(ids) if after else 0
    limit = int(query.get("limit", default_limit))
    data = items[start:start + limit]
    return {"object": "list", "data": data, "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
            "has_more": start + limit < len(items)}


def _multipart(body: bytes, content_type: str) -> dict[str, tuple[str | None, bytes]]:
    """name -> (filename, bytes) of a multipart/form-data body, parsed by hand so the fake needs
    no python-multipart and keeps the file's bytes exactly."""
    boundary = re.search(r'boundary="?([^";]+)"?', content_type)
    if not boundary:
        raise _ApiError(400, "Expected a multipart/form-data body.")
    form: dict[str, tuple[str | None, bytes]] = {}
    for part in body.split(b"--" + boundary.group(1).encode())[1:-1]:
        head, _, data = part.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        name = re.search(rb'[; ]name="([^"]*)"', head)
        filename = re.search(rb'[; ]filename="([^"]*)"', head)
        if name:
            form[name.group(1).decode()] = (filename.group(1).decode() if filename else None,
                                            data.removesuffix(b"\r\n"))
    return form


def _json_body(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except ValueError:
        raise _ApiError(400, "We could not parse the JSON body of your request.") from None
    if not isinstance(value, dict):
        raise _ApiError(400, "The request body must be a JSON object.")
    return value


def _json(value: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(value).encode(), status, headers, "application/json")
