"""Object operations through unmodified boto3: bytes, headers, keys, ranges, copies, checksums."""

from __future__ import annotations

import base64
import hashlib
import uuid
from typing import Any

import pytest
from s3_helpers import (
    assert_request_id,
    checksum_args,
    checksum_b64,
    etag_of,
    expect_error,
    get_bytes,
    list_keys,
    read_body,
    status,
)

pytestmark = pytest.mark.every_store

ALGORITHMS = ("CRC32", "CRC32C", "SHA1", "SHA256")
WRONG_CHECKSUMS = {"CRC32": "AAAAAA==", "CRC32C": "AAAAAA==",
                   "SHA1": base64.b64encode(bytes(20)).decode(),
                   "SHA256": base64.b64encode(bytes(32)).decode()}
TEN = b"0123456789"

# Keys that a naive server would decode, normalise or collapse. Each pair in a row must stay
# two different objects.
ODD_KEYS = [
    "with space", "with%20percent-twenty", "plus+sign", "a+b c", "percent%", "100%25",
    "café", "日本/語.txt", "emoji-😀", "tilde~key", "semi;colon", "q?mark", "hash#tag",
    "amp&eq=", "double//slash", "double/slash", "trailing/", "trailing",
    "dots/../up", "up", "./dot", "dot", "/leading", "leading", "back\\slash",
    "quote'\"", "<angle>",
]


def _etag_everywhere(s3: Any, bucket: str, key: str) -> set[str]:
    listed = [o["ETag"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=key)["Contents"]
              if o["Key"] == key]
    return {s3.head_object(Bucket=bucket, Key=key)["ETag"],
            s3.get_object(Bucket=bucket, Key=key)["ETag"], *listed}


# round trip

def test_put_get_head_delete_round_trip(s3: Any, bucket: str) -> None:
    data = b"hello bifrost\n" * 100
    put = s3.put_object(Bucket=bucket, Key="obj.txt", Body=data)
    assert put["ETag"] == etag_of(data)
    assert_request_id(put)

    got = s3.get_object(Bucket=bucket, Key="obj.txt")
    assert read_body(got) == data
    assert got["ContentLength"] == len(data)
    assert got["ETag"] == etag_of(data)
    assert got["ContentType"] == "binary/octet-stream"
    assert got["AcceptRanges"] == "bytes"
    assert got["LastModified"] is not None
    assert_request_id(got)

    head = s3.head_object(Bucket=bucket, Key="obj.txt")
    assert (head["ContentLength"], head["ETag"]) == (len(data), etag_of(data))
    assert head["LastModified"] == got["LastModified"]

    deleted = s3.delete_object(Bucket=bucket, Key="obj.txt")
    assert status(deleted) == 204
    assert_request_id(deleted)
    expect_error("NoSuchKey", 404, s3.get_object, Bucket=bucket, Key="obj.txt")
    expect_error("404", 404, s3.head_object, Bucket=bucket, Key="obj.txt")


def test_put_overwrites_previous_content(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"first version, longer")
    s3.put_object(Bucket=bucket, Key="k", Body=b"second")
    assert get_bytes(s3, bucket, "k") == b"second"
    assert s3.head_object(Bucket=bucket, Key="k")["ContentLength"] == 6


def test_get_missing_key_is_no_such_key(s3: Any, bucket: str) -> None:
    response = expect_error("NoSuchKey", 404, s3.get_object, Bucket=bucket, Key="nope")
    assert response["Error"].get("Key") == "nope"


def test_empty_object_round_trip(s3: Any, bucket: str) -> None:
    put = s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    assert put["ETag"] == '"d41d8cd98f00b204e9800998ecf8427e"'
    got = s3.get_object(Bucket=bucket, Key="empty")
    assert read_body(got) == b""
    assert got["ContentLength"] == 0
    assert s3.head_object(Bucket=bucket, Key="empty")["ContentLength"] == 0
    assert s3.list_objects_v2(Bucket=bucket)["Contents"][0]["Size"] == 0


