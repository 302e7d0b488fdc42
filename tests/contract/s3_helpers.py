"""Helpers shared by the boto3 S3 contract tests: expected errors, ETags and checksums."""

from __future__ import annotations

import base64
import hashlib
import zlib
from collections.abc import Callable, Iterable
from typing import Any

import boto3
import crc32c
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from bifrost_py.testing import RunningServer

ACCESS_KEY = "AKIABIFROSTTEST00000"
SECRET_KEY = "bifrost-test-secret"
MIB = 2**20


def make_client(server: RunningServer, **config: Any) -> Any:
    """A boto3 S3 client on `server`, for fixtures wider than one test or private servers."""
    return boto3.client("s3", endpoint_url=server.s3_url,
                        region_name=server.config.server.region,
                        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
                        config=Config(**config))


def assert_request_id(response: dict[str, Any]) -> None:
    """Every S3 answer, success or error, carries x-amz-request-id."""
    headers = response["ResponseMetadata"]["HTTPHeaders"]
    assert headers.get("x-amz-request-id"), f"no x-amz-request-id in {headers}"


def status(response: dict[str, Any]) -> int:
    return int(response["ResponseMetadata"]["HTTPStatusCode"])


def expect_status(http_status: int, call: Callable[..., Any], /, *args: Any,
                  **kwargs: Any) -> dict[str, Any]:
    """Call `call(*args, **kwargs)`, require an S3 error answer with `http_status`, return it."""
    with pytest.raises(ClientError) as info:
        call(*args, **kwargs)
    response: dict[str, Any] = info.value.response
    assert status(response) == http_status, response
    assert_request_id(response)
    return response


def expect_error(code: str, http_status: int, call: Callable[..., Any], /, *args: Any,
                 **kwargs: Any) -> dict[str, Any]:
    """Call `call(*args, **kwargs)`, require an S3 error with `code` and `http_status`."""
    response = expect_status(http_status, call, *args, **kwargs)
    assert response["Error"].get("Code") == code, response
    return response


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def etag_of(data: bytes) -> str:
    """The quoted ETag S3 gives a single-part object."""
    return f'"{md5_hex(data)}"'


def multipart_etag(parts: Iterable[bytes]) -> str:
    """S3's multipart ETag: md5 of the parts' binary md5s, then `-<part count>`."""
    digests = [hashlib.md5(p, usedforsecurity=False).digest() for p in parts]
    return f'"{hashlib.md5(b"".join(digests), usedforsecurity=False).hexdigest()}-{len(digests)}"'


def checksum_digest(algorithm: str, data: bytes) -> bytes:
    if algorithm == "CRC32":
        return zlib.crc32(data).to_bytes(4, "big")
    if algorithm == "CRC32C":
        return crc32c.crc32c(data).to_bytes(4, "big")
    return hashlib.new(algorithm.lower(), data).digest()


def checksum_b64(algorithm: str, data: bytes) -> str:
    """The value of x-amz-checksum-<algorithm> for `data`."""
    return base64.b64encode(checksum_digest(algorithm, data)).decode("ascii")


def read_body(response: dict[str, Any]) -> bytes:
    body: bytes = response["Body"].read()
    return body


def get_bytes(s3: Any, bucket: str, key: str, **kwargs: Any) -> bytes:
    return read_body(s3.get_object(Bucket=bucket, Key=key, **kwargs))


def list_keys(s3: Any, bucket: str, **kwargs: Any) -> list[str]:
    """Every key in the bucket (all pages), in listing order."""
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, **kwargs)
    return [obj["Key"] for page in pages for obj in page.get("Contents", [])]


def checksum_args(algorithm: str, data: bytes) -> dict[str, str]:
    """put_object/upload_part arguments asking for `algorithm`. botocore computes CRC32C only
    with awscrt installed, so that one value is computed here, as a client without it would."""
    args = {"ChecksumAlgorithm": algorithm}
    if algorithm == "CRC32C":
        args["ChecksumCRC32C"] = checksum_b64(algorithm, data)
    return args
