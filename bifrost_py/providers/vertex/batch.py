"""Jobs on Vertex AI batch prediction, for Gemini and for Claude on Vertex.

A job's records become one JSONL file of Vertex's lines (lines already in that format pass
through), staged in Cloud Storage, and run as a BatchPredictionJob of the job's model; when it
ends, every `predictions*.jsonl` in its output directory is read back, line by line, by id.
"""

from __future__ import annotations

import json
import logging
import re
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from bifrost_py.config import VertexConfig
from bifrost_py.domain.digits import decimal
from bifrost_py.domain.jobs import (
    COMPLETED,
    EXPIRED,
    FAILED,
    IN_PROGRESS,
    SCHEDULED,
    STOPPED,
    STOPPING,
    Counts,
    Job,
)
from bifrost_py.domain.records.neutral import Completion, JsonObject
from bifrost_py.domain.records.vertex import (
    model_path,
    native_line,
    read_line,
    request_digest,
    request_line,
    sent_id,
)
from bifrost_py.ports.upstream import (
    Poll,
    Result,
    Upstream,
    UpstreamAuth,
    UpstreamError,
    UpstreamRefused,
    UpstreamRequest,
    UpstreamUnavailable,
)
from bifrost_py.providers.vertex.auth import PROVIDER, Tokens
from bifrost_py.providers.vertex.gcs import Staging, split_gs_uri
from bifrost_py.providers.vertex.rest import VertexREST, api_root

log = logging.getLogger("bifrost_py.vertex")

# JobState (google.cloud.aiplatform.v1) as Bedrock statuses. PARTIALLY_SUCCEEDED is a job that
# ran to its end with some requests failed: Completed with errors, as Bedrock reports such a job
# (Bedrock's PartiallyCompleted is a job cut short by its timeout, Vertex's EXPIRED).
_STATES = {"QUEUED": SCHEDULED, "PENDING": SCHEDULED, "RUNNING": IN_PROGRESS,
           "UPDATING": IN_PROGRESS, "PAUSED": IN_PROGRESS, "SUCCEEDED": COMPLETED,
           "PARTIALLY_SUCCEEDED": COMPLETED, "FAILED": FAILED,
           "CANCELLING": STOPPING, "CANCELLED": STOPPED, "EXPIRED": EXPIRED}
_ENDED = frozenset({"SUCCEEDED", "PARTIALLY_SUCCEEDED", "FAILED", "CANCELLED", "EXPIRED"})
_ENDED_MESSAGES = {
    "FAILED": "The Vertex AI batch prediction job failed.",
    "EXPIRED": "The Vertex AI batch prediction job expired before every request was answered.",
    "PARTIALLY_SUCCEEDED": "The Vertex AI batch prediction job failed some requests; their "
                           "errors are in the output.",
}
# predictions.jsonl, or predictions_0001.jsonl ... when Vertex splits its output.
_PREDICTIONS = re.compile(r"(^|/)predictions(_\d+)?\.jsonl$")


