"""Presigned URLs, Bedrock API keys and allow-lists (SPEC §5), with real boto3 and raw httpx:
presigned URLs (s3v4 and boto3's default) work, bind their key and expire; the bearer token works
on Bedrock only; the LIMITED key reaches only its providers and models.

The server (keys_helpers.py) has two keys of the same tenant:

- FULL: every provider and model, and a Bedrock API key (bearer token);
- LIMITED: `providers = ["local"]`, `models = ["anthropic.*"]`.

Every refused request is followed by a look through the FULL key: the store did not change.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
from bedrock_helpers import with_provider
from keys_helpers import *  # noqa: F403 - the fixtures server, s3, bedrock and bucket
from keys_helpers import (
    BEARER,
    CLAUDE,
    LIMITED_ID,
    LIMITED_SECRET,
    NOVA,
    ROLE_ARN,
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
