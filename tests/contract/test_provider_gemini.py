"""The gemini provider end to end: plain boto3 with `x-model-provider: gemini` against a bifrost
server whose files are mirrored to, and whose jobs run on, the fake Gemini API (google-genai)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from bedrock_helpers import (
    REGION,
    answer_text,
    anthropic_record,
    assert_manifest_matches,
    bedrock_client,
    configured_server,
    converse_record,
    counts,
    create_job,
    get_job,
    job_id,
    jsonl,
    list_job_arns,
    numbered_records,
    s3_client,
    unique,
    user_text,
    wait_for,
    wait_for_progress,
    wait_for_status,
    with_provider,
)
from botocore.config import Config
from botocore.exceptions import ClientError
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
from bifrost_py.testing import RunningServer
from tests.fakes.gemini_fake import CANCELLED, FakeBatch, FakeGemini

API_KEY = "gemini-test-key-0123"
SEED_MODEL = "gemini-1.5-flash"
MAPPED_MODEL = "my-gemini"  # [models] sends it as gemini-2.0-flash


def gemini_config(fake: FakeGemini) -> str:
    return f"""
[providers.gemini]
api_key = "{API_KEY}"
base_url = "{fake.url}"
api_version = "v1beta"
poll_interval = 0.2
max_retries = 1
timeout_seconds = 10

