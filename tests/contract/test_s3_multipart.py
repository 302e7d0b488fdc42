"""Multipart uploads through unmodified boto3: the low-level calls and the transfer manager."""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import pytest
from s3_helpers import (
    MIB,
    assert_request_id,
    checksum_b64,
    checksum_digest,
    etag_of,
    expect_error,
    get_bytes,
    list_keys,
    multipart_etag,
    status,
)

pytestmark = pytest.mark.every_store

FIVE_MIB = 5 * MIB


def _create(s3: Any, bucket: str, key: str, **kwargs: Any) -> str:
    upload_id: str = s3.create_multipart_upload(Bucket=bucket, Key=key, **kwargs)["UploadId"]
    return upload_id


def _upload(s3: Any, bucket: str, key: str, upload_id: str, number: int, data: bytes,
            **kwargs: Any) -> dict[str, Any]:
    """Upload one part; returns its CompleteMultipartUpload entry (number, ETag, checksums)."""
    response = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number,
                              Body=data, **kwargs)
    assert response["ETag"] == etag_of(data)
    assert_request_id(response)
    return {"PartNumber": number, "ETag": response["ETag"],
            **{k: v for k, v in response.items() if k.startswith("Checksum")
               and k != "ChecksumType"}}


def _complete(s3: Any, bucket: str, key: str, upload_id: str, parts: list[dict[str, Any]],
              **kwargs: Any) -> dict[str, Any]:
    response: dict[str, Any] = s3.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}, **kwargs)
    return response


def _three_parts() -> list[bytes]:
    return [os.urandom(FIVE_MIB), os.urandom(FIVE_MIB), os.urandom(1234)]


def _upload_all(s3: Any, bucket: str, key: str, upload_id: str,
                parts: list[bytes]) -> list[dict[str, Any]]:
    return [_upload(s3, bucket, key, upload_id, n, data) for n, data in enumerate(parts, 1)]


def test_multipart_upload_assembles_parts_with_multipart_etag(s3: Any, bucket: str) -> None:
    parts = _three_parts()
    upload_id = _create(s3, bucket, "mp", ContentType="text/csv", Metadata={"who": "mp"})
    entries = _upload_all(s3, bucket, "mp", upload_id, parts)
    done = _complete(s3, bucket, "mp", upload_id, entries)
    expected_etag = multipart_etag(parts)
    assert done["ETag"] == expected_etag
    assert (done["Bucket"], done["Key"]) == (bucket, "mp")
    assert_request_id(done)

    head = s3.head_object(Bucket=bucket, Key="mp")
    assert head["ETag"] == expected_etag
    assert head["ContentLength"] == sum(len(p) for p in parts)
    assert head["ContentType"] == "text/csv"
    assert head["Metadata"] == {"who": "mp"}
    assert get_bytes(s3, bucket, "mp") == b"".join(parts)
    assert s3.list_objects_v2(Bucket=bucket)["Contents"][0]["ETag"] == expected_etag
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_parts_uploaded_out_of_order_complete_in_part_order(s3: Any, bucket: str) -> None:
    parts = _three_parts()
    upload_id = _create(s3, bucket, "ooo")
    entries = {n: _upload(s3, bucket, "ooo", upload_id, n, parts[n - 1]) for n in (3, 1, 2)}
    _complete(s3, bucket, "ooo", upload_id, [entries[n] for n in (1, 2, 3)])
    assert get_bytes(s3, bucket, "ooo") == b"".join(parts)


def test_parts_need_not_be_contiguous(s3: Any, bucket: str) -> None:
    first, last = os.urandom(FIVE_MIB), b"tail"
    upload_id = _create(s3, bucket, "gaps")
    entries = [_upload(s3, bucket, "gaps", upload_id, 2, first),
               _upload(s3, bucket, "gaps", upload_id, 7, last)]
    assert _complete(s3, bucket, "gaps", upload_id, entries)["ETag"] == multipart_etag(
        [first, last])
    assert get_bytes(s3, bucket, "gaps") == first + last


