"""Answers that must not be a plain 200: features asked for and not implemented, limits, trailers,
part checksums; and the S3 answers that differ from a naive reading (whitespace keys, non-ASCII
metadata, repeated completions, copy preconditions)."""

from __future__ import annotations

import base64
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.exceptions import ClientError
from s3_helpers import MIB, checksum_b64, etag_of, expect_error, get_bytes, list_keys

from bifrost_py.testing import RunningServer

REGION = "us-west-2"
ORIGINAL = b"original content"


@pytest.fixture
def stored(s3: Any, bucket: str) -> tuple[str, str]:
    s3.put_object(Bucket=bucket, Key="kept", Body=ORIGINAL)
    return bucket, "kept"


def _unchanged(s3: Any, bucket: str, key: str) -> None:
    assert get_bytes(s3, bucket, key) == ORIGINAL


# features asked for: honoured, or 501 naming the header; never a silent 200

REFUSED = [
    ({"Tagging": "team=a"}, "x-amz-tagging"),
    ({"ServerSideEncryption": "aws:kms"}, "x-amz-server-side-encryption"),
    ({"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": "key-1"},
     "x-amz-server-side-encryption"),
    ({"StorageClass": "GLACIER"}, "x-amz-storage-class"),
    ({"StorageClass": "STANDARD_IA"}, "x-amz-storage-class"),
    ({"ObjectLockMode": "GOVERNANCE", "ObjectLockRetainUntilDate": "2030-01-01T00:00:00Z"},
     "x-amz-object-lock-mode"),
    ({"ObjectLockLegalHoldStatus": "ON"}, "x-amz-object-lock-legal-hold"),
    ({"ACL": "public-read"}, "x-amz-acl"),
    ({"GrantRead": 'uri="http://acs.amazonaws.com/groups/global/AllUsers"'},
     "x-amz-grant-read"),
    ({"WebsiteRedirectLocation": "/elsewhere"}, "x-amz-website-redirect-location"),
]


@pytest.mark.parametrize(("args", "header"), REFUSED, ids=[h for _, h in REFUSED])
def test_a_feature_not_implemented_is_501_and_stores_nothing(
        s3: Any, stored: tuple[str, str], args: dict[str, Any], header: str) -> None:
    bucket, key = stored
    response = expect_error("NotImplemented", 501, s3.put_object, Bucket=bucket, Key=key,
                            Body=b"replacement", **args)
    assert response["Error"]["Header"] == header
    _unchanged(s3, bucket, key)


@pytest.mark.parametrize(("args", "header"), REFUSED[:4], ids=[h for _, h in REFUSED[:4]])
def test_multipart_and_copy_refuse_the_same_features(
        s3: Any, stored: tuple[str, str], args: dict[str, Any], header: str) -> None:
    bucket, key = stored
    expect_error("NotImplemented", 501, s3.create_multipart_upload, Bucket=bucket,
                 Key="mp", **args)
    expect_error("NotImplemented", 501, s3.copy_object, Bucket=bucket, Key="copy",
                 CopySource={"Bucket": bucket, "Key": key}, **args)
    assert list_keys(s3, bucket) == [key]
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_customer_keys_on_a_read_are_501(s3: Any, stored: tuple[str, str]) -> None:
    bucket, key = stored
    expect_error("NotImplemented", 501, s3.get_object, Bucket=bucket, Key=key,
                 SSECustomerAlgorithm="AES256", SSECustomerKey="k" * 32)


@pytest.mark.parametrize("args", [{"ACL": "private"}, {"ACL": "bucket-owner-full-control"},
                                  {"StorageClass": "STANDARD"}],
                         ids=["acl-private", "acl-owner-full-control", "storage-standard"])
def test_what_changes_nothing_here_is_honoured(s3: Any, bucket: str,
                                               args: dict[str, Any]) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", **args)
    assert get_bytes(s3, bucket, "k") == b"x"


def test_sse_s3_is_recorded_and_answered_back(s3: Any, bucket: str) -> None:
    put = s3.put_object(Bucket=bucket, Key="k", Body=b"x", ServerSideEncryption="AES256")
    assert put["ServerSideEncryption"] == "AES256"
    assert s3.head_object(Bucket=bucket, Key="k")["ServerSideEncryption"] == "AES256"
    assert s3.get_object(Bucket=bucket, Key="k")["ServerSideEncryption"] == "AES256"
    assert "ServerSideEncryption" not in s3.put_object(Bucket=bucket, Key="plain", Body=b"x")


