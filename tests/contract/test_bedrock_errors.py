"""Every Bedrock control-plane error the server can give, as boto3 and raw HTTP clients see it:
the code in x-amzn-ErrorType, a message, x-amzn-RequestId, and AWS's HTTP status."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from bedrock_helpers import (
    ACCOUNT,
    ARN_PREFIX,
    REGION,
    ROLE_ARN,
    SLOW_CONFIG,
    SLOW_MODEL,
    bedrock_client,
    configured_server,
    create_job,
    expect_error,
    job_id,
    numbered_records,
    put_records,
    s3_client,
    unique,
    wait_for_status,
    with_provider,
)

from bifrost_py.testing import RunningServer

UNKNOWN_ID = "zzzzzzzzzzzz"


@pytest.fixture
def bedrock(bifrost_bedrock: Any) -> Any:
    return bifrost_bedrock


@pytest.fixture
def unchecked(bifrost_server: RunningServer) -> Any:
    """A Bedrock client that sends what boto3 would refuse client-side (ranges, lengths)."""
    return bedrock_client(bifrost_server, parameter_validation=False,
                          retries={"max_attempts": 1})


@pytest.fixture
def raw(bifrost_server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=bifrost_server.bedrock_url) as client:
        yield client


@pytest.fixture
def input_uri(s3: Any, bucket: str) -> str:
    return put_records(s3, bucket, "in.jsonl", numbered_records(2))


@pytest.fixture
def completed_arn(bedrock: Any, input_uri: str, bucket: str) -> str:
    arn = create_job(bedrock, input_uri, f"s3://{bucket}/out/")
    assert wait_for_status(bedrock, arn)["status"] == "Completed"
    return arn


@pytest.fixture(scope="module")
def slow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with configured_server(tmp_path_factory.mktemp("slow"), SLOW_CONFIG) as server:
        yield server


def create_args(input_uri: str, output_uri: str, **overrides: Any) -> dict[str, Any]:
    """A valid CreateModelInvocationJob request, with `overrides` replacing members."""
    args: dict[str, Any] = {
        "jobName": unique("errors"), "modelId": "anthropic.claude-3-haiku-20240307-v1:0",
        "roleArn": ROLE_ARN,
        "inputDataConfig": {"s3InputDataConfig": {"s3Uri": input_uri}},
        "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": output_uri}}}
    args.update(overrides)
    return args


def assert_raw_error(response: httpx.Response, code: str, status: int) -> dict[str, Any]:
    """A Bedrock error on the wire: status, x-amzn-ErrorType, x-amzn-RequestId, JSON message."""
    assert response.status_code == status, response.text
    assert response.headers.get("x-amzn-ErrorType", "").split(":")[0] == code, response.headers
    assert response.headers.get("x-amzn-RequestId"), response.headers
    body: dict[str, Any] = response.json()
    assert isinstance(body.get("message"), str) and body["message"], body
    return body


# ValidationException: what the service model forbids and botocore does not check


@pytest.mark.parametrize("name", ["bad_name", "-leading-dash", "with space", "a" * 64])
def test_create_with_a_job_name_off_its_pattern_is_a_validation_exception(
        bedrock: Any, input_uri: str, bucket: str, name: str) -> None:
    response = expect_error("ValidationException", 400, bedrock.create_model_invocation_job,
                            **create_args(input_uri, f"s3://{bucket}/out/", jobName=name))
    assert "jobName" in response["Error"]["Message"]
    assert name not in [j["jobName"] for j in
                        bedrock.list_model_invocation_jobs()["invocationJobSummaries"]]


@pytest.mark.parametrize("uri", ["https://bucket/in.jsonl", "s3://Upper_Case/in.jsonl",
                                 "s3://b/in.jsonl", "bucket/in.jsonl"])
def test_create_with_an_input_uri_that_is_not_an_s3_uri_is_a_validation_exception(
        bedrock: Any, bucket: str, uri: str) -> None:
    response = expect_error("ValidationException", 400, bedrock.create_model_invocation_job,
                            **create_args(uri, f"s3://{bucket}/out/"))
    assert "s3Uri" in response["Error"]["Message"]


def test_create_with_an_output_uri_that_is_not_an_s3_uri_is_a_validation_exception(
        bedrock: Any, input_uri: str) -> None:
    response = expect_error("ValidationException", 400, bedrock.create_model_invocation_job,
                            **create_args(input_uri, "ftp://out/"))
    assert "outputDataConfig.s3OutputDataConfig.s3Uri" in response["Error"]["Message"]


@pytest.mark.parametrize("hours", [23, 169])
def test_create_with_a_timeout_outside_24_to_168_hours_is_a_validation_exception(
        unchecked: Any, input_uri: str, bucket: str, hours: int) -> None:
    response = expect_error("ValidationException", 400, unchecked.create_model_invocation_job,
                            **create_args(input_uri, f"s3://{bucket}/out/",
                                          timeoutDurationInHours=hours))
    assert "timeoutDurationInHours" in response["Error"]["Message"]


def test_create_with_an_unknown_invocation_type_is_a_validation_exception(
        bedrock: Any, input_uri: str, bucket: str) -> None:
    response = expect_error("ValidationException", 400, bedrock.create_model_invocation_job,
                            **create_args(input_uri, f"s3://{bucket}/out/",
                                          modelInvocationType="Chat"))
    assert "modelInvocationType" in response["Error"]["Message"]


def test_create_with_201_tags_is_a_validation_exception(
        bedrock: Any, input_uri: str, bucket: str) -> None:
    tags = [{"key": f"k{i}", "value": "v"} for i in range(201)]
    expect_error("ValidationException", 400, bedrock.create_model_invocation_job,
                 **create_args(input_uri, f"s3://{bucket}/out/", tags=tags))


def test_create_without_a_required_member_is_a_validation_exception(
        raw: httpx.Client, input_uri: str, bucket: str) -> None:
    args = create_args(input_uri, f"s3://{bucket}/out/")
    del args["roleArn"]
    body = assert_raw_error(raw.post("/model-invocation-job", json=args),
                            "ValidationException", 400)
    assert "roleArn" in body["message"]


def test_create_with_a_body_that_is_not_json_is_a_serialization_exception(
        raw: httpx.Client) -> None:
    assert_raw_error(raw.post("/model-invocation-job", content=b"{not json",
                              headers={"content-type": "application/json"}),
                     "SerializationException", 400)


@pytest.mark.parametrize("max_results", [0, 1001])
def test_list_with_max_results_outside_1_to_1000_is_a_validation_exception(
        raw: httpx.Client, unchecked: Any, max_results: int) -> None:
    body = assert_raw_error(raw.get("/model-invocation-jobs",
                                    params={"maxResults": str(max_results)}),
                            "ValidationException", 400)
    assert "maxResults" in body["message"]
    expect_error("ValidationException", 400, unchecked.list_model_invocation_jobs,
                 maxResults=max_results)


def test_list_with_an_unknown_status_is_a_validation_exception(bedrock: Any) -> None:
    response = expect_error("ValidationException", 400, bedrock.list_model_invocation_jobs,
                            statusEquals="Running")
    assert "statusEquals" in response["Error"]["Message"]


def test_list_with_an_unknown_sort_order_is_a_validation_exception(bedrock: Any) -> None:
    expect_error("ValidationException", 400, bedrock.list_model_invocation_jobs,
                 sortOrder="Sideways")


def test_list_with_a_forged_next_token_is_a_validation_exception(bedrock: Any) -> None:
    expect_error("ValidationException", 400, bedrock.list_model_invocation_jobs,
                 nextToken="not-a-token")


def test_get_with_an_identifier_off_the_job_pattern_is_a_validation_exception(
        bedrock: Any) -> None:
    expect_error("ValidationException", 400, bedrock.get_model_invocation_job,
                 jobIdentifier="Not-A-Job")


# providers


@pytest.mark.parametrize("provider", ["bedrock", "mistral-cloud"])
def test_create_for_a_provider_not_configured_is_a_validation_exception_naming_it(
        bifrost_server: RunningServer, input_uri: str, bucket: str, provider: str) -> None:
    bedrock = with_provider(bedrock_client(bifrost_server), provider)
    response = expect_error("ValidationException", 400, bedrock.create_model_invocation_job,
                            **create_args(input_uri, f"s3://{bucket}/out/"))
    assert provider in response["Error"]["Message"]


def test_the_local_provider_does_not_check_the_role_arn_pattern(
        bifrost_server: RunningServer, input_uri: str, bucket: str) -> None:
    bedrock = with_provider(bedrock_client(bifrost_server), "local")
    arn = bedrock.create_model_invocation_job(**create_args(
        input_uri, f"s3://{bucket}/out/", roleArn="not-required"))["jobArn"]
    assert wait_for_status(bedrock, arn)["status"] == "Completed"


# ResourceNotFoundException


@pytest.mark.parametrize("identifier", [UNKNOWN_ID, ARN_PREFIX + UNKNOWN_ID])
def test_get_of_an_unknown_job_is_resource_not_found(bedrock: Any, identifier: str) -> None:
    expect_error("ResourceNotFoundException", 404, bedrock.get_model_invocation_job,
                 jobIdentifier=identifier)


@pytest.mark.parametrize("identifier", [UNKNOWN_ID, ARN_PREFIX + UNKNOWN_ID])
def test_stop_of_an_unknown_job_is_resource_not_found(bedrock: Any, identifier: str) -> None:
    expect_error("ResourceNotFoundException", 404, bedrock.stop_model_invocation_job,
                 jobIdentifier=identifier)


def foreign_arns(arn: str) -> list[str]:
    """The ARN of this job's id in another account, in another region; and of an unknown id."""
    return [f"arn:aws:bedrock:{REGION}:999999999999:model-invocation-job/{job_id(arn)}",
            f"arn:aws:bedrock:eu-west-1:{ACCOUNT}:model-invocation-job/{job_id(arn)}",
            ARN_PREFIX + UNKNOWN_ID]


