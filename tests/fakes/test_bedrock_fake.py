"""The fake Bedrock control plane, driven only by the real boto3 `bedrock` and `s3` clients (S3 on
moto_server): jobs read their input from S3 and write outputs and a manifest back."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, EndpointConnectionError

from tests.fakes.bedrock_fake import FakeBedrock, MotoS3

ROLE = "arn:aws:iam::111122223333:role/BedrockBatch"
CLAUDE = "anthropic.claude-3-haiku-20240307-v1:0"
ENDED = {"Completed", "PartiallyCompleted", "Failed", "Stopped", "Expired"}
SESSION = boto3.session.Session()  # reused: it caches the service model between clients


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoS3]:
    with MotoS3() as server:
        yield server


@pytest.fixture
def fake(moto: MotoS3) -> Iterator[FakeBedrock]:
    with FakeBedrock(moto.url) as server:
        yield server


@pytest.fixture
def s3(moto: MotoS3) -> Any:
    return moto.client()


@pytest.fixture
def bucket(s3: Any) -> str:
    name = f"batch-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    return name


def bedrock(fake: FakeBedrock, secret: str = "fake-secret",
            access_key: str = "AKIAFAKEBEDROCK00001", config: Config | None = None) -> Any:
    return SESSION.client("bedrock", endpoint_url=fake.url, region_name="us-west-2",
                        aws_access_key_id=access_key, aws_secret_access_key=secret, config=config)


def record(text: str, record_id: str | None = None) -> str:
    line: dict[str, Any] = {"modelInput": {
        "anthropic_version": "bedrock-2023-05-31", "max_tokens": 50, "system": "Be brief.",
        "messages": [{"role": "user", "content": [{"type": "text", "text": text}]}]}}
    if record_id:
        line["recordId"] = record_id
    return json.dumps(line)


def put(s3: Any, bucket: str, key: str, lines: list[str]) -> str:
    s3.put_object(Bucket=bucket, Key=key, Body="\n".join(lines).encode())
    return f"s3://{bucket}/{key}"


def create(client: Any, input_uri: str, output_uri: str, **extra: Any) -> str:
    args = {"jobName": f"job-{uuid.uuid4().hex[:8]}", "roleArn": ROLE, "modelId": CLAUDE,
            "inputDataConfig": {"s3InputDataConfig": {"s3Uri": input_uri}},
            "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": output_uri}}, **extra}
    return str(client.create_model_invocation_job(**args)["jobArn"])


def wait(client: Any, arn: str, until: set[str] = ENDED) -> tuple[dict[str, Any], list[str]]:
    """Poll until the status is in `until`; also answer every status seen on the way."""
    seen: list[str] = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        job = client.get_model_invocation_job(jobIdentifier=arn)
        if not seen or seen[-1] != job["status"]:
            seen.append(job["status"])
        if job["status"] in until:
            return job, seen
        time.sleep(0.01)
    raise AssertionError(f"{arn} stayed {seen}")


def read(s3: Any, bucket: str, key: str) -> list[dict[str, Any]]:
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    return [json.loads(line) for line in body.splitlines()]


def test_full_flow_over_a_prefix(fake: FakeBedrock, s3: Any, bucket: str) -> None:
    put(s3, bucket, "in/a.jsonl", [record("hello", "r1"), record("please FAIL"), "not json"])
    put(s3, bucket, "in/b.jsonl", [record("world", "r4")])
    put(s3, bucket, "in/notes.txt", ["ignored: not .jsonl"])
    client = bedrock(fake)
    vpc = {"subnetIds": ["subnet-1"], "securityGroupIds": ["sg-1"]}
    arn = create(client, f"s3://{bucket}/in/", f"s3://{bucket}/out/", vpcConfig=vpc,
                 timeoutDurationInHours=24)
    job_id = arn.rsplit("/", 1)[1]
    assert arn.startswith("arn:aws:bedrock:us-west-2:111122223333:model-invocation-job/")
    job, seen = wait(client, arn)
    lifecycle = ["Submitted", "Validating", "InProgress", "Completed"]
    assert seen[-1] == "Completed" and seen == sorted(seen, key=lifecycle.index)
    shape = botocore.session.get_session().get_service_model("bedrock").operation_model(
        "GetModelInvocationJob").output_shape
    assert set(shape.members) - {"message"} <= set(job)  # message only for Failed jobs
    assert (job["totalRecordCount"], job["processedRecordCount"], job["successRecordCount"],
            job["errorRecordCount"]) == (4, 4, 2, 2)
    assert job["endTime"] >= job["submitTime"] and job["vpcConfig"] == vpc
    assert client.get_model_invocation_job(jobIdentifier=job_id)["jobArn"] == arn

    lines = read(s3, bucket, f"out/{job_id}/a.jsonl.out")
    assert lines[0]["recordId"] == "r1" and lines[1]["recordId"] and lines[2]["recordId"]
    output = lines[0]["modelOutput"]
    assert output["type"] == "message" and output["role"] == "assistant"
    assert output["content"] == [{"type": "text", "text": "echo: hello"}]
    assert output["stop_reason"] == "end_turn" and output["stop_sequence"] is None
    assert output["usage"]["output_tokens"] > 0 and lines[0]["modelInput"]["max_tokens"] == 50
    assert lines[1]["error"]["errorCode"] == 400 and "modelOutput" not in lines[1]
    assert lines[2]["modelInput"] == "not json" and lines[2]["error"]["errorCode"] == 400
    assert read(s3, bucket, f"out/{job_id}/b.jsonl.out")[0]["recordId"] == "r4"
    manifest = read(s3, bucket, f"out/{job_id}/manifest.json.out")[0]
    assert manifest["totalRecordCount"] == 4 and manifest["errorRecordCount"] == 2
    assert manifest["inputTokenCount"] > 0 and manifest["outputTokenCount"] > 0
    assert ("GET", f"/model-invocation-job/{arn.replace(':', '%3A').replace('/', '%2F')}") in (
        fake.requests)


def test_converse_shape_and_moving_counts(moto: MotoS3, s3: Any, bucket: str) -> None:
    nova = [json.dumps({"recordId": f"n{i}", "modelInput": {
        "messages": [{"role": "user", "content": [{"text": f"q{i}"}]}],
        "inferenceConfig": {"maxTokens": 20}}}) for i in range(10)]
    uri = put(s3, bucket, "nova.jsonl", nova)
    with FakeBedrock(moto.url, process_seconds=1.0) as fake:
        client = bedrock(fake)
        arn = create(client, uri, f"s3://{bucket}/out", modelId="amazon.nova-lite-v1:0")
        counts = set()
        while (job := client.get_model_invocation_job(jobIdentifier=arn))["status"] not in ENDED:
            counts.add(job["processedRecordCount"])
            time.sleep(0.02)
    assert job["status"] == "Completed" and any(0 < count < 10 for count in counts)
    line = read(s3, bucket, f"out/{arn.rsplit('/', 1)[1]}/nova.jsonl.out")[3]
    assert line["modelOutput"]["output"]["message"] == {
        "role": "assistant", "content": [{"text": "echo: q3"}]}
    assert line["modelOutput"]["stopReason"] == "end_turn"
    assert set(line["modelOutput"]["usage"]) == {"inputTokens", "outputTokens", "totalTokens"}


def test_missing_input_and_told_failures(fake: FakeBedrock, s3: Any, bucket: str) -> None:
    client = bedrock(fake)
    job, _ = wait(client, create(client, f"s3://{bucket}/absent.jsonl", f"s3://{bucket}/out/"))
    assert job["status"] == "Failed" and "absent.jsonl" in job["message"]
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)
    uri = put(s3, bucket, "in.jsonl", [record(f"r{i}") for i in range(4)])
    fake.outcome = "failed"
    job, _ = wait(client, create(client, uri, f"s3://{bucket}/out/"))
    assert job["status"] == "Failed" and job["message"]
    fake.outcome = "expired"
    job, _ = wait(client, create(client, uri, f"s3://{bucket}/out/"))
    assert job["status"] == "PartiallyCompleted" and job["processedRecordCount"] == 2
    assert len(read(s3, bucket, f"out/{job['jobArn'].rsplit('/', 1)[1]}/in.jsonl.out")) == 2


def test_wrong_credentials_are_403(fake: FakeBedrock) -> None:
    for client, code in ((bedrock(fake, secret="wrong"), "InvalidSignatureException"),
                         (bedrock(fake, access_key="AKIAUNKNOWN000000000"),
                          "UnrecognizedClientException")):
        with pytest.raises(ClientError) as caught:
            client.list_model_invocation_jobs()
        assert caught.value.response["Error"]["Code"] == code
        assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
        assert caught.value.response["Error"]["Message"]


def test_stop_with_hold(moto: MotoS3, s3: Any, bucket: str) -> None:
    uri = put(s3, bucket, "in.jsonl", [record("one"), record("two")])
    with FakeBedrock(moto.url, process_seconds=1.0) as fake:  # Stopping lasts 0.25 s
        client = bedrock(fake)
        fake.hold = True
        arn = create(client, uri, f"s3://{bucket}/out/")
        wait(client, arn, {"InProgress"})
        time.sleep(1.1)  # longer than process_seconds: held, it does not finish
        assert client.get_model_invocation_job(jobIdentifier=arn)["status"] == "InProgress"
        client.stop_model_invocation_job(jobIdentifier=arn.rsplit("/", 1)[1])
        assert client.get_model_invocation_job(jobIdentifier=arn)["status"] == "Stopping"
        job, _ = wait(client, arn)
        assert job["status"] == "Stopped" and job["processedRecordCount"] == 0
        assert "endTime" in job and "message" not in job
        with pytest.raises(client.exceptions.ValidationException):
            client.stop_model_invocation_job(jobIdentifier=arn)
        fake.hold = False
        assert wait(client, create(client, uri, f"s3://{bucket}/out/"))[0]["status"] == (
            "Completed")


def test_list_pagination_filters_and_order(fake: FakeBedrock, s3: Any, bucket: str) -> None:
    client = bedrock(fake)
    uri = put(s3, bucket, "in.jsonl", [record("x")])
    arns = [create(client, uri, f"s3://{bucket}/out/", jobName=f"pager-{i}") for i in range(5)]
    arns.append(create(client, uri, f"s3://{bucket}/out/", jobName="other"))
    pages, token = [], None
    while True:
        page = client.list_model_invocation_jobs(
            maxResults=2, nameContains="pager", sortOrder="Ascending",
            **({"nextToken": token} if token else {}))
        pages.append([job["jobArn"] for job in page["invocationJobSummaries"]])
        if (token := page.get("nextToken")) is None:
            break
    assert pages == [arns[0:2], arns[2:4], arns[4:5]]
    newest = client.list_model_invocation_jobs(nameContains="pager")["invocationJobSummaries"]
    assert newest[0]["jobArn"] == arns[4]  # Descending by default
    for arn in arns:
        wait(client, arn)
    done = client.list_model_invocation_jobs(statusEquals="Completed")["invocationJobSummaries"]
    assert len(done) == 6 and all(job["status"] == "Completed" for job in done)
    paginator = client.get_paginator("list_model_invocation_jobs")
    summaries = [job for page in paginator.paginate(PaginationConfig={"PageSize": 4})
                 for job in page["invocationJobSummaries"]]
    assert len(summaries) == 6


def test_tags_and_idempotent_create(fake: FakeBedrock, s3: Any, bucket: str) -> None:
    client = bedrock(fake)
    uri = put(s3, bucket, "in.jsonl", [record("x")])
    arn = create(client, uri, f"s3://{bucket}/out/", clientRequestToken="token-1",
                 tags=[{"key": "team", "value": "a"}])
    assert create(client, uri, f"s3://{bucket}/out/", clientRequestToken="token-1") == arn
    client.tag_resource(resourceARN=arn, tags=[{"key": "env", "value": "test"}])
    client.untag_resource(resourceARN=arn, tagKeys=["team"])
    assert client.list_tags_for_resource(resourceARN=arn)["tags"] == [
        {"key": "env", "value": "test"}]
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.list_tags_for_resource(resourceARN=arn[:-12] + "zzzzzzzzzzzz")


def test_validation_and_not_found(fake: FakeBedrock, bucket: str) -> None:
    client = bedrock(fake)
    uri = f"s3://{bucket}/in.jsonl"
    with pytest.raises(client.exceptions.ValidationException, match="roleArn"):
        create(client, uri, uri, roleArn="not-a-role")
    with pytest.raises(client.exceptions.ValidationException, match="timeoutDurationInHours"):
        create(client, uri, uri, timeoutDurationInHours=200)
    with pytest.raises(client.exceptions.ValidationException, match="maxResults"):
        client.list_model_invocation_jobs(maxResults=1001)
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_model_invocation_job(jobIdentifier="abcdefabcdef")
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.stop_model_invocation_job(
            jobIdentifier="arn:aws:bedrock:us-west-2:111122223333:model-invocation-job/abcdefabcdef")
    assert fake.jobs == {}


def test_fail_requests_without_retries(fake: FakeBedrock) -> None:
    # botocore's retries={"max_attempts": 1} means ONE RETRY (two attempts): both must fail.
    client = bedrock(fake, config=Config(retries={"max_attempts": 1}))
    fake.fail_requests(2, 429)
    with pytest.raises(client.exceptions.ThrottlingException) as caught:
        client.list_model_invocation_jobs()
    assert len(fake.requests) == 2
    assert caught.value.response["ResponseMetadata"]["HTTPHeaders"]["retry-after"] == "0"
    single = bedrock(fake, config=Config(retries={"total_max_attempts": 1}))
    for status, error in ((500, single.exceptions.InternalServerException),
                          (503, single.exceptions.ServiceUnavailableException)):
        fake.fail_requests(1, status)
        with pytest.raises(error):
            single.list_model_invocation_jobs()
    assert single.list_model_invocation_jobs()["invocationJobSummaries"] == []


def test_stop_and_start_keep_jobs_running(fake: FakeBedrock, s3: Any, bucket: str) -> None:
    client = bedrock(fake, config=Config(retries={"total_max_attempts": 1}))
    arn = create(client, put(s3, bucket, "in.jsonl", [record("x")]), f"s3://{bucket}/out/")
    fake.stop()
    with pytest.raises(EndpointConnectionError):
        client.get_model_invocation_job(jobIdentifier=arn)
    job = fake.jobs[arn.rsplit("/", 1)[1]]
    deadline = time.monotonic() + 10
    while job.status != "Completed" and time.monotonic() < deadline:
        time.sleep(0.02)  # the job runs on while the port is closed
    fake.start()
    assert wait(client, arn)[0]["status"] == "Completed"


# -- behaviours pinned to independent sources (tests/fakes/README.md names them) ---------------

# The members the Bedrock user guide gives an output line, an error and the manifest.
DOC_ANSWER = {"recordId", "modelInput", "modelOutput"}
DOC_FAILURE = {"recordId", "modelInput", "error"}
DOC_ERROR = {"errorCode", "errorMessage"}
DOC_MANIFEST = {"totalRecordCount", "processedRecordCount", "successRecordCount",
                "errorRecordCount", "inputTokenCount", "outputTokenCount"}


def test_outputs_have_the_documented_shape(fake: FakeBedrock, s3: Any, bucket: str) -> None:
    client = bedrock(fake)
    uri = put(s3, bucket, "in.jsonl", [record("hello"), record("please FAIL", "mine")])
    job, _ = wait(client, create(client, uri, f"s3://{bucket}/out"))
    job_id = job["jobArn"].rsplit("/", 1)[1]
    answer, failure = read(s3, bucket, f"out/{job_id}/in.jsonl.out")
    assert set(answer) == DOC_ANSWER and set(failure) == DOC_FAILURE
    assert set(failure["error"]) == DOC_ERROR and isinstance(failure["error"]["errorCode"], int)
    # A record without an id is given one of eleven alphanumeric characters.
    assert len(answer["recordId"]) == 11 and answer["recordId"].isalnum()
    assert failure["recordId"] == "mine"
    [manifest] = read(s3, bucket, f"out/{job_id}/manifest.json.out")
    assert set(manifest) == DOC_MANIFEST
