"""The openai provider end to end: plain boto3 with `x-model-provider: openai` against a bifrost
server whose files mirror to, and whose jobs run on, a fake OpenAI Files + Batch API (and its
Azure OpenAI dialect)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from bedrock_helpers import (
    CLAUDE,
    Record,
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
    manifest,
    output_key,
    output_lines,
    put_records,
    read_object,
    record_ids,
    run_job,
    s3_client,
    unique,
    wait_for,
    wait_for_status,
    with_provider,
)
from botocore.exceptions import ClientError

from bifrost_py.testing import RunningServer
from tests.fakes.openai_fake import FakeOpenAI

API_KEY = "test-key"
WRONG_KEY = "sk-wrong-0123456789abcdef"
GPT = "gpt-4o-mini"  # what [models] maps CLAUDE to for openai
DEPLOYMENT = "my-gpt4o-deployment"  # ... and, on Azure, the deployment it names
AZURE_VERSION = "2024-12-01-preview"


def openai_config(fake: FakeOpenAI, api_key: str = API_KEY, azure: bool = False) -> str:
    base_url, extra, model = ((fake.url, f'api_version = "{AZURE_VERSION}"', DEPLOYMENT)
                              if azure else (f"{fake.url}/v1", "", GPT))
    return f"""
[providers.openai]
api_key = "{api_key}"
base_url = "{base_url}"
{extra}
poll_interval = 0.2
max_retries = 1
timeout_seconds = 5

[models."{CLAUDE}"]
openai = "{model}"
"""


@pytest.fixture(scope="module")
def server_fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=API_KEY, process_seconds=0.3) as fake:
        yield fake


@pytest.fixture
def fake(server_fake: FakeOpenAI) -> FakeOpenAI:
    server_fake.hold, server_fake.outcome = False, "completed"
    server_fake.requests.clear()
    return server_fake


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory,
           server_fake: FakeOpenAI) -> Iterator[RunningServer]:
    with configured_server(tmp_path_factory.mktemp("openai"),
                           openai_config(server_fake)) as running:
        yield running


@pytest.fixture
def s3(server: RunningServer) -> Any:
    return with_provider(s3_client(server), "openai")


@pytest.fixture
def bedrock(server: RunningServer) -> Any:
    return with_provider(bedrock_client(server), "openai")


@pytest.fixture
def bucket() -> str:
    return unique("openai-files")  # a routing identifier: created on first put


def native_line(i: int, url: str = "/v1/chat/completions", model: str = GPT,
                text: str | None = None) -> Record:
    """A line in OpenAI's batch format, as the seed writes them."""
    return {"custom_id": f"request-{i + 1}", "method": "POST", "url": url, "body": {
        "model": model, "max_tokens": 100, "messages": [
            {"role": "user", "content": text or f"What is {i + 1} + {i + 1}? Answer briefly."}]}}


def batch_of(fake: FakeOpenAI, arn: str) -> dict[str, Any]:
    """The one upstream batch a job created (found by the job id in its metadata)."""
    found = [b for b in fake.batches.values()
             if (b["metadata"] or {}).get("bifrost_job") == job_id(arn)]
    assert len(found) == 1, found
    return found[0]


def sent_lines(fake: FakeOpenAI, arn: str) -> list[Record]:
    """The request lines the job's batch was created from."""
    content = fake.files[batch_of(fake, arn)["input_file_id"]].content
    return [json.loads(line) for line in content.splitlines()]


def by_record(lines: list[Record]) -> dict[str, Record]:
    return {line["recordId"]: line for line in lines}


# the seed's workflow