[models."{MAPPED_MODEL}"]
gemini = "gemini-2.0-flash"
"""


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeGemini]:
    with FakeGemini(api_key=API_KEY, process_seconds=0.4) as server:
        yield server


@pytest.fixture(autouse=True)
def fake_defaults(fake: FakeGemini) -> Iterator[None]:
    """Each test leaves the shared fake unheld, completing its batches, with its key."""
    yield
    fake.hold, fake.outcome, fake.api_key = False, "completed", API_KEY
    fake.fail_requests(0, 500)


@pytest.fixture(scope="module")
def server(fake: FakeGemini, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with configured_server(tmp_path_factory.mktemp("gemini"), gemini_config(fake)) as s:
        yield s


@pytest.fixture
def s3(server: RunningServer) -> Any:
    return with_provider(s3_client(server), "gemini")


@pytest.fixture
def bedrock(server: RunningServer) -> Any:
    return with_provider(bedrock_client(server), "gemini")


def upstream_of(fake: FakeGemini, job_name: str) -> FakeBatch:
    """The fake's batch for our job: created with the job's name as its display name."""
    found = wait_for(lambda: [b for b in fake.batches.values() if b.display_name == job_name],
                     bool, what=f"the upstream batch of {job_name}")
    assert len(found) == 1, found
    return found[0]


def sent_lines(fake: FakeGemini, batch: FakeBatch) -> list[dict[str, Any]]:
    """The request file the batch was created from, as uploaded."""
    name = batch.body["batch"]["inputConfig"]["fileName"]
    return [json.loads(line) for line in fake.files[name].data.splitlines()]


def read_lines(s3: Any, bucket: str, key: str) -> list[dict[str, Any]]:
    body: bytes = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    assert body.endswith(b"\n")
    return [json.loads(line) for line in body.splitlines()]


def gemini_line(key: str, text: str) -> dict[str, Any]:
    return {"key": key, "request": {"contents": [{"role": "user", "parts": [{"text": text}]}]}}


def put_file(s3: Any, body: bytes, bucket: str = "gemini-files", key: str = "in.jsonl") -> str:
    """Upload through the server; the Gemini file name (the ETag without quotes)."""
    etag: str = s3.put_object(Bucket=bucket, Key=key, Body=body)["ETag"]
    assert etag.startswith('"files/') and etag.endswith('"'), etag
    return etag.strip('"')


def create(bedrock: Any, input_uri: str, output_uri: str, **extra: Any) -> str:
    """create_job with a Gemini model unless told otherwise."""
    return create_job(bedrock, input_uri, output_uri, **{"model_id": SEED_MODEL, **extra})


def error_code(call: Any, **kwargs: Any) -> tuple[int, str, str]:
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    response = info.value.response
    return (response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"],
            response["Error"].get("Message", ""))


# the seed document's flow


def test_the_seed_end_to_end_flow_runs_on_gemini(
        server: RunningServer, fake: FakeGemini) -> None:
    # The seed's Gemini example as written, but for roleArn (required) and the endpoint.
    region = "us-west-2"
    model_id = "gemini-1.5-flash"
    provider = "gemini"

    def add_provider_header(request: Any, **kwargs: Any) -> None:
        request.headers["x-model-provider"] = provider

    s3_client = boto3.client("s3", region_name=region, endpoint_url=server.s3_url,
                             aws_access_key_id="AKIAEXAMPLE", aws_secret_access_key="x")
    s3_client.meta.events.register("before-send", add_provider_header)
    bedrock_client = boto3.client("bedrock", region_name=region, endpoint_url=server.bedrock_url,
                                  aws_access_key_id="AKIAEXAMPLE", aws_secret_access_key="x")
    bedrock_client.meta.events.register("before-send", add_provider_header)

    def create_gemini_jsonl(num_requests: int) -> str:
        lines = []
        for i in range(num_requests):
            record = {
                "request": {
                    "contents": [{"role": "user",
                                  "parts": [{"text": f"What is {i+1} + {i+1}? Answer briefly."}]}],
                    "generationConfig": {"maxOutputTokens": 100},
                },
                "metadata": {"key": f"request-{i+1}"},
            }
            lines.append(json.dumps(record))
        return "\n".join(lines)

    jsonl_content = create_gemini_jsonl(num_requests=3)
    timestamp = int(time.time())
    upload_response = s3_client.put_object(
        Bucket="gemini-files", Key=f"batch_{timestamp}.jsonl", Body=jsonl_content.encode(),
        ContentType="application/jsonl")
    file_id = upload_response.get("ETag", "").strip('"')
    assert file_id.startswith("files/") and fake.files[file_id].data == jsonl_content.encode()
    job_response = bedrock_client.create_model_invocation_job(
        jobName=f"gemini-e2e-{timestamp}", modelId=model_id, roleArn="not-required-for-gemini",
        inputDataConfig={"s3InputDataConfig": {"s3Uri": f"s3://gemini-files/{file_id}",
                                               "s3InputFormat": "JSONL"}},
        outputDataConfig={"s3OutputDataConfig": {"s3Uri": "s3://gemini-output/"}})
    job_arn = job_response["jobArn"]
    for _ in range(200):
        status_response = bedrock_client.get_model_invocation_job(jobIdentifier=job_arn)
        if status_response["status"] in ["Completed", "Failed", "Stopped"]:
            break
        time.sleep(0.1)
    assert status_response["status"] == "Completed"
    assert counts(status_response) == {"totalRecordCount": 3, "processedRecordCount": 3,
                                       "successRecordCount": 3, "errorRecordCount": 0}
    list_response = bedrock_client.list_model_invocation_jobs(maxResults=20)
    assert job_arn in [job["jobArn"] for job in list_response["invocationJobSummaries"]]

    batch = upstream_of(fake, f"gemini-e2e-{timestamp}")
    assert batch.model == f"models/{model_id}"
    # Gemini reads a line's key from `key` only: the seed's `metadata.key` goes up as `key`.
    assert sent_lines(fake, batch) == [
        {"key": line["metadata"]["key"], "request": line["request"]}
        for line in map(json.loads, jsonl_content.splitlines())]
    lines = read_lines(s3_client, "gemini-output", f"{job_id(job_arn)}/batch_{timestamp}.jsonl.out")
    assert [line["recordId"] for line in lines] == ["request-1", "request-2", "request-3"]
    for i, line in enumerate(lines, 1):
        assert line["modelInput"] == json.loads(jsonl_content.splitlines()[i - 1])
        assert answer_text(line["modelOutput"]) == f"echo: What is {i} + {i}? Answer briefly."
    manifest = read_lines(s3_client, "gemini-output", f"{job_id(job_arn)}/manifest.json.out")[0]
    assert_manifest_matches(status_response, manifest, lines)


def test_gemini_file_ids_name_files_whatever_the_bucket_and_key(
        s3: Any, fake: FakeGemini) -> None:
    body = jsonl([gemini_line("a", "hello")], trailing_newline=False)
    key = unique("upload") + ".jsonl"
    file_id = put_file(s3, body, "gemini-files", key)
    assert fake.files[file_id].mime_type == "application/jsonl"
    assert fake.files[file_id].display_name == key
    head = s3.head_object(Bucket="any-bucket", Key="any/key", IfMatch=file_id)
    assert (head["ETag"], head["ContentLength"]) == (f'"{file_id}"', len(body))
    got = s3.get_object(Bucket="other", Key="x", IfMatch=file_id)
    assert got["Body"].read() == body and got["ETag"] == f'"{file_id}"'
    listed = s3.list_objects_v2(Bucket="gemini-files")["Contents"]
    assert {"Key": key, "ETag": f'"{file_id}"'} in [{k: o[k] for k in ("Key", "ETag")}
                                                   for o in listed]
    assert error_code(s3.head_object, Bucket="gemini-files", Key=key,
                      IfMatch="files/other")[0] == 412
    s3.delete_object(Bucket="any-bucket", Key="any/key", IfMatch=file_id)
    wait_for(lambda: fake.files[file_id].deleted, bool, what="the Gemini file's deletion")
    assert error_code(s3.head_object, Bucket="gemini-files", Key=key)[0] == 404


def test_replacing_an_object_replaces_its_gemini_file(s3: Any, fake: FakeGemini) -> None:
    key = unique("replaced") + ".jsonl"
    first = put_file(s3, b"one\n", key=key)
    second = put_file(s3, b"two\n", key=key)
    assert first != second and fake.files[second].data == b"two\n"
    wait_for(lambda: fake.files[first].deleted, bool, what="the old file's deletion")
    assert s3.get_object(Bucket="gemini-files", Key=key)["Body"].read() == b"two\n"


# Bedrock-format records


def test_bedrock_records_are_translated_and_answered_as_bedrock_output_lines(
        s3: Any, bedrock: Any, fake: FakeGemini) -> None:
    records = [*numbered_records(2), anthropic_record(7)]
    records[0]["modelInput"]["inferenceConfig"].update(temperature=0.5, topP=0.9,
                                                       stopSequences=["END"])
    key = unique("bedrock") + ".jsonl"
    file_id = put_file(s3, jsonl(records), key=key)
    name, bucket = unique("records"), unique("out")
    # The file id names the file in any bucket; [models] maps the model name.
    arn = create(bedrock, f"s3://elsewhere/{file_id}", f"s3://{bucket}/results/",
                     name=name, model_id=MAPPED_MODEL, roleArn="any role")
    job = wait_for_status(bedrock, arn)
    assert job["status"] == "Completed" and job["modelId"] == MAPPED_MODEL
    assert counts(job) == {"totalRecordCount": 3, "processedRecordCount": 3,
                           "successRecordCount": 3, "errorRecordCount": 0}

    batch = upstream_of(fake, name)
    assert batch.model == "models/gemini-2.0-flash"
    sent = {line["key"]: line["request"] for line in sent_lines(fake, batch)}
    assert sent["record-0000"] == {
        "contents": [{"role": "user", "parts": [{"text": "What is 0 + 0? Answer briefly."}]}],
        "generationConfig": {"maxOutputTokens": 100, "temperature": 0.5, "topP": 0.9,
                             "stopSequences": ["END"]}}
    assert sent["claude-7"]["systemInstruction"] == {"parts": [{"text": "Answer briefly."}]}

    # Outputs are named after the object the file id names.
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"results/{job_id(arn)}/")["Contents"]
    output = f"results/{job_id(arn)}/{key}.out"
    assert sorted(o["Key"] for o in listed) == sorted(
        [output, f"results/{job_id(arn)}/manifest.json.out"])
    lines = read_lines(s3, bucket, output)
    by_id = {line["recordId"]: line for line in lines}
    assert sorted(by_id) == sorted(r["recordId"] for r in records)
    for record in records:
        line = by_id[record["recordId"]]
        assert line["modelInput"] == record["modelInput"]
        assert answer_text(line["modelOutput"]) == "echo: " + user_text(record)
    assert by_id["claude-7"]["modelOutput"]["type"] == "message"  # Messages in, Messages out
    assert by_id["record-0000"]["modelOutput"]["stopReason"] == "end_turn"  # Converse shape
    assert_manifest_matches(job, read_lines(s3, bucket, f"results/{job_id(arn)}/"
                                                       "manifest.json.out")[0], lines)


def test_record_errors_become_error_lines_and_the_job_completes(
        s3: Any, bedrock: Any, fake: FakeGemini) -> None:
    fail = converse_record(1, "asks-to-fail")
    fail["modelInput"]["messages"][0]["content"][0]["text"] = "please FAIL"
    text = "\n".join([
        json.dumps(converse_record(0, "good")),
        json.dumps(fail),
        "this is not json",
        json.dumps({"recordId": "no-messages", "modelInput": {"inferenceConfig": {}}}),
        json.dumps({"key": "empty-request", "request": {}}),
        json.dumps(gemini_line("native", "native line")),
    ])
    key, bucket = unique("mixed") + ".jsonl", unique("out")
    file_id = put_file(s3, text.encode(), key=key)
    arn = create(bedrock, f"s3://gemini-files/{file_id}", f"s3://{bucket}/")
    job = wait_for_status(bedrock, arn)
    assert job["status"] == "Completed", job.get("message")
    assert counts(job) == {"totalRecordCount": 6, "processedRecordCount": 6,
                           "successRecordCount": 2, "errorRecordCount": 4}
    by_id = {line["recordId"]: line
             for line in read_lines(s3, bucket, f"{job_id(arn)}/{key}.out")}
    assert answer_text(by_id["good"]["modelOutput"]) == "echo: What is 0 + 0? Answer briefly."
    assert answer_text(by_id["native"]["modelOutput"]) == "echo: native line"
    assert by_id["asks-to-fail"]["error"] == {
        "errorCode": 500, "errorMessage": "fake per-request failure (FAIL in the prompt)"}
    assert by_id["empty-request"]["error"]["errorCode"] == 400
    assert by_id["no-messages"]["error"]["errorCode"] == 400
    bad = [line for line in by_id.values() if line["modelInput"] == "this is not json"]
    assert len(bad) == 1 and bad[0]["error"]["errorCode"] == 400


# jobs over time


def test_counts_move_while_the_batch_runs(s3: Any, bedrock: Any, fake: FakeGemini) -> None:
    fake.hold = True
    file_id = put_file(s3, jsonl(numbered_records(4)), key=unique("progress") + ".jsonl")
    arn = create(bedrock, f"s3://gemini-files/{file_id}", f"s3://{unique('out')}/")
    job = wait_for_progress(bedrock, arn)
    assert job["status"] == "InProgress" and job["totalRecordCount"] == 4
    fake.hold = False
    assert wait_for_status(bedrock, arn)["successRecordCount"] == 4


def test_stop_goes_stopping_then_stopped_upstream(
        s3: Any, bedrock: Any, fake: FakeGemini) -> None:
    fake.hold = True
    file_id = put_file(s3, jsonl(numbered_records(3)), key=unique("stop") + ".jsonl")
    name = unique("stop")
    arn = create(bedrock, f"s3://gemini-files/{file_id}", f"s3://{unique('out')}/",
                     name=name)
    wait_for_status(bedrock, arn, {"InProgress"})
    bedrock.stop_model_invocation_job(jobIdentifier=arn)
    assert get_job(bedrock, arn)["status"] == "Stopping"
    job = wait_for_status(bedrock, arn)
    assert job["status"] == "Stopped" and "endTime" in job
    assert upstream_of(fake, name).state == CANCELLED
    with pytest.raises(bedrock.exceptions.ValidationException):
        bedrock.stop_model_invocation_job(jobIdentifier=arn)


def test_an_outage_of_gemini_mid_job_loses_nothing(
        s3: Any, bedrock: Any, fake: FakeGemini) -> None:
    fake.hold = True
    records = numbered_records(4)
    key = unique("outage") + ".jsonl"
    file_id = put_file(s3, jsonl(records), key=key)
    name, bucket = unique("outage"), unique("out")
    arn = create(bedrock, f"s3://gemini-files/{file_id}", f"s3://{bucket}/", name=name)
    wait_for_status(bedrock, arn, {"InProgress"})
    fake.stop()
    try:
        for _ in range(5):  # Get answers from our own store, at once, with the job where it was
            started = time.monotonic()
            assert get_job(bedrock, arn)["status"] == "InProgress"
            assert time.monotonic() - started < 1.0
            time.sleep(0.2)
        fake.hold = False
    finally:
        fake.start()
    job = wait_for_status(bedrock, arn, timeout=30)
    assert (job["status"], job["processedRecordCount"], job["successRecordCount"]) == (
        "Completed", 4, 4)
    upstream_of(fake, name)  # exactly one batch
    lines = read_lines(s3, bucket, f"{job_id(arn)}/{key}.out")
    assert sorted(line["recordId"] for line in lines) == sorted(
        r["recordId"] for r in records)


def test_a_restart_mid_job_follows_the_same_batch_to_its_end(
        fake: FakeGemini, tmp_path: Path) -> None:
    fake.hold = True
    name, bucket = unique("restart"), unique("out")
    with configured_server(tmp_path, gemini_config(fake)) as first:
        s3 = with_provider(s3_client(first), "gemini")
        file_id = put_file(s3, jsonl(numbered_records(3)), key="restart.jsonl")
        arn = create(with_provider(bedrock_client(first), "gemini"),
                     f"s3://gemini-files/{file_id}", f"s3://{bucket}/", name=name)
        wait_for_status(with_provider(bedrock_client(first), "gemini"), arn, {"InProgress"})
    fake.hold = False
    with configured_server(tmp_path, gemini_config(fake)) as second:
        bedrock = with_provider(bedrock_client(second), "gemini")
        job = wait_for_status(bedrock, arn)
        assert (job["status"], job["successRecordCount"]) == ("Completed", 3)
        lines = read_lines(with_provider(s3_client(second), "gemini"), bucket,
                           f"{job_id(arn)}/restart.jsonl.out")
        assert len(lines) == 3
    upstream_of(fake, name)  # exactly one batch


def test_throttling_and_5xx_bursts_are_retried(
        s3: Any, bedrock: Any, fake: FakeGemini) -> None:
    file_id = put_file(s3, jsonl(numbered_records(2)), key=unique("burst") + ".jsonl")
    name = unique("burst")
    fake.fail_requests(3, 429)  # more than one call's retries: the submit is tried again
    arn = create(bedrock, f"s3://gemini-files/{file_id}", f"s3://{unique('out')}/",
                     name=name)
    upstream_of(fake, name)
    fake.fail_requests(3, 500)
    job = wait_for_status(bedrock, arn)
    assert (job["status"], job["successRecordCount"]) == ("Completed", 2)
    fake.fail_requests(2, 503)  # an upload that stays refused is a 503 naming the provider
    once = with_provider(boto3.client(
        "s3", endpoint_url=s3.meta.endpoint_url, region_name=REGION, aws_access_key_id="AKIAX",
        aws_secret_access_key="x", config=Config(retries={"total_max_attempts": 1})), "gemini")
    status, code, message = error_code(once.put_object, Bucket="gemini-files", Key="k",
                                       Body=b"x")
    assert (status, code) == (503, "ServiceUnavailable") and "gemini" in message


# failures


def test_a_missing_input_and_a_refused_batch_fail_the_job_with_a_message(
        s3: Any, bedrock: Any, fake: FakeGemini) -> None:
    job = wait_for_status(bedrock, create(bedrock, "s3://gemini-files/files/nope",
                                              f"s3://{unique('out')}/"))
    assert job["status"] == "Failed" and "files/nope" in job["message"]
    fake.outcome = "failed"
    file_id = put_file(s3, jsonl(numbered_records(2)), key=unique("refused") + ".jsonl")
    job = wait_for_status(bedrock, create(bedrock, f"s3://gemini-files/{file_id}",
                                              f"s3://{unique('out')}/"))
    assert job["status"] == "Failed" and "Batch validation failed" in job["message"]


def test_an_expired_batch_is_expired_with_nothing_to_retrieve(
        s3: Any, bedrock: Any, fake: FakeGemini) -> None:
    """Gemini keeps no results of an expired batch ("The job will not have any results to
    retrieve"), whatever its batchStats counted: no record is processed, none is invented."""
    fake.outcome = "expired"
    file_id = put_file(s3, jsonl(numbered_records(4)), key=unique("expired") + ".jsonl")
    bucket = unique("out")
    arn = create(bedrock, f"s3://gemini-files/{file_id}", f"s3://{bucket}/")
    job = wait_for_status(bedrock, arn)
    assert job["status"] == "Expired" and "expired" in job["message"]
    assert (job["totalRecordCount"], job["processedRecordCount"]) == (4, 0)


def test_a_wrong_api_key_is_an_access_error_naming_gemini(
        s3: Any, bedrock: Any, fake: FakeGemini) -> None:
    file_id = put_file(s3, jsonl(numbered_records(1)), key=unique("key") + ".jsonl")
    fake.api_key = "a-different-key"
    status, code, message = error_code(s3.put_object, Bucket="gemini-files", Key="k", Body=b"x")
    assert (status, code) == (403, "AccessDenied")
    assert "gemini" in message and "API key" in message and API_KEY not in message
    arn = create(bedrock, f"s3://gemini-files/{file_id}", f"s3://{unique('out')}/")
    job = wait_for_status(bedrock, arn)
    assert job["status"] == "Failed"
    assert "gemini" in job["message"] and "API key" in job["message"]
    assert API_KEY not in job["message"]
    assert arn in list_job_arns(bedrock)


def test_gemini_jobs_list_beside_local_jobs(
        server: RunningServer, s3: Any, bedrock: Any) -> None:
    file_id = put_file(s3, jsonl(numbered_records(2)), key=unique("listed") + ".jsonl")
    remote = create(bedrock, f"s3://gemini-files/{file_id}", f"s3://{unique('out')}/")
    local_s3, local_bedrock = s3_client(server), bedrock_client(server)  # no header: local
    local_bucket = unique("local")
    local_s3.create_bucket(Bucket=local_bucket)
    local_s3.put_object(Bucket=local_bucket, Key="in.jsonl", Body=jsonl(numbered_records(2)))
    local = create_job(local_bedrock, f"s3://{local_bucket}/in.jsonl", f"s3://{local_bucket}/o/")
    for client, arn in ((bedrock, remote), (local_bedrock, local)):
        assert wait_for_status(client, arn)["status"] == "Completed"
    for client in (bedrock, local_bedrock):
        assert {remote, local} <= set(list_job_arns(client))


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
