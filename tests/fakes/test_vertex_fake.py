"""The Vertex AI fake speaks what google-genai speaks in Vertex mode: jobs are created, read,
listed, cancelled and deleted through the SDK, with input and output in the GCS fake read through
google-cloud-storage."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from google import genai
from google.auth.transport.requests import Request as AuthRequest
from google.cloud import storage
from google.genai import errors, types
from google.oauth2 import service_account

from tests.fakes.faults import ResultFaults
from tests.fakes.gcs_fake import FakeGCS
from tests.fakes.google_auth_fake import CLOUD_PLATFORM
from tests.fakes.vertex_fake import FakeVertex

BUCKET = "batch-bucket"
GEMINI = "gemini-2.0-flash-001"
CLAUDE = "anthropic/claude-3-5-haiku@20241022"
ENDED = {types.JobState.JOB_STATE_SUCCEEDED, types.JobState.JOB_STATE_FAILED,
         types.JobState.JOB_STATE_CANCELLED, types.JobState.JOB_STATE_EXPIRED,
         types.JobState.JOB_STATE_PARTIALLY_SUCCEEDED}


@pytest.fixture
def gcs() -> Iterator[FakeGCS]:
    with FakeGCS() as server:
        server.create_bucket(BUCKET)
        yield server


@pytest.fixture
def vertex(gcs: FakeGCS) -> Iterator[FakeVertex]:
    with FakeVertex(gcs, process_seconds=0.2) as server:
        yield server


def credentials(fake: FakeVertex) -> service_account.Credentials:
    info = fake.issuer.service_account(token_uri=f"{fake.url}/token")
    return service_account.Credentials.from_service_account_info(info, scopes=[CLOUD_PLATFORM])


def client(fake: FakeVertex, creds: service_account.Credentials | None = None,
           project: str = "test-project", location: str = "us-central1") -> genai.Client:
    return genai.Client(vertexai=True, project=project, location=location,
                        credentials=creds or credentials(fake),
                        http_options=types.HttpOptions(base_url=fake.url, api_version="v1"))


def gemini_line(text: str, **extra: Any) -> dict[str, Any]:
    return {"request": {"contents": [{"role": "user", "parts": [{"text": text}]}]}, **extra}


def claude_line(custom_id: str, text: str, **request: Any) -> dict[str, Any]:
    return {"custom_id": custom_id,
            "request": {"messages": [{"role": "user", "content": text}], "max_tokens": 50,
                        "anthropic_version": "vertex-2023-10-16", **request}}


def upload(fake: FakeVertex, name: str, lines: list[Any]) -> str:
    """Input written through google-cloud-storage, as an adapter would write it."""
    gcs = storage.Client(project=fake.project, credentials=credentials(fake),
                         client_options={"api_endpoint": fake.gcs.url})
    data = "".join(x if isinstance(x, str) else json.dumps(x) + "\n" for x in lines)
    gcs.bucket(BUCKET).blob(name).upload_from_string(data, content_type="application/jsonl")
    return f"gs://{BUCKET}/{name}"


def wait(sdk: genai.Client, name: str, seconds: float = 5) -> types.BatchJob:
    deadline = time.monotonic() + seconds
    while True:
        job = sdk.batches.get(name=name)
        if job.state in ENDED or time.monotonic() > deadline:
            return job
        time.sleep(0.03)


def output(fake: FakeVertex, job: types.BatchJob) -> dict[str, list[dict[str, Any]]]:
    """Every output file of a job, by file name, read back from the GCS fake."""
    assert job.output_info is not None and job.output_info.gcs_output_directory
    bucket, _, folder = job.output_info.gcs_output_directory.removeprefix("gs://").partition("/")
    return {name.removeprefix(folder + "/"): [json.loads(x) for x in
                                              fake.gcs.get(bucket, name).decode().splitlines()]
            for name in fake.gcs.names(bucket, folder + "/")}


def test_gemini_job_runs_to_completion(vertex: FakeVertex) -> None:
    sdk = client(vertex)
    src = upload(vertex, "in/gemini.jsonl", [gemini_line("hello", key="a"),
                                             gemini_line("please FAIL", key="b"), "\n",
                                             gemini_line("third")])
    job = sdk.batches.create(model=GEMINI, src=src,
                             config={"dest": f"gs://{BUCKET}/out", "display_name": "nightly"})
    assert job.name is not None
    assert job.name.startswith("projects/123456789012/locations/us-central1/batchPredictionJobs/")
    assert job.state == types.JobState.JOB_STATE_PENDING and job.display_name == "nightly"
    assert job.model == f"publishers/google/models/{GEMINI}"
    assert job.src is not None and job.src.gcs_uri == [src] and job.src.format == "jsonl"
    assert job.dest is not None and job.dest.gcs_uri == f"gs://{BUCKET}/out"
    assert ("POST", "/v1/projects/test-project/locations/us-central1/batchPredictionJobs") \
        in vertex.requests
    job = wait(sdk, job.name)
    assert job.state == types.JobState.JOB_STATE_SUCCEEDED
    assert job.start_time and job.end_time and job.create_time and job.error is None
    assert job.completion_stats is not None
    assert (job.completion_stats.successful_count, job.completion_stats.failed_count,
            job.completion_stats.incomplete_count) == (2, 1, None)
    assert job.output_info is not None and job.output_info.gcs_output_directory is not None
    assert job.output_info.gcs_output_directory.startswith(f"gs://{BUCKET}/out/prediction-model-")
    files = output(vertex, job)
    assert list(files) == ["predictions.jsonl"]
    lines = files["predictions.jsonl"]
    assert [x.get("key") for x in lines] != ["a", "b", None]  # no promised order
    by_text = {x["request"]["contents"][0]["parts"][0]["text"]: x for x in lines}
    hello = by_text["hello"]
    assert hello["key"] == "a" and hello["status"] == ""
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", hello["processed_time"])
    assert hello["response"]["candidates"][0]["content"]["parts"] == [{"text": "echo: hello"}]
    assert hello["response"]["modelVersion"] == GEMINI
    failed = by_text["please FAIL"]
    assert failed["status"] and "response" not in failed and failed["key"] == "b"
    assert "key" not in by_text["third"]


def test_claude_job(vertex: FakeVertex) -> None:
    sdk = client(vertex)
    src = upload(vertex, "in/claude.jsonl", [claude_line("r1", "hi"), claude_line("r2", "FAIL"),
                                             claude_line("r3", "x", model="claude")])
    job = sdk.batches.create(model=CLAUDE, src=src, config={"dest": f"gs://{BUCKET}/claude"})
    assert job.model == "publishers/anthropic/models/claude-3-5-haiku@20241022"
    assert job.display_name and job.display_name.startswith("genai_batch_job_")
    assert job.name is not None
    job = wait(sdk, job.name)
    assert job.state == types.JobState.JOB_STATE_SUCCEEDED
    lines = {x["custom_id"]: x for x in output(vertex, job)["predictions.jsonl"]}
    message = lines["r1"]["response"]
    assert lines["r1"]["status"] == "" and set(lines["r1"]) == {"custom_id", "request",
                                                                 "response", "status"}
    assert message["id"].startswith("msg_vrtx_") and message["type"] == "message"
    assert message["content"] == [{"type": "text", "text": "echo: hi"}]
    assert message["model"] == "claude-3-5-haiku-20241022"
    assert lines["r2"]["status"] and "response" not in lines["r2"]
    assert "model" in lines["r3"]["status"]  # the model is the job's, not the line's
    again = sdk.batches.create(model=CLAUDE, src=src, config={"dest": f"gs://{BUCKET}/claude"})
    assert again.name is not None and again.name != job.name
    repeat = {x["custom_id"]: x for x in output(vertex, wait(sdk, again.name))[
        "predictions.jsonl"]}
    assert repeat["r1"]["response"] == message  # answers are deterministic


def test_states_follow_the_clock_and_knobs(vertex: FakeVertex) -> None:
    sdk = client(vertex)
    src = upload(vertex, "in/many.jsonl", [gemini_line(f"n{i}") for i in range(10)])
    vertex.queued = True
    job = sdk.batches.create(model=GEMINI, src=src, config={"dest": f"gs://{BUCKET}/o"})
    assert job.name is not None
    time.sleep(0.3)
    assert sdk.batches.get(name=job.name).state == types.JobState.JOB_STATE_QUEUED
    vertex.queued, vertex.hold = False, True
    sdk.batches.get(name=job.name)  # released: its clock starts now
    time.sleep(0.3)
    running = sdk.batches.get(name=job.name)
    assert running.state == types.JobState.JOB_STATE_RUNNING and running.completion_stats
    assert running.completion_stats.successful_count == 9  # never all before the end
    assert running.completion_stats.incomplete_count == 1
    vertex.hold = False
    assert wait(sdk, job.name).state == types.JobState.JOB_STATE_SUCCEEDED
    vertex.lines_per_file = 4
    for outcome, state in [("failed", "JOB_STATE_FAILED"), ("expired", "JOB_STATE_EXPIRED"),
                           ("partially_succeeded", "JOB_STATE_PARTIALLY_SUCCEEDED")]:
        vertex.outcome = outcome
        created = sdk.batches.create(model=GEMINI, src=src, config={"dest": f"gs://{BUCKET}/o"})
        assert created.name is not None
        ended = wait(sdk, created.name)
        assert ended.state == state
        if outcome == "failed":
            assert ended.error is not None and ended.error.code == 13
            assert output(vertex, ended) == {}
        elif outcome == "expired":
            assert ended.error is not None and ended.error.code == 4
            assert sum(len(x) for x in output(vertex, ended).values()) == 5
        else:
            files = output(vertex, ended)
            assert list(files) == ["predictions_0001.jsonl", "predictions_0002.jsonl",
                                   "predictions_0003.jsonl"]
            statuses = [x["status"] for f in files.values() for x in f]
            assert statuses.count("") == 5 and len(statuses) == 10
            assert ended.completion_stats is not None
            assert ended.completion_stats.failed_count == 5


def test_unreadable_input_fails_the_job_not_the_create(vertex: FakeVertex) -> None:
    sdk = client(vertex)
    for src in [f"gs://{BUCKET}/in/missing.jsonl",
                upload(vertex, "in/bad.jsonl", [gemini_line("ok"), "{not json\n"])]:
        job = sdk.batches.create(model=GEMINI, src=src, config={"dest": f"gs://{BUCKET}/o"})
        assert job.name is not None
        job = wait(sdk, job.name)
        assert job.state == types.JobState.JOB_STATE_FAILED
        assert job.error is not None and job.error.code == 3
        assert job.error.message and job.error.message.startswith("Failed to import data")


def test_cancel_keeps_what_was_answered_and_delete(vertex: FakeVertex) -> None:
    sdk = client(vertex)
    src = upload(vertex, "in/c.jsonl", [claude_line(f"c{i}", "x") for i in range(8)])
    vertex.hold = True
    created = sdk.batches.create(model=CLAUDE, src=src, config={"dest": f"gs://{BUCKET}/c"})
    name = str(created.name)
    time.sleep(0.3)
    with pytest.raises(errors.ClientError) as early:
        sdk.batches.delete(name=name)  # only an ended job can be deleted
    assert early.value.code == 400
    sdk.batches.cancel(name=name)
    assert vertex.jobs[name.rsplit("/", 1)[1]].state == "JOB_STATE_CANCELLING"
    job = sdk.batches.get(name=name)
    assert job.state == types.JobState.JOB_STATE_CANCELLED
    assert job.error is not None and job.error.code == 1
    assert [len(x) for x in output(vertex, job).values()] == [7]
    with pytest.raises(errors.ClientError):
        sdk.batches.cancel(name=name)
    deleted = sdk.batches.delete(name=name.rsplit("/", 1)[1])  # a bare id works too
    assert deleted.done is True and deleted.error is None
    with pytest.raises(errors.ClientError) as gone:
        sdk.batches.get(name=name)
    assert gone.value.code == 404 and gone.value.status == "NOT_FOUND"


def test_list_filters_and_pages(vertex: FakeVertex) -> None:
    sdk = client(vertex)
    src = upload(vertex, "in/l.jsonl", [gemini_line("x")])
    names = []
    for display in ["alpha", "beta", "gamma"]:
        created = sdk.batches.create(model=GEMINI, src=src, config={
            "dest": f"gs://{BUCKET}/l", "display_name": display})
        assert created.name is not None
        names.append(created.name)
        if display == "alpha":
            wait(sdk, created.name)
            vertex.hold = True  # beta and gamma stay running
    sdk.batches.cancel(name=names[1])
    listed = sdk.batches.list(config={"page_size": 2})
    assert len(listed.page) == 2
    assert [j.name for j in listed] == names[::-1]  # newest first; the pager follows the token

    def shown(expression: str) -> list[str]:
        return sorted(str(j.display_name) for j in sdk.batches.list(config={"filter": expression}))

    assert shown('state="JOB_STATE_SUCCEEDED"') == ["alpha"]
    assert shown('display_name="beta" OR display_name="gamma"') == ["beta", "gamma"]
    assert shown('state!="JOB_STATE_CANCELLED" AND NOT display_name="alpha"') == ["gamma"]
    assert shown("-(state=JOB_STATE_SUCCEEDED)") == ["beta", "gamma"]
    # OR binds tighter than AND: alpha AND (SUCCEEDED OR CANCELLED)
    assert shown('display_name="alpha" AND state="JOB_STATE_SUCCEEDED" OR '
                 'state="JOB_STATE_CANCELLED"') == ["alpha"]
    with pytest.raises(errors.ClientError):
        shown("create_time>1")


def test_auth_project_and_plain_rest(vertex: FakeVertex) -> None:
    creds = credentials(vertex)
    sdk = client(vertex, creds)
    src = upload(vertex, "in/r.jsonl", [gemini_line("x")])
    job = sdk.batches.create(model=GEMINI, src=src, config={"dest": f"gs://{BUCKET}/r"})
    assert job.name is not None
    # Each client is kept in a name: a dropped genai.Client closes its HTTP client.
    numbered = client(vertex, creds, project="123456789012")
    assert numbered.batches.get(name=job.name).name == job.name
    foreign_sdk = client(vertex, creds, project="other-project")
    with pytest.raises(errors.ClientError) as foreign:
        foreign_sdk.batches.list()
    assert foreign.value.code == 403 and foreign.value.status == "PERMISSION_DENIED"
    vertex.issuer.expire_all()
    with pytest.raises(errors.ClientError) as stale:
        sdk.batches.get(name=job.name)  # the SDK trusts the token until its expiry
    assert stale.value.code == 401 and stale.value.status == "UNAUTHENTICATED"
    creds.refresh(AuthRequest())
    assert sdk.batches.get(name=job.name).name == job.name
    url = f"{vertex.url}/v1beta1/{job.name}"
    assert httpx.get(url).status_code == 401
    plain = httpx.get(url, headers={"Authorization": f"Bearer {vertex.issuer.issue()}"})
    assert plain.json()["name"] == job.name and plain.json()["state"].startswith("JOB_STATE_")
    vertex.fail_requests(1, 429)
    with pytest.raises(errors.ClientError) as limited:
        sdk.batches.get(name=job.name)
    assert limited.value.code == 429 and limited.value.status == "RESOURCE_EXHAUSTED"


def test_result_faults_damage_the_output(vertex: FakeVertex) -> None:
    sdk = client(vertex)
    vertex.result_faults = ResultFaults(drop=["d1"], duplicate=["d2"])
    src = upload(vertex, "in/f.jsonl", [claude_line(f"d{i}", "x") for i in range(4)])
    job = sdk.batches.create(model=CLAUDE, src=src, config={"dest": f"gs://{BUCKET}/f"})
    assert job.name is not None
    job = wait(sdk, job.name)
    ids = sorted(x["custom_id"] for x in output(vertex, job)["predictions.jsonl"])
    assert ids == ["d0", "d2", "d2", "d3"]
    assert job.completion_stats is not None and job.completion_stats.successful_count == 4
