"""A fake Anthropic Message Batches API on loopback, driven through the real `anthropic` SDK.

`with FakeAnthropic() as fake:` serves `{fake.url}/v1/messages/batches...`; point the SDK at it with
`anthropic.Anthropic(base_url=fake.url, api_key="test-key")`. Requests are sent inline (there is no
file upload). Each request is answered `echo: <last user text>` in a full Messages API response.

Misbehaviour on cue: `fail_requests(n, status)`, `outcome` ("completed" | "failed" | "expired"),
`hold`, `result_faults` (damage to every results stream served while it is set), and a request
whose user text contains `FAIL` gets an `errored` result. `fake.requests`
lists (method, path) received; `fake.batches` maps ids to `FakeBatch` (the body's `requests` as
sent), whose state is brought up to date whenever the batch is looked at over HTTP.
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bifrost_py.testing import ServerThread
from tests.fakes.faults import ResultFaults

_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error",
                403: "permission_error", 404: "not_found_error", 413: "request_too_large",
                429: "rate_limit_error", 529: "overloaded_error"}
_CUSTOM_ID = re.compile(r"[a-zA-Z0-9_-]{1,64}")
_MAX_REQUESTS = 100_000
_MAX_BODY_BYTES = 256 * 1024 * 1024
_BATCHES = "/v1/messages/batches"

Handler = Callable[[Request, bytes], Response]


class ApiError(Exception):
    """Raised by a handler to answer in Anthropic's error format."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class FakeBatch:
    """One batch as received (`requests` is the body's list, untouched) and where it stands."""

    id: str
    requests: list[dict[str, Any]]
    outcome: str
    created_at: datetime
    started: float  # monotonic clock, for the processing time
    held: bool
    processing_status: str = "in_progress"
    cancel_initiated_at: datetime | None = None
    cancel_started: float = 0.0
    answered_before_cancel: int = 0
    ended_at: datetime | None = None
    results: list[dict[str, Any]] = field(default_factory=list)