class VertexBatch:
    provider = PROVIDER

    def __init__(self, settings: VertexConfig, model_name: Callable[[str], str]) -> None:
        self.settings = settings
        self.model_name = model_name
        tokens = Tokens(settings)
        self.rest = VertexREST(settings, tokens)
        self.staging = Staging(settings, tokens)

    def request_line(self, request: UpstreamRequest) -> bytes:
        return request_line(request.custom_id, request.prompt,
                            model_path(self.model_name(request.model_id)))

    def native(self, line: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
        return native_line(line)

    async def submit(self, job: Job, requests: Path, count: int) -> Upstream:
        """Stage the request file in Cloud Storage, create the batch prediction job on it."""
        source = await self.staging.upload(f"{job.job_id}/requests.jsonl", requests,
                                           "application/jsonl")
        created = await self.rest.call("POST", self.rest.jobs, {
            "displayName": job.name, "model": model_path(self.model_name(job.model_id)),
            "inputConfig": {"instancesFormat": "jsonl", "gcsSource": {"uris": [source]}},
            "outputConfig": {"predictionsFormat": "jsonl", "gcsDestination": {
                "outputUriPrefix": self.staging.uri(f"{job.job_id}/output")}}})
        name = created.get("name")
        if not isinstance(name, str) or not name:
            raise UpstreamUnavailable(PROVIDER, "the batch prediction job was created without "
                                      "a name")
        return {"job": name, "input": source, "count": count}

    async def poll(self, job: Job, upstream: Upstream) -> Poll:
        return job_poll(await self._job(upstream), upstream.get("count"))

    async def results(self, job: Job, upstream: Upstream) -> AsyncIterator[Result]:
        """Each answered line of the job's prediction files."""
        directory = ((await self._job(upstream)).get("outputInfo") or {}).get(
            "gcsOutputDirectory")
        if isinstance(directory, str) and directory:
            bucket, _ = split_gs_uri(directory.rstrip("/") + "/")
            names = sorted(n for n in await self.staging.names(directory)
                           if _PREDICTIONS.search(n))
            with tempfile.TemporaryDirectory(prefix="bifrost-vertex-") as work:
                ids: dict[bytes, str] | None = None
                for number, name in enumerate(names):
                    path = Path(work) / f"{number}.jsonl"
                    await self.staging.download(bucket, name, path)
                    unkeyed: list[int] = []
                    for result in read_results(path, unkeyed):
                        yield result
                    if unkeyed:
                        # Vertex carried no id on these lines: match the requests they echo.
                        ids = ids if ids is not None else await self._ids(upstream, work)
                        for result in read_results(path, unkeyed, ids):
                            yield result
                    path.unlink()
        await _quietly(self.staging.delete(upstream["input"]))

    async def cancel(self, job: Job, upstream: Upstream) -> None:
        try:
            await self.rest.call("POST", f"{self._url(upstream)}:cancel", {})
        except UpstreamRefused as refused:
            # 400 FAILED_PRECONDITION: the job has already ended; the next poll tells how.
            if isinstance(refused, UpstreamAuth) or refused.status not in (400, 409):
                raise

    async def aclose(self) -> None:
        await self.rest.aclose()
        await self.staging.aclose()

    async def _ids(self, upstream: Upstream, work: str) -> dict[bytes, str]:
        """Each staged request's digest -> the id it was sent with."""
        path = Path(work) / "requests.jsonl"
        bucket, name = split_gs_uri(upstream["input"])
        await self.staging.download(bucket, name, path)
        with open(path, "rb") as lines:
            ids = dict(filter(None, (sent_id(json.loads(raw)) for raw in lines if raw.strip())))
        path.unlink()
        return ids

    async def _job(self, upstream: Upstream) -> JsonObject:
        return await self.rest.call("GET", self._url(upstream))

    def _url(self, upstream: Upstream) -> str:
        return f"{api_root(self.settings)}/v1/{upstream['job']}"


def job_poll(resource: JsonObject, total: Any = None) -> Poll:
    """A BatchPredictionJob resource as a Poll."""
    state = str(resource.get("state") or "").removeprefix("JOB_STATE_")
    error = resource.get("error")
    message = None
    if isinstance(error, dict) and error.get("message"):
        message = str(error["message"])
    elif state in _ENDED_MESSAGES:
        message = _ENDED_MESSAGES[state]
    counts = job_counts(resource.get("completionStats"),
                        total if isinstance(total, int) else None)
    return Poll(_STATES.get(state, IN_PROGRESS), counts, message, results_ready=state in _ENDED)


def job_counts(stats: Any, total: int | None) -> Counts:
    """completionStats as proto3 JSON writes it: int64 counts as strings, zeros left out."""
    stats = stats if isinstance(stats, dict) else {}

    def count(name: str) -> int:
        value = stats.get(name)
        return int(value) if decimal(str(value)) else 0

    succeeded, failed = count("successfulCount"), count("failedCount")
    return Counts(total, succeeded + failed, succeeded, failed)


def read_results(path: Path, unkeyed: list[int],
                 ids: Mapping[bytes, str] | None = None) -> Iterator[Result]:
    """The results in one downloaded prediction file. Without `ids`: those of lines that name
    their request, the numbers of the others added to `unkeyed`. With `ids`: those of the
    `unkeyed` lines, matched by the request they echo (Vertex keeps no order, so a line matched
    neither way is left for the engine to account as unanswered)."""
    wanted = set(unkeyed) if ids is not None else None
    with open(path, "rb") as lines:
        for number, raw in enumerate(lines, 1):
            if not raw.strip() or (wanted is not None and number not in wanted):
                continue
            try:
                line = json.loads(raw)
            except ValueError:
                line = None
            read = read_line(line)
            if read is None:
                log.warning("Vertex AI prediction line %d is no answer; skipped", number)
                continue
            key, outcome = read
            if key is None and ids is None:
                unkeyed.append(number)
                continue
            key = key or (ids or {}).get(request_digest(line.get("request")))
            if key is None:
                log.warning("Vertex AI prediction line %d names no request sent; skipped",
                            number)
                continue
            yield (Result(key, completion=outcome) if isinstance(outcome, Completion)
                   else Result(key, error=outcome))


async def _quietly(cleanup: Awaitable[None]) -> None:
    """Tidying upstream that may fail: the staged input is the operator's to expire."""
    try:
        await cleanup
    except UpstreamError as exc:
        log.warning("vertex: could not delete a staged file (%s)", exc.message)
