"""Conditional requests through unmodified boto3: If-Match, If-None-Match and the date forms."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from s3_helpers import MIB, etag_of, expect_error, expect_status, get_bytes, status

pytestmark = pytest.mark.every_store

Condition = Callable[[str], dict[str, Any]]  # the object's ETag -> get_object arguments
ORIGINAL = b"original content"
OTHER_ETAG = etag_of(b"something else")
FUTURE = datetime.now(UTC) + timedelta(days=1)
PAST = datetime(2000, 1, 1, tzinfo=UTC)


@pytest.fixture
def obj(s3: Any, bucket: str) -> tuple[str, str, str]:
    """(bucket, key, etag) of an existing object."""
    etag: str = s3.put_object(Bucket=bucket, Key="cond", Body=ORIGINAL)["ETag"]
    return bucket, "cond", etag


def _refused(call: Any, /, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """A 412 answer. Its code is checked last, so a test reports the state first."""
    return expect_status(412, call, *args, **kwargs)


def _code(response: dict[str, Any]) -> str | None:
    # GET, PUT, DELETE and Complete answer 412 with an S3 XML body, so botocore reads the code.
    code: str | None = response["Error"].get("Code")
    return code


def _unchanged(s3: Any, bucket: str, key: str) -> None:
    assert get_bytes(s3, bucket, key) == ORIGINAL
    assert s3.head_object(Bucket=bucket, Key=key)["ETag"] == etag_of(ORIGINAL)


# reads: GET answers errors with a body; HEAD has none, so botocore reports the status.

@pytest.mark.parametrize("condition", [{"IfMatch": OTHER_ETAG},
                                       {"IfUnmodifiedSince": PAST}],
                         ids=["if-match-mismatch", "if-unmodified-since-past"])
def test_get_failed_precondition_is_412(s3: Any, obj: tuple[str, str, str],
                                        condition: dict[str, Any]) -> None:
    bucket, key, _ = obj
    response = _refused(s3.get_object, Bucket=bucket, Key=key, **condition)
    assert _code(response) == "PreconditionFailed"


@pytest.mark.parametrize("condition", [{"IfMatch": OTHER_ETAG},
                                       {"IfUnmodifiedSince": PAST}],
                         ids=["if-match-mismatch", "if-unmodified-since-past"])
def test_head_failed_precondition_is_412(s3: Any, obj: tuple[str, str, str],
                                         condition: dict[str, Any]) -> None:
    bucket, key, _ = obj
    expect_error("412", 412, s3.head_object, Bucket=bucket, Key=key, **condition)


@pytest.mark.parametrize("make", [lambda etag: {"IfNoneMatch": etag},
                                  lambda etag: {"IfNoneMatch": etag.strip('"')},
                                  lambda etag: {"IfNoneMatch": "*"},
                                  lambda etag: {"IfModifiedSince": FUTURE}],
                         ids=["if-none-match-etag", "if-none-match-unquoted",
                              "if-none-match-star", "if-modified-since-future"])
@pytest.mark.parametrize("operation", ["get_object", "head_object"])
def test_not_modified_is_304(s3: Any, obj: tuple[str, str, str], operation: str,
                             make: Condition) -> None:
    bucket, key, etag = obj
    response = expect_error("304", 304, getattr(s3, operation), Bucket=bucket, Key=key,
                            **make(etag))
    assert response["ResponseMetadata"]["HTTPHeaders"].get("etag") == etag


@pytest.mark.parametrize("make", [lambda etag: {"IfMatch": etag},
                                  lambda etag: {"IfMatch": etag.strip('"')},
                                  lambda etag: {"IfMatch": "*"},
                                  lambda etag: {"IfNoneMatch": OTHER_ETAG},
                                  lambda etag: {"IfModifiedSince": PAST},
                                  lambda etag: {"IfUnmodifiedSince": FUTURE}],
                         ids=["if-match", "if-match-unquoted", "if-match-star",
                              "if-none-match-other", "if-modified-since-past",
                              "if-unmodified-since-future"])
def test_satisfied_read_precondition_returns_the_object(s3: Any, obj: tuple[str, str, str],
                                                        make: Condition) -> None:
    bucket, key, etag = obj
    got = s3.get_object(Bucket=bucket, Key=key, **make(etag))
    assert (status(got), got["Body"].read()) == (200, ORIGINAL)
    assert status(s3.head_object(Bucket=bucket, Key=key, **make(etag))) == 200


def test_if_match_wins_over_if_unmodified_since(s3: Any, obj: tuple[str, str, str]) -> None:
    # RFC 7232 order, as S3 applies it: a matching If-Match makes If-Unmodified-Since moot.
    bucket, key, etag = obj
    got = s3.get_object(Bucket=bucket, Key=key, IfMatch=etag, IfUnmodifiedSince=PAST)
    assert got["Body"].read() == ORIGINAL


def test_if_none_match_wins_over_if_modified_since(s3: Any, obj: tuple[str, str, str]) -> None:
    bucket, key, _ = obj
    got = s3.get_object(Bucket=bucket, Key=key, IfNoneMatch=OTHER_ETAG, IfModifiedSince=FUTURE)
    assert got["Body"].read() == ORIGINAL


def test_conditional_get_of_missing_key_is_no_such_key(s3: Any, bucket: str) -> None:
    expect_error("NoSuchKey", 404, s3.get_object, Bucket=bucket, Key="absent",
                 IfMatch=OTHER_ETAG)


def test_ranged_get_with_if_match_as_download_file_sends_it(s3: Any,
                                                            obj: tuple[str, str, str]) -> None:
    bucket, key, etag = obj
    got = s3.get_object(Bucket=bucket, Key=key, Range="bytes=0-3", IfMatch=etag)
    assert (status(got), got["Body"].read()) == (206, ORIGINAL[:4])
    response = _refused(s3.get_object, Bucket=bucket, Key=key, Range="bytes=0-3",
                        IfMatch=OTHER_ETAG)
    assert _code(response) == "PreconditionFailed"


# writes

def test_put_if_none_match_star_on_existing_key_is_412(s3: Any,
                                                       obj: tuple[str, str, str]) -> None:
    bucket, key, _ = obj
    response = _refused(s3.put_object, Bucket=bucket, Key=key, Body=b"overwrite",
                        IfNoneMatch="*")
    _unchanged(s3, bucket, key)
    assert _code(response) == "PreconditionFailed"


def test_put_if_none_match_star_on_new_key_creates_it(s3: Any, bucket: str) -> None:
    put = s3.put_object(Bucket=bucket, Key="fresh", Body=b"new", IfNoneMatch="*")
    assert put["ETag"] == etag_of(b"new")
    assert get_bytes(s3, bucket, "fresh") == b"new"


def test_put_if_match_mismatch_is_412(s3: Any, obj: tuple[str, str, str]) -> None:
    bucket, key, _ = obj
    response = _refused(s3.put_object, Bucket=bucket, Key=key, Body=b"overwrite",
                        IfMatch=OTHER_ETAG)
    _unchanged(s3, bucket, key)
    assert _code(response) == "PreconditionFailed"


def test_put_if_match_current_etag_overwrites(s3: Any, obj: tuple[str, str, str]) -> None:
    bucket, key, etag = obj
    put = s3.put_object(Bucket=bucket, Key=key, Body=b"v2", IfMatch=etag)
    assert put["ETag"] == etag_of(b"v2")
    assert get_bytes(s3, bucket, key) == b"v2"
    # The old ETag no longer matches: optimistic concurrency in two steps.
    response = _refused(s3.put_object, Bucket=bucket, Key=key, Body=b"v3", IfMatch=etag)
    assert get_bytes(s3, bucket, key) == b"v2"
    assert _code(response) == "PreconditionFailed"


def test_put_if_match_on_missing_key_is_no_such_key(s3: Any, bucket: str) -> None:
    expect_error("NoSuchKey", 404, s3.put_object, Bucket=bucket, Key="absent", Body=b"x",
                 IfMatch=OTHER_ETAG)
    expect_error("NoSuchKey", 404, s3.get_object, Bucket=bucket, Key="absent")


def test_delete_if_match_mismatch_is_412_and_keeps_the_object(
        s3: Any, obj: tuple[str, str, str]) -> None:
    bucket, key, _ = obj
    response = _refused(s3.delete_object, Bucket=bucket, Key=key, IfMatch=OTHER_ETAG)
    _unchanged(s3, bucket, key)
    assert _code(response) == "PreconditionFailed"


def test_delete_if_match_current_etag_deletes(s3: Any, obj: tuple[str, str, str]) -> None:
    bucket, key, etag = obj
    assert status(s3.delete_object(Bucket=bucket, Key=key, IfMatch=etag)) == 204
    expect_error("NoSuchKey", 404, s3.get_object, Bucket=bucket, Key=key)


def _multipart(s3: Any, bucket: str, key: str, **complete: Any) -> dict[str, Any]:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    part = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=1,
                          Body=b"multipart body")
    response: dict[str, Any] = s3.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]}, **complete)
    return response


def test_complete_if_none_match_star_on_existing_key_is_412(
        s3: Any, obj: tuple[str, str, str]) -> None:
    bucket, key, _ = obj
    response = _refused(_multipart, s3, bucket, key, IfNoneMatch="*")
    _unchanged(s3, bucket, key)
    assert _code(response) == "PreconditionFailed"


def test_complete_if_none_match_star_on_new_key_creates_it(s3: Any, bucket: str) -> None:
    _multipart(s3, bucket, "mp-new", IfNoneMatch="*")
    assert get_bytes(s3, bucket, "mp-new") == b"multipart body"


def test_complete_if_match_mismatch_is_412(s3: Any, obj: tuple[str, str, str]) -> None:
    bucket, key, _ = obj
    response = _refused(_multipart, s3, bucket, key, IfMatch=OTHER_ETAG)
    _unchanged(s3, bucket, key)
    assert _code(response) == "PreconditionFailed"


def test_download_file_uses_if_match_consistently(s3: Any, bucket: str, tmp_path: Any) -> None:
    data = os.urandom(9 * MIB)  # above the 8 MiB threshold: HEAD then ranged GETs with If-Match
    s3.put_object(Bucket=bucket, Key="dl", Body=data)
    target = tmp_path / "dl.bin"
    s3.download_file(bucket, "dl", str(target))
    assert target.read_bytes() == data
