"""The vertex provider end to end: boto3 and the openai SDK against the server, the server against
the Vertex AI and Cloud Storage fakes with a service account whose JWTs the token fake verifies.

Both families run: Gemini (`publishers/google/models/...`) and Claude on Vertex
(`publishers/anthropic/models/...`). Files put with the vertex provider are staged in GCS; job
inputs are staged there and the outputs read back from the job's output directory.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bedrock_helpers import (
    CLAUDE,
    bedrock_client,
    configured_server,
    converse_record,
    create_job,
    jsonl,
    manifest,
    output_lines,
    s3_client,
    unique,
    wait_for_progress,
    wait_for_status,
    with_provider,
)
from botocore.exceptions import ClientError
from openai_helpers import answer, chat_line, client, file_lines, run, upload, wait

from bifrost_py.testing import RunningServer
from tests.fakes.gcs_fake import FakeGCS
from tests.fakes.google_auth_fake import TokenIssuer
from tests.fakes.vertex_fake import FakeVertex

BUCKET = "bifrost-staging"
GEMINI = "gemini-2.5-flash"
VERTEX_CLAUDE = "claude-3-5-sonnet-v2@20241022"


class Google:
    def __init__(self, gcs: FakeGCS, vertex: FakeVertex, issuer: TokenIssuer) -> None:
        self.gcs, self.vertex, self.issuer = gcs, vertex, issuer

    def reset(self) -> None:
        self.vertex.outcome, self.vertex.hold, self.vertex.queued = "succeeded", False, False
        self.vertex.result_faults = None

    def models(self) -> list[str]:
        return [job.model for job in self.vertex.jobs.values()]


@pytest.fixture(scope="module")
def google() -> Iterator[Google]:
    issuer = TokenIssuer()
    with FakeGCS(issuer) as gcs, FakeVertex(gcs, process_seconds=0.3) as vertex:
        gcs.create_bucket(BUCKET)
        yield Google(gcs, vertex, issuer)


@pytest.fixture(autouse=True)
def fresh(google: Google) -> Iterator[None]:
    google.reset()
    yield
    google.reset()


def vertex_config(google: Google, directory: Path, credentials: Path | None = None) -> str:
    if credentials is None:
        credentials = directory / "service-account.json"
        credentials.write_text(json.dumps(google.issuer.service_account(
            token_uri=f"{google.gcs.url}/token")))
    return f"""
[providers.vertex]
project = "test-project"
location = "us-central1"
staging_uri = "gs://{BUCKET}/bifrost/"
credentials_file = "{credentials}"
base_url = "{google.vertex.url}"
storage_url = "{google.gcs.url}"
poll_interval = 0.2
max_retries = 0

[models]
"{CLAUDE}" = {{ vertex = "{VERTEX_CLAUDE}" }}
"""


@pytest.fixture(scope="module")
def server(google: Google, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    directory = tmp_path_factory.mktemp("vertex")
    with configured_server(directory, vertex_config(google, directory)) as running:
        yield running


def clients(server: RunningServer) -> tuple[Any, Any]:
    return (with_provider(s3_client(server), "vertex"),
            with_provider(bedrock_client(server), "vertex"))


def put_input(s3: Any, records: list[dict[str, Any]]) -> str:
    """Put the records with the vertex provider; the s3:// URI of their file id."""
    file_id = s3.put_object(Bucket=unique("vertex-in"), Key="in.jsonl",
                            Body=jsonl(records))["ETag"].strip('"')
    return f"s3://any/{file_id}"


def test_a_put_file_is_staged_in_gcs_under_its_id(server: RunningServer,
                                                  google: Google) -> None:
    s3, _ = clients(server)
    body = jsonl([converse_record(0, "r0")])
    file_id = s3.put_object(Bucket=unique("vertex-files"), Key="in.jsonl",
                            Body=body)["ETag"].strip('"')
    assert file_id.startswith("vertex-file-")
    assert google.gcs.get(BUCKET, f"bifrost/files/{file_id}") == body


def test_a_bedrock_job_runs_on_gemini_and_its_outputs_are_bedrocks(server: RunningServer,
                                                                   google: Google) -> None:
    s3, bedrock = clients(server)
    records = [converse_record(i, f"r{i}") for i in range(4)]
    output = f"s3://{unique('vertex-out')}/out/"
    arn = create_job(bedrock, put_input(s3, records), output, model_id=GEMINI)
    job = wait_for_status(bedrock, arn)
    assert job["status"] == "Completed", job
    assert google.models()[-1] == f"publishers/google/models/{GEMINI}"
    bucket = output.removeprefix("s3://").split("/")[0]
    lines = output_lines(s3, bucket, arn)  # named after the key the file was put as
    assert sorted(line["recordId"] for line in lines) == ["r0", "r1", "r2", "r3"]
    assert all("modelOutput" in line for line in lines)
    found = manifest(s3, bucket, arn)
    assert (found["totalRecordCount"], found["successRecordCount"]) == (4, 4)
    assert found["inputTokenCount"] > 0
    staged = list(google.vertex.jobs.values())[-1].input_uris
    assert staged == [f"gs://{BUCKET}/bifrost/{job['jobArn'].rsplit('/', 1)[-1]}/requests.jsonl"]
    assert not google.gcs.names(BUCKET, staged[0].removeprefix(f"gs://{BUCKET}/")), (
        "the staged requests are deleted once the outputs are read")


