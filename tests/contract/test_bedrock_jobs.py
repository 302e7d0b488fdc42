"""The Bedrock batch control plane through unmodified boto3 and the aws CLI: create, get, list,
stop, tags, idempotency and pagination, on the default config (the local provider, echo model)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from bedrock_helpers import (
    CLAUDE,
    JOB_ARN,
    ROLE_ARN,
    SLOW_CONFIG,
    SLOW_MODEL,
    AwsCli,
    answer_text,
    bedrock_client,
    configured_server,
    converse_record,
    create_job,
    get_job,
    job_id,
    list_job_arns,
    numbered_records,
    output_lines,
    put_records,
    record_ids,
    s3_client,
    unique,
    wait_for,
    wait_for_status,
    with_provider,
)

from bifrost_py.testing import RunningServer
from tests.postgres import StoreToml

pytestmark = pytest.mark.every_store

ISO_8601 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")
TIMESTAMPS = ("submitTime", "lastModifiedTime", "endTime", "jobExpirationTime")
# Get's timestamps have millisecond precision; sums of them may be a millisecond off.
MILLISECOND = timedelta(milliseconds=1)


@pytest.fixture
def bedrock(bifrost_bedrock: Any) -> Any:
    return bifrost_bedrock


@pytest.fixture
def input_uri(s3: Any, bucket: str) -> str:
    """Two echo records, uploaded once for tests that only need some valid input."""
    return put_records(s3, bucket, "in.jsonl", numbered_records(2))


@pytest.fixture(scope="module")
def slow_server(tmp_path_factory: pytest.TempPathFactory,
                store_toml: StoreToml) -> Iterator[RunningServer]:
    with store_toml() as toml, configured_server(tmp_path_factory.mktemp("slow"),
                                                 SLOW_CONFIG + toml) as server:
        yield server


def create_jobs(bedrock: Any, names: list[str], input_uri: str, output_uri: str) -> list[str]:
    """One job per name, created in order, each submitted strictly after the previous one."""
    arns = []
    for name in names:
        arns.append(create_job(bedrock, input_uri, output_uri, name=name))
        time.sleep(0.002)
    return arns


def cli_json(aws: AwsCli, endpoint: str, *args: str) -> Any:
    result = aws("bedrock", *args, endpoint=endpoint)
    return json.loads(result.stdout) if result.stdout.strip() else None


def sorted_tags(bedrock: Any, arn: str) -> list[tuple[str, str]]:
    tags = bedrock.list_tags_for_resource(resourceARN=arn)["tags"]
    return sorted((t["key"], t["value"]) for t in tags)


# the user's reference workflow


def test_seed_end_to_end_workflow_completes_and_lists_the_job(
        bifrost_server: RunningServer) -> None:
    """The seed's 'End-to-End Batch Workflow' (Bedrock provider) as the user wrote it, on the
    default config: roleArn added (boto3 requires it), no `statistics`, the local provider."""
    provider = "local"
    s3_bucket = unique("your-s3-bucket")
    model_id = CLAUDE
    s3 = with_provider(s3_client(bifrost_server), provider)
    bedrock = with_provider(bedrock_client(bifrost_server), provider)

    records = [converse_record(i + 1, f"request-{i + 1}") for i in range(3)]
    jsonl_content = "\n".join(json.dumps(record) for record in records)  # no final newline
    timestamp = int(time.time())
    s3_key = f"bifrost-batch-input/batch_{timestamp}.jsonl"
    upload = s3.put_object(Bucket=s3_bucket, Key=s3_key, Body=jsonl_content.encode(),
                           ContentType="application/jsonl")
    file_id = upload.get("ETag", "").strip('"')
    input_uri = f"s3://{s3_bucket}/{s3_key}"
    output_uri = f"s3://{s3_bucket}/bifrost-batch-output/"

    job_arn = bedrock.create_model_invocation_job(
        jobName=unique("bifrost-e2e"), modelId=model_id, roleArn=ROLE_ARN,
        inputDataConfig={"s3InputDataConfig": {"s3Uri": input_uri, "s3InputFormat": "JSONL"}},
        outputDataConfig={"s3OutputDataConfig": {"s3Uri": output_uri}},
        tags=[{"key": "endpoint", "value": "/v1/chat/completions"},
              {"key": "file_id", "value": file_id}],
    )["jobArn"]

    for _ in range(100):
        status_response = bedrock.get_model_invocation_job(jobIdentifier=job_arn)
        if status_response["status"] in ["Completed", "Failed", "Stopped"]:
            break
        time.sleep(0.1)
    assert status_response["status"] == "Completed", status_response
    assert "statistics" not in status_response
    assert (status_response["totalRecordCount"], status_response["processedRecordCount"],
            status_response["successRecordCount"], status_response["errorRecordCount"]) == (
                3, 3, 3, 0)

    list_response = bedrock.list_model_invocation_jobs(maxResults=20)
    assert job_arn in [job["jobArn"] for job in list_response.get("invocationJobSummaries", [])]

    lines = output_lines(s3, s3_bucket, job_arn, f"batch_{timestamp}.jsonl",
                         "bifrost-batch-output/")
    assert sorted(record_ids(lines)) == ["request-1", "request-2", "request-3"]
    for line in lines:
        i = line["recordId"].rsplit("-", 1)[1]
        assert line["modelInput"] == records[int(i) - 1]["modelInput"]
        assert answer_text(line["modelOutput"]) == f"echo: What is {i} + {i}? Answer briefly."
    assert sorted_tags(bedrock, job_arn) == [("endpoint", "/v1/chat/completions"),
                                             ("file_id", file_id)]


# Get


def test_get_returns_every_field_with_iso_timestamps_and_a_24_hour_default_expiry(
        bedrock: Any, bifrost_server: RunningServer, input_uri: str, bucket: str) -> None:
    name, token = unique("fields"), unique("token")
    before = datetime.now(UTC)
    arn = create_job(bedrock, input_uri, f"s3://{bucket}/out/", name=name,
                     clientRequestToken=token, modelInvocationType="InvokeModel")
    job = wait_for_status(bedrock, arn)
    after = datetime.now(UTC)

    assert {k: job[k] for k in ("jobArn", "jobName", "modelId", "clientRequestToken", "roleArn",
                                "status", "timeoutDurationInHours", "modelInvocationType")} == {
        "jobArn": arn, "jobName": name, "modelId": CLAUDE, "clientRequestToken": token,
        "roleArn": ROLE_ARN, "status": "Completed", "timeoutDurationInHours": 24,
        "modelInvocationType": "InvokeModel"}
    assert job["inputDataConfig"] == {"s3InputDataConfig": {"s3Uri": input_uri,
                                                             "s3InputFormat": "JSONL"}}
    assert job["outputDataConfig"] == {"s3OutputDataConfig": {"s3Uri": f"s3://{bucket}/out/"}}
    assert (job["totalRecordCount"], job["processedRecordCount"], job["successRecordCount"],
            job["errorRecordCount"]) == (2, 2, 2, 0)
    assert all(isinstance(job[field], datetime) and job[field].tzinfo for field in TIMESTAMPS)
    assert (before - MILLISECOND <= job["submitTime"] <= job["lastModifiedTime"]
            <= after + MILLISECOND)
    assert job["submitTime"] <= job["endTime"] <= after + MILLISECOND
    assert abs(job["jobExpirationTime"] - job["submitTime"] - timedelta(hours=24)) <= MILLISECOND

    raw = httpx.get(f"{bifrost_server.bedrock_url}/model-invocation-job/{quote(arn, safe='')}")
    assert raw.status_code == 200
    assert raw.headers["content-type"].startswith("application/json")
    assert raw.headers.get("x-amzn-RequestId")
    body = raw.json()
    for field in TIMESTAMPS:
        assert ISO_8601.fullmatch(body[field]), body[field]
        parsed = datetime.fromisoformat(body[field].replace("Z", "+00:00"))
        assert parsed == job[field]


def test_get_shows_the_timeout_given_and_expires_that_many_hours_after_submission(
        bedrock: Any, input_uri: str, bucket: str) -> None:
    arn = create_job(bedrock, input_uri, f"s3://{bucket}/out/", timeoutDurationInHours=72)
    job = get_job(bedrock, arn)
    assert job["timeoutDurationInHours"] == 72
    assert abs(job["jobExpirationTime"] - job["submitTime"] - timedelta(hours=72)) <= MILLISECOND


def test_job_arn_has_the_aws_format_and_get_accepts_the_arn_or_the_bare_id(
        bedrock: Any, input_uri: str, bucket: str) -> None:
    arn = create_job(bedrock, input_uri, f"s3://{bucket}/out/")
    assert JOB_ARN.fullmatch(arn), arn
    by_arn = get_job(bedrock, arn)
    by_id = get_job(bedrock, job_id(arn))
    assert by_arn["jobArn"] == by_id["jobArn"] == arn
    assert by_arn["jobName"] == by_id["jobName"]


def test_local_provider_accepts_a_role_arn_that_is_not_an_iam_role(
        bedrock: Any, input_uri: str, bucket: str) -> None:
    arn = create_job(bedrock, input_uri, f"s3://{bucket}/out/", roleArn="not-required")
    job = wait_for_status(bedrock, arn)
    assert (job["roleArn"], job["status"]) == ("not-required", "Completed")


# idempotency


def test_create_repeated_with_the_same_client_request_token_returns_the_same_job(
        bedrock: Any, input_uri: str, bucket: str) -> None:
    name, token = unique("idem"), unique("token")
    first = create_job(bedrock, input_uri, f"s3://{bucket}/out/", name=name,
                       clientRequestToken=token)
    again = create_job(bedrock, input_uri, f"s3://{bucket}/out/", name=name,
                       clientRequestToken=token)
    assert again == first
    assert list_job_arns(bedrock, nameContains=name) == [first]
    other = create_job(bedrock, input_uri, f"s3://{bucket}/out/", clientRequestToken=unique("t"))
    assert other != first


# List


def test_list_filters_by_status_name_and_submit_time(
        bedrock: Any, s3: Any, input_uri: str, bucket: str) -> None:
    prefix = unique("filters")
    output = f"s3://{bucket}/out/"
    first = create_job(bedrock, input_uri, output, name=f"{prefix}-first")
    time.sleep(0.02)
    after_first = datetime.now(UTC)
    time.sleep(0.02)
    second = create_job(bedrock, f"s3://{bucket}/missing.jsonl", output, name=f"{prefix}-second")
    time.sleep(0.02)
    after_second = datetime.now(UTC)
    time.sleep(0.02)
    third = create_job(bedrock, input_uri, output, name=f"{prefix}-third")
    for arn in (first, second, third):
        wait_for_status(bedrock, arn)

    assert list_job_arns(bedrock, nameContains=prefix) == [third, second, first]
    assert list_job_arns(bedrock, nameContains=prefix, statusEquals="Failed") == [second]
    assert list_job_arns(bedrock, nameContains=prefix, statusEquals="Completed") == [third, first]
    assert list_job_arns(bedrock, nameContains=f"{prefix}-sec") == [second]
    assert list_job_arns(bedrock, nameContains=prefix, submitTimeAfter=after_first) == [
        third, second]
    assert list_job_arns(bedrock, nameContains=prefix, submitTimeBefore=after_second) == [
        second, first]
    assert list_job_arns(bedrock, nameContains=prefix, submitTimeAfter=after_first,
                         submitTimeBefore=after_second) == [second]
    assert list_job_arns(bedrock, nameContains=prefix, statusEquals="InProgress") == []


def test_list_sorts_by_creation_time_descending_by_default_and_ascending_on_request(
        bedrock: Any, input_uri: str, bucket: str) -> None:
    prefix = unique("sorted")
    arns = create_jobs(bedrock, [f"{prefix}-{i}" for i in range(4)], input_uri,
                       f"s3://{bucket}/out/")
    assert list_job_arns(bedrock, nameContains=prefix) == arns[::-1]
    assert list_job_arns(bedrock, nameContains=prefix, sortBy="CreationTime",
                         sortOrder="Descending") == arns[::-1]
    assert list_job_arns(bedrock, nameContains=prefix, sortBy="CreationTime",
                         sortOrder="Ascending") == arns


def test_list_summaries_carry_the_fields_of_get(bedrock: Any, input_uri: str,
                                                bucket: str) -> None:
    name = unique("summary")
    arn = create_job(bedrock, input_uri, f"s3://{bucket}/out/", name=name)
    job = wait_for_status(bedrock, arn)
    [summary] = bedrock.list_model_invocation_jobs(nameContains=name)["invocationJobSummaries"]
    for field in ("jobArn", "jobName", "modelId", "roleArn", "status", "submitTime",
                  "lastModifiedTime", "endTime", "inputDataConfig", "outputDataConfig",
                  "timeoutDurationInHours", "jobExpirationTime", "totalRecordCount",
                  "processedRecordCount", "successRecordCount", "errorRecordCount"):
        assert summary[field] == job[field], field


def test_list_pages_through_25_jobs_seven_at_a_time_showing_each_once(
        bedrock: Any, input_uri: str, bucket: str) -> None:
    prefix = unique("page")
    arns = create_jobs(bedrock, [f"{prefix}-{i:02d}" for i in range(25)], input_uri,
                       f"s3://{bucket}/out/")

    pages: list[dict[str, Any]] = []
    token: dict[str, str] = {}
    while True:
        page = bedrock.list_model_invocation_jobs(nameContains=prefix, maxResults=7, **token)
        pages.append(page)
        if "nextToken" not in page:
            break
        token = {"nextToken": page["nextToken"]}
        assert len(pages) < 10, "the pages never end"
    assert [len(p["invocationJobSummaries"]) for p in pages] == [7, 7, 7, 4]
    assert ["nextToken" in p for p in pages] == [True, True, True, False]
    seen = [s["jobArn"] for p in pages for s in p["invocationJobSummaries"]]
    assert seen == arns[::-1]

    assert list_job_arns(bedrock, nameContains=prefix, PaginationConfig={"PageSize": 7}) == (
        arns[::-1])
    assert list_job_arns(bedrock, nameContains=prefix, sortOrder="Ascending",
                         PaginationConfig={"PageSize": 7}) == arns
    limited = bedrock.get_paginator("list_model_invocation_jobs").paginate(
        nameContains=prefix, PaginationConfig={"PageSize": 7, "MaxItems": 10}).build_full_result()
    assert [s["jobArn"] for s in limited["invocationJobSummaries"]] == arns[::-1][:10]


# tags


def test_tags_given_at_create_are_listed_and_tag_and_untag_change_them(
        bedrock: Any, input_uri: str, bucket: str) -> None:
    arn = create_job(bedrock, input_uri, f"s3://{bucket}/out/",
                     tags=[{"key": "team", "value": "ml"}, {"key": "file_id", "value": "abc123"}])
    assert sorted_tags(bedrock, arn) == [("file_id", "abc123"), ("team", "ml")]

    bedrock.tag_resource(resourceARN=arn, tags=[{"key": "team", "value": "research"},
                                                {"key": "stage", "value": "dev"}])
    assert sorted_tags(bedrock, arn) == [("file_id", "abc123"), ("stage", "dev"),
                                         ("team", "research")]

    bedrock.untag_resource(resourceARN=arn, tagKeys=["file_id", "not-there"])
    assert sorted_tags(bedrock, arn) == [("stage", "dev"), ("team", "research")]


def test_a_job_created_without_tags_has_none(bedrock: Any, input_uri: str, bucket: str) -> None:
    arn = create_job(bedrock, input_uri, f"s3://{bucket}/out/")
    assert bedrock.list_tags_for_resource(resourceARN=arn)["tags"] == []


# the aws CLI


def test_aws_cli_creates_gets_and_lists_a_job(aws: AwsCli, bifrost_server: RunningServer,
                                             input_uri: str, bucket: str) -> None:
    endpoint = bifrost_server.bedrock_url
    name = unique("cli")
    created = cli_json(
        aws, endpoint, "create-model-invocation-job", "--job-name", name, "--model-id", CLAUDE,
        "--role-arn", ROLE_ARN,
        "--input-data-config", json.dumps({"s3InputDataConfig": {"s3Uri": input_uri}}),
        "--output-data-config",
        json.dumps({"s3OutputDataConfig": {"s3Uri": f"s3://{bucket}/out/"}}))
    arn = created["jobArn"]
    assert JOB_ARN.fullmatch(arn)

    wait_for_status(bedrock_client(bifrost_server), arn)
    job = cli_json(aws, endpoint, "get-model-invocation-job", "--job-identifier", arn)
    assert (job["jobArn"], job["jobName"], job["status"], job["totalRecordCount"],
            job["successRecordCount"]) == (arn, name, "Completed", 2, 2)
    datetime.fromisoformat(job["submitTime"])

    listed = cli_json(aws, endpoint, "list-model-invocation-jobs", "--name-contains", name)
    assert [s["jobArn"] for s in listed["invocationJobSummaries"]] == [arn]

    refused = aws("bedrock", "stop-model-invocation-job", "--job-identifier", arn,
                  endpoint=endpoint, check=False)
    assert refused.returncode != 0
    assert "ValidationException" in refused.stderr


def test_aws_cli_stops_a_running_job(aws: AwsCli, slow_server: RunningServer) -> None:
    bedrock, s3 = bedrock_client(slow_server), s3_client(slow_server)
    bucket = unique("cli-stop")
    s3.create_bucket(Bucket=bucket)
    arn = create_job(bedrock, put_records(s3, bucket, "in.jsonl", numbered_records(100)),
                     f"s3://{bucket}/out/", model_id=SLOW_MODEL)
    wait_for(lambda: get_job(bedrock, arn), lambda job: job["status"] == "InProgress",
             what="InProgress")

    aws("bedrock", "stop-model-invocation-job", "--job-identifier", job_id(arn),
        endpoint=slow_server.bedrock_url)
    job = wait_for_status(bedrock, arn)
    assert job["status"] == "Stopped"
    assert job["processedRecordCount"] < 100