def test_an_unknown_storage_class_is_invalid(s3: Any, stored: tuple[str, str],
                                             bifrost_server: RunningServer) -> None:
    bucket, key = stored
    response = httpx.put(f"{bifrost_server.s3_url}/{bucket}/{key}", content=b"y",
                         headers={"x-amz-storage-class": "FASTEST"})
    assert response.status_code == 400 and b"<Code>InvalidStorageClass</Code>" in response.content
    _unchanged(s3, bucket, key)


def test_an_expected_bucket_owner_that_is_not_this_account_is_refused(
        s3: Any, stored: tuple[str, str]) -> None:
    bucket, key = stored
    expect_error("AccessDenied", 403, s3.get_object, Bucket=bucket, Key=key,
                 ExpectedBucketOwner="999999999999")
    # The server's own account (server.account_id) owns every bucket.
    assert get_bytes(s3, bucket, key, ExpectedBucketOwner="123456789012") == ORIGINAL


# limits

@pytest.fixture
def small_limit(tmp_path: Path) -> Iterator[Any]:
    config = tmp_path / "config.toml"
    config.write_text('[providers.local]\nmax_object_size = "6MiB"\n')
    with RunningServer(tmp_path / "data", config) as server:
        client = boto3.client("s3", endpoint_url=server.s3_url, region_name=REGION,
                              aws_access_key_id="AKIAEXAMPLE000000000",
                              aws_secret_access_key="secret")
        client.create_bucket(Bucket="limited")
        yield client


def test_the_size_limit_holds_for_a_completed_multipart_object(small_limit: Any) -> None:
    s3 = small_limit
    upload = s3.create_multipart_upload(Bucket="limited", Key="big")["UploadId"]
    parts = [s3.upload_part(Bucket="limited", Key="big", UploadId=upload, PartNumber=n,
                            Body=body)["ETag"]
             for n, body in ((1, b"a" * 5 * MIB), (2, b"b" * 2 * MIB))]
    response = expect_error(
        "EntityTooLarge", 400, s3.complete_multipart_upload, Bucket="limited", Key="big",
        UploadId=upload, MultipartUpload={"Parts": [
            {"PartNumber": n, "ETag": etag} for n, etag in enumerate(parts, 1)]})
    assert response["Error"]["MaxSizeAllowed"] == str(6 * MIB)
    assert list_keys(s3, "limited") == []
    # The upload is still there, to be completed with fewer parts or aborted.
    assert [u["UploadId"] for u in s3.list_multipart_uploads(Bucket="limited")["Uploads"]] == [
        upload]


# trailers

def _framed(payload: bytes, trailer: str = "") -> bytes:
    end = f"{trailer}\r\n\r\n" if trailer else "\r\n"
    return b"%x\r\n%s\r\n0\r\n" % (len(payload), payload) + end.encode()


