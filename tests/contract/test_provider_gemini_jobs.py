"""The gemini provider end to end, jobs over time and failures: plain boto3 with
`x-model-provider: gemini` against a bifrost server whose jobs run on the fake Gemini API
(google-genai): counts that move, stop, an outage, a restart, retried bursts, failed and expired
batches, a wrong API key, and listing beside local jobs."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import boto3
import pytest
from bedrock_helpers import (
    REGION,
    bedrock_client,
    configured_server,
    create_job,
    get_job,
    job_id,
    jsonl,
    list_job_arns,
    numbered_records,
    s3_client,
    unique,
    wait_for_progress,
    wait_for_status,
    with_provider,
)
from botocore.config import Config
from gemini_helpers import *  # noqa: F403 - the fixtures fake, server, s3 and bedrock
from gemini_helpers import (
    API_KEY,
    create,
    error_code,
    gemini_config,
    put_file,
    read_lines,
    upstream_of,
)

from bifrost_py.testing import RunningServer
from tests.fakes.gemini_fake import CANCELLED, FakeGemini

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