def test_tag_operations_on_an_arn_this_server_does_not_hold_are_resource_not_found(
        bedrock: Any, completed_arn: str) -> None:
    bedrock.tag_resource(resourceARN=completed_arn, tags=[{"key": "mine", "value": "yes"}])
    for arn in foreign_arns(completed_arn):
        expect_error("ResourceNotFoundException", 404, bedrock.list_tags_for_resource,
                     resourceARN=arn)
        expect_error("ResourceNotFoundException", 404, bedrock.tag_resource, resourceARN=arn,
                     tags=[{"key": "theirs", "value": "no"}])
        expect_error("ResourceNotFoundException", 404, bedrock.untag_resource, resourceARN=arn,
                     tagKeys=["mine"])
    assert bedrock.list_tags_for_resource(resourceARN=completed_arn)["tags"] == [
        {"key": "mine", "value": "yes"}]


# state conflicts


def test_stop_of_a_completed_job_is_a_validation_exception(
        bedrock: Any, completed_arn: str) -> None:
    expect_error("ValidationException", 400, bedrock.stop_model_invocation_job,
                 jobIdentifier=completed_arn)
    assert bedrock.get_model_invocation_job(jobIdentifier=completed_arn)["status"] == "Completed"


def test_create_with_the_name_of_a_job_in_progress_is_a_conflict_exception(
        slow_server: RunningServer) -> None:
    bedrock, s3 = bedrock_client(slow_server), s3_client(slow_server)
    bucket, name = unique("conflict"), unique("busy")
    s3.create_bucket(Bucket=bucket)
    input_uri = put_records(s3, bucket, "in.jsonl", numbered_records(40))
    arn = create_job(bedrock, input_uri, f"s3://{bucket}/out/", name=name, model_id=SLOW_MODEL)

    expect_error("ConflictException", 400, create_job, bedrock, input_uri,
                 f"s3://{bucket}/out/", name=name, model_id=SLOW_MODEL)
    assert [j["jobArn"] for j in bedrock.list_model_invocation_jobs(
        nameContains=name)["invocationJobSummaries"]] == [arn]
    bedrock.stop_model_invocation_job(jobIdentifier=arn)
    wait_for_status(bedrock, arn)