def _crc32(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


@pytest.mark.parametrize(("framed", "sha"), [
    (True, "STREAMING-UNSIGNED-PAYLOAD-TRAILER"),
    (False, "UNSIGNED-PAYLOAD"),
], ids=["framed-without-trailer", "plain-body"])
def test_a_declared_trailer_that_never_comes_is_refused(
        s3: Any, stored: tuple[str, str], bifrost_server: RunningServer, framed: bool,
        sha: str) -> None:
    bucket, key = stored
    body = _framed(b"replacement") if framed else b"replacement"
    headers = {"x-amz-content-sha256": sha, "x-amz-trailer": "x-amz-checksum-crc32",
               "x-amz-sdk-checksum-algorithm": "CRC32"}
    if framed:
        headers.update({"content-encoding": "aws-chunked",
                        "x-amz-decoded-content-length": str(len(b"replacement"))})
    response = httpx.put(f"{bifrost_server.s3_url}/{bucket}/{key}", content=body,
                         headers=headers)
    assert response.status_code == 400, response.text
    assert b"<Code>MalformedTrailerError</Code>" in response.content
    assert b"<TrailerHeader>x-amz-checksum-crc32</TrailerHeader>" in response.content
    _unchanged(s3, bucket, key)


def test_a_trailer_of_another_algorithm_than_declared_is_refused(
        s3: Any, stored: tuple[str, str], bifrost_server: RunningServer) -> None:
    bucket, key = stored
    sha1 = checksum_b64("SHA1", b"replacement")
    response = httpx.put(
        f"{bifrost_server.s3_url}/{bucket}/{key}",
        content=_framed(b"replacement", f"x-amz-checksum-sha1:{sha1}"),
        headers={"x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
                 "content-encoding": "aws-chunked", "x-amz-trailer": "x-amz-checksum-crc32",
                 "x-amz-decoded-content-length": str(len(b"replacement"))})
    assert response.status_code == 400
    assert b"<Code>MalformedTrailerError</Code>" in response.content
    _unchanged(s3, bucket, key)


def test_the_declared_trailer_is_checked_when_it_comes(
        s3: Any, bucket: str, bifrost_server: RunningServer) -> None:
    url = f"{bifrost_server.s3_url}/{bucket}/trailed"
    headers = {"x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
               "content-encoding": "aws-chunked", "x-amz-trailer": "x-amz-checksum-crc32",
               "x-amz-decoded-content-length": "4"}
    bad = httpx.put(url, content=_framed(b"data", "x-amz-checksum-crc32:AAAAAA=="),
                    headers=headers)
    assert bad.status_code == 400 and b"<Code>BadDigest</Code>" in bad.content
    good = httpx.put(url, content=_framed(b"data", f"x-amz-checksum-crc32:{_crc32(b'data')}"),
                     headers=headers)
    assert good.status_code == 200, good.text
    assert get_bytes(s3, bucket, "trailed") == b"data"


# multipart completions: part checksums, the whole object's checksum, repeats

def _upload(s3: Any, bucket: str, key: str, bodies: list[bytes],
            **create: Any) -> tuple[str, list[dict[str, Any]]]:
    upload = s3.create_multipart_upload(Bucket=bucket, Key=key, **create)["UploadId"]
    parts = []
    for number, body in enumerate(bodies, 1):
        answer = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload, PartNumber=number,
                                Body=body, ChecksumAlgorithm="CRC32")
        parts.append({"PartNumber": number, "ETag": answer["ETag"],
                      "ChecksumCRC32": answer["ChecksumCRC32"]})
    return upload, parts


def test_a_wrong_part_checksum_in_the_completion_is_invalid_part(s3: Any, bucket: str) -> None:
    upload, parts = _upload(s3, bucket, "mp", [b"a" * 5 * MIB, b"b"],
                            ChecksumAlgorithm="CRC32")
    parts[1]["ChecksumCRC32"] = _crc32(b"not b")
    response = expect_error("InvalidPart", 400, s3.complete_multipart_upload, Bucket=bucket,
                            Key="mp", UploadId=upload, MultipartUpload={"Parts": parts})
    assert response["Error"]["PartNumber"] == "2"
    assert list_keys(s3, bucket) == []


def test_a_composite_upload_needs_every_part_checksum(s3: Any, bucket: str) -> None:
    upload, parts = _upload(s3, bucket, "mp", [b"only"], ChecksumAlgorithm="CRC32")
    del parts[0]["ChecksumCRC32"]
    response = expect_error("InvalidRequest", 400, s3.complete_multipart_upload,
                            Bucket=bucket, Key="mp", UploadId=upload,
                            MultipartUpload={"Parts": parts})
    assert "must include the checksum for each part" in response["Error"]["Message"]


def test_a_composite_checksum_is_accepted_checked_and_answered_as_s3_does(
        s3: Any, bucket: str) -> None:
    bodies = [b"a" * 5 * MIB, b"b" * 10]
    upload, parts = _upload(s3, bucket, "mp", bodies, ChecksumAlgorithm="CRC32")
    raw = b"".join(base64.b64decode(p["ChecksumCRC32"]) for p in parts)
    composite = f"{_crc32(raw)}-2"
    expect_error("BadDigest", 400, s3.complete_multipart_upload, Bucket=bucket, Key="mp",
                 UploadId=upload, MultipartUpload={"Parts": parts},
                 ChecksumCRC32=f"{_crc32(b'other')}-2")
    done = s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload,
                                        MultipartUpload={"Parts": parts},
                                        ChecksumCRC32=composite)
    assert (done["ChecksumCRC32"], done["ChecksumType"]) == (composite, "COMPOSITE")
    head = s3.head_object(Bucket=bucket, Key="mp", ChecksumMode="ENABLED")
    assert head["ChecksumCRC32"] == composite