def test_the_seed_openai_flow(fake: FakeOpenAI, server: RunningServer, s3: Any,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "x",
                        "AWS_CONFIG_FILE": "/dev/null",
                        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"}.items():
        monkeypatch.setenv(name, value)
    # The seed document's "End-to-End Batch Workflow / OpenAI Provider", unchanged but for its
    # endpoint, roleArn (which boto3 requires) and a polling deadline instead of sleeps.
    region = "us-west-2"
    model_id = "gpt-4o-mini"
    provider = "openai"

    def add_provider_header(request: Any, **kwargs: Any) -> None:
        request.headers["x-model-provider"] = provider

    s3_client = boto3.client("s3", region_name=region, endpoint_url=server.s3_url)
    s3_client.meta.events.register("before-send", add_provider_header)
    bedrock_client = boto3.client("bedrock", region_name=region, endpoint_url=server.bedrock_url)
    bedrock_client.meta.events.register("before-send", add_provider_header)

    def create_openai_jsonl(num_requests: int) -> str:
        lines = []
        for i in range(num_requests):
            record = {
                "custom_id": f"request-{i+1}", "method": "POST", "url": "/v1/chat/completions",
                "body": {"model": model_id, "messages": [
                    {"role": "user", "content": f"What is {i+1} + {i+1}? Answer briefly."}],
                    "max_tokens": 100},
            }
            lines.append(json.dumps(record))
        return "\n".join(lines)

    jsonl_content = create_openai_jsonl(num_requests=3)
    timestamp = int(time.time())
    upload_response = s3_client.put_object(
        Bucket="openai-files", Key=f"batch_{timestamp}.jsonl", Body=jsonl_content.encode(),
        ContentType="application/jsonl")
    file_id = upload_response.get("ETag", "").strip('"')
    job_response = bedrock_client.create_model_invocation_job(
        jobName=f"openai-e2e-{timestamp}", modelId=model_id, roleArn="not-required-for-openai",
        inputDataConfig={"s3InputDataConfig": {"s3Uri": f"s3://openai-files/{file_id}",
                                               "s3InputFormat": "JSONL"}},
        outputDataConfig={"s3OutputDataConfig": {"s3Uri": "s3://openai-output/"}},
        tags=[{"key": "endpoint", "value": "/v1/chat/completions"},
              {"key": "file_id", "value": file_id}])
    job_arn = job_response["jobArn"]
    status_response = wait_for_status(bedrock_client, job_arn,
                                      {"Completed", "Failed", "Stopped"})

    assert status_response["status"] == "Completed"
    assert counts(status_response) == {"totalRecordCount": 3, "processedRecordCount": 3,
                                       "successRecordCount": 3, "errorRecordCount": 0}
    assert file_id.startswith("file-") and fake.files[file_id].content == jsonl_content.encode()
    assert fake.files[file_id].filename == f"batch_{timestamp}.jsonl"
    assert sent_lines(fake, job_arn) == [json.loads(line) for line in jsonl_content.splitlines()]
    tags = bedrock_client.list_tags_for_resource(resourceARN=job_arn)["tags"]
    assert {"key": "file_id", "value": file_id} in tags
    # The outputs land in the openai provider's store, readable through the same header.
    out = output_lines(s3, "openai-output", job_arn, f"batch_{timestamp}.jsonl", "")
    lines = by_record(out)
    assert sorted(lines) == ["request-1", "request-2", "request-3"]
    assert lines["request-2"]["modelInput"] == json.loads(jsonl_content.splitlines()[1])
    assert answer_text(lines["request-2"]["modelOutput"]) == "echo: What is 2 + 2? Answer briefly."
    assert_manifest_matches(status_response, manifest(s3, "openai-output", job_arn, ""), out)


def test_the_file_id_names_the_file_whatever_the_bucket_and_key(
        fake: FakeOpenAI, s3: Any, bucket: str) -> None:
    body = jsonl([native_line(0)], trailing_newline=False)
    file_id = s3.put_object(Bucket=bucket, Key="in/batch.jsonl", Body=body)["ETag"].strip('"')
    elsewhere = {"Bucket": "your-s3-bucket", "Key": "bifrost-batch-input/batch_input.jsonl"}
    head = s3.head_object(**elsewhere, IfMatch=file_id)  # the seed's "Retrieve File Metadata"
    assert (head["ContentLength"], head["ETag"]) == (len(body), f'"{file_id}"')
    assert s3.get_object(**elsewhere, IfMatch=file_id)["Body"].read() == body
    listed = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert [(o["Key"], o["ETag"]) for o in listed] == [("in/batch.jsonl", f'"{file_id}"')]
    with pytest.raises(ClientError) as caught:
        s3.get_object(Bucket=bucket, Key="in/batch.jsonl", IfMatch="file-other")
    assert caught.value.response["Error"]["Code"] == "PreconditionFailed"
    s3.delete_object(**elsewhere, IfMatch=file_id)  # the seed's "Delete a File"
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)
    wait_for(lambda: file_id in fake.files, lambda present: not present, what="upstream delete")