def test_binary_body_with_every_byte_value_round_trips(s3: Any, bucket: str) -> None:
    data = bytes(range(256)) * 257
    s3.put_object(Bucket=bucket, Key="bin", Body=data)
    assert get_bytes(s3, bucket, "bin") == data


def test_etag_is_the_same_in_put_head_get_and_list(s3: Any, bucket: str) -> None:
    data = b"etag consistency"
    put_etag = s3.put_object(Bucket=bucket, Key="e", Body=data)["ETag"]
    assert put_etag == etag_of(data)
    assert _etag_everywhere(s3, bucket, "e") == {put_etag}


# headers and metadata

def test_user_metadata_and_standard_headers_come_back(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="meta", Body=b"{}",
                  Metadata={"color": "blue", "Mixed-Case": "Value With Spaces"},
                  ContentType="application/json", CacheControl="max-age=60",
                  ContentDisposition='attachment; filename="x.json"',
                  ContentEncoding="gzip", ContentLanguage="fr-CA")
    for response in (s3.head_object(Bucket=bucket, Key="meta"),
                     s3.get_object(Bucket=bucket, Key="meta")):
        assert response["Metadata"] == {"color": "blue", "mixed-case": "Value With Spaces"}
        assert response["ContentType"] == "application/json"
        assert response["CacheControl"] == "max-age=60"
        assert response["ContentDisposition"] == 'attachment; filename="x.json"'
        assert response["ContentEncoding"] == "gzip"
        assert response["ContentLanguage"] == "fr-CA"


def test_response_header_overrides_on_get(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="o", Body=b"x", ContentType="application/json")
    got = s3.get_object(Bucket=bucket, Key="o", ResponseContentType="text/plain",
                        ResponseContentDisposition="inline", ResponseCacheControl="no-cache",
                        ResponseContentLanguage="de")
    assert got["ContentType"] == "text/plain"
    assert got["ContentDisposition"] == "inline"
    assert got["CacheControl"] == "no-cache"
    assert got["ContentLanguage"] == "de"
    assert s3.head_object(Bucket=bucket, Key="o")["ContentType"] == "application/json"


# keys

@pytest.mark.parametrize("key", ODD_KEYS)
def test_odd_key_is_readable_listable_and_deletable(s3: Any, bucket: str, key: str) -> None:
    body = f"body of {key!r}".encode()
    assert s3.put_object(Bucket=bucket, Key=key, Body=body)["ETag"] == etag_of(body)
    assert get_bytes(s3, bucket, key) == body
    assert s3.head_object(Bucket=bucket, Key=key)["ContentLength"] == len(body)
    assert list_keys(s3, bucket) == [key]
    assert list_keys(s3, bucket, Prefix=key) == [key]
    assert status(s3.delete_object(Bucket=bucket, Key=key)) == 204
    assert list_keys(s3, bucket) == []
    expect_error("NoSuchKey", 404, s3.get_object, Bucket=bucket, Key=key)


def test_odd_keys_are_all_distinct_objects(s3: Any, bucket: str) -> None:
    for key in ODD_KEYS:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    assert list_keys(s3, bucket) == sorted(ODD_KEYS, key=lambda k: k.encode())
    for key in ODD_KEYS:
        assert get_bytes(s3, bucket, key) == key.encode(), key
    response = s3.delete_objects(Bucket=bucket,
                                 Delete={"Objects": [{"Key": k} for k in ODD_KEYS]})
    assert sorted(d["Key"] for d in response["Deleted"]) == sorted(ODD_KEYS)
    assert list_keys(s3, bucket) == []


def test_key_of_1024_bytes_is_accepted(s3: Any, bucket: str) -> None:
    key = "k" * 1021 + "日"  # the limit counts UTF-8 bytes, not characters
    assert len(key.encode()) == 1024
    s3.put_object(Bucket=bucket, Key=key, Body=b"long")
    assert get_bytes(s3, bucket, key) == b"long"
    assert list_keys(s3, bucket) == [key]