class FakeAnthropic:
    def __init__(self, api_key: str = "test-key", process_seconds: float = 0.2,
                 result_faults: ResultFaults | None = None) -> None:
        self.api_key = api_key
        self.result_faults = result_faults
        self.process_seconds = process_seconds
        self.outcome = "completed"
        self.requests: list[tuple[str, str]] = []
        self.batches: dict[str, FakeBatch] = {}
        self._hold = False
        self._created = 0  # ids come from a counter, so deleting a batch never reuses one
        self._failures: list[int] = []
        self._lock = threading.Lock()
        self._server = ServerThread(self._app())
        self.url = self._server.url

    # -- test controls ---------------------------------------------------------------------

    @property
    def hold(self) -> bool:
        return self._hold

    @hold.setter
    def hold(self, value: bool) -> None:
        """Held batches stay in_progress; releasing lets them end once process_seconds passed."""
        with self._lock:
            self._hold = value
            if not value:
                for batch in self.batches.values():
                    batch.held = False

    def fail_requests(self, n: int, status: int) -> None:
        with self._lock:
            self._failures.extend([status] * n)

    def reset(self) -> None:
        """Forget batches, requests and misbehaviour, so one server can serve many tests."""
        with self._lock:
            self.outcome, self._hold, self.result_faults = "completed", False, None
            self.requests.clear()
            self.batches.clear()
            self._failures.clear()

    def start(self) -> FakeAnthropic:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> FakeAnthropic:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # -- HTTP ------------------------------------------------------------------------------

    def _app(self) -> Starlette:
        one = _BATCHES + "/{id}"
        handlers = [(_BATCHES, "POST", self._create), (_BATCHES, "GET", self._list),
                    (one, "GET", self._retrieve), (one, "DELETE", self._delete),
                    (one + "/cancel", "POST", self._cancel),
                    (one + "/results", "GET", self._results)]
        routes = [Route(path, self._guarded(handler), methods=[method])
                  for path, method, handler in handlers]
        # Anything else is a 404 in Anthropic's format, not Starlette's plain-text one.
        routes.append(Route("/{path:path}", self._guarded(_unknown),
                            methods=["GET", "POST", "PUT", "PATCH", "DELETE"]))
        return Starlette(routes=routes)

    def _guarded(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        """Record the request, then apply scripted failures, the key and version checks."""
        async def endpoint(request: Request) -> Response:
            self.requests.append((request.method, request.url.path))
            body = await request.body()
            try:
                with self._lock:
                    self._check(request)
                    return handler(request, body)
            except ApiError as error:
                return _error(error.status, error.message)
        return endpoint

    def _check(self, request: Request) -> None:
        if self._failures:
            status = self._failures.pop(0)
            raise ApiError(status, f"fake failure ({status})")
        # The API documents `x-api-key`; anthropic>=2 sends the same key as a bearer token.
        bearer = request.headers.get("authorization", "").removeprefix("Bearer ")
        key = request.headers.get("x-api-key") or bearer or None
        if key is None:
            raise ApiError(401, "x-api-key header is required")
        if key != self.api_key:
            raise ApiError(401, "invalid x-api-key")
        if not request.headers.get("anthropic-version"):
            raise ApiError(400, "anthropic-version: header is required")

    def _create(self, request: Request, body: bytes) -> Response:
        if len(body) > _MAX_BODY_BYTES:
            raise ApiError(413, "Request exceeds the maximum allowed number of bytes.")
        requests = _validated(_json_body(body))
        if self.outcome == "failed":
            raise ApiError(400, "fake: the batch was refused (outcome='failed')")
        self._created += 1
        batch = FakeBatch(id=f"msgbatch_01{self._created:022d}", requests=requests,
                          outcome=self.outcome, created_at=_now(), started=time.monotonic(),
                          held=self._hold)
        self.batches[batch.id] = batch
        return _json(self._view(batch, request))

    def _list(self, request: Request, body: bytes) -> Response:
        params = request.query_params
        limit = _int(params.get("limit", "20"), "limit")
        if not 1 <= limit <= 1000:
            raise ApiError(400, "limit: Input should be between 1 and 1000")
        newest_first = sorted(self.batches.values(), key=lambda b: b.id, reverse=True)
        page, has_more = _page(newest_first, params.get("before_id"), params.get("after_id"),
                               limit)
        data = [self._view(batch, request) for batch in page]
        return _json({"data": data, "has_more": has_more,
                      "first_id": data[0]["id"] if data else None,
                      "last_id": data[-1]["id"] if data else None})

    def _retrieve(self, request: Request, body: bytes) -> Response:
        return _json(self._view(self._find(request), request))

    def _cancel(self, request: Request, body: bytes) -> Response:
        batch = self._find(request)
        self._advance(batch)
        if batch.processing_status != "in_progress":
            raise ApiError(400, f"Batch {batch.id} cannot be canceled: it is "
                                f"{batch.processing_status}.")
        # What was answered before the cancel keeps its result; the rest ends up canceled.
        batch.answered_before_cancel = self._answered_so_far(batch)
        batch.processing_status, batch.cancel_initiated_at = "canceling", _now()
        batch.cancel_started = time.monotonic()
        return _json(self._view(batch, request))

    def _delete(self, request: Request, body: bytes) -> Response:
        batch = self._find(request)
        self._advance(batch)
        if batch.processing_status != "ended":
            raise ApiError(400, f"Batch {batch.id} cannot be deleted while it is "
                                f"{batch.processing_status}; cancel it first.")
        del self.batches[batch.id]
        return _json({"id": batch.id, "type": "message_batch_deleted"})

    def _results(self, request: Request, body: bytes) -> Response:
        batch = self._find(request)
        self._advance(batch)
        if batch.processing_status != "ended":
            raise ApiError(400, f"Batch {batch.id} has not finished processing.")
        lines = batch.results[:]
        random.Random(batch.id).shuffle(lines)  # real results come in no particular order
        if self.result_faults is not None:
            lines = self.result_faults.apply(lines, lambda line: line["custom_id"])
        text = "".join(json.dumps(line) + "\n" for line in lines)
        return Response(text.encode(), 200, media_type="application/x-jsonl")

    # -- batch state -----------------------------------------------------------------------

    def _find(self, request: Request) -> FakeBatch:
        batch = self.batches.get(request.path_params["id"])
        if batch is None:
            raise ApiError(404, f"No batch found with id {request.path_params['id']!r}.")
        return batch

    def _answered_so_far(self, batch: FakeBatch) -> int:
        """Requests finish at an even pace over process_seconds; none while the batch is held."""
        if batch.held:
            return 0
        elapsed = time.monotonic() - batch.started
        share = min(1.0, elapsed / self.process_seconds) if self.process_seconds > 0 else 1.0
        return int(len(batch.requests) * share)

    def _advance(self, batch: FakeBatch) -> None:
        """Move the batch on by the clock: state is derived when looked at, so it survives
        stop()/start() and needs no background task."""
        now = time.monotonic()
        if batch.processing_status == "canceling":
            if now - batch.cancel_started >= self.process_seconds:
                self._end(batch, batch.answered_before_cancel, "canceled")
        elif batch.processing_status == "in_progress" and not batch.held and (
                now - batch.started >= self.process_seconds):
            expired = batch.outcome == "expired"
            self._end(batch, len(batch.requests) // 2 if expired else len(batch.requests),
                      "expired")

    def _end(self, batch: FakeBatch, answered: int, rest: str) -> None:
        batch.results = [{"custom_id": item["custom_id"],
                          "result": _answer(item["params"], f"{batch.id}_{index}")
                          if index < answered else {"type": rest}}
                         for index, item in enumerate(batch.requests)]
        batch.processing_status, batch.ended_at = "ended", _now()

    def _view(self, batch: FakeBatch, request: Request) -> dict[str, Any]:
        self._advance(batch)
        ended = batch.processing_status == "ended"
        counts = dict.fromkeys(("succeeded", "errored", "canceled", "expired"), 0)
        for line in batch.results:
            counts[line["result"]["type"]] += 1
        # Like the real API, requests count as `processing` until the whole batch has ended.
        counts["processing"] = 0 if ended else len(batch.requests)
        return {"id": batch.id, "type": "message_batch",
                "processing_status": batch.processing_status, "request_counts": counts,
                "ended_at": _stamp(batch.ended_at), "created_at": _stamp(batch.created_at),
                "expires_at": _stamp(batch.created_at + timedelta(hours=24)),
                "archived_at": None, "cancel_initiated_at": _stamp(batch.cancel_initiated_at),
                "results_url": f"{str(request.base_url).rstrip('/')}{_BATCHES}/{batch.id}/results"
                if ended else None}


def _unknown(request: Request, body: bytes) -> Response:
    raise ApiError(404, f"Not found: {request.method} {request.url.path}")


# -- validation ------------------------------------------------------------------------------


def _json_body(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except ValueError as error:
        raise ApiError(400, f"Invalid JSON body: {error}") from error
    if not isinstance(value, dict):
        raise ApiError(400, "The request body must be a JSON object.")
    return value


def _validated(body: dict[str, Any]) -> list[dict[str, Any]]:
    requests = body.get("requests")
    if not isinstance(requests, list) or not requests:
        raise ApiError(400, "requests: Field required (a non-empty list)")
    if len(requests) > _MAX_REQUESTS:
        raise ApiError(400, f"requests: at most {_MAX_REQUESTS} requests are allowed per batch")
    seen: set[str] = set()
    for index, item in enumerate(requests):
        _check_item(index, item, seen)
    return requests


def _check_item(index: int, item: Any, seen: set[str]) -> None:
    where = f"requests.{index}"
    custom_id = item.get("custom_id") if isinstance(item, dict) else None
    if not isinstance(custom_id, str) or not _CUSTOM_ID.fullmatch(custom_id):
        raise ApiError(400, f"{where}.custom_id: String should match pattern "
                            f"'^[a-zA-Z0-9_-]{{1,64}}$'")
    if custom_id in seen:
        raise ApiError(400, f"{where}.custom_id: Duplicate custom_id {custom_id!r}; "
                            "custom_id must be unique within a batch")
    seen.add(custom_id)
    params = item.get("params")
    if not isinstance(params, dict):
        raise ApiError(400, f"{where}.params: Field required")
    for name in ("anthropic_version", "anthropic_beta"):
        if name in params:
            raise ApiError(400, f"{where}.params.{name}: Extra inputs are not permitted")
    for name, kind in (("model", str), ("max_tokens", int), ("messages", list)):
        if not isinstance(params.get(name), kind):
            raise ApiError(400, f"{where}.params.{name}: Field required")


def _page(batches: list[FakeBatch], before_id: str | None, after_id: str | None,
          limit: int) -> tuple[list[FakeBatch], bool]:
    """The page next to a cursor, newest first: `before_id` pages towards newer batches."""
    if before_id and after_id:
        raise ApiError(400, "Only one of before_id and after_id may be given.")
    ids = [batch.id for batch in batches]
    cursor = before_id or after_id
    if cursor is not None and cursor not in ids:
        raise ApiError(400, f"Invalid cursor {cursor!r}.")
    if before_id:
        end = ids.index(before_id)
        return batches[max(0, end - limit):end], end - limit > 0
    start = ids.index(after_id) + 1 if after_id else 0
    return batches[start:start + limit], start + limit < len(batches)


# -- the echo model --------------------------------------------------------------------------


def _answer(params: dict[str, Any], message_id: str) -> dict[str, Any]:
    """A `succeeded` result with a full Messages response, or `errored` when asked to FAIL."""
    text = _last_user_text(params["messages"])
    if "FAIL" in text:
        return {"type": "errored", "error": {"type": "error", "error": {
            "type": "invalid_request_error", "message": "fake: the request asked to FAIL"}}}
    content, stop_reason, stop_sequence = _content(params, text, message_id)
    prompt = [_text(params.get("system"))] + [_text(m.get("content")) for m in params["messages"]]
    output = sum(_tokens(block.get("text") or block.get("name", "")) for block in content)
    message = {"id": f"msg_{message_id}", "type": "message", "role": "assistant",
               "model": params["model"], "content": content, "stop_reason": stop_reason,
               "stop_sequence": stop_sequence,
               "usage": {"input_tokens": sum(_tokens(part) for part in prompt),
                         "output_tokens": output, "service_tier": "batch"}}
    return {"type": "succeeded", "message": message}


def _content(params: dict[str, Any], text: str,
             message_id: str) -> tuple[list[dict[str, Any]], str, str | None]:
    """The echo, cut at a stop sequence or max_tokens; a tool_use when a tool must be called."""
    tool = _forced_tool(params)
    if tool is not None:
        return [{"type": "tool_use", "id": f"toolu_{message_id}", "name": tool,
                 "input": {}}], "tool_use", None
    answer = "echo: " + text
    for sequence in params.get("stop_sequences") or []:
        if sequence in answer:
            return [{"type": "text", "text": answer.split(sequence, 1)[0]}], "stop_sequence", \
                sequence
    if _tokens(answer) > params["max_tokens"]:
        return [{"type": "text", "text": answer[:params["max_tokens"] * 4]}], "max_tokens", None
    return [{"type": "text", "text": answer}], "end_turn", None


def _forced_tool(params: dict[str, Any]) -> str | None:
    tools, choice = params.get("tools") or [], params.get("tool_choice") or {}
    if not tools or choice.get("type") not in ("any", "tool"):
        return None
    return str(choice["name"] if choice["type"] == "tool" else tools[0]["name"])


def _last_user_text(messages: list[dict[str, Any]]) -> str:
    last: dict[str, Any] = next((m for m in reversed(messages) if m.get("role") == "user"), {})
    return _text(last.get("content"))


def _text(content: Any) -> str:
    """Text of a string or of a list of content blocks (system prompts take both forms)."""
    if isinstance(content, list):
        return "\n".join(part.get("text", "") for part in content if part.get("type") == "text")
    return content or ""


# -- helpers ---------------------------------------------------------------------------------


def _tokens(text: str) -> int:
    """About four characters a token (kept here so the fake does not lean on bifrost_py)."""
    return (len(text) + 3) // 4


def _now() -> datetime:
    return datetime.now(UTC)


def _stamp(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def _int(value: str, name: str) -> int:
    try:
        return int(value)
    except ValueError as error:
        raise ApiError(400, f"{name}: Input should be a valid integer") from error


def _json(value: dict[str, Any]) -> Response:
    return Response(json.dumps(value).encode(), 200, media_type="application/json")


def _error(status: int, message: str) -> Response:
    """Anthropic's error body; a 429 says `retry-after: 0` so retrying clients do not wait."""
    request_id = f"req_fake{time.monotonic_ns()}"
    body = {"type": "error", "error": {"type": _ERROR_TYPES.get(status, "api_error"),
                                       "message": message}, "request_id": request_id}
    headers = {"request-id": request_id}
    if status == 429:
        headers["retry-after"] = "0"
    return Response(json.dumps(body).encode(), status, headers, "application/json")
