"""The gemini provider's mappings, without a bifrost server: Gemini's API errors to upstream errors
(never showing the key), a missing API key, batch states to Bedrock statuses, and the counts and
responses file read from a batch."""

from __future__ import annotations

import asyncio

import pytest
from gemini_helpers import *  # noqa: F403 - the fixtures fake, server, s3 and bedrock
from gemini_helpers import API_KEY
from google.genai import errors

from bifrost_py.config import GeminiConfig
from bifrost_py.domain.jobs import (
    COMPLETED,
    EXPIRED,
    FAILED,
    IN_PROGRESS,
    SCHEDULED,
    STOPPED,
    Counts,
)
from bifrost_py.ports.upstream import (
    UpstreamAuth,
    UpstreamError,
    UpstreamRefused,
    UpstreamUnavailable,
)
from bifrost_py.providers.gemini.batch import batch_counts, batch_poll, responses_file
from bifrost_py.providers.gemini.connection import Connection
from bifrost_py.providers.gemini.files import GeminiFiles
from tests.fakes.gemini_fake import FakeGemini


def test_no_api_key_at_all_is_an_access_error(
        fake: FakeGemini, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GEMINI_API_KEY", "GOOGLE_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    mirror = GeminiFiles(GeminiConfig(base_url=fake.url))
    with pytest.raises(UpstreamAuth, match=r"no API key.*providers\.gemini"):
        asyncio.run(mirror.upload("a.jsonl", b"x", "application/jsonl"))


@pytest.mark.parametrize(("code", "message", "kind"), [
    (400, "API key not valid. Please pass a valid API key.", UpstreamAuth),
    (401, "Request had invalid authentication credentials.", UpstreamAuth),
    (403, "Permission denied.", UpstreamAuth),
    (400, "Invalid JSON payload received.", UpstreamRefused),
    (404, "models/nope is not found.", UpstreamRefused),
    (408, "Timed out.", UpstreamUnavailable),
    (429, "Resource exhausted.", UpstreamUnavailable),
    (500, "Internal error.", UpstreamUnavailable),
    (503, "The model is overloaded.", UpstreamUnavailable)])
def test_gemini_errors_map_to_upstream_errors_without_the_key(
        code: int, message: str, kind: type[UpstreamError]) -> None:
    error = errors.APIError(code, {"error": {"code": code, "message": f"{message} {API_KEY}",
                                             "status": "SOME_STATUS"}})
    failure = Connection(GeminiConfig(api_key=API_KEY))._refusal(error)
    assert type(failure) is kind and failure.status == code and message in failure.message
    assert API_KEY not in str(failure)


# the status mapping and counts


@pytest.mark.parametrize(("state", "status", "ended"), [
    ("BATCH_STATE_PENDING", SCHEDULED, False), ("JOB_STATE_PENDING", SCHEDULED, False),
    ("BATCH_STATE_RUNNING", IN_PROGRESS, False), ("JOB_STATE_RUNNING", IN_PROGRESS, False),
    ("BATCH_STATE_SUCCEEDED", COMPLETED, True), ("JOB_STATE_SUCCEEDED", COMPLETED, True),
    ("BATCH_STATE_FAILED", FAILED, True), ("JOB_STATE_FAILED", FAILED, True),
    ("BATCH_STATE_CANCELLED", STOPPED, True), ("JOB_STATE_CANCELLED", STOPPED, True),
    ("BATCH_STATE_EXPIRED", EXPIRED, True), ("JOB_STATE_EXPIRED", EXPIRED, True)])
def test_gemini_states_map_to_bedrock_statuses(state: str, status: str, ended: bool) -> None:
    poll = batch_poll({"name": "batches/x", "metadata": {"state": state}})
    assert (poll.status, poll.results_ready) == (status, ended)


def test_poll_reads_counts_and_the_operation_error() -> None:
    poll = batch_poll({"metadata": {"state": "BATCH_STATE_FAILED", "batchStats": {
        "requestCount": "5", "successfulRequestCount": "2", "failedRequestCount": "1",
        "pendingRequestCount": "2"}}, "done": True,
        "error": {"code": 400, "message": "Input file files/x line 2 is not a JSON object."}})
    assert poll.counts == Counts(5, 3, 2, 1)
    assert poll.message == "Input file files/x line 2 is not a JSON object."
    assert batch_counts({}) == Counts(None, 0, 0, 0)  # proto3 JSON leaves zero counts out
    assert batch_counts({"requestCount": "3", "pendingRequestCount": "3"}) == Counts(3, 0, 0, 0)
    running = batch_poll({"metadata": {"state": "BATCH_STATE_RUNNING"}})
    assert running.message is None and running.counts == Counts()


def test_the_responses_file_is_found_in_the_batch_or_the_response() -> None:
    assert responses_file({"metadata": {"output": {"responsesFile": "files/r"}}}) == "files/r"
    assert responses_file({"metadata": {}, "response": {"responsesFile": "files/s"}}) == "files/s"
    assert responses_file({"metadata": {"state": "BATCH_STATE_FAILED"}}) is None
