"""A fake Vertex AI batch prediction API (batchPredictionJobs) that google-genai can be pointed at.

`FakeVertex(gcs)` reads job input from, and writes job output into, a `FakeGCS`, and takes tokens
from the same issuer. `genai.Client(vertexai=True, project=..., location=..., credentials=creds,
http_options=types.HttpOptions(base_url=vertex.url, api_version="v1"))` then drives it; plain
REST with `Authorization: Bearer` works under `v1` and `v1beta1`. A job's state follows the clock
(`process_seconds`) and is worked out whenever the fake is asked anything, so jobs keep "running"
while the fake is stopped. tests/fakes/README.md says where each behaviour comes from.
"""

from __future__ import annotations

import fnmatch
import json
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.fakes import vertex_lines
from tests.fakes.faults import ResultFaults
from tests.fakes.gcs_fake import FakeGCS, GcsError
from tests.fakes.google_served import GoogleServed, json_answer, json_object

Json = dict[str, Any]
Handler = Callable[..., Awaitable[Response]]

QUEUED, PENDING, RUNNING = "JOB_STATE_QUEUED", "JOB_STATE_PENDING", "JOB_STATE_RUNNING"
SUCCEEDED, FAILED, EXPIRED = "JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_EXPIRED"
PARTIALLY_SUCCEEDED = "JOB_STATE_PARTIALLY_SUCCEEDED"
CANCELLING, CANCELLED = "JOB_STATE_CANCELLING", "JOB_STATE_CANCELLED"
ENDED = {SUCCEEDED, FAILED, EXPIRED, PARTIALLY_SUCCEEDED, CANCELLED}
# google.rpc.Code values, for a job's `error` (a google.rpc.Status).
CANCELLED_CODE, INVALID_ARGUMENT, DEADLINE_EXCEEDED, INTERNAL = 1, 3, 4, 13
_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
           404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}
_OUTCOMES = {"succeeded": SUCCEEDED, "failed": FAILED, "expired": EXPIRED,
             "partially_succeeded": PARTIALLY_SUCCEEDED}
_JOBS = r"/(?:v1|v1beta1)/projects/([^/]+)/locations/([^/]+)/batchPredictionJobs"
_MODEL = re.compile(r"publishers/(google|anthropic)/models/([^/]+)")
_FILTER_FIELDS = {"state": "state", "display_name": "displayName", "displayName": "displayName"}