def test_seed_flow_with_bedrock_records(fake: FakeOpenAI, bedrock: Any, s3: Any,
                                        bucket: str) -> None:
    records = [converse_record(i + 1, f"request-{i + 1}") for i in range(3)]
    records.append(anthropic_record(4))
    key = "bifrost-batch-input/batch.jsonl"
    s3.put_object(Bucket=bucket, Key=key, Body=jsonl(records, trailing_newline=False))
    arn = create_job(bedrock, f"s3://{bucket}/{key}", f"s3://{bucket}/bifrost-batch-output/",
                     roleArn="not-required-for-openai")
    job = wait_for_status(bedrock, arn)

    assert job["status"] == "Completed"
    assert counts(job) == {"totalRecordCount": 4, "processedRecordCount": 4,
                           "successRecordCount": 4, "errorRecordCount": 0}
    sent = sent_lines(fake, arn)
    assert [line["custom_id"] for line in sent] == [r["recordId"] for r in records]
    assert {(line["method"], line["url"], line["body"]["model"]) for line in sent} == {
        ("POST", "/v1/chat/completions", GPT)}
    assert sent[0]["body"]["max_tokens"] == 100
    assert sent[3]["body"]["messages"][0] == {"role": "system", "content": "Answer briefly."}
    lines = output_lines(s3, bucket, arn, "batch.jsonl", "bifrost-batch-output/")
    assert sorted(record_ids(lines)) == sorted(r["recordId"] for r in records)
    for line in lines:  # an Anthropic Messages response, as Claude on Bedrock answers
        output = line["modelOutput"]
        assert output["type"] == "message" and output["model"] == CLAUDE
        assert output["usage"]["input_tokens"] > 0 and output["stop_reason"] == "end_turn"
    assert answer_text(by_record(lines)["claude-4"]["modelOutput"]) == "echo: Name the number 4."
    assert_manifest_matches(job, manifest(s3, bucket, arn, "bifrost-batch-output/"), lines)


# stop, outages, throttling


def test_stop_goes_through_stopping_to_stopped(fake: FakeOpenAI, bedrock: Any, s3: Any,
                                               bucket: str) -> None:
    fake.hold = True  # the fake answers half the requests, then waits
    records = [converse_record(i, f"r{i}") for i in range(4)]
    arn = create_job(bedrock, put_records(s3, bucket, "in.jsonl", records),
                     f"s3://{bucket}/out/")
    wait_for_status(bedrock, arn, {"InProgress"})
    bedrock.stop_model_invocation_job(jobIdentifier=arn)
    assert get_job(bedrock, arn)["status"] == "Stopping"
    job = wait_for_status(bedrock, arn)
    assert job["status"] == "Stopped" and "endTime" in job
    assert batch_of(fake, arn)["status"] == "cancelled"
    lines = output_lines(s3, bucket, arn)
    assert job["processedRecordCount"] == job["successRecordCount"] == len(lines) == 2
    with pytest.raises(bedrock.exceptions.ValidationException):
        bedrock.stop_model_invocation_job(jobIdentifier=arn)


def test_an_outage_mid_job_loses_nothing(fake: FakeOpenAI, bedrock: Any, s3: Any,
                                         bucket: str) -> None:
    records = [converse_record(i, f"r{i}") for i in range(4)]
    fake.hold = True
    arn = create_job(bedrock, put_records(s3, bucket, "in.jsonl", records), f"s3://{bucket}/out/")
    wait_for_status(bedrock, arn, {"InProgress"})
    fake.stop()
    try:
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:  # polls fail meanwhile; Get answers from the store
            started = time.monotonic()
            assert get_job(bedrock, arn)["status"] == "InProgress"
            assert time.monotonic() - started < 0.5
            time.sleep(0.1)
        fake.hold = False
    finally:
        fake.start()
    job = wait_for_status(bedrock, arn, timeout=30)
    assert (job["status"], job["successRecordCount"]) == ("Completed", 4)
    assert sorted(record_ids(output_lines(s3, bucket, arn))) == ["r0", "r1", "r2", "r3"]
    batch_of(fake, arn)  # still exactly one upstream batch


@pytest.mark.parametrize("status", [429, 500])
def test_bursts_of_429_and_500_are_ridden_out(fake: FakeOpenAI, bedrock: Any, s3: Any,
                                              bucket: str, status: int) -> None:
    fake.fail_requests(3, status)
    arn, job = run_job(bedrock, s3, bucket, [converse_record(1, "a"), converse_record(2, "b")])
    assert (job["status"], job["successRecordCount"]) == ("Completed", 2)
    assert len(fake.requests) > 3
    batch_of(fake, arn)  # the failed attempts created no second batch


