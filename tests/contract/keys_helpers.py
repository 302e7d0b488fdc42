"""What test_keys_sigv4.py and test_keys_presigned_bearer_limits.py share (SPEC §5): one server
with two keys of the same tenant (tenancy is not under test here):

- FULL: every provider and model, and a Bedrock API key (bearer token);
- LIMITED: `providers = ["local"]`, `models = ["anthropic.*"]`;

boto3 clients on it with either key, and the checks of S3 and Bedrock error answers and of what the
store holds after them. A test module takes the fixtures (`__all__`: the module-scoped server and
its FULL clients, a fresh bucket) with `from keys_helpers import *`, and with them a server of its
own.
"""

from __future__ import annotations

import json
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from bifrost_py.testing import RunningServer

__all__ = ["bedrock", "bucket", "s3", "server"]

REGION = "us-west-2"
ACCOUNT = "123456789012"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/BedrockBatchInference"
FULL_ID = "AKIAAUTHTESTFULL0001"
FULL_SECRET = "full-secret-0123456789"
BEARER = "bedrock-api-key-full-0123456789"
LIMITED_ID = "AKIAAUTHTESTLIMITED1"
LIMITED_SECRET = "limited-secret-0123456789"
UNKNOWN_ID = "AKIAAUTHTESTUNKNOWN1"
CLAUDE = "anthropic.claude-3-sonnet-20240229-v1:0"
NOVA = "amazon.nova-lite-v1:0"
SLOW_MODEL = "slow-echo"
MIB = 2**20

CONFIG = f"""
[providers.local.models."{SLOW_MODEL}"]
latency_ms = 50
concurrency = 2

[providers.anthropic]
api_key = "x"

[[keys]]
access_key_id = "{FULL_ID}"
secret_access_key = "{FULL_SECRET}"
tenant = "team-a"
bearer_token = "{BEARER}"

[[keys]]
access_key_id = "{LIMITED_ID}"
secret_access_key = "{LIMITED_SECRET}"
tenant = "team-a"
providers = ["local"]
models = ["anthropic.*"]
"""


# --- fixtures and helpers ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    directory = tmp_path_factory.mktemp("auth")
    config = directory / "config.toml"
    config.write_text(CONFIG, encoding="utf-8")
    with RunningServer(directory / "data", config) as running:
        yield running


def s3_client(server: RunningServer, key_id: str = FULL_ID, secret: str = FULL_SECRET,
              **config: Any) -> Any:
    return boto3.client("s3", endpoint_url=server.s3_url, region_name=REGION,
                        aws_access_key_id=key_id, aws_secret_access_key=secret,
                        config=Config(retries={"total_max_attempts": 1}, **config))


def bedrock_client(server: RunningServer, key_id: str = FULL_ID, secret: str = FULL_SECRET,
                   **config: Any) -> Any:
    return boto3.client("bedrock", endpoint_url=server.bedrock_url, region_name=REGION,
                        aws_access_key_id=key_id, aws_secret_access_key=secret,
                        config=Config(retries={"total_max_attempts": 1}, **config))


@pytest.fixture(scope="module")
def s3(server: RunningServer) -> Any:
    return s3_client(server)


@pytest.fixture(scope="module")
def bedrock(server: RunningServer) -> Any:
    return bedrock_client(server)


@pytest.fixture
def bucket(s3: Any) -> str:
    name = f"auth-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def keys_in(s3: Any, bucket: str) -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]


def bucket_names(s3: Any) -> set[str]:
    return {b["Name"] for b in s3.list_buckets()["Buckets"]}


def job_names(bedrock: Any) -> set[str]:
    names: set[str] = set()
    kwargs: dict[str, Any] = {"maxResults": 1000}
    while True:
        page = bedrock.list_model_invocation_jobs(**kwargs)
        names.update(j["jobName"] for j in page["invocationJobSummaries"])
        if not page.get("nextToken"):
            return names
        kwargs["nextToken"] = page["nextToken"]


def s3_error(code: str | None, status: int, call: Callable[..., Any], /, *args: Any,
             **kwargs: Any) -> dict[str, Any]:
    """An S3 error answer with `status` (and `code` unless None) and an x-amz-request-id."""
    with pytest.raises(ClientError) as info:
        call(*args, **kwargs)
    response: dict[str, Any] = info.value.response
    meta = response["ResponseMetadata"]
    assert meta["HTTPStatusCode"] == status, response
    if code is not None:
        assert response["Error"]["Code"] == code, response
    assert meta["HTTPHeaders"].get("x-amz-request-id"), response
    return response


def bedrock_error(code: str, status: int, call: Callable[..., Any], /, *args: Any,
                  **kwargs: Any) -> dict[str, Any]:
    """A Bedrock error answer with `code` in x-amzn-ErrorType (JSON dialect) and `status`."""
    with pytest.raises(ClientError) as info:
        call(*args, **kwargs)
    response: dict[str, Any] = info.value.response
    meta = response["ResponseMetadata"]
    assert meta["HTTPStatusCode"] == status, response
    assert response["Error"]["Code"] == code, response
    assert meta["HTTPHeaders"].get("x-amzn-errortype", "").split(":")[0] == code, response
    assert meta["HTTPHeaders"].get("x-amzn-requestid"), response
    return response


def assert_s3_xml_error(response: httpx.Response, status: int, code: str | None = None) -> str:
    """A raw S3 answer is an XML <Error> with x-amz-request-id; its code."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers.get("x-amz-request-id"), response.headers
    root = ET.fromstring(response.content)
    assert root.tag == "Error", response.text
    found = root.findtext("Code") or ""
    if code is not None:
        assert found == code, response.text
    return found


def assert_bedrock_json_error(response: httpx.Response, status: int,
                              code: str | None = None) -> str:
    """A raw Bedrock answer is JSON with x-amzn-ErrorType; its code. (boto3 sends Bedrock API
    keys only over HTTPS, so the bearer tests use httpx.)"""
    assert response.status_code == status, (response.status_code, response.text)
    found = response.headers.get("x-amzn-errortype", "").split(":")[0]
    assert found, response.headers
    assert "message" in {k.lower() for k in response.json()}, response.text
    if code is not None:
        assert found == code, (found, response.text)
    return found


def upload_input(s3: Any, bucket: str, count: int = 2) -> str:
    lines = [{"recordId": f"r{i}", "modelInput": {
        "messages": [{"role": "user", "content": [{"text": f"{i} + {i}?"}]}],
        "inferenceConfig": {"maxTokens": 10}}} for i in range(count)]
    body = "".join(json.dumps(line) + "\n" for line in lines).encode()
    s3.put_object(Bucket=bucket, Key="in.jsonl", Body=body)
    return f"s3://{bucket}/in.jsonl"


def create_job(client: Any, input_uri: str, output_uri: str, name: str,
               model_id: str = CLAUDE, **extra: Any) -> str:
    response = client.create_model_invocation_job(
        jobName=name, modelId=model_id, roleArn=ROLE_ARN,
        inputDataConfig={"s3InputDataConfig": {"s3Uri": input_uri, "s3InputFormat": "JSONL"}},
        outputDataConfig={"s3OutputDataConfig": {"s3Uri": output_uri}}, **extra)
    arn: str = response["jobArn"]
    return arn
