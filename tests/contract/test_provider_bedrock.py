"""The bedrock provider's jobs end to end: plain boto3 with `x-model-provider: bedrock` against a
bifrost server whose jobs run on the fake Bedrock control plane (which checks SigV4 with the
server's own keys and reads and writes moto) and whose S3 calls reach moto re-signed."""

# Fixtures imported from bedrock_upstream are redefined as test arguments, as pytest means them.
# ruff: noqa: F811

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from bedrock_helpers import (
    REGION,
    bedrock_client,
    configured_server,
    converse_record,
    create_job,
    get_job,
    job_id,
    jsonl,
    list_job_arns,
    numbered_records,
    s3_client,
    unique,
    wait_for_status,
    with_provider,
)
from bedrock_upstream import (  # noqa: F401 - fixtures
    CONFIGURED_ROLE,
    FAKE_KEY,
    FAKE_SECRET,
    HAIKU,
    MAPPED_MODEL,
    USER_ROLE,
    SignedS3,
    answer,
    bedrock,
    bedrock_config,
    bucket,
    direct,
    fake,
    fake_defaults,
    moto,
    read_lines,
    s3,
    server,
    signed_s3,
    upstream_of,
)

from bifrost_py.config import BedrockConfig
from bifrost_py.domain.jobs import new_job
from bifrost_py.providers.bedrock.batch import BedrockBatch
from bifrost_py.store.sql.bucket_owners import BucketOwners
from bifrost_py.store.sqlite.db import Database
from bifrost_py.testing import RunningServer
from tests.fakes.bedrock_fake import FakeBedrock

# the seed document's flow, and listing beside local jobs