def test_a_completion_repeated_after_success_answers_the_same(s3: Any, bucket: str) -> None:
    upload, parts = _upload(s3, bucket, "mp", [b"a" * 5 * MIB, b"tail"],
                            ChecksumAlgorithm="CRC32")
    first = s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload,
                                         MultipartUpload={"Parts": parts})
    again = s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload,
                                         MultipartUpload={"Parts": parts})
    fields = ("Location", "Bucket", "Key", "ETag", "ChecksumCRC32", "ChecksumType")
    assert {f: again.get(f) for f in fields} == {f: first.get(f) for f in fields}
    assert get_bytes(s3, bucket, "mp") == b"a" * 5 * MIB + b"tail"
    # Still no upload to add parts to or to list.
    expect_error("NoSuchUpload", 404, s3.list_parts, Bucket=bucket, Key="mp", UploadId=upload)
    expect_error("NoSuchUpload", 404, s3.complete_multipart_upload, Bucket=bucket,
                 Key="other", UploadId=upload, MultipartUpload={"Parts": parts})


# keys, metadata and copies as S3 answers them

def test_a_key_of_only_whitespace_can_be_deleted_with_delete_objects(s3: Any,
                                                                     bucket: str) -> None:
    for key in (" ", "  two", "\ttab"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    answer = s3.delete_objects(Bucket=bucket, Delete={"Objects": [
        {"Key": " "}, {"Key": "  two"}, {"Key": "\ttab"}]})
    assert sorted(d["Key"] for d in answer["Deleted"]) == sorted([" ", "  two", "\ttab"])
    assert list_keys(s3, bucket) == []


def test_non_ascii_metadata_is_kept_and_answered_rfc2047_encoded(
        s3: Any, bucket: str, bifrost_server: RunningServer) -> None:
    url = f"{bifrost_server.s3_url}/{bucket}/meta"
    # Raw UTF-8 bytes in the header (boto3 refuses non-ASCII metadata before sending).
    put = httpx.put(url, content=b"x", headers=[(b"x-amz-meta-city", "Zürich".encode()),
                                                (b"x-amz-meta-plain", b"ascii")])
    assert put.status_code == 200, put.text
    metadata = s3.head_object(Bucket=bucket, Key="meta")["Metadata"]
    assert metadata == {"city": "=?UTF-8?B?WsO8cmljaA==?=", "plain": "ascii"}
    # An encoded word as sent is decoded on the way in, so it round-trips unchanged.
    s3.put_object(Bucket=bucket, Key="meta2", Body=b"x",
                  Metadata={"city": "=?UTF-8?B?WsO8cmljaA==?="})
    assert s3.head_object(Bucket=bucket, Key="meta2")["Metadata"]["city"] == (
        "=?UTF-8?B?WsO8cmljaA==?=")


def test_a_copy_whose_source_matches_if_none_match_fails_its_precondition(
        s3: Any, stored: tuple[str, str]) -> None:
    bucket, key = stored
    for condition in ({"CopySourceIfNoneMatch": etag_of(ORIGINAL)},
                      {"CopySourceIfModifiedSince": "2100-01-01T00:00:00Z"}):
        response = expect_error("PreconditionFailed", 412, s3.copy_object, Bucket=bucket,
                                Key="copy", CopySource={"Bucket": bucket, "Key": key},
                                **condition)
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 412
    assert list_keys(s3, bucket) == [key]


def test_put_if_match_on_a_missing_key_is_no_such_key(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as info:
        s3.put_object(Bucket=bucket, Key="absent", Body=b"x", IfMatch=etag_of(b"x"))
    assert info.value.response["Error"]["Code"] == "NoSuchKey"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert list_keys(s3, bucket) == []
