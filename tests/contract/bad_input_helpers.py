"""What the test_bad_input_* modules share: an object put before each bad request (the `stored`
fixture), a raw httpx client on the session's server (`client`), and the checks that a request got
S3's error and left that object unharmed; and the Content-MD5 and CRC32 checksums S3 takes.

A test module takes the fixtures (`__all__`) with `from bad_input_helpers import *`.
"""

from __future__ import annotations

import base64
import hashlib
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote
from xml.etree import ElementTree

import httpx
import pytest

from bifrost_py.testing import RunningServer

__all__ = ["client", "stored"]


@dataclass(frozen=True)
class Stored:
    """An object put before the bad request, to be found unharmed after it."""

    bucket: str
    key: str
    data: bytes
    etag: str

    @property
    def path(self) -> str:
        return f"/{self.bucket}/{quote(self.key)}"


# helpers


@pytest.fixture
def stored(s3: Any, bucket: str) -> Stored:
    data = b"precious bytes, do not lose\n" * 64
    etag = s3.put_object(Bucket=bucket, Key="precious/object.bin", Body=data)["ETag"]
    return Stored(bucket, "precious/object.bin", data, etag)


@pytest.fixture
def client(bifrost_server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=bifrost_server.s3_url, timeout=30) as c:
        yield c


def assert_error(response: httpx.Response, status: int, code: str) -> ElementTree.Element:
    """An S3 XML error with this status and code, carrying the request id in header and body."""
    assert response.status_code == status, response.text
    request_id = response.headers.get("x-amz-request-id")
    assert request_id
    root = ElementTree.fromstring(response.content)
    assert root.tag == "Error", response.text
    assert root.findtext("Code") == code, response.text
    assert root.findtext("RequestId") == request_id
    return root


def md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()


def crc32_b64(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def assert_intact(s3: Any, stored: Stored) -> None:
    got = s3.get_object(Bucket=stored.bucket, Key=stored.key)
    assert got["Body"].read() == stored.data
    assert got["ETag"] == stored.etag
    listed = s3.list_objects_v2(Bucket=stored.bucket, Prefix=stored.key)["Contents"]
    assert [(o["Key"], o["Size"], o["ETag"]) for o in listed] == [
        (stored.key, len(stored.data), stored.etag)]



def start_upload(s3: Any, stored: Stored) -> str:
    upload_id: str = s3.create_multipart_upload(Bucket=stored.bucket,
                                                Key=stored.key)["UploadId"]
    return upload_id


def part_numbers(s3: Any, stored: Stored, upload_id: str) -> list[tuple[int, str]]:
    parts = s3.list_parts(Bucket=stored.bucket, Key=stored.key, UploadId=upload_id)
    return [(p["PartNumber"], p["ETag"]) for p in parts.get("Parts", [])]