def test_key_of_1025_bytes_is_key_too_long(s3: Any, bucket: str) -> None:
    key = "k" * 1025
    expect_error("KeyTooLongError", 400, s3.put_object, Bucket=bucket, Key=key, Body=b"x")


def test_early_put_error_leaves_the_connection_usable(s3: Any, bucket: str) -> None:
    """An error answered before the body is read must not desynchronise the keep-alive
    connection: the next request on the same client must be parsed as a request."""
    expect_error("KeyTooLongError", 400, s3.put_object, Bucket=bucket, Key="k" * 1025,
                 Body=b"x")
    assert list_keys(s3, bucket) == []
    s3.put_object(Bucket=bucket, Key="after", Body=b"ok")
    assert get_bytes(s3, bucket, "after") == b"ok"


# ranges

@pytest.mark.parametrize(("header", "expected", "content_range"), [
    ("bytes=0-4", b"01234", "bytes 0-4/10"),
    ("bytes=5-", b"56789", "bytes 5-9/10"),
    ("bytes=-3", b"789", "bytes 7-9/10"),
    ("bytes=5-100", b"56789", "bytes 5-9/10"),
    ("bytes=9-9", b"9", "bytes 9-9/10"),
    ("bytes=-50", TEN, "bytes 0-9/10"),
])
def test_range_get_returns_206_with_content_range(s3: Any, bucket: str, header: str,
                                                   expected: bytes, content_range: str) -> None:
    s3.put_object(Bucket=bucket, Key="r", Body=TEN)
    got = s3.get_object(Bucket=bucket, Key="r", Range=header)
    assert status(got) == 206
    assert read_body(got) == expected
    assert got["ContentRange"] == content_range
    assert got["ContentLength"] == len(expected)
    assert got["ETag"] == etag_of(TEN)


@pytest.mark.parametrize("header", ["bytes=10-", "bytes=10-20", "bytes=100-"])
def test_range_starting_past_the_end_is_invalid_range(s3: Any, bucket: str,
                                                      header: str) -> None:
    s3.put_object(Bucket=bucket, Key="r", Body=TEN)
    expect_error("InvalidRange", 416, s3.get_object, Bucket=bucket, Key="r", Range=header)


@pytest.mark.parametrize("header", ["bytes=abc", "items=0-4", "bytes=4-2", "bytes=0-1,3-4"])
def test_unparseable_range_returns_whole_object(s3: Any, bucket: str, header: str) -> None:
    s3.put_object(Bucket=bucket, Key="r", Body=TEN)
    got = s3.get_object(Bucket=bucket, Key="r", Range=header)
    assert status(got) == 200
    assert read_body(got) == TEN
    assert "ContentRange" not in got


def test_get_part_number_1_of_single_part_object_is_the_whole_object(s3: Any,
                                                                     bucket: str) -> None:
    # S3 treats partNumber as a range: 206 with Content-Range covering the whole object.
    s3.put_object(Bucket=bucket, Key="p", Body=TEN)
    got = s3.get_object(Bucket=bucket, Key="p", PartNumber=1)
    assert read_body(got) == TEN
    assert got["ETag"] == etag_of(TEN)
    assert status(got) == 206
    assert got["ContentRange"] == "bytes 0-9/10"


def test_get_part_number_2_of_single_part_object_is_invalid_part_number(s3: Any,
                                                                        bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="p", Body=TEN)
    expect_error("InvalidPartNumber", 416, s3.get_object, Bucket=bucket, Key="p", PartNumber=2)


# deletes

def test_delete_missing_key_is_204(s3: Any, bucket: str) -> None:
    response = s3.delete_object(Bucket=bucket, Key="never-existed")
    assert status(response) == 204
    assert_request_id(response)