def test_claude_on_vertex_runs_with_the_mapped_model(server: RunningServer,
                                                     google: Google) -> None:
    s3, bedrock = clients(server)
    output = f"s3://{unique('vertex-out')}/out/"
    arn = create_job(bedrock, put_input(s3, [converse_record(i, f"c{i}") for i in range(3)]),
                     output, model_id=CLAUDE)
    job = wait_for_status(bedrock, arn)
    assert job["status"] == "Completed", job
    assert google.models()[-1] == f"publishers/anthropic/models/{VERTEX_CLAUDE}"
    assert (job["successRecordCount"], job["errorRecordCount"]) == (3, 0)


def test_the_openai_sdks_batch_runs_on_vertex(server: RunningServer, google: Google) -> None:
    sdk = client(server.openai_url, "vertex")
    batch = run(sdk, [chat_line(i, GEMINI) for i in range(3)])
    assert batch.status == "completed", batch
    assert batch.request_counts is not None and batch.request_counts.completed == 3
    out = file_lines(sdk, batch.output_file_id)
    assert sorted(out) == ["request-0", "request-1", "request-2"]
    assert all(line["response"]["body"]["object"] == "chat.completion" for line in out.values())
    assert all(answer(line) for line in out.values())


def test_a_failed_line_is_an_error_line_with_its_status(server: RunningServer) -> None:
    sdk = client(server.openai_url, "vertex")
    batch = run(sdk, [chat_line(0, GEMINI), chat_line(1, GEMINI, "FAIL this one")])
    assert batch.status == "completed", batch
    assert batch.request_counts is not None
    assert (batch.request_counts.completed, batch.request_counts.failed) == (1, 1)
    errors = file_lines(sdk, batch.error_file_id)
    assert list(errors) == ["request-1"]
    assert errors["request-1"]["response"]["status_code"] == 400
    assert "FAIL" in errors["request-1"]["response"]["body"]["error"]["message"]


def test_a_partially_succeeded_job_completes_with_its_failures(server: RunningServer,
                                                               google: Google) -> None:
    google.vertex.outcome = "partially_succeeded"
    s3, bedrock = clients(server)
    arn = create_job(bedrock, put_input(s3, [converse_record(i, f"r{i}") for i in range(4)]),
                     f"s3://{unique('vertex-out')}/out/", model_id=GEMINI)
    job = wait_for_status(bedrock, arn)
    assert job["status"] == "Completed", job
    assert (job["successRecordCount"], job["errorRecordCount"]) == (2, 2)


def test_an_expired_job_is_expired(server: RunningServer, google: Google) -> None:
    google.vertex.outcome = "expired"
    s3, bedrock = clients(server)
    arn = create_job(bedrock, put_input(s3, [converse_record(0, "r0")]),
                     f"s3://{unique('vertex-out')}/out/", model_id=GEMINI)
    assert wait_for_status(bedrock, arn)["status"] in ("Expired", "PartiallyCompleted")


def test_stop_cancels_the_vertex_job(server: RunningServer, google: Google) -> None:
    google.vertex.hold = True
    s3, bedrock = clients(server)
    arn = create_job(bedrock, put_input(s3, [converse_record(i, f"r{i}") for i in range(4)]),
                     f"s3://{unique('vertex-out')}/out/", model_id=GEMINI)
    wait_for_progress(bedrock, arn)
    bedrock.stop_model_invocation_job(jobIdentifier=arn)
    assert wait_for_status(bedrock, arn)["status"] == "Stopped"
    assert any(method == "POST" and path.endswith(":cancel")
               for method, path in google.vertex.requests)


def test_an_outage_and_an_expired_token_leave_the_job_to_finish(server: RunningServer,
                                                                google: Google) -> None:
    sdk = client(server.openai_url, "vertex")
    google.vertex.hold = True
    batch = sdk.batches.create(input_file_id=upload(sdk, [chat_line(0, GEMINI)]),
                               endpoint="/v1/chat/completions", completion_window="24h")
    wait(sdk, batch.id, frozenset({"in_progress"}))
    google.vertex.fail_requests(3, 503)
    google.issuer.expire_all()
    google.vertex.hold = False
    assert wait(sdk, batch.id, timeout=60).status == "completed"


def test_credentials_that_do_not_work_are_named_not_crashed_on(google: Google,
                                                                tmp_path: Path) -> None:
    config = vertex_config(google, tmp_path, credentials=tmp_path / "missing.json")
    with configured_server(tmp_path, config) as running:
        s3, _ = clients(running)
        with pytest.raises(ClientError) as refused:
            s3.put_object(Bucket=unique("vertex"), Key="in.jsonl", Body=b"{}")
        sdk = client(running.openai_url, "vertex")
        batch = run(sdk, [chat_line(0, GEMINI)])
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    assert "missing.json" in refused.value.response["Error"]["Message"]
    assert batch.status == "failed"
    assert batch.errors is not None and batch.errors.data is not None
    assert batch.errors.data[0].code == "batch_failed"
    assert "missing.json" in str(batch.errors.data[0].message)
