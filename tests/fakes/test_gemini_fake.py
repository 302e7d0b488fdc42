"""The Gemini fake speaks the protocol google-genai speaks: every test drives it through the SDK."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from google import genai
from google.genai import errors, types

from tests.fakes.faults import ResultFaults
from tests.fakes.gemini_fake import FakeGemini

MODEL = "gemini-2.0-flash"
ENDED = {types.JobState.JOB_STATE_SUCCEEDED, types.JobState.JOB_STATE_FAILED,
         types.JobState.JOB_STATE_CANCELLED, types.JobState.JOB_STATE_EXPIRED}


@pytest.fixture
def fake() -> Iterator[FakeGemini]:
    with FakeGemini(process_seconds=0.2) as server:
        yield server


def client(fake: FakeGemini, key: str = "test-key", version: str = "v1beta",
           retry: types.HttpRetryOptions | None = None) -> genai.Client:
    return genai.Client(api_key=key, http_options=types.HttpOptions(
        base_url=fake.url, api_version=version, retry_options=retry))


def line(key: str, text: str, **request: Any) -> dict[str, Any]:
    return {"key": key, "request": {"contents": [{"role": "user", "parts": [{"text": text}]}],
                                    **request}}


def upload(sdk: genai.Client, lines: list[Any]) -> types.File:
    data = "".join(x if isinstance(x, str) else json.dumps(x) + "\n" for x in lines).encode()
    return sdk.files.upload(file=io.BytesIO(data),
                            config={"mime_type": "application/jsonl", "display_name": "input"})


def wait(sdk: genai.Client, name: str, seconds: float = 5) -> types.BatchJob:
    deadline = time.monotonic() + seconds
    while True:
        job = sdk.batches.get(name=name)
        if job.state in ENDED or time.monotonic() > deadline:
            return job
        time.sleep(0.03)


def raw(sdk: genai.Client, path: str) -> dict[str, Any]:
    """The JSON the SDK received, unparsed: how an adapter reads what the SDK drops (batchStats,
    the operation's error)."""
    return dict(json.loads(sdk._api_client.request("get", path, {}).body or "{}"))


def results(sdk: genai.Client, job: types.BatchJob) -> list[dict[str, Any]]:
    name = job.dest.file_name if job.dest else None
    assert name is not None
    data = sdk.files.download(file=name)
    return [json.loads(x) for x in data.decode().splitlines()]


def test_upload_get_list_delete_files(fake: FakeGemini) -> None:
    sdk = client(fake)
    first = upload(sdk, [line("a", "hi")])
    second = upload(sdk, [line("b", "there")])
    assert first.name and first.name.startswith("files/")
    assert first.state == types.FileState.ACTIVE and first.source == types.FileSource.UPLOADED
    assert first.display_name == "input" and first.mime_type == "application/jsonl"
    assert first.size_bytes == len(json.dumps(line("a", "hi"))) + 1
    assert sdk.files.get(name=first.name).sha256_hash == first.sha256_hash
    page = sdk.files.list(config={"page_size": 1})
    assert len(page.page) == 1
    assert {f.name for f in page} == {first.name, second.name}  # the pager follows the token
    sdk.files.delete(name=first.name)
    with pytest.raises(errors.ClientError) as missing:
        sdk.files.get(name=first.name)
    assert missing.value.code == 404 and missing.value.status == "NOT_FOUND"
    # The second upload request carries no API key: it goes to the URL the start answered.
    assert fake.requests[:2] == [("POST", "/upload/v1beta/files")] * 2
    with pytest.raises(errors.ClientError) as refused:
        sdk.files.download(file=str(second.name))  # uploaded files cannot be downloaded
    assert refused.value.code == 400


def test_batch_from_file_runs_to_completion(fake: FakeGemini) -> None:
    sdk = client(fake)
    source = upload(sdk, [line("a", "hello", systemInstruction={"parts": [{"text": "be kind"}]}),
                          line("b", "please FAIL"), "\n",
                          line("c", "long answer", generationConfig={"maxOutputTokens": 1})])
    assert source.name is not None
    job = sdk.batches.create(model=MODEL, src=source.name, config={"display_name": "nightly"})
    assert job.state == types.JobState.JOB_STATE_PENDING
    assert job.name and job.name.startswith("batches/") and job.display_name == "nightly"
    assert job.model == f"models/{MODEL}"
    job = wait(sdk, job.name)
    assert job.state == types.JobState.JOB_STATE_SUCCEEDED and job.end_time is not None
    lines = results(sdk, job)
    assert [x.get("key") for x in lines] == ["a", "b", "c"]
    answer = lines[0]["response"]
    assert answer["candidates"][0]["content"] == {"role": "model",
                                                  "parts": [{"text": "echo: hello"}]}
    assert answer["candidates"][0]["finishReason"] == "STOP"
    assert answer["usageMetadata"] == {"promptTokenCount": 4, "candidatesTokenCount": 3,
                                       "totalTokenCount": 7}
    assert lines[1]["error"]["code"] == 13 and "response" not in lines[1]  # google.rpc.Code
    assert lines[2]["response"]["candidates"][0]["finishReason"] == "MAX_TOKENS"
    operation = raw(sdk, str(job.name))
    assert operation["done"] is True
    assert operation["metadata"]["batchStats"] == {"requestCount": "3",
                                                   "successfulRequestCount": "2",
                                                   "failedRequestCount": "1"}
    assert job.dest is not None
    assert job.dest.file_name == f"files/batch-{job.name.removeprefix('batches/')}"
    assert operation["metadata"]["output"] == {"responsesFile": job.dest.file_name}


def test_counts_move_while_running(fake: FakeGemini) -> None:
    sdk = client(fake)
    fake.hold, fake.process_seconds = True, 0.6  # pending for the first 0.15 s
    source = upload(sdk, [line(str(i), f"q{i}") for i in range(4)])
    assert source.name is not None
    job = sdk.batches.create(model=MODEL, src=source.name)
    assert job.name is not None
    assert raw(sdk, job.name)["metadata"]["batchStats"] == {"requestCount": "4",
                                                            "pendingRequestCount": "4"}
    time.sleep(0.7)
    running = raw(sdk, job.name)
    assert running["metadata"]["state"] == "BATCH_STATE_RUNNING" and "done" not in running
    assert running["metadata"]["batchStats"]["pendingRequestCount"] == "1"  # held short of done
    fake.hold = False
    assert wait(sdk, job.name).state == types.JobState.JOB_STATE_SUCCEEDED


def test_inline_requests(fake: FakeGemini) -> None:
    sdk = client(fake)
    job = sdk.batches.create(model=MODEL, src=[types.InlinedRequest(
        contents=[types.Content(role="user", parts=[types.Part(text="inline")])],
        metadata={"key": "i"})])
    assert job.name is not None
    job = wait(sdk, job.name)
    assert job.dest is not None and job.dest.inlined_responses is not None
    [only] = job.dest.inlined_responses
    assert only.metadata == {"key": "i"} and only.response is not None
    assert only.response.text == "echo: inline"
    # A list leaves inline responses out; a get of the batch has them.
    [listed] = list(sdk.batches.list())
    assert listed.dest is not None and listed.dest.inlined_responses is None


def test_list_batches(fake: FakeGemini) -> None:
    sdk = client(fake)
    source = upload(sdk, [line("a", "x")])
    assert source.name is not None
    names = {sdk.batches.create(model=MODEL, src=source.name).name for _ in range(3)}
    page = sdk.batches.list(config={"page_size": 2})
    assert len(page.page) == 2
    assert {job.name for job in page} == names
    assert "operations" in raw(sdk, "batches")  # a list of long-running operations


def test_cancel_and_delete_a_held_batch(fake: FakeGemini) -> None:
    sdk = client(fake)
    fake.hold = True
    source = upload(sdk, [line("a", "x"), line("b", "y")])
    assert source.name is not None
    job = sdk.batches.create(model=MODEL, src=source.name)
    assert job.name is not None
    time.sleep(0.3)
    assert sdk.batches.get(name=job.name).state == types.JobState.JOB_STATE_RUNNING
    sdk.batches.cancel(name=job.name)
    assert sdk.batches.get(name=job.name).state == types.JobState.JOB_STATE_CANCELLED
    with pytest.raises(errors.ClientError) as ended:
        sdk.batches.cancel(name=job.name)
    assert ended.value.status == "FAILED_PRECONDITION"
    sdk.batches.delete(name=job.name)
    with pytest.raises(errors.ClientError) as missing:
        sdk.batches.get(name=job.name)
    assert missing.value.code == 404
    assert ("POST", f"/v1beta/{job.name}:cancel") in fake.requests


def test_outcome_failed(fake: FakeGemini) -> None:
    sdk = client(fake)
    fake.outcome = "failed"
    source = upload(sdk, [line("a", "x")])
    assert source.name is not None
    job = wait(sdk, str(sdk.batches.create(model=MODEL, src=source.name).name))
    assert job.state == types.JobState.JOB_STATE_FAILED and job.dest is None
    assert job.error is None  # the SDK drops the operation's error on the Gemini API
    error = raw(sdk, str(job.name))["error"]
    assert error["code"] == 3 and set(error) == {"code", "message"}  # INVALID_ARGUMENT


def test_a_file_gemini_cannot_parse_refuses_the_create(fake: FakeGemini) -> None:
    sdk = client(fake)
    source = upload(sdk, [line("a", "x"), "{not json\n", "[1]\n"])
    assert source.name is not None
    with pytest.raises(errors.ClientError) as refused:
        sdk.batches.create(model=MODEL, src=source.name)
    assert refused.value.code == 400 and refused.value.status == "INVALID_ARGUMENT"
    message = str(refused.value.message)
    assert message.startswith("Error on line 2: invalid JSON") and "Error on line 3" in message
    assert fake.batches == {}


def test_outcome_expired_has_no_results(fake: FakeGemini) -> None:
    sdk = client(fake)
    fake.outcome = "expired"
    source = upload(sdk, [line(str(i), f"q{i}") for i in range(4)])
    assert source.name is not None
    job = wait(sdk, str(sdk.batches.create(model=MODEL, src=source.name).name))
    assert job.state == types.JobState.JOB_STATE_EXPIRED and job.dest is None
    operation = raw(sdk, str(job.name))
    assert "output" not in operation["metadata"] and "response" not in operation
    assert operation["metadata"]["batchStats"] == {"requestCount": "4",
                                                   "successfulRequestCount": "2",
                                                   "pendingRequestCount": "2"}


def test_wrong_key_is_401(fake: FakeGemini) -> None:
    # Keep the Client referenced: when it is collected it closes its HTTP client, so
    # `client(...).batches.get(...)` in one expression fails with "client has been closed".
    sdk = client(fake, key="wrong")
    with pytest.raises(errors.ClientError) as refused:
        sdk.batches.get(name="batches/abc")
    assert refused.value.code == 401 and refused.value.status == "UNAUTHENTICATED"


@pytest.mark.parametrize(("status", "kind"), [(429, errors.ClientError),
                                              (503, errors.ServerError)])
def test_fail_requests(fake: FakeGemini, status: int, kind: type[errors.APIError]) -> None:
    sdk = client(fake)  # the SDK does not retry unless given retry_options
    fake.fail_requests(1, status)
    with pytest.raises(kind) as failed:
        list(sdk.files.list())
    assert failed.value.code == status and failed.value.response is not None
    if status == 429:
        assert failed.value.response.headers["retry-after"] == "0"
    assert list(sdk.files.list()) == []


def test_fail_requests_with_sdk_retries(fake: FakeGemini) -> None:
    retry = types.HttpRetryOptions(attempts=3, initial_delay=0, max_delay=0, jitter=0)
    sdk = client(fake, retry=retry)
    fake.fail_requests(2, 429)
    source = upload(sdk, [line("a", "x")])  # the start request is retried past both failures
    assert source.state == types.FileState.ACTIVE
    assert len(fake.requests) == 4


def test_stop_and_start_keep_state_and_v1_is_served(fake: FakeGemini) -> None:
    sdk = client(fake)
    source = upload(sdk, [line("a", "x")])
    assert source.name is not None
    job = sdk.batches.create(model=MODEL, src=source.name)
    fake.stop()
    with pytest.raises(Exception) as down:  # httpx's or httpx2's ConnectError, as installed
        sdk.batches.get(name=str(job.name))
    assert type(down.value).__name__ == "ConnectError"
    time.sleep(0.25)
    fake.start()
    v1 = client(fake, version="v1")
    assert v1.batches.get(name=str(job.name)).state == types.JobState.JOB_STATE_SUCCEEDED
    assert ("GET", f"/v1/{job.name}") in fake.requests


# -- behaviours pinned to independent sources (tests/fakes/README.md names them) ---------------

# The batch guide's own input file example: a `key` and a `request` on each line, the request in
# REST field names (snake_case accepted, as proto JSON parsing does).
DOC_EXAMPLE = [
    {"key": "request-1", "request": {"contents": [{"parts": [{"text": "Photosynthesis?"}]}],
                                     "generation_config": {"temperature": 0.7}}},
    {"key": "request-2", "request": {"contents": [{"parts": [{"text": "Pizza ingredients?"}]}]}},
]
# The members a results line had in the cookbook's recorded run: `key` beside `response`, never
# inside a `metadata`.
RECORDED_LINE = {"key", "response"}
RECORDED_RESPONSE = {"candidates", "usageMetadata", "modelVersion", "responseId"}
RECORDED_CANDIDATE = {"content", "finishReason", "index"}


def run_file(fake: FakeGemini, lines: list[Any]) -> list[dict[str, Any]]:
    sdk = client(fake)
    source = upload(sdk, lines)
    assert source.name is not None
    job = wait(sdk, str(sdk.batches.create(model=MODEL, src=source.name).name))
    assert job.state == types.JobState.JOB_STATE_SUCCEEDED
    return results(sdk, job)


def test_results_have_the_documented_and_recorded_shape(fake: FakeGemini) -> None:
    lines = run_file(fake, DOC_EXAMPLE)
    assert [x["key"] for x in lines] == ["request-1", "request-2"]  # in input order
    for result in lines:
        assert set(result) == RECORDED_LINE
        assert set(result["response"]) == RECORDED_RESPONSE
        assert set(result["response"]["candidates"][0]) == RECORDED_CANDIDATE
        # The SDK's own model of a response (extra fields forbidden) reads every member.
        types.GenerateContentResponse.model_validate(result["response"])


def test_the_key_is_read_from_key_only_and_a_keyless_line_keeps_its_place(
        fake: FakeGemini) -> None:
    seed_form = {"request": {"contents": [{"parts": [{"text": "old"}]}]},
                 "metadata": {"key": "s"}}
    lines = run_file(fake, [line("a", "first"), seed_form, line("c", "third")])
    assert [x.get("key") for x in lines] == ["a", None, "c"]
    assert set(lines[1]) == {"response"}  # no key to echo, and `metadata` is not echoed
    assert lines[1]["response"]["candidates"][0]["content"]["parts"] == [{"text": "echo: old"}]


def test_a_per_request_error_is_a_google_rpc_status(fake: FakeGemini) -> None:
    lines = run_file(fake, [line("bad", "please FAIL"), {"key": "empty", "request": {}}])
    assert [x["key"] for x in lines] == ["bad", "empty"]
    assert [x["error"]["code"] for x in lines] == [13, 3]  # INTERNAL, INVALID_ARGUMENT
    for result in lines:
        assert set(result) == {"key", "error"}
        types.JobError.model_validate(result["error"])  # code, message, details: no `status`


def test_an_http_error_is_googles_error_envelope(fake: FakeGemini) -> None:
    sdk = client(fake)
    with pytest.raises(errors.ClientError) as missing:
        sdk.batches.get(name="batches/none")
    assert missing.value.response is not None
    envelope = missing.value.response.json()
    assert set(envelope) == {"error"} and set(envelope["error"]) == {"code", "message", "status"}
    assert (envelope["error"]["code"], envelope["error"]["status"]) == (404, "NOT_FOUND")


# -- result faults -----------------------------------------------------------------------------


def test_result_faults_drop_duplicate_and_reorder_file_lines(fake: FakeGemini) -> None:
    fake.result_faults = ResultFaults(drop={"k1"}, duplicate={"k3"}, shuffle=True)
    lines = run_file(fake, [line(f"k{i}", f"q{i}") for i in range(5)])
    keys = [x["key"] for x in lines]
    assert sorted(keys) == ["k0", "k2", "k3", "k3", "k4"]
    assert keys != sorted(keys)
    assert [x["key"] for x in run_file(fake, [line(f"k{i}", f"q{i}") for i in range(5)])] == keys
    fake.result_faults = ResultFaults(drop_every=2)  # reaches lines without a key too
    lines = run_file(fake, [line("a", "x"), {"request": {"contents": [{"parts": [{"text": "y"}]}]}},
                            line("c", "z")])
    assert [x.get("key") for x in lines] == ["a", "c"]


def test_result_faults_reach_inline_responses(fake: FakeGemini) -> None:
    fake.result_faults = ResultFaults(duplicate={"i0"}, drop_every=3)
    sdk = client(fake)
    job = sdk.batches.create(model=MODEL, src=[types.InlinedRequest(
        contents=[types.Content(role="user", parts=[types.Part(text=f"q{i}")])],
        metadata={"key": f"i{i}"}) for i in range(3)])
    job = wait(sdk, str(job.name))
    assert job.dest is not None and job.dest.inlined_responses is not None
    assert [r.metadata for r in job.dest.inlined_responses] == [
        {"key": "i0"}, {"key": "i0"}, {"key": "i1"}]
    assert raw(sdk, str(job.name))["metadata"]["batchStats"]["requestCount"] == "3"