def test_get_with_part_number_returns_that_part(s3: Any, bucket: str) -> None:
    parts = _three_parts()
    upload_id = _create(s3, bucket, "pn")
    _complete(s3, bucket, "pn", upload_id, _upload_all(s3, bucket, "pn", upload_id, parts))
    got = s3.get_object(Bucket=bucket, Key="pn", PartNumber=3)
    assert got["Body"].read() == parts[2]
    assert got["PartsCount"] == 3
    assert status(got) == 206
    total = sum(len(p) for p in parts)
    assert got["ContentRange"] == f"bytes {2 * FIVE_MIB}-{total - 1}/{total}"
    head = s3.head_object(Bucket=bucket, Key="pn", PartNumber=1)
    assert (head["ContentLength"], head["PartsCount"]) == (FIVE_MIB, 3)


def test_list_parts_paginates_with_max_parts(s3: Any, bucket: str) -> None:
    chunks = [b"one", b"two", b"three"]
    upload_id = _create(s3, bucket, "lp")
    for n, data in enumerate(chunks, 1):
        _upload(s3, bucket, "lp", upload_id, n, data)

    first = s3.list_parts(Bucket=bucket, Key="lp", UploadId=upload_id, MaxParts=2)
    assert [p["PartNumber"] for p in first["Parts"]] == [1, 2]
    assert first["IsTruncated"] is True
    assert first["NextPartNumberMarker"] == 2
    assert first["MaxParts"] == 2
    assert [(p["ETag"], p["Size"]) for p in first["Parts"]] == [
        (etag_of(c), len(c)) for c in chunks[:2]]
    second = s3.list_parts(Bucket=bucket, Key="lp", UploadId=upload_id, MaxParts=2,
                           PartNumberMarker=first["NextPartNumberMarker"])
    assert [p["PartNumber"] for p in second["Parts"]] == [3]
    assert second["IsTruncated"] is False

    pages = list(s3.get_paginator("list_parts").paginate(
        Bucket=bucket, Key="lp", UploadId=upload_id, PaginationConfig={"PageSize": 1}))
    assert [p["PartNumber"] for page in pages for p in page["Parts"]] == [1, 2, 3]


def test_list_multipart_uploads_shows_open_uploads(s3: Any, bucket: str) -> None:
    ids = {key: _create(s3, bucket, key) for key in ("u/a", "u/b", "v/c")}
    uploads = s3.list_multipart_uploads(Bucket=bucket)["Uploads"]
    assert sorted((u["Key"], u["UploadId"]) for u in uploads) == sorted(ids.items())
    assert all(u["Initiated"] is not None for u in uploads)
    under_u = s3.list_multipart_uploads(Bucket=bucket, Prefix="u/")["Uploads"]
    assert sorted(u["Key"] for u in under_u) == ["u/a", "u/b"]
    page = s3.list_multipart_uploads(Bucket=bucket, MaxUploads=2)
    assert len(page["Uploads"]) == 2
    assert page["IsTruncated"] is True
    rest = s3.list_multipart_uploads(Bucket=bucket, MaxUploads=2,
                                     KeyMarker=page["NextKeyMarker"],
                                     UploadIdMarker=page["NextUploadIdMarker"])
    assert [u["Key"] for u in page["Uploads"] + rest["Uploads"]] == ["u/a", "u/b", "v/c"]


def test_abort_is_204_and_the_upload_is_gone(s3: Any, bucket: str) -> None:
    upload_id = _create(s3, bucket, "ab")
    _upload(s3, bucket, "ab", upload_id, 1, b"data")
    aborted = s3.abort_multipart_upload(Bucket=bucket, Key="ab", UploadId=upload_id)
    assert status(aborted) == 204
    assert_request_id(aborted)
    expect_error("NoSuchUpload", 404, s3.list_parts, Bucket=bucket, Key="ab", UploadId=upload_id)
    expect_error("NoSuchUpload", 404, s3.complete_multipart_upload, Bucket=bucket, Key="ab",
                 UploadId=upload_id,
                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag_of(b"data")}]})
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    assert list_keys(s3, bucket) == []


def test_upload_part_after_abort_is_no_such_upload(s3: Any, bucket: str) -> None:
    upload_id = _create(s3, bucket, "ab")
    s3.abort_multipart_upload(Bucket=bucket, Key="ab", UploadId=upload_id)
    expect_error("NoSuchUpload", 404, s3.upload_part, Bucket=bucket, Key="ab",
                 UploadId=upload_id, PartNumber=1, Body=b"late")


