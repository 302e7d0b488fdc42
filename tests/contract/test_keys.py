"""SigV4, presigned URLs, Bedrock API keys and allow-lists (SPEC §5), with real boto3 and the
aws CLI.

One server with two keys of the same tenant (tenancy is not under test here):

- FULL: every provider and model, and a Bedrock API key (bearer token);
- LIMITED: `providers = ["local"]`, `models = ["anthropic.*"]`.

Every refused request is followed by a look through the FULL key: the store did not change.
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import boto3
import botocore.auth
import httpx
import pytest
from bedrock_helpers import with_provider
from boto3.s3.transfer import TransferConfig
from botocore import UNSIGNED
from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from bifrost_py.testing import RunningServer

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


def aws_cli(server: RunningServer, tmp: Path, key_id: str, secret: str, *args: str,
            endpoint: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AWS_ACCESS_KEY_ID": key_id, "AWS_SECRET_ACCESS_KEY": secret,
           "AWS_DEFAULT_REGION": REGION, "AWS_CONFIG_FILE": os.devnull,
           "AWS_SHARED_CREDENTIALS_FILE": os.devnull, "AWS_MAX_ATTEMPTS": "1"}
    env.pop("AWS_SESSION_TOKEN", None)
    env.pop("AWS_PROFILE", None)
    cmd = [sys.executable, "-m", "awscli", "--endpoint-url", endpoint or server.s3_url, *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, cwd=tmp)


def signed_at(when: datetime.datetime, signer: Any, request: AWSRequest) -> AWSRequest:
    """`request` signed by `signer` as if the clock read `when`."""
    with mock.patch.object(botocore.auth, "get_current_datetime", return_value=when):
        signer.add_auth(request)
    return request


def send(request: AWSRequest) -> httpx.Response:
    prepared = request.prepare()
    return httpx.request(prepared.method, prepared.url, headers=dict(prepared.headers.items()),
                         content=prepared.body or b"", timeout=30)


# --- right keys --------------------------------------------------------------------------------


def test_s3_right_key_put_get_list_delete(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="a/one.txt", Body=b"one")
    s3.put_object(Bucket=bucket, Key="a/two words+plus.txt", Body=b"two")
    assert s3.get_object(Bucket=bucket, Key="a/one.txt")["Body"].read() == b"one"
    assert s3.head_object(Bucket=bucket, Key="a/two words+plus.txt")["ContentLength"] == 3
    assert sorted(keys_in(s3, bucket)) == ["a/one.txt", "a/two words+plus.txt"]
    assert bucket in bucket_names(s3)
    s3.delete_object(Bucket=bucket, Key="a/one.txt")
    assert keys_in(s3, bucket) == ["a/two words+plus.txt"]


def test_s3_right_key_multipart_upload_file(s3: Any, bucket: str, tmp_path: Path) -> None:
    data = os.urandom(10 * MIB)
    source = tmp_path / "big.bin"
    source.write_bytes(data)
    s3.upload_file(str(source), bucket, "big.bin",
                   Config=TransferConfig(multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB))
    head = s3.head_object(Bucket=bucket, Key="big.bin")
    assert head["ContentLength"] == len(data)
    assert head["ETag"].strip('"').endswith("-2"), head["ETag"]
    assert s3.get_object(Bucket=bucket, Key="big.bin")["Body"].read() == data


def test_s3_limited_key_on_its_own_provider(server: RunningServer, s3: Any, bucket: str) -> None:
    limited = s3_client(server, LIMITED_ID, LIMITED_SECRET)
    limited.put_object(Bucket=bucket, Key="by-limited", Body=b"x")
    assert s3.get_object(Bucket=bucket, Key="by-limited")["Body"].read() == b"x"


def test_aws_cli_right_key(server: RunningServer, s3: Any, bucket: str, tmp_path: Path) -> None:
    data = os.urandom(9 * MIB)  # over the CLI's 8 MiB multipart threshold
    (tmp_path / "up.bin").write_bytes(data)
    for args in (("s3", "cp", "up.bin", f"s3://{bucket}/cli/up.bin"),
                 ("s3", "cp", f"s3://{bucket}/cli/up.bin", "down.bin"),
                 ("s3", "ls", f"s3://{bucket}/cli/")):
        result = aws_cli(server, tmp_path, FULL_ID, FULL_SECRET, *args)
        assert result.returncode == 0, (args, result.stdout, result.stderr)
    assert "up.bin" in result.stdout
    assert (tmp_path / "down.bin").read_bytes() == data
    result = aws_cli(server, tmp_path, FULL_ID, FULL_SECRET, "s3", "rm",
                     f"s3://{bucket}/cli/up.bin")
    assert result.returncode == 0, result.stderr
    assert keys_in(s3, bucket) == []


def test_bedrock_right_key_create_get_list_tags_stop(s3: Any, bedrock: Any,
                                                     bucket: str) -> None:
    input_uri = upload_input(s3, bucket, count=60)
    name = unique("job")
    arn = create_job(bedrock, input_uri, f"s3://{bucket}/out/", name, model_id=SLOW_MODEL,
                     tags=[{"key": "team", "value": "a"}])
    job = bedrock.get_model_invocation_job(jobIdentifier=arn)
    assert job["jobName"] == name and job["modelId"] == SLOW_MODEL
    assert name in job_names(bedrock)
    bedrock.tag_resource(resourceARN=arn, tags=[{"key": "stage", "value": "test"}])
    tags = bedrock.list_tags_for_resource(resourceARN=arn)["tags"]
    assert {t["key"]: t["value"] for t in tags} == {"team": "a", "stage": "test"}
    bedrock.untag_resource(resourceARN=arn, tagKeys=["stage"])
    assert bedrock.list_tags_for_resource(resourceARN=arn)["tags"] == [
        {"key": "team", "value": "a"}]
    bedrock.stop_model_invocation_job(jobIdentifier=arn)
    deadline = time.monotonic() + 15
    while (status := bedrock.get_model_invocation_job(jobIdentifier=arn)["status"]) not in (
            "Stopped", "Completed", "Failed", "PartiallyCompleted"):
        assert time.monotonic() < deadline, status
        time.sleep(0.05)
    assert status == "Stopped"


# --- wrong secret, unknown key, no auth --------------------------------------------------------


def test_s3_wrong_secret_is_signature_does_not_match(server: RunningServer, s3: Any,
                                                     bucket: str) -> None:
    wrong = s3_client(server, FULL_ID, "not-the-secret")
    s3_error("SignatureDoesNotMatch", 403, wrong.put_object, Bucket=bucket, Key="k", Body=b"x")
    s3_error("SignatureDoesNotMatch", 403, wrong.list_objects_v2, Bucket=bucket)
    s3_error("SignatureDoesNotMatch", 403, wrong.create_bucket, Bucket=unique("nope"))
    s3_error(None, 403, wrong.head_object, Bucket=bucket, Key="k")  # HEAD: no body, no code
    assert keys_in(s3, bucket) == []
    assert not any(b.startswith("nope-") for b in bucket_names(s3))


def test_s3_unknown_key_is_invalid_access_key_id(server: RunningServer, s3: Any,
                                                 bucket: str) -> None:
    stranger = s3_client(server, UNKNOWN_ID, FULL_SECRET)
    s3_error("InvalidAccessKeyId", 403, stranger.put_object, Bucket=bucket, Key="k", Body=b"x")
    s3_error("InvalidAccessKeyId", 403, stranger.list_buckets)
    s3_error("InvalidAccessKeyId", 403, stranger.delete_bucket, Bucket=bucket)
    assert bucket in bucket_names(s3)
    assert keys_in(s3, bucket) == []


def test_s3_unsigned_is_access_denied(server: RunningServer, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="kept", Body=b"kept")
    anonymous = s3_client(server, signature_version=UNSIGNED)
    s3_error("AccessDenied", 403, anonymous.put_object, Bucket=bucket, Key="k", Body=b"x")
    s3_error("AccessDenied", 403, anonymous.get_object, Bucket=bucket, Key="kept")
    s3_error("AccessDenied", 403, anonymous.delete_object, Bucket=bucket, Key="kept")
    s3_error("AccessDenied", 403, anonymous.list_buckets)
    raw = httpx.get(f"{server.s3_url}/{bucket}/kept", timeout=10)
    assert_s3_xml_error(raw, 403, "AccessDenied")
    assert keys_in(s3, bucket) == ["kept"]


def test_bedrock_wrong_secret_is_invalid_signature(server: RunningServer, s3: Any,
                                                   bedrock: Any, bucket: str) -> None:
    wrong = bedrock_client(server, FULL_ID, "not-the-secret")
    input_uri = upload_input(s3, bucket)
    name = unique("wrong")
    bedrock_error("InvalidSignatureException", 403, create_job, wrong, input_uri,
                  f"s3://{bucket}/out/", name)
    bedrock_error("InvalidSignatureException", 403, wrong.list_model_invocation_jobs)
    assert name not in job_names(bedrock)


def test_bedrock_unknown_key_is_unrecognized_client(server: RunningServer, s3: Any,
                                                    bedrock: Any, bucket: str) -> None:
    stranger = bedrock_client(server, UNKNOWN_ID, FULL_SECRET)
    name = unique("stranger")
    bedrock_error("UnrecognizedClientException", 403, create_job, stranger,
                  upload_input(s3, bucket), f"s3://{bucket}/out/", name)
    bedrock_error("UnrecognizedClientException", 403, stranger.list_model_invocation_jobs)
    assert name not in job_names(bedrock)


def test_bedrock_unsigned_is_refused(server: RunningServer, s3: Any, bedrock: Any,
                                     bucket: str) -> None:
    listing = httpx.get(f"{server.bedrock_url}/model-invocation-jobs", timeout=10)
    code = assert_bedrock_json_error(listing, 403)
    assert code == "MissingAuthenticationTokenException", code
    name = unique("unsigned")
    body = {"jobName": name, "modelId": CLAUDE, "roleArn": ROLE_ARN,
            "inputDataConfig": {"s3InputDataConfig": {"s3Uri": upload_input(s3, bucket)}},
            "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": f"s3://{bucket}/out/"}}}
    created = httpx.post(f"{server.bedrock_url}/model-invocation-job", json=body, timeout=10)
    assert_bedrock_json_error(created, 403, code)
    anonymous = bedrock_client(server, signature_version=UNSIGNED)
    with pytest.raises(ClientError) as info:
        anonymous.list_model_invocation_jobs()
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert name not in job_names(bedrock)


def test_aws_cli_wrong_keys_exit_non_zero_with_the_code(server: RunningServer, s3: Any,
                                                        bucket: str, tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_bytes(b"cli")
    wrong = aws_cli(server, tmp_path, FULL_ID, "not-the-secret",
                    "s3api", "put-object", "--bucket", bucket, "--key", "k", "--body", "f.txt")
    assert wrong.returncode != 0
    assert "SignatureDoesNotMatch" in wrong.stderr, wrong.stderr
    stranger = aws_cli(server, tmp_path, UNKNOWN_ID, FULL_SECRET, "s3api", "list-objects-v2",
                       "--bucket", bucket)
    assert stranger.returncode != 0
    assert "InvalidAccessKeyId" in stranger.stderr, stranger.stderr
    jobs = aws_cli(server, tmp_path, FULL_ID, "not-the-secret", "bedrock",
                   "list-model-invocation-jobs", endpoint=server.bedrock_url)
    assert jobs.returncode != 0
    assert "InvalidSignatureException" in jobs.stderr, jobs.stderr
    assert keys_in(s3, bucket) == []


# --- tampering and replay ----------------------------------------------------------------------


def test_s3_tampered_body_is_refused_and_not_stored(server: RunningServer, s3: Any,
                                                    bucket: str) -> None:
    client = s3_client(server)
    sent: list[bytes] = []

    def tamper(request: Any, **_: Any) -> None:
        if request.method == "PUT" and request.body:
            body = request.body if isinstance(request.body, bytes) else request.body.read()
            request.body = body.replace(b"honest", b"forged")
            sent.append(request.body)

    client.meta.events.register("before-send", tamper)
    with pytest.raises(ClientError) as info:
        client.put_object(Bucket=bucket, Key="t", Body=b"honest")
    response = info.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400, response
    assert response["ResponseMetadata"]["HTTPHeaders"].get("x-amz-request-id"), response
    assert response["Error"]["Code"] == "XAmzContentSHA256Mismatch", response
    assert sent == [b"forged"]
    assert keys_in(s3, bucket) == []


def test_bedrock_tampered_body_is_refused(server: RunningServer, s3: Any, bedrock: Any,
                                          bucket: str) -> None:
    client = bedrock_client(server)
    name = unique("honest")
    forged = "forged" + name[len("honest"):]

    def tamper(request: Any, **_: Any) -> None:
        assert name.encode() in request.body
        request.body = request.body.replace(name.encode(), forged.encode())

    client.meta.events.register("before-send", tamper)
    bedrock_error("InvalidSignatureException", 403, create_job, client,
                  upload_input(s3, bucket), f"s3://{bucket}/out/", name)
    assert not {name, forged} & job_names(bedrock)


def test_s3_tampered_path_is_signature_does_not_match(server: RunningServer, s3: Any,
                                                      bucket: str) -> None:
    client = s3_client(server)

    def tamper(request: Any, **_: Any) -> None:
        assert "/original" in request.url
        request.url = request.url.replace("/original", "/rewritten")

    client.meta.events.register("before-send", tamper)
    s3_error("SignatureDoesNotMatch", 403, client.put_object, Bucket=bucket, Key="original",
             Body=b"x")
    s3.put_object(Bucket=bucket, Key="original", Body=b"kept")
    s3_error("SignatureDoesNotMatch", 403, client.delete_object, Bucket=bucket, Key="original")
    assert keys_in(s3, bucket) == ["original"]


def test_bedrock_tampered_path_is_invalid_signature(server: RunningServer, s3: Any,
                                                    bedrock: Any, bucket: str) -> None:
    arn = create_job(bedrock, upload_input(s3, bucket), f"s3://{bucket}/out/", unique("path"))
    client = bedrock_client(server)

    def tamper(request: Any, **_: Any) -> None:
        assert "/model-invocation-job/" in request.url
        request.url = request.url.replace("/model-invocation-job/", "/model-invocation-job/x")

    client.meta.events.register("before-send", tamper)
    bedrock_error("InvalidSignatureException", 403, client.get_model_invocation_job,
                  jobIdentifier=arn)


def test_s3_replay_outside_skew_window_is_request_time_too_skewed(
        server: RunningServer, s3: Any, bucket: str) -> None:
    when = datetime.datetime.now(datetime.UTC).replace(tzinfo=None) \
        - datetime.timedelta(minutes=20)
    request = AWSRequest("PUT", f"{server.s3_url}/{bucket}/replayed", data=b"old",
                         headers={"Content-Type": "application/octet-stream"})
    signer = S3SigV4Auth(Credentials(FULL_ID, FULL_SECRET), "s3", REGION)
    response = send(signed_at(when, signer, request))
    assert_s3_xml_error(response, 403, "RequestTimeTooSkewed")
    assert keys_in(s3, bucket) == []
    # The same request signed now is accepted: only the clock was wrong.
    fresh = AWSRequest("PUT", f"{server.s3_url}/{bucket}/replayed", data=b"new",
                       headers={"Content-Type": "application/octet-stream"})
    now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    assert send(signed_at(now, signer, fresh)).status_code == 200
    assert keys_in(s3, bucket) == ["replayed"]


def test_bedrock_replay_outside_skew_window_is_invalid_signature(
        server: RunningServer, s3: Any, bedrock: Any, bucket: str) -> None:
    when = datetime.datetime.now(datetime.UTC).replace(tzinfo=None) \
        - datetime.timedelta(minutes=20)
    name = unique("replay")
    body = json.dumps({"jobName": name, "modelId": CLAUDE, "roleArn": ROLE_ARN,
                       "inputDataConfig": {"s3InputDataConfig": {
                           "s3Uri": upload_input(s3, bucket)}},
                       "outputDataConfig": {"s3OutputDataConfig": {
                           "s3Uri": f"s3://{bucket}/out/"}}}).encode()
    request = AWSRequest("POST", f"{server.bedrock_url}/model-invocation-job", data=body,
                         headers={"Content-Type": "application/json"})
    signer = SigV4Auth(Credentials(FULL_ID, FULL_SECRET), "bedrock", REGION)
    response = send(signed_at(when, signer, request))
    assert_bedrock_json_error(response, 403, "InvalidSignatureException")
    assert name not in job_names(bedrock)


# --- presigned URLs ----------------------------------------------------------------------------


def test_presigned_v4_get_and_put_work(server: RunningServer, s3: Any, bucket: str) -> None:
    signer = s3_client(server, signature_version="s3v4")
    s3.put_object(Bucket=bucket, Key="shared.txt", Body=b"shared")
    get_url = signer.generate_presigned_url("get_object", Params={
        "Bucket": bucket, "Key": "shared.txt"}, ExpiresIn=300)
    assert "X-Amz-Signature=" in get_url
    got = httpx.get(get_url, timeout=10)
    assert got.status_code == 200 and got.content == b"shared", got.text
    put_url = signer.generate_presigned_url("put_object", Params={
        "Bucket": bucket, "Key": "uploaded.txt"}, ExpiresIn=300)
    put = httpx.put(put_url, content=b"uploaded", timeout=10)
    assert put.status_code == 200, put.text
    assert s3.get_object(Bucket=bucket, Key="uploaded.txt")["Body"].read() == b"uploaded"
    # The signature covers the key: the same query on another key is refused.
    other = httpx.get(get_url.replace("/shared.txt?", "/uploaded.txt?"), timeout=10)
    assert_s3_xml_error(other, 403, "SignatureDoesNotMatch")


def test_presigned_urls_expire(server: RunningServer, s3: Any, bucket: str) -> None:
    """s3v4 and default (SigV2 query) URLs with ExpiresIn=1 are refused 2 s later."""
    s3.put_object(Bucket=bucket, Key="shared.txt", Body=b"shared")
    urls: list[tuple[str, str]] = []
    for client in (s3_client(server, signature_version="s3v4"), s3):
        urls.append(("GET", client.generate_presigned_url("get_object", Params={
            "Bucket": bucket, "Key": "shared.txt"}, ExpiresIn=1)))
        urls.append(("PUT", client.generate_presigned_url("put_object", Params={
            "Bucket": bucket, "Key": "late.txt"}, ExpiresIn=1)))
    time.sleep(2.1)
    for method, url in urls:
        response = httpx.request(method, url, content=b"late" if method == "PUT" else None,
                                 timeout=10)
        assert_s3_xml_error(response, 403, "AccessDenied")
    assert keys_in(s3, bucket) == ["shared.txt"]


def test_presigned_default_signature_version_works(s3: Any, bucket: str) -> None:
    """boto3's default presigned URL against a custom endpoint (SigV2 query auth:
    AWSAccessKeyId, Signature, Expires) works for GET and PUT and binds the key."""
    s3.put_object(Bucket=bucket, Key="shared.txt", Body=b"shared")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket,
                                                          "Key": "shared.txt"}, ExpiresIn=300)
    assert "AWSAccessKeyId=" in url or "X-Amz-Signature=" in url, url
    got = httpx.get(url, timeout=10)
    assert got.status_code == 200 and got.content == b"shared", (url, got.status_code, got.text)
    put_url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket,
                                                              "Key": "v2.txt"}, ExpiresIn=300)
    put = httpx.put(put_url, content=b"v2", timeout=10)
    assert put.status_code == 200, (put_url, put.text)
    assert s3.get_object(Bucket=bucket, Key="v2.txt")["Body"].read() == b"v2"
    moved = httpx.put(put_url.replace("/v2.txt?", "/v3.txt?"), content=b"v3", timeout=10)
    assert_s3_xml_error(moved, 403, "SignatureDoesNotMatch")
    assert sorted(keys_in(s3, bucket)) == ["shared.txt", "v2.txt"]


# --- Bedrock API keys --------------------------------------------------------------------------


def test_bearer_token_on_bedrock(server: RunningServer, s3: Any, bedrock: Any,
                                 bucket: str) -> None:
    headers = {"Authorization": f"Bearer {BEARER}"}
    listing = httpx.get(f"{server.bedrock_url}/model-invocation-jobs", headers=headers,
                        timeout=10)
    assert listing.status_code == 200, listing.text
    name = unique("bearer")
    body = {"jobName": name, "modelId": CLAUDE, "roleArn": ROLE_ARN,
            "inputDataConfig": {"s3InputDataConfig": {"s3Uri": upload_input(s3, bucket)}},
            "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": f"s3://{bucket}/out/"}}}
    created = httpx.post(f"{server.bedrock_url}/model-invocation-job", json=body,
                         headers=headers, timeout=10)
    assert created.status_code == 200, created.text
    assert name in job_names(bedrock)


def test_wrong_bearer_token_is_refused(server: RunningServer, s3: Any, bedrock: Any,
                                       bucket: str) -> None:
    headers = {"Authorization": "Bearer not-a-configured-token"}
    listing = httpx.get(f"{server.bedrock_url}/model-invocation-jobs", headers=headers,
                        timeout=10)
    assert_bedrock_json_error(listing, 403, "UnrecognizedClientException")
    name = unique("badbearer")
    body = {"jobName": name, "modelId": CLAUDE, "roleArn": ROLE_ARN,
            "inputDataConfig": {"s3InputDataConfig": {"s3Uri": upload_input(s3, bucket)}},
            "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": f"s3://{bucket}/out/"}}}
    created = httpx.post(f"{server.bedrock_url}/model-invocation-job", json=body,
                         headers=headers, timeout=10)
    assert_bedrock_json_error(created, 403, "UnrecognizedClientException")
    assert name not in job_names(bedrock)


def test_bearer_token_on_s3_is_refused(server: RunningServer, s3: Any, bucket: str) -> None:
    headers = {"Authorization": f"Bearer {BEARER}"}
    put = httpx.put(f"{server.s3_url}/{bucket}/bearer", content=b"x", headers=headers,
                    timeout=10)
    assert 400 <= put.status_code < 500, put.text
    assert_s3_xml_error(put, put.status_code)
    get = httpx.get(f"{server.s3_url}/{bucket}", headers=headers, timeout=10)
    assert 400 <= get.status_code < 500, get.text
    assert keys_in(s3, bucket) == []


# --- allow-lists -------------------------------------------------------------------------------


def test_limited_key_on_another_provider_s3_is_access_denied(server: RunningServer, s3: Any,
                                                             bucket: str) -> None:
    limited = with_provider(s3_client(server, LIMITED_ID, LIMITED_SECRET), "anthropic")
    s3_error("AccessDenied", 403, limited.put_object, Bucket=bucket, Key="k", Body=b"x")
    s3_error("AccessDenied", 403, limited.list_objects_v2, Bucket=bucket)
    s3_error("AccessDenied", 403, limited.create_bucket, Bucket=unique("denied"))
    assert keys_in(s3, bucket) == []
    assert not any(b.startswith("denied-") for b in bucket_names(s3))


def test_limited_key_on_another_provider_bedrock_is_access_denied(
        server: RunningServer, s3: Any, bedrock: Any, bucket: str) -> None:
    limited = with_provider(bedrock_client(server, LIMITED_ID, LIMITED_SECRET), "anthropic")
    bedrock_error("AccessDeniedException", 403, limited.list_model_invocation_jobs)
    name = unique("denied")
    bedrock_error("AccessDeniedException", 403, create_job, limited, upload_input(s3, bucket),
                  f"s3://{bucket}/out/", name)
    assert name not in job_names(bedrock)


def test_limited_key_model_allow_list(server: RunningServer, s3: Any, bedrock: Any,
                                      bucket: str) -> None:
    limited = bedrock_client(server, LIMITED_ID, LIMITED_SECRET)
    input_uri = upload_input(s3, bucket)
    denied = unique("nova")
    bedrock_error("AccessDeniedException", 403, create_job, limited, input_uri,
                  f"s3://{bucket}/out/", denied, model_id=NOVA)
    assert denied not in job_names(bedrock)
    allowed = unique("claude")
    arn = create_job(limited, input_uri, f"s3://{bucket}/out/", allowed, model_id=CLAUDE)
    assert bedrock.get_model_invocation_job(jobIdentifier=arn)["jobName"] == allowed
    # The full key has no model allow-list.
    assert create_job(bedrock, input_uri, f"s3://{bucket}/out/", unique("nova-ok"),
                      model_id=NOVA)


def test_a_signed_header_sent_twice_verifies_as_one_joined_value(
        server: RunningServer, s3: Any, bucket: str) -> None:
    """SigV4 signs a repeated header as its values joined with ","; the server reads it so."""
    request = AWSRequest("PUT", f"{server.s3_url}/{bucket}/twice", data=b"body")
    request.headers["x-amz-meta-tag"] = "first"
    request.headers["x-amz-meta-tag"] = "second"  # HTTPHeaders keeps both, in order
    assert request.headers.get_all("x-amz-meta-tag") == ["first", "second"]
    S3SigV4Auth(Credentials(FULL_ID, FULL_SECRET), "s3", REGION).add_auth(request)
    # Sent as signed, both lines (a prepared request would keep only the last).
    response = httpx.put(request.url, content=b"body", timeout=10,
                         headers=list(request.headers.items()))
    assert response.status_code == 200, response.text
    assert s3.head_object(Bucket=bucket, Key="twice")["Metadata"] == {"tag": "first,second"}