def test_the_seed_end_to_end_flow_runs_on_bedrock(
        s3: Any, bedrock: Any, direct: Any, fake: FakeBedrock) -> None:
    s3_bucket, model_id = unique("your-s3-bucket"), "anthropic.claude-3-sonnet-20240229-v1:0"
    s3.create_bucket(Bucket=s3_bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    jsonl_content = "\n".join(json.dumps({
        "recordId": f"request-{i + 1}",
        "modelInput": {"messages": [{"role": "user", "content": [
            {"text": f"What is {i + 1} + {i + 1}? Answer briefly."}]}],
            "inferenceConfig": {"maxTokens": 100}}}) for i in range(3))
    timestamp = int(time.time())
    s3_key = f"bifrost-batch-input/batch_{timestamp}.jsonl"
    upload_response = s3.put_object(Bucket=s3_bucket, Key=s3_key, Body=jsonl_content.encode(),
                                    ContentType="application/jsonl")
    file_id = upload_response.get("ETag", "").strip('"')
    assert upload_response["ETag"] == direct.head_object(Bucket=s3_bucket, Key=s3_key)["ETag"]
    input_uri = f"s3://{s3_bucket}/{s3_key}"
    output_uri = f"s3://{s3_bucket}/bifrost-batch-output/"
    job_response = bedrock.create_model_invocation_job(
        jobName=f"bifrost-e2e-{timestamp}", modelId=model_id, roleArn=USER_ROLE,
        inputDataConfig={"s3InputDataConfig": {"s3Uri": input_uri, "s3InputFormat": "JSONL"}},
        outputDataConfig={"s3OutputDataConfig": {"s3Uri": output_uri}},
        tags=[{"key": "endpoint", "value": "/v1/chat/completions"},
              {"key": "file_id", "value": file_id}])
    job_arn = job_response["jobArn"]
    status_response = wait_for_status(bedrock, job_arn)
    assert status_response["status"] == "Completed"
    assert (status_response["totalRecordCount"], status_response["processedRecordCount"],
            status_response["successRecordCount"], status_response["errorRecordCount"]) == (
        3, 3, 3, 0)
    list_response = bedrock.list_model_invocation_jobs(maxResults=20)
    assert job_arn in [job["jobArn"] for job in list_response["invocationJobSummaries"]]

    upstream = upstream_of(fake, job_arn)
    assert upstream.spec["roleArn"] == USER_ROLE and upstream.spec["modelId"] == model_id
    assert upstream.spec["inputDataConfig"]["s3InputDataConfig"]["s3Uri"] == input_uri
    # Bedrock names the output folder after its own job id.
    out = f"bifrost-batch-output/{upstream.job_id}"
    lines = read_lines(s3, s3_bucket, f"{out}/batch_{timestamp}.jsonl.out")
    assert [line["recordId"] for line in lines] == ["request-1", "request-2", "request-3"]
    assert lines[0]["modelOutput"]["content"] == [
        {"type": "text", "text": "echo: What is 1 + 1? Answer briefly."}]
    manifest = read_lines(s3, s3_bucket, f"{out}/manifest.json.out")[0]
    assert manifest["totalRecordCount"] == 3 and manifest["successRecordCount"] == 3
    listed = s3.list_objects_v2(Bucket=s3_bucket, Prefix="bifrost-batch-output/")
    assert answer(listed) == answer(direct.list_objects_v2(Bucket=s3_bucket,
                                                           Prefix="bifrost-batch-output/"))


def test_a_bedrock_job_lists_beside_a_local_job(
        server: RunningServer, s3: Any, bedrock: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="in.jsonl", Body=jsonl(numbered_records(2)))
    remote = create_job(bedrock, f"s3://{bucket}/in.jsonl", f"s3://{bucket}/out/")
    local_s3, local_bedrock = s3_client(server), bedrock_client(server)  # no header: local
    local_bucket = unique("local")
    local_s3.create_bucket(Bucket=local_bucket)
    local_s3.put_object(Bucket=local_bucket, Key="in.jsonl", Body=jsonl(numbered_records(2)))
    local = create_job(local_bedrock, f"s3://{local_bucket}/in.jsonl",
                       f"s3://{local_bucket}/out/")
    for client, arn in ((bedrock, remote), (local_bedrock, local)):
        assert wait_for_status(client, arn)["status"] == "Completed"
    for client in (bedrock, local_bedrock):
        assert {remote, local} <= set(list_job_arns(client))


# jobs


def test_stop_goes_stopping_then_stopped_upstream(
        s3: Any, bedrock: Any, bucket: str, fake: FakeBedrock) -> None:
    fake.hold = True
    s3.put_object(Bucket=bucket, Key="in.jsonl", Body=jsonl(numbered_records(3)))
    arn = create_job(bedrock, f"s3://{bucket}/in.jsonl", f"s3://{bucket}/out/")
    wait_for_status(bedrock, arn, {"InProgress"})
    bedrock.stop_model_invocation_job(jobIdentifier=arn)
    assert get_job(bedrock, arn)["status"] == "Stopping"
    job = wait_for_status(bedrock, arn)
    assert job["status"] == "Stopped" and "endTime" in job
    assert upstream_of(fake, arn).stop_requested
    with pytest.raises(bedrock.exceptions.ValidationException):
        bedrock.stop_model_invocation_job(jobIdentifier=arn)


def test_an_outage_of_bedrock_mid_job_loses_nothing(
        s3: Any, bedrock: Any, bucket: str, fake: FakeBedrock) -> None:
    fake.hold = True
    s3.put_object(Bucket=bucket, Key="in.jsonl", Body=jsonl(numbered_records(4)))
    arn = create_job(bedrock, f"s3://{bucket}/in.jsonl", f"s3://{bucket}/out/")
    wait_for_status(bedrock, arn, {"InProgress"})
    fake.stop()
    try:
        where = get_job(bedrock, arn)
        for _ in range(5):  # Get answers from our own store, at once, with the job where it was
            started = time.monotonic()
            job = get_job(bedrock, arn)
            assert time.monotonic() - started < 1.0
            assert (job["status"], job["lastModifiedTime"]) == (
                where["status"], where["lastModifiedTime"])
            time.sleep(0.2)
        fake.hold = False
    finally:
        fake.start()
    job = wait_for_status(bedrock, arn)
    assert (job["status"], job["processedRecordCount"], job["successRecordCount"]) == (
        "Completed", 4, 4)
    assert len([j for j in fake.jobs.values()
                if j.spec.get("clientRequestToken") == job_id(arn)]) == 1


def test_throttling_and_5xx_bursts_are_retried(
        s3: Any, bedrock: Any, bucket: str, fake: FakeBedrock) -> None:
    s3.put_object(Bucket=bucket, Key="in.jsonl", Body=jsonl(numbered_records(2)))
    fake.fail_requests(3, 429)
    arn = create_job(bedrock, f"s3://{bucket}/in.jsonl", f"s3://{bucket}/out/")
    upstream_of(fake, arn)
    fake.fail_requests(2, 500)
    fake.fail_requests(1, 503)
    assert wait_for_status(bedrock, arn)["status"] == "Completed"


def test_record_errors_are_bedrocks_error_lines_and_counts(
        s3: Any, bedrock: Any, bucket: str, fake: FakeBedrock) -> None:
    text = "\n".join([json.dumps(converse_record(1, "ok")),
                      json.dumps(converse_record(2, "refused")).replace("What", "FAIL"),
                      "not json"])
    s3.put_object(Bucket=bucket, Key="in.jsonl", Body=text.encode())
    arn = create_job(bedrock, f"s3://{bucket}/in.jsonl", f"s3://{bucket}/out/")
    job = wait_for_status(bedrock, arn)
    assert (job["status"], job["totalRecordCount"], job["processedRecordCount"],
            job["successRecordCount"], job["errorRecordCount"]) == ("Completed", 3, 3, 1, 2)
    lines = read_lines(s3, bucket, f"out/{upstream_of(fake, arn).job_id}/in.jsonl.out")
    assert [line["recordId"] for line in lines][:2] == ["ok", "refused"]
    assert ["error" in line for line in lines] == [False, True, True]
    assert lines[1]["error"]["errorCode"] == 400 and lines[1]["error"]["errorMessage"]


def test_a_failed_upstream_job_fails_with_aws_message(
        s3: Any, bedrock: Any, bucket: str, fake: FakeBedrock) -> None:
    job = wait_for_status(bedrock, create_job(bedrock, f"s3://{bucket}/absent.jsonl",
                                              f"s3://{bucket}/out/"))
    assert job["status"] == "Failed" and "absent.jsonl" in job["message"]
    fake.outcome = "expired"
    s3.put_object(Bucket=bucket, Key="in.jsonl", Body=jsonl(numbered_records(4)))
    job = wait_for_status(bedrock, create_job(bedrock, f"s3://{bucket}/in.jsonl",
                                              f"s3://{bucket}/out/"))
    assert (job["status"], job["totalRecordCount"], job["processedRecordCount"]) == (
        "PartiallyCompleted", 4, 2)
    assert job["message"] == "Not all records could be processed in time."


def test_the_upstream_job_gets_our_settings(
        s3: Any, bedrock: Any, bucket: str, fake: FakeBedrock) -> None:
    s3.put_object(Bucket=bucket, Key="in.jsonl", Body=jsonl([converse_record(1, "r1")]))
    # Valid by the API's pattern, but no role Bedrock could assume: the configured one is used.
    arn = create_job(bedrock, f"s3://{bucket}/in.jsonl", f"s3://{bucket}/out/",
                     roleArn="arn:aws:iam:::role/placeholder", model_id=MAPPED_MODEL,
                     timeoutDurationInHours=48, modelInvocationType="Converse")
    job = wait_for_status(bedrock, arn)
    assert job["status"] == "Completed" and job["modelId"] == MAPPED_MODEL
    assert job["roleArn"] == "arn:aws:iam:::role/placeholder"  # ours: as the user created it
    spec = upstream_of(fake, arn).spec
    assert spec["roleArn"] == CONFIGURED_ROLE and spec["modelId"] == HAIKU
    assert spec["jobName"] == job["jobName"] and spec["clientRequestToken"] == job_id(arn)
    assert spec["timeoutDurationInHours"] == 48 and spec["modelInvocationType"] == "Converse"


def test_a_wrong_secret_fails_jobs_with_an_access_message(
        tmp_path: Path, signed_s3: SignedS3, fake: FakeBedrock, bucket: str) -> None:
    config = bedrock_config(signed_s3.url, fake, secret="wrong-secret-value", role_arn="")
    with configured_server(tmp_path, config) as wrong:
        bedrock = with_provider(bedrock_client(wrong), "bedrock")
        job = wait_for_status(bedrock, create_job(bedrock, f"s3://{bucket}/in.jsonl",
                                                  f"s3://{bucket}/out/"))
        assert job["status"] == "Failed"
        assert "bedrock" in job["message"] and "credentials" in job["message"]
        assert "InvalidSignatureException" in job["message"]
        assert "wrong-secret-value" not in job["message"]
        job = wait_for_status(bedrock, create_job(
            bedrock, f"s3://{bucket}/in.jsonl", f"s3://{bucket}/out/",
            roleArn="arn:aws:iam:::role/placeholder"))
        assert job["status"] == "Failed" and "providers.bedrock.role_arn" in job["message"]


def test_without_keys_in_the_config_the_aws_credential_chain_signs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, signed_s3: SignedS3,
        fake: FakeBedrock, bucket: str) -> None:
    for name, value in (("AWS_ACCESS_KEY_ID", FAKE_KEY), ("AWS_SECRET_ACCESS_KEY", FAKE_SECRET),
                        ("AWS_CONFIG_FILE", os.devnull),
                        ("AWS_SHARED_CREDENTIALS_FILE", os.devnull)):
        monkeypatch.setenv(name, value)
    with configured_server(tmp_path, bedrock_config(signed_s3.url, fake, secret=None)) as chain:
        s3 = with_provider(s3_client(chain), "bedrock")
        bedrock = with_provider(bedrock_client(chain), "bedrock")
        s3.put_object(Bucket=bucket, Key="in.jsonl", Body=jsonl(numbered_records(2)))
        job = wait_for_status(bedrock, create_job(bedrock, f"s3://{bucket}/in.jsonl",
                                                  f"s3://{bucket}/out/"))
        assert (job["status"], job["successRecordCount"]) == ("Completed", 2)