def test_small_part_that_is_not_last_is_entity_too_small(s3: Any, bucket: str) -> None:
    upload_id = _create(s3, bucket, "small")
    entries = [_upload(s3, bucket, "small", upload_id, 1, b"x" * 1024),
               _upload(s3, bucket, "small", upload_id, 2, b"y" * 1024)]
    expect_error("EntityTooSmall", 400, _complete, s3, bucket, "small", upload_id, entries)
    expect_error("NoSuchKey", 404, s3.get_object, Bucket=bucket, Key="small")


def test_single_small_part_is_allowed(s3: Any, bucket: str) -> None:
    upload_id = _create(s3, bucket, "one")
    entries = [_upload(s3, bucket, "one", upload_id, 1, b"only")]
    assert _complete(s3, bucket, "one", upload_id, entries)["ETag"] == multipart_etag([b"only"])
    assert get_bytes(s3, bucket, "one") == b"only"


def test_complete_with_wrong_etag_is_invalid_part(s3: Any, bucket: str) -> None:
    upload_id = _create(s3, bucket, "bad")
    _upload(s3, bucket, "bad", upload_id, 1, b"data")
    expect_error("InvalidPart", 400, _complete, s3, bucket, "bad", upload_id,
                 [{"PartNumber": 1, "ETag": etag_of(b"other")}])


def test_complete_with_unknown_part_number_is_invalid_part(s3: Any, bucket: str) -> None:
    upload_id = _create(s3, bucket, "bad")
    entry = _upload(s3, bucket, "bad", upload_id, 1, b"data")
    expect_error("InvalidPart", 400, _complete, s3, bucket, "bad", upload_id,
                 [entry, {"PartNumber": 2, "ETag": entry["ETag"]}])


def test_complete_in_descending_order_is_invalid_part_order(s3: Any, bucket: str) -> None:
    parts = [os.urandom(FIVE_MIB), b"tail"]
    upload_id = _create(s3, bucket, "desc")
    entries = _upload_all(s3, bucket, "desc", upload_id, parts)
    expect_error("InvalidPartOrder", 400, _complete, s3, bucket, "desc", upload_id,
                 list(reversed(entries)))


def test_complete_with_no_parts_is_malformed(s3: Any, bucket: str) -> None:
    upload_id = _create(s3, bucket, "none")
    expect_error("MalformedXML", 400, s3.complete_multipart_upload, Bucket=bucket, Key="none",
                 UploadId=upload_id, MultipartUpload={"Parts": []})
    assert s3.list_parts(Bucket=bucket, Key="none", UploadId=upload_id)["UploadId"] == upload_id


@pytest.mark.parametrize("number", [0, 10001])
def test_part_number_out_of_range_is_invalid_argument(s3: Any, bucket: str,
                                                      number: int) -> None:
    upload_id = _create(s3, bucket, "pn")
    expect_error("InvalidArgument", 400, s3.upload_part, Bucket=bucket, Key="pn",
                 UploadId=upload_id, PartNumber=number, Body=b"x")


@pytest.mark.parametrize(("operation", "kwargs"), [
    ("upload_part", {"PartNumber": 1, "Body": b"x"}),
    ("list_parts", {}),
    ("abort_multipart_upload", {}),
    ("complete_multipart_upload",
     {"MultipartUpload": {"Parts": [{"PartNumber": 1, "ETag": etag_of(b"x")}]}}),
])
def test_unknown_upload_id_is_no_such_upload(s3: Any, bucket: str, operation: str,
                                             kwargs: dict[str, Any]) -> None:
    expect_error("NoSuchUpload", 404, getattr(s3, operation), Bucket=bucket, Key="k",
                 UploadId="no-such-upload-id", **kwargs)


def test_upload_id_is_bound_to_its_key(s3: Any, bucket: str) -> None:
    upload_id = _create(s3, bucket, "mine")
    expect_error("NoSuchUpload", 404, s3.list_parts, Bucket=bucket, Key="other",
                 UploadId=upload_id)


