"""The bedrock provider's files: plain boto3 with `x-model-provider: bedrock` on the S3 mount,
passed through to "AWS" S3 (moto behind a SigV4 check with the server's keys). Answers and errors
must be exactly S3's: each call is compared with the same call made straight on moto."""

# Fixtures imported from bedrock_upstream are redefined as test arguments, as pytest means them.
# ruff: noqa: F811

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from bedrock_helpers import (
    REGION,
    configured_server,
    s3_client,
    unique,
    wait_for,
    with_provider,
)
from bedrock_upstream import (  # noqa: F401 - fixtures
    SignedS3,
    answer,
    bedrock_config,
    bucket,
    direct,
    fake,
    fake_defaults,
    moto,
    s3,
    server,
    signed_s3,
)
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError
from keys_helpers import FULL_ID, FULL_SECRET
from test_signed_chunks import Chain, Framing, frame

from bifrost_py.testing import RunningServer
from bifrost_py.wire.auth.credentials import AuthError, Caller, Key
from bifrost_py.wire.s3 import proxy as bedrock_s3
from tests.fakes.bedrock_fake import FakeBedrock

MIB = 2**20


def test_object_calls_answer_exactly_as_s3_does(s3: Any, direct: Any, bucket: str) -> None:
    key = "dir/a b+c~é.txt"
    put = s3.put_object(Bucket=bucket, Key=key, Body=b"hello", ContentType="text/x",
                        Metadata={"colour": "blue"})
    assert put["ETag"] == f'"{hashlib.md5(b"hello").hexdigest()}"'
    for call, kwargs in (("get_object", {"Key": key}),
                         ("get_object", {"Key": key, "Range": "bytes=1-3"}),
                         ("get_object", {"Key": key, "IfMatch": put["ETag"]}),
                         ("head_object", {"Key": key}),
                         ("head_object", {"Key": key, "ChecksumMode": "ENABLED"})):
        ours, theirs = (getattr(c, call)(Bucket=bucket, **kwargs) for c in (s3, direct))
        assert answer(ours) == answer(theirs), call
        assert ours["ResponseMetadata"]["HTTPHeaders"]["content-length"] == (
            theirs["ResponseMetadata"]["HTTPHeaders"]["content-length"])
    copied = s3.copy_object(Bucket=bucket, Key="dir/copy", CopySource=f"{bucket}/{key}")
    assert copied["CopyObjectResult"]["ETag"] == put["ETag"]
    s3.put_object(Bucket=bucket, Key="top", Body=b"")
    for kwargs in ({}, {"Prefix": "dir/"}, {"Delimiter": "/"}, {"MaxKeys": 1}):
        assert answer(s3.list_objects_v2(Bucket=bucket, **kwargs)) == answer(
            direct.list_objects_v2(Bucket=bucket, **kwargs)), kwargs
    assert s3.delete_object(Bucket=bucket, Key="top")["ResponseMetadata"]["HTTPStatusCode"] == 204
    deleted = s3.delete_objects(Bucket=bucket, Delete={"Objects": [
        {"Key": key}, {"Key": "dir/copy"}, {"Key": "never-was"}]})
    assert sorted(d["Key"] for d in deleted["Deleted"]) == sorted([key, "dir/copy", "never-was"])
    assert "Contents" not in direct.list_objects_v2(Bucket=bucket)
    assert answer(s3.list_buckets()) == answer(direct.list_buckets())


def test_only_the_servers_signature_reaches_s3(
        s3: Any, bucket: str, signed_s3: SignedS3) -> None:
    before = len(signed_s3.seen)
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    (target, headers), = signed_s3.seen[before:]
    assert target == f"/{bucket}/k?"
    assert headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIAFAKEBEDROCK00001/")
    assert "x-model-provider" not in headers and "expect" not in headers
    assert headers["x-amz-checksum-crc32"] and headers["content-length"] == "1"


def test_s3_errors_come_back_unchanged(s3: Any, direct: Any, bucket: str) -> None:
    missing = unique("missing")
    for call, kwargs in (("get_object", {"Bucket": bucket, "Key": "nope"}),
                         ("get_object", {"Bucket": missing, "Key": "nope"}),
                         ("list_objects_v2", {"Bucket": missing}),
                         ("head_object", {"Bucket": bucket, "Key": "nope"}),
                         ("get_object", {"Bucket": bucket, "Key": "nope", "Range": "bytes=9-"})):
        errors = []
        for client in (s3, direct):
            with pytest.raises(ClientError) as info:
                getattr(client, call)(**kwargs)
            response = info.value.response
            errors.append((response["ResponseMetadata"]["HTTPStatusCode"],
                           {k: v for k, v in response["Error"].items() if k != "RequestId"}))
        assert errors[0] == errors[1], call
    with pytest.raises(ClientError) as info:
        s3.get_object(Bucket=missing, Key="nope")
    error = info.value.response["Error"]
    assert (error["Code"], error["BucketName"]) == ("NoSuchBucket", missing)


