"""SigV4 (SPEC §5), with real boto3 and the aws CLI: the right keys work on S3 and Bedrock;
a wrong secret, an unknown key, no signature, a tampered body or path and a replay outside the
skew window are each refused with the service's own error.

The server (keys_helpers.py) has two keys of the same tenant, FULL and LIMITED. Every refused
request is followed by a look through the FULL key: the store did not change.
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from unittest import mock

import botocore.auth
import httpx
import pytest
from boto3.s3.transfer import TransferConfig
from botocore import UNSIGNED
from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from keys_helpers import *  # noqa: F403 - the fixtures server, s3, bedrock and bucket
from keys_helpers import (
    CLAUDE,
    FULL_ID,
    FULL_SECRET,
    LIMITED_ID,
    LIMITED_SECRET,
    MIB,
    REGION,
    ROLE_ARN,
    SLOW_MODEL,
    UNKNOWN_ID,
    assert_bedrock_json_error,
    assert_s3_xml_error,
    bedrock_client,
    bedrock_error,
    bucket_names,
    create_job,
    job_names,
    keys_in,
    s3_client,
    s3_error,
    unique,
    upload_input,
)

from bifrost_py.testing import RunningServer


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



# --- repeated headers ------------------------------------------------------------------------


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