class VertexError(Exception):
    """Raised by a handler to answer `{"error": {"code", "message", "status"}}`."""

    def __init__(self, code: int, message: str, status: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.body = {"error": {"code": code, "message": message,
                               "status": status or _STATUS.get(code, "UNKNOWN")}}


@dataclass
class FakeJob:
    id: str
    location: str
    display_name: str
    model: str
    input_uris: list[str]
    output_prefix: str
    outcome: str
    created: float
    queued: bool  # waiting in JOB_STATE_QUEUED until the fake's `queued` is cleared
    lines: list[Json]  # one answer per input line, in input order
    input_error: str | None
    labels: dict[str, str] = field(default_factory=dict)
    clock: float = 0.0  # when processing began: creation, or the release from the queue
    state: str = PENDING
    answered: int = 0
    started: float | None = None
    ended: float | None = None
    updated: float = 0.0
    output_directory: str | None = None
    error: Json | None = None
    deleted: bool = False


class FakeVertex(GoogleServed):
    """`outcome`, `hold`, `queued`, `lines_per_file`, `process_seconds` and `result_faults` may be
    changed at any time; `requests` records (method, path) of every request and `jobs` every job
    by its numeric id."""

    def __init__(self, gcs: FakeGCS, process_seconds: float = 0.2,
                 result_faults: ResultFaults | None = None) -> None:
        self.gcs = gcs
        super().__init__(gcs.issuer, Route("/{path:path}", self._handle,
                                           methods=["GET", "POST", "DELETE"]))
        self.project, self.project_number = gcs.project, gcs.project_number
        self.process_seconds = process_seconds
        self.result_faults = result_faults  # damage to the output of jobs that end next
        self.outcome = "succeeded"  # or "failed", "expired", "partially_succeeded"; new jobs
        self.hold = False  # True keeps running jobs short of their end
        self.queued = False  # True holds new jobs in JOB_STATE_QUEUED until set back to False
        self.lines_per_file: int | None = None  # None: one predictions.jsonl
        self.requests: list[tuple[str, str]] = []
        self.jobs: dict[str, FakeJob] = {}
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = [
            ("POST", re.compile(_JOBS), self._create),
            ("GET", re.compile(_JOBS), self._list),
            ("GET", re.compile(_JOBS + r"/(\d+)"), self._get),
            ("POST", re.compile(_JOBS + r"/(\d+):cancel"), self._cancel),
            ("DELETE", re.compile(_JOBS + r"/(\d+)"), self._delete),
        ]

    # -- the HTTP side ----------------------------------------------------------------------

    async def _handle(self, request: Request) -> Response:
        self.requests.append((request.method, request.url.path))
        try:
            failure = self._failure()
            if failure is not None:
                raise VertexError(failure, f"fake failure ({failure})")
            if self.issuer.authenticate(request.headers.get("authorization")) is not None:
                raise VertexError(401, "Request had invalid authentication credentials. Expected "
                                  "OAuth 2 access token, login cookie or other valid "
                                  "authentication credential.")
            now = time.time()
            for job in self.jobs.values():
                self._advance(job, now)
            for method, pattern, handler in self._routes:
                match = pattern.fullmatch(request.url.path)
                if match and method == request.method:
                    project, location, *rest = match.groups()
                    if project not in (self.project, self.project_number):
                        raise VertexError(403, f"Permission denied on resource project "
                                          f"{project} (or it may not exist).")
                    return await handler(request, location, *rest)
            raise VertexError(404, f"Method not found: {request.method} {request.url.path}")
        except VertexError as error:
            headers = {"Retry-After": "0"} if error.code == 429 else {}
            return Response(json.dumps(error.body).encode(), error.code, headers,
                            "application/json")

    async def _create(self, request: Request, location: str) -> Response:
        body = await _body(request)
        display_name = body.get("displayName")
        if not isinstance(display_name, str) or not display_name:
            raise VertexError(400, "BatchPredictionJob.display_name is required.")
        model = str(body.get("model") or "")
        model_match = _MODEL.fullmatch(model)
        if model_match is None:
            raise VertexError(400, f"Invalid model: '{model}'. Expected "
                              "publishers/google/models/* or publishers/anthropic/models/*.")
        inputs, outputs = body.get("inputConfig") or {}, body.get("outputConfig") or {}
        uris = (inputs.get("gcsSource") or {}).get("uris")
        if isinstance(uris, str):
            uris = [uris]
        prefix = (outputs.get("gcsDestination") or {}).get("outputUriPrefix")
        if (inputs.get("instancesFormat") != "jsonl" or not isinstance(uris, list) or not uris
                or not all(isinstance(u, str) and u.startswith("gs://") for u in uris)):
            raise VertexError(400, "inputConfig needs instancesFormat \"jsonl\" and "
                              "gcsSource.uris of gs:// URIs.")
        if outputs.get("predictionsFormat") != "jsonl" or not str(prefix or "").startswith(
                "gs://"):
            raise VertexError(400, "outputConfig needs predictionsFormat \"jsonl\" and "
                              "gcsDestination.outputUriPrefix, a gs:// URI.")
        entries, input_error = self._read_input(uris)
        publisher, model_id = model_match.groups()
        now = time.time()
        job = FakeJob(_new_id(self.jobs), location, display_name, model, uris, str(prefix),
                      self.outcome, now, self.queued,
                      [vertex_lines.answer(e, publisher, model_id) for e in entries], input_error,
                      dict(body.get("labels") or {}), clock=now, updated=now)
        job.state = QUEUED if job.queued else PENDING
        self.jobs[job.id] = job
        return json_answer(self._job_json(job))

    def _read_input(self, uris: list[str]) -> tuple[list[Json], str | None]:
        """Every line of every object the URIs name (a `*` matches within a bucket); an object
        that is missing or not JSON Lines fails the job later instead of refusing the create."""
        entries: list[Json] = []
        for uri in uris:
            bucket, _, pattern = uri.removeprefix("gs://").partition("/")
            names = ([n for n in self.gcs.names(bucket) if fnmatch.fnmatchcase(n, pattern)]
                     if "*" in pattern else [pattern])
            if not names:
                return [], f"Failed to import data. No files match {uri}."
            for name in names:
                try:
                    problem = _read_lines(self.gcs, bucket, name, entries)
                except GcsError:
                    problem = "Unable to read the object."
                if problem is not None:
                    return [], f"Failed to import data. gs://{bucket}/{name}: {problem}"
        return entries, None

    async def _get(self, request: Request, location: str, job_id: str) -> Response:
        return json_answer(self._job_json(self._job(job_id)))

    async def _list(self, request: Request, location: str) -> Response:
        """Newest first; `filter` on state and display_name; pageSize (default and most 100)."""
        params = request.query_params
        try:
            match = _parse_filter(params.get("filter", ""))
            size = min(max(int(params.get("pageSize") or 100), 1), 100)
            start = int(params.get("pageToken") or 0)
        except ValueError as bad:
            raise VertexError(400, f"Invalid list request: {bad}") from None
        views = [self._job_json(j) for j in sorted(self.jobs.values(), key=lambda j: -j.created)
                 if not j.deleted and j.location == location]
        views = [v for v in views if match(v)]
        page: Json = {}
        if views[start:start + size]:  # proto3 JSON leaves empty lists out
            page["batchPredictionJobs"] = views[start:start + size]
        if start + size < len(views):
            page["nextPageToken"] = str(start + size)
        return json_answer(page)

    async def _cancel(self, request: Request, location: str, job_id: str) -> Response:
        job = self._job(job_id)
        if job.state in ENDED:
            raise VertexError(400, f"The BatchPredictionJob {job.id} has already ended "
                              f"({job.state}) and cannot be cancelled.", "FAILED_PRECONDITION")
        if job.state != CANCELLING:
            job.state, job.updated = CANCELLING, time.time()
        return json_answer({})  # google.protobuf.Empty

    async def _delete(self, request: Request, location: str, job_id: str) -> Response:
        """Only an ended job can go; the answer is a finished long-running operation."""
        job = self._job(job_id)
        if job.state not in ENDED:
            raise VertexError(400, f"The BatchPredictionJob {job.id} is {job.state}; only an "
                              "ended job can be deleted.", "FAILED_PRECONDITION")
        job.deleted = True
        now = _time(time.time())
        operation = f"projects/{self.project_number}/locations/{location}/operations/{_digits()}"
        return json_answer({
            "name": operation,
            "metadata": {"@type": "type.googleapis.com/google.cloud.aiplatform.v1."
                                  "DeleteOperationMetadata",
                         "genericMetadata": {"createTime": now, "updateTime": now}},
            "done": True, "response": {"@type": "type.googleapis.com/google.protobuf.Empty"}})

    def _job(self, job_id: str) -> FakeJob:
        job = self.jobs.get(job_id)
        if job is None or job.deleted:
            raise VertexError(404, f"The BatchPredictionJob does not exist: {job_id}")
        return job

    # -- the clock --------------------------------------------------------------------------

    def _advance(self, job: FakeJob, now: float) -> None:
        """QUEUED while held, PENDING for the first quarter of process_seconds, then RUNNING with
        a growing count of answered lines, then ended by the job's outcome. A CANCELLING job is
        CANCELLED by the next request after the cancel."""
        if job.state in ENDED:
            return
        if job.state == CANCELLING:
            self._end(job, CANCELLED, job.answered, now)
            return
        if job.queued:
            if self.queued:
                return
            job.queued, job.clock, job.state, job.updated = False, now, PENDING, now
        elapsed, total = now - job.clock, len(job.lines)
        if elapsed < self.process_seconds / 4:
            return
        if job.started is None:
            job.started, job.state, job.updated = now, RUNNING, now
            job.output_directory = (f"{job.output_prefix.rstrip('/')}/prediction-model-"
                                    f"{_time(job.created)}")
        if job.input_error is not None:
            self._end(job, FAILED, 0, now)
        elif elapsed >= self.process_seconds and not self.hold:
            end = _OUTCOMES.get(job.outcome, SUCCEEDED)
            self._end(job, end, total // 2 if end in (EXPIRED, FAILED) else total, now)
        else:
            # Still running: never report every line answered before the job ends.
            share = elapsed / max(self.process_seconds, 1e-9)
            answered = min(int(total * share), max(total - 1, 0))
            if answered != job.answered:
                job.answered, job.updated = answered, now

    def _end(self, job: FakeJob, state: str, answered: int, now: float) -> None:
        job.state, job.answered, job.ended, job.updated = state, answered, now, now
        if job.input_error is not None:
            job.error = {"code": INVALID_ARGUMENT, "message": job.input_error}
            return
        if state == FAILED:
            job.error = {"code": INTERNAL, "message": "Batch prediction job failed (the fake was "
                                                      "told to fail)."}
            return
        if state == CANCELLED:
            job.error = {"code": CANCELLED_CODE, "message": "CANCELED"}
        elif state == EXPIRED:
            job.error = {"code": DEADLINE_EXCEEDED, "message": "Batch prediction job expired "
                                                               "before every line was answered."}
        elif state == PARTIALLY_SUCCEEDED:
            job.lines[answered // 2:] = [_failed(line) for line in job.lines[answered // 2:]]
        if job.output_directory is not None:  # a job cancelled before it started wrote nothing
            self._write_output(job, job.lines[:answered])

    def _write_output(self, job: FakeJob, lines: list[Json]) -> None:
        """The answered lines, in an order that is not the input's, into predictions.jsonl (or
        predictions_0001.jsonl, ... of lines_per_file lines each) under the output directory."""
        half = len(lines) // 2
        lines = lines[half:] + lines[:half]
        if self.result_faults is not None:
            lines = self.result_faults.apply(lines, vertex_lines.line_id)
        bucket, _, folder = str(job.output_directory).removeprefix("gs://").partition("/")
        per_file = self.lines_per_file
        if per_file is None:
            chunks = {"predictions.jsonl": lines}
        else:
            chunks = {f"predictions_{n + 1:04d}.jsonl": lines[i:i + per_file]
                      for n, i in enumerate(range(0, max(len(lines), 1), per_file))}
        for name, chunk in chunks.items():
            self.gcs.put(bucket, f"{folder}/{name}",
                         (json.dumps(line).encode() + b"\n" for line in chunk),
                         "application/jsonl")

    def _job_json(self, job: FakeJob) -> Json:
        """The BatchPredictionJob as proto3 JSON: its name carries the project number, int64
        counts are strings and zero counts are left out."""
        view: Json = {
            "name": f"projects/{self.project_number}/locations/{job.location}/"
                    f"batchPredictionJobs/{job.id}",
            "displayName": job.display_name, "model": job.model,
            "inputConfig": {"instancesFormat": "jsonl", "gcsSource": {"uris": job.input_uris}},
            "outputConfig": {"predictionsFormat": "jsonl",
                             "gcsDestination": {"outputUriPrefix": job.output_prefix}},
            "state": job.state, "createTime": _time(job.created), "updateTime": _time(job.updated)}
        if job.labels:
            view["labels"] = job.labels
        if job.started is not None:
            view["startTime"] = _time(job.started)
            answered = job.lines[:job.answered]
            successes = sum(vertex_lines.succeeded(line) for line in answered)
            counts = {"successfulCount": successes, "failedCount": len(answered) - successes,
                      "incompleteCount": len(job.lines) - len(answered)}
            view["completionStats"] = {k: str(v) for k, v in counts.items() if v}
        if job.output_directory is not None:
            view["outputInfo"] = {"gcsOutputDirectory": job.output_directory}
        if job.ended is not None:
            view["endTime"] = _time(job.ended)
        if job.error is not None:
            view["error"] = job.error
        return view


def _read_lines(gcs: FakeGCS, bucket: str, name: str, entries: list[Json]) -> str | None:
    """Appends the object's JSON lines to `entries`; the problem with the first bad line, if
    any."""
    with gcs.open(bucket, name) as data:
        for number, raw in enumerate(data, 1):
            if not raw.strip():
                continue
            try:
                entry = json.loads(raw)
            except ValueError as bad:
                return f"invalid JSON on line {number}: {bad}"
            if not isinstance(entry, dict):
                return f"line {number} is not a JSON object"
            entries.append(entry)
    return None


def _failed(line: Json) -> Json:
    """A line the fake fails for a partially succeeded job: its error text, no response."""
    failed = {k: v for k, v in line.items() if k != "response"}
    failed["status"] = ("Internal error: the request could not be processed (the fake was told "
                        "to partially succeed).")
    return failed


Matcher = Callable[[Json], bool]


def _parse_filter(text: str) -> Matcher:
    """A list filter as AIP-160 writes one, over `state` and `display_name`: comparisons with `=`
    and `!=`, joined by AND and OR (OR binds tighter), NOT or `-` to negate, parentheses."""
    tokens = re.findall(r'"(?:[^"\\]|\\.)*"|!=|=|\(|\)|[^\s()=!"]+', text)
    position = 0

    def peek() -> str | None:
        return tokens[position] if position < len(tokens) else None

    def take() -> str:
        nonlocal position
        if position >= len(tokens):
            raise ValueError("the filter ends too soon")
        position += 1
        return tokens[position - 1]

    def conjunction() -> Matcher:
        parts = [disjunction()]
        while peek() == "AND":
            take()
            parts.append(disjunction())
        return lambda job: all(part(job) for part in parts)

    def disjunction() -> Matcher:
        parts = [negation()]
        while peek() == "OR":
            take()
            parts.append(negation())
        return lambda job: any(part(job) for part in parts)

    def negation() -> Matcher:
        if peek() in ("NOT", "-"):
            take()
            inner = negation()
            return lambda job: not inner(job)
        if peek() == "(":
            take()
            inner = conjunction()
            if take() != ")":
                raise ValueError("unbalanced parentheses")
            return inner
        name, operator, value = take(), take(), take()
        key = _FILTER_FIELDS.get(name)
        if key is None or operator not in ("=", "!="):
            raise ValueError(f"unsupported filter term {name} {operator}")
        wanted = json.loads(value) if value.startswith('"') else value
        if operator == "=":
            return lambda job: job.get(key) == wanted
        return lambda job: job.get(key) != wanted

    if not tokens:
        return lambda job: True
    matcher = conjunction()
    if peek() is not None:
        raise ValueError(f"unexpected {peek()} in the filter")
    return matcher


def _new_id(taken: dict[str, FakeJob]) -> str:
    while (job_id := _digits()) in taken:
        pass
    return job_id


def _digits() -> str:
    # Real job ids are 19-digit numbers.
    return str(10**18 + secrets.randbelow(9 * 10**18))


def _time(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="microseconds").replace(
        "+00:00", "Z")


async def _body(request: Request) -> Json:
    try:
        return await json_object(request)
    except ValueError:
        raise VertexError(400, "Invalid JSON payload received.") from None