def test_a_put_during_a_burst_is_retried(fake: FakeOpenAI, s3: Any, bucket: str) -> None:
    fake.fail_requests(1, 503)  # the SDK's own retry (max_retries = 1) rides it out
    etag = s3.put_object(Bucket=bucket, Key="in.jsonl", Body=b"{}\n")["ETag"]
    assert etag.strip('"') in fake.files


# bad input, bad records, bad credentials


def test_a_batch_openai_fails_fails_the_job_with_its_message(
        fake: FakeOpenAI, bedrock: Any, s3: Any, bucket: str) -> None:
    lines = [native_line(0), native_line(1, url="/v1/embeddings")]
    _, job = run_job(bedrock, s3, bucket, lines)
    assert job["status"] == "Failed"
    assert job["message"].startswith("OpenAI failed the batch: request line 2: invalid_url")
    fake.outcome = "failed"
    _, job = run_job(bedrock, s3, bucket, [converse_record(1, "a")])
    assert job["status"] == "Failed" and "token_limit_exceeded" in job["message"]


def test_malformed_lines_become_error_lines(fake: FakeOpenAI, bedrock: Any, s3: Any,
                                           bucket: str) -> None:
    text = "\n".join(["not json", json.dumps(converse_record(1, "good")),
                      json.dumps({"recordId": "empty", "modelInput": {"messages": []}})])
    s3.put_object(Bucket=bucket, Key="in.jsonl", Body=text.encode())
    arn = create_job(bedrock, f"s3://{bucket}/in.jsonl", f"s3://{bucket}/out/")
    job = wait_for_status(bedrock, arn)
    assert job["status"] == "Completed"
    assert counts(job) == {"totalRecordCount": 3, "processedRecordCount": 3,
                           "successRecordCount": 1, "errorRecordCount": 2}
    errors = [line for line in output_lines(s3, bucket, arn) if "error" in line]
    assert {e["error"]["errorCode"] for e in errors} == {400}
    assert [line["custom_id"] for line in sent_lines(fake, arn)] == ["good"]


def test_a_missing_input_fails_the_job(bedrock: Any, bucket: str) -> None:
    arn = create_job(bedrock, f"s3://{bucket}/missing.jsonl", f"s3://{bucket}/out/")
    job = wait_for_status(bedrock, arn)
    assert job["status"] == "Failed" and "missing.jsonl" in job["message"]


def test_refused_requests_become_error_lines(fake: FakeOpenAI, bedrock: Any, s3: Any,
                                             bucket: str) -> None:
    records = [converse_record(1, "ok"), {"recordId": "boom", "modelInput": {
        "messages": [{"role": "user", "content": [{"text": "please FAIL"}]}]}}]
    arn, job = run_job(bedrock, s3, bucket, records)
    assert job["status"] == "Completed"
    assert counts(job) == {"totalRecordCount": 2, "processedRecordCount": 2,
                           "successRecordCount": 1, "errorRecordCount": 1}
    lines = by_record(output_lines(s3, bucket, arn))
    assert lines["boom"]["error"] == {"errorCode": 400,
                                      "errorMessage": "The request was refused (fake FAIL cue)."}
    assert "modelOutput" in lines["ok"]


def test_a_wrong_api_key_is_an_access_error_naming_the_provider(
        tmp_path: Path, fake: FakeOpenAI) -> None:
    with configured_server(tmp_path, openai_config(fake)) as running:
        s3 = with_provider(s3_client(running), "openai")
        file_id = s3.put_object(Bucket="openai-files", Key="in.jsonl",
                                Body=jsonl([converse_record(1, "a")]))["ETag"].strip('"')
    with configured_server(tmp_path, openai_config(fake, WRONG_KEY)) as running:
        s3 = with_provider(s3_client(running), "openai")
        bedrock = with_provider(bedrock_client(running), "openai")
        with pytest.raises(ClientError) as caught:
            s3.put_object(Bucket="openai-files", Key="more.jsonl", Body=b"{}\n")
        arn = create_job(bedrock, f"s3://openai-files/{file_id}", "s3://openai-output/")
        job = wait_for_status(bedrock, arn)
    error = caught.value.response
    assert (error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]) == (
        "AccessDenied", 403)
    assert "openai" in error["Error"]["Message"] and WRONG_KEY not in str(error)
    assert job["status"] == "Failed"
    assert "openai" in job["message"] and "rejected" in job["message"]
    assert WRONG_KEY not in job["message"]