def test_tagging_past_200_tags_is_too_many_tags_and_keeps_the_tags_it_had(
        bedrock: Any, completed_arn: str) -> None:
    tags = [{"key": f"k{i:03d}", "value": "v"} for i in range(200)]
    bedrock.tag_resource(resourceARN=completed_arn, tags=tags[:150])
    bedrock.tag_resource(resourceARN=completed_arn, tags=tags[150:])
    expect_error("TooManyTagsException", 400, bedrock.tag_resource, resourceARN=completed_arn,
                 tags=[{"key": "one-more", "value": "v"}])
    listed = bedrock.list_tags_for_resource(resourceARN=completed_arn)["tags"]
    assert sorted(t["key"] for t in listed) == [t["key"] for t in tags]


# the wire


def test_an_unknown_operation_is_unknown_operation_exception(raw: httpx.Client) -> None:
    assert_raw_error(raw.post("/no-such-operation", content=json.dumps({})),
                     "UnknownOperationException", 404)


def test_every_answer_carries_a_request_id(raw: httpx.Client) -> None:
    response = raw.get("/model-invocation-jobs", params={"maxResults": "1"})
    assert response.status_code == 200
    assert response.headers.get("x-amzn-RequestId")


@pytest.mark.parametrize("model_id", ["gpt-4.1", "models/gemini-2.0-flash", "a b"])
def test_a_model_id_outside_bedrocks_pattern_is_refused_for_every_provider(
        bifrost_server: RunningServer, input_uri: str, bucket: str, model_id: str) -> None:
    """Map a provider's own model name to a Bedrock-style id with [models] instead."""
    bedrock = with_provider(bedrock_client(bifrost_server), "local")
    response = expect_error("ValidationException", 400, bedrock.create_model_invocation_job,
                            **{**create_args(input_uri, f"s3://{bucket}/out/"),
                               "modelId": model_id})
    assert "modelId" in response["Error"]["Message"]