def test_delete_objects_not_quiet_reports_existing_and_missing_keys(s3: Any,
                                                                    bucket: str) -> None:
    for key in ("a", "b", "keep"):
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    response = s3.delete_objects(Bucket=bucket, Delete={
        "Objects": [{"Key": "a"}, {"Key": "missing"}, {"Key": "b"}], "Quiet": False})
    assert sorted(d["Key"] for d in response["Deleted"]) == ["a", "b", "missing"]
    assert response.get("Errors", []) == []
    assert list_keys(s3, bucket) == ["keep"]


def test_delete_objects_quiet_reports_nothing_but_deletes(s3: Any, bucket: str) -> None:
    for key in ("a", "b", "keep"):
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    response = s3.delete_objects(Bucket=bucket, Delete={
        "Objects": [{"Key": "a"}, {"Key": "missing"}, {"Key": "b"}], "Quiet": True})
    assert response.get("Deleted", []) == []
    assert response.get("Errors", []) == []
    assert list_keys(s3, bucket) == ["keep"]


def test_delete_objects_in_missing_bucket_is_no_such_bucket(s3: Any) -> None:
    expect_error("NoSuchBucket", 404, s3.delete_objects, Bucket=f"nb-{uuid.uuid4().hex}",
                 Delete={"Objects": [{"Key": "a"}]})


# copies

def test_copy_object_copies_bytes_and_metadata_by_default(s3: Any, bucket: str) -> None:
    data = b"copy me"
    s3.put_object(Bucket=bucket, Key="src", Body=data, ContentType="text/plain",
                  Metadata={"origin": "src"}, CacheControl="no-store")
    result = s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"})
    assert result["CopyObjectResult"]["ETag"] == etag_of(data)
    assert_request_id(result)
    head = s3.head_object(Bucket=bucket, Key="dst")
    assert (head["ContentType"], head["Metadata"], head["CacheControl"]) == (
        "text/plain", {"origin": "src"}, "no-store")
    assert get_bytes(s3, bucket, "dst") == data


def test_copy_object_replace_sets_new_metadata(s3: Any, bucket: str) -> None:
    data = b"copy me"
    s3.put_object(Bucket=bucket, Key="src", Body=data, ContentType="text/plain",
                  Metadata={"origin": "src"})
    s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"},
                   MetadataDirective="REPLACE", ContentType="application/x-new",
                   Metadata={"fresh": "yes"})
    head = s3.head_object(Bucket=bucket, Key="dst")
    assert (head["ContentType"], head["Metadata"]) == ("application/x-new", {"fresh": "yes"})
    assert head["ETag"] == etag_of(data)
    assert s3.head_object(Bucket=bucket, Key="src")["Metadata"] == {"origin": "src"}


def test_copy_object_across_buckets_and_odd_keys(s3: Any, bucket: str) -> None:
    other = f"test-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=other)
    source_key = "dir/ünï cödé+plus%.txt"
    s3.put_object(Bucket=bucket, Key=source_key, Body=b"across")
    s3.copy_object(Bucket=other, Key="dst/é+ x",
                   CopySource={"Bucket": bucket, "Key": source_key})
    assert get_bytes(s3, other, "dst/é+ x") == b"across"


def test_copy_object_onto_itself_without_replace_is_invalid_request(s3: Any,
                                                                    bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="self", Body=b"x", Metadata={"v": "1"})
    expect_error("InvalidRequest", 400, s3.copy_object, Bucket=bucket, Key="self",
                 CopySource={"Bucket": bucket, "Key": "self"})


def test_copy_object_onto_itself_with_replace_updates_metadata(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="self", Body=b"same bytes", Metadata={"v": "1"})
    s3.copy_object(Bucket=bucket, Key="self", CopySource={"Bucket": bucket, "Key": "self"},
                   MetadataDirective="REPLACE", Metadata={"v": "2"})
    head = s3.head_object(Bucket=bucket, Key="self")
    assert head["Metadata"] == {"v": "2"}
    assert get_bytes(s3, bucket, "self") == b"same bytes"