def test_a_repeated_submit_creates_one_upstream_job(
        fake: FakeBedrock, direct: Any, bucket: str, tmp_path: Path) -> None:
    """A crash between submit and saving its answer repeats the submit: same token, same job."""
    direct.put_object(Bucket=bucket, Key="in.jsonl", Body=jsonl(numbered_records(1)))
    settings = BedrockConfig(access_key_id=FAKE_KEY, secret_access_key=FAKE_SECRET,
                             bedrock_endpoint_url=fake.url)
    job = new_job({"jobName": unique("twice"), "modelId": HAIKU, "roleArn": USER_ROLE,
                   "inputDataConfig": {"s3InputDataConfig": {"s3Uri": f"s3://{bucket}/in.jsonl"}},
                   "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": f"s3://{bucket}/o/"}}},
                  "bedrock", REGION, "123456789012", time.time())

    async def submit_twice() -> tuple[dict[str, Any], dict[str, Any]]:
        # None owned: all visible.
        owners = BucketOwners(Database(tmp_path / "owners.sqlite3"), shared=False)
        api = BedrockBatch(settings, lambda model_id: model_id, owners)
        try:
            return await api.submit(job), await api.submit(job)
        finally:
            await api.aclose()

    first, second = asyncio.run(submit_twice())
    assert first == second and first["arn"].endswith(upstream_of(fake, job.arn).job_id)
    assert [j.spec["clientRequestToken"] for j in fake.jobs.values()].count(job.job_id) == 1