def test_reuploading_a_part_number_replaces_the_part(s3: Any, bucket: str) -> None:
    upload_id = _create(s3, bucket, "re")
    old = _upload(s3, bucket, "re", upload_id, 1, b"first version")
    new = _upload(s3, bucket, "re", upload_id, 1, b"second version")
    parts = s3.list_parts(Bucket=bucket, Key="re", UploadId=upload_id)["Parts"]
    assert [(p["PartNumber"], p["ETag"]) for p in parts] == [(1, new["ETag"])]
    expect_error("InvalidPart", 400, _complete, s3, bucket, "re", upload_id, [old])
    _complete(s3, bucket, "re", upload_id, [new])
    assert get_bytes(s3, bucket, "re") == b"second version"


def test_upload_file_and_download_file_of_20_mib_are_byte_identical(
        s3: Any, bucket: str, tmp_path: Path) -> None:
    data = os.urandom(20 * MIB)
    source, target = tmp_path / "up.bin", tmp_path / "down.bin"
    source.write_bytes(data)
    s3.upload_file(str(source), bucket, "big.bin")  # 8 MiB parts: 8 + 8 + 4
    head = s3.head_object(Bucket=bucket, Key="big.bin")
    assert head["ContentLength"] == len(data)
    assert head["ETag"] == multipart_etag(
        [data[:8 * MIB], data[8 * MIB:16 * MIB], data[16 * MIB:]])
    s3.download_file(bucket, "big.bin", str(target))  # HEAD, then ranged GETs with If-Match
    assert target.read_bytes() == data


def test_upload_part_copy_with_source_range(s3: Any, bucket: str) -> None:
    source = os.urandom(FIVE_MIB + 1000)
    s3.put_object(Bucket=bucket, Key="src", Body=source)
    upload_id = _create(s3, bucket, "dst")
    ranges = [(0, FIVE_MIB - 1), (FIVE_MIB, len(source) - 1)]
    entries = []
    for number, (start, end) in enumerate(ranges, 1):
        copied = s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=upload_id,
                                     PartNumber=number,
                                     CopySource={"Bucket": bucket, "Key": "src"},
                                     CopySourceRange=f"bytes={start}-{end}")
        assert copied["CopyPartResult"]["ETag"] == etag_of(source[start:end + 1])
        entries.append({"PartNumber": number, "ETag": copied["CopyPartResult"]["ETag"]})
    done = _complete(s3, bucket, "dst", upload_id, entries)
    assert done["ETag"] == multipart_etag([source[:FIVE_MIB], source[FIVE_MIB:]])
    assert get_bytes(s3, bucket, "dst") == source


def test_upload_part_copy_range_outside_source_is_invalid_range(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="src", Body=b"0123456789")
    upload_id = _create(s3, bucket, "dst")
    expect_error("InvalidRange", 416, s3.upload_part_copy, Bucket=bucket, Key="dst",
                 UploadId=upload_id, PartNumber=1, CopySource={"Bucket": bucket, "Key": "src"},
                 CopySourceRange="bytes=20-30")


def test_multipart_crc32_checksum_is_composite_of_part_checksums(s3: Any, bucket: str) -> None:
    parts = [os.urandom(FIVE_MIB), b"last part"]
    upload_id = _create(s3, bucket, "ck", ChecksumAlgorithm="CRC32")
    entries = [_upload(s3, bucket, "ck", upload_id, n, data, ChecksumAlgorithm="CRC32")
               for n, data in enumerate(parts, 1)]
    expected_parts = [checksum_b64("CRC32", p) for p in parts]
    assert [e["ChecksumCRC32"] for e in entries] == expected_parts
    listed = s3.list_parts(Bucket=bucket, Key="ck", UploadId=upload_id)["Parts"]
    assert [p["ChecksumCRC32"] for p in listed] == expected_parts
    _complete(s3, bucket, "ck", upload_id, entries)

    composite = base64.b64encode(checksum_digest(
        "CRC32", b"".join(checksum_digest("CRC32", p) for p in parts))).decode()
    head = s3.head_object(Bucket=bucket, Key="ck", ChecksumMode="ENABLED")
    assert head["ChecksumCRC32"] == f"{composite}-2"
    assert head.get("ChecksumType") == "COMPOSITE"
    assert get_bytes(s3, bucket, "ck", ChecksumMode="ENABLED") == b"".join(parts)