@pytest.mark.parametrize(("records", "status", "success"), [(4, "PartiallyCompleted", 2),
                                                             (1, "Expired", 0)])
def test_expired_batches(fake: FakeOpenAI, bedrock: Any, s3: Any, bucket: str, records: int,
                         status: str, success: int) -> None:
    fake.outcome = "expired"
    arn, job = run_job(bedrock, s3, bucket, [converse_record(i, f"r{i}") for i in range(records)])
    assert (job["status"], job["successRecordCount"]) == (status, success)
    assert job["message"] == f"{records - success} of {records} requests expired before " \
                             "OpenAI processed them."
    assert len(read_object(s3, bucket, output_key(arn, "in.jsonl")).splitlines()) == success


# alongside local jobs


def test_list_and_get_show_openai_and_local_jobs(fake: FakeOpenAI, server: RunningServer,
                                                 bedrock: Any, s3: Any, bucket: str) -> None:
    local_s3 = with_provider(s3_client(server), "local")
    local_bedrock = with_provider(bedrock_client(server), "local")
    local_bucket = unique("local")
    local_arn = create_job(local_bedrock, put_records(local_s3, local_bucket, "in.jsonl",
                                                      [converse_record(1, "l")]),
                           f"s3://{local_bucket}/out/")
    remote_arn, _ = run_job(bedrock, s3, bucket, [converse_record(2, "a")])
    assert wait_for_status(local_bedrock, local_arn)["status"] == "Completed"
    for client in (bedrock, local_bedrock):
        assert {local_arn, remote_arn} <= set(list_job_arns(client))
    assert get_job(bedrock, local_arn)["status"] == "Completed"
    assert get_job(local_bedrock, remote_arn)["modelId"] == CLAUDE


# Azure OpenAI


def test_azure_openai(tmp_path: Path, fake: FakeOpenAI) -> None:
    with configured_server(tmp_path, openai_config(fake, azure=True)) as running:
        s3 = with_provider(s3_client(running), "openai")
        bedrock = with_provider(bedrock_client(running), "openai")
        native = [native_line(i, url="/chat/completions", model=DEPLOYMENT) for i in range(2)]
        records: list[Record] = [*native, converse_record(3, "bedrock-3")]
        arn, job = run_job(bedrock, s3, "azure-files", records)
        lines = by_record(output_lines(s3, "azure-files", arn))
    assert (job["status"], job["successRecordCount"]) == ("Completed", 3)
    assert ("POST", "/openai/batches") in fake.requests
    assert batch_of(fake, arn)["endpoint"] == "/chat/completions"
    sent = sent_lines(fake, arn)
    assert {(line["url"], line["body"]["model"]) for line in sent} == {
        ("/chat/completions", DEPLOYMENT)}
    assert sorted(lines) == ["bedrock-3", "request-1", "request-2"]
    assert answer_text(lines["bedrock-3"]["modelOutput"]) == "echo: What is 3 + 3? Answer briefly."


def test_a_multipart_upload_becomes_one_openai_file(fake: FakeOpenAI, s3: Any, bucket: str,
                                                    tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    line = json.dumps(native_line(0)).encode() + b"\n"
    path.write_bytes(line * (9 * 2**20 // len(line) + 1))  # over boto3's 8 MiB threshold
    s3.upload_file(str(path), bucket, "big.jsonl")
    file_id = s3.head_object(Bucket=bucket, Key="big.jsonl")["ETag"].strip('"')
    assert fake.files[file_id].content == path.read_bytes()
    assert fake.files[file_id].filename == "big.jsonl"


def test_a_job_over_the_records_limit_fails_before_any_batch(tmp_path: Path,
                                                             fake: FakeOpenAI) -> None:
    config = "[server]\nmax_records_per_job = 2\n" + openai_config(fake)
    with configured_server(tmp_path, config) as running:
        s3 = with_provider(s3_client(running), "openai")
        bedrock = with_provider(bedrock_client(running), "openai")
        batches = len(fake.batches)
        _, job = run_job(bedrock, s3, "limited", [converse_record(i, f"r{i}") for i in range(3)])
    assert job["status"] == "Failed"
    assert "3 records" in job["message"] and "max_records_per_job" in job["message"]
    assert len(fake.batches) == batches