def test_copy_from_missing_source_is_no_such_key(s3: Any, bucket: str) -> None:
    expect_error("NoSuchKey", 404, s3.copy_object, Bucket=bucket, Key="dst",
                 CopySource={"Bucket": bucket, "Key": "absent"})
    expect_error("NoSuchKey", 404, s3.get_object, Bucket=bucket, Key="dst")


# checksums

@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_put_checksum_is_stored_and_returned_when_asked(s3: Any, bucket: str,
                                                        algorithm: str) -> None:
    data = b"checksummed content " * 50
    expected = checksum_b64(algorithm, data)
    field = f"Checksum{algorithm}"
    put = s3.put_object(Bucket=bucket, Key="c", Body=data, **checksum_args(algorithm, data))
    assert put[field] == expected

    head = s3.head_object(Bucket=bucket, Key="c", ChecksumMode="ENABLED")
    assert head[field] == expected
    got = s3.get_object(Bucket=bucket, Key="c", ChecksumMode="ENABLED")
    assert got[field] == expected
    assert read_body(got) == data


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_ranged_get_never_returns_the_full_object_checksum(s3: Any, bucket: str,
                                                           algorithm: str) -> None:
    s3.put_object(Bucket=bucket, Key="c", Body=TEN, **checksum_args(algorithm, TEN))
    got = s3.get_object(Bucket=bucket, Key="c", Range="bytes=0-4", ChecksumMode="ENABLED")
    assert read_body(got) == b"01234"
    assert not [k for k in got if k.startswith("Checksum") and k != "ChecksumType"]


def test_checksum_is_not_returned_without_checksum_mode(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="c", Body=TEN, ChecksumAlgorithm="SHA256")
    assert "ChecksumSHA256" not in s3.head_object(Bucket=bucket, Key="c")


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_wrong_checksum_is_bad_digest_and_keeps_previous_object(s3: Any, bucket: str,
                                                                algorithm: str) -> None:
    s3.put_object(Bucket=bucket, Key="c", Body=b"original")
    expect_error("BadDigest", 400, s3.put_object, Bucket=bucket, Key="c", Body=b"replacement",
                 **{f"Checksum{algorithm}": WRONG_CHECKSUMS[algorithm]})
    assert get_bytes(s3, bucket, "c") == b"original"
    assert s3.head_object(Bucket=bucket, Key="c")["ETag"] == etag_of(b"original")


def test_wrong_checksum_on_new_key_creates_nothing(s3: Any, bucket: str) -> None:
    expect_error("BadDigest", 400, s3.put_object, Bucket=bucket, Key="new", Body=b"data",
                 ChecksumCRC32="AAAAAA==")
    assert list_keys(s3, bucket) == []


def test_correct_content_md5_is_accepted(s3: Any, bucket: str) -> None:
    data = b"md5 checked"
    md5 = base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()
    assert s3.put_object(Bucket=bucket, Key="m", Body=data, ContentMD5=md5)["ETag"] == etag_of(
        data)


def test_wrong_content_md5_is_bad_digest(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="m", Body=b"original")
    wrong = base64.b64encode(hashlib.md5(b"other", usedforsecurity=False).digest()).decode()
    expect_error("BadDigest", 400, s3.put_object, Bucket=bucket, Key="m", Body=b"data",
                 ContentMD5=wrong)
    assert get_bytes(s3, bucket, "m") == b"original"


@pytest.mark.parametrize("value", ["not-base64!", "AAAA", base64.b64encode(bytes(20)).decode()],
                         ids=["not-base64", "too-short", "too-long"])
def test_malformed_content_md5_is_invalid_digest(s3: Any, bucket: str, value: str) -> None:
    expect_error("InvalidDigest", 400, s3.put_object, Bucket=bucket, Key="m", Body=b"data",
                 ContentMD5=value)