def test_create_and_delete_a_bucket_through_the_proxy(s3: Any, direct: Any) -> None:
    name = unique("made-here")
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    assert s3.head_bucket(Bucket=name)["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert name in [b["Name"] for b in direct.list_buckets()["Buckets"]]
    s3.delete_bucket(Bucket=name)
    with pytest.raises(ClientError) as info:
        direct.head_bucket(Bucket=name)
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_a_20_mib_multipart_upload_and_ranged_download(
        s3: Any, direct: Any, bucket: str, tmp_path: Path) -> None:
    source, target = tmp_path / "big.bin", tmp_path / "back.bin"
    data = bytes(range(256)) * (20 * MIB // 256)
    source.write_bytes(data)
    config = TransferConfig(multipart_threshold=8 * MIB, multipart_chunksize=8 * MIB)
    s3.upload_file(str(source), bucket, "big.bin", Config=config)
    head = direct.head_object(Bucket=bucket, Key="big.bin")
    assert head["ContentLength"] == len(data) and head["ETag"].endswith('-3"')
    s3.download_file(bucket, "big.bin", str(target), Config=config)
    assert target.read_bytes() == data


def test_aws_chunked_uploads_reach_s3_as_their_payload(
        server: RunningServer, direct: Any, bucket: str) -> None:
    payload = b"chunked payload " * 5000
    crc = base64.b64encode(zlib.crc32(payload).to_bytes(4, "big")).decode()
    sig = ";chunk-signature=" + "0" * 64
    framings = {
        "STREAMING-UNSIGNED-PAYLOAD-TRAILER": _framed(payload, "", f"x-amz-checksum-crc32:{crc}"),
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD": _framed(payload, sig, ""),
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER": _framed(
            payload, sig, f"x-amz-checksum-crc32:{crc}\r\nx-amz-trailer-signature:{'0' * 64}")}
    for mode, body in framings.items():
        headers = {"x-model-provider": "bedrock", "x-amz-content-sha256": mode,
                   "content-encoding": "aws-chunked",
                   "x-amz-decoded-content-length": str(len(payload))}
        if mode.endswith("TRAILER"):
            headers.update({"x-amz-trailer": "x-amz-checksum-crc32",
                            "x-amz-sdk-checksum-algorithm": "CRC32"})
        response = httpx.put(f"{server.s3_url}/{bucket}/{mode}", content=body, headers=headers)
        assert response.status_code == 200, (mode, response.text)
        stored = direct.get_object(Bucket=bucket, Key=mode, ChecksumMode="ENABLED")
        assert stored["Body"].read() == payload, mode
        assert stored.get("ContentEncoding") is None, mode
        if mode.endswith("TRAILER"):
            assert stored["ChecksumCRC32"] == crc, mode


def test_a_signed_chunked_body_is_decoded_with_its_checksum_as_a_header() -> None:
    payload = b"x" * 70_000
    sig = ";chunk-signature=" + "0" * 64
    framed = _framed(payload, sig, f"x-amz-checksum-crc32:AAAAAA==\r\n"
                                   f"x-amz-trailer-signature:{'0' * 64}")
    headers = {"content-encoding": "aws-chunked,gzip", "content-length": str(len(framed)),
               "x-amz-decoded-content-length": str(len(payload)),
               "x-amz-trailer": "x-amz-checksum-crc32", "content-type": "text/plain"}

    async def received() -> AsyncIterator[bytes]:
        for start in range(0, len(framed), 1000):
            yield framed[start:start + 1000]

    async def run() -> tuple[bytes, str]:
        body, payload_hash = await bedrock_s3._body(
            "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER", headers, received(), None)
        return b"".join([piece async for piece in body]), payload_hash

    sent, payload_hash = asyncio.run(run())
    assert sent == payload and payload_hash == "UNSIGNED-PAYLOAD"
    assert headers == {"content-encoding": "gzip", "content-length": str(len(payload)),
                       "x-amz-checksum-crc32": "AAAAAA==", "content-type": "text/plain"}


@pytest.mark.parametrize("forged", [False, True])
def test_with_keys_chunk_signatures_are_checked_before_a_byte_reaches_s3(forged: bool) -> None:
    seed, amz_date, scope = "ab" * 32, "20261122T000000Z", f"20261122/{REGION}/s3/aws4_request"
    caller = Caller(Key(FULL_ID, FULL_SECRET, "team-a"), seed, amz_date, scope)
    payload = bytes(range(256)) * 100
    how = Framing(sign=lambda chain, n, data: chain.chunk(data + b"x" if forged and n == 1
                                                          else data))
    framed = frame(payload, how, Chain(seed, amz_date, scope))
    headers = {"content-encoding": "aws-chunked", "content-length": str(len(framed)),
               "x-amz-decoded-content-length": str(len(payload))}

    async def run() -> bytes:
        async def received() -> AsyncIterator[bytes]:
            yield framed

        body, _ = await bedrock_s3._body("STREAMING-AWS4-HMAC-SHA256-PAYLOAD", headers,
                                         received(), caller)
        return b"".join([piece async for piece in body])

    if forged:
        with pytest.raises(AuthError):
            asyncio.run(run())
    else:
        assert asyncio.run(run()) == payload


def _framed(payload: bytes, signature: str, trailer: str) -> bytes:
    body = b""
    for start in range(0, len(payload), 32 * 1024):
        chunk = payload[start:start + 32 * 1024]
        body += f"{len(chunk):x}{signature}\r\n".encode() + chunk + b"\r\n"
    body += f"0{signature}\r\n".encode()
    return body + (f"{trailer}\r\n\r\n" if trailer else "\r\n").encode()


def test_a_presigned_url_of_ours_reaches_s3_signed_by_the_server(
        server: RunningServer, s3: Any, bucket: str, signed_s3: SignedS3) -> None:
    s3.put_object(Bucket=bucket, Key="shared.txt", Body=b"presigned")
    for version, mark in (("s3", "Signature="), ("s3v4", "X-Amz-Signature=")):
        signer = boto3.client("s3", endpoint_url=server.s3_url, region_name=REGION,
                              aws_access_key_id="AKIACLIENTKEY0000000",
                              aws_secret_access_key="client-secret",
                              config=Config(signature_version=version))
        url = signer.generate_presigned_url("get_object",
                                            Params={"Bucket": bucket, "Key": "shared.txt"})
        assert mark in url
        response = httpx.get(url, headers={"x-model-provider": "bedrock"})
        assert (response.status_code, response.content) == (200, b"presigned"), url
        assert signed_s3.seen[-1][0] == f"/{bucket}/shared.txt?"
    assert bedrock_s3._forwarded_query(
        "list-type=2&X-Amz-Signature=ab&prefix=a%2Fb+c&X-Amz-Credential=k%2F1&uploads") == (
        "list-type=2&prefix=a%2Fb+c&uploads")


def test_an_unreachable_s3_is_a_503_naming_the_provider(
        tmp_path: Path, fake: FakeBedrock) -> None:
    with configured_server(tmp_path, bedrock_config("http://127.0.0.1:9", fake)) as down:
        s3 = with_provider(s3_client(down), "bedrock")
        with pytest.raises(ClientError) as info:
            s3.list_objects_v2(Bucket="any-bucket")
    response = info.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 503
    assert response["ResponseMetadata"]["HTTPHeaders"]["x-amz-request-id"]
    assert response["Error"]["Code"] == "ServiceUnavailable"
    assert "bedrock" in response["Error"]["Message"]


def test_a_wrong_secret_gets_s3s_own_refusal(
        tmp_path: Path, signed_s3: SignedS3, fake: FakeBedrock, bucket: str) -> None:
    config = bedrock_config(signed_s3.url, fake, secret="wrong-secret-value")
    with configured_server(tmp_path, config) as wrong:
        s3 = with_provider(s3_client(wrong), "bedrock")
        with pytest.raises(ClientError) as info:
            s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    response = info.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert response["Error"]["Code"] == "SignatureDoesNotMatch"
    assert response["ResponseMetadata"]["HTTPHeaders"]["x-amz-request-id"] == "SIGNEDS3"


def test_the_access_log_records_what_s3_answered_once_it_was_relayed(
        s3: Any, bucket: str, caplog: pytest.LogCaptureFixture) -> None:
    body = b"x" * (4 * 2**20)
    with caplog.at_level(logging.INFO, logger="bifrost_py.access"):
        s3.put_object(Bucket=bucket, Key="logged", Body=body)
        assert s3.get_object(Bucket=bucket, Key="logged")["Body"].read() == body
        with pytest.raises(ClientError):
            s3.get_object(Bucket=bucket, Key="absent")
        with pytest.raises(ClientError):
            s3.head_bucket(Bucket="no-such-bucket-of-anyones")

        def logged() -> list[dict[str, Any]]:
            return [json.loads(r.getMessage()) for r in caplog.records
                    if r.name == "bifrost_py.access"]

        # A line is written once its answer has gone out: the client may read it first.
        lines = wait_for(logged, lambda found: len(found) >= 4, timeout=5)
    assert [(line["operation"], line["status"]) for line in lines] == [
        ("proxy", 200), ("proxy", 200), ("proxy", 404), ("proxy", 404)]
