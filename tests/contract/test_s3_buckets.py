"""Bucket operations through unmodified boto3: lifecycle, naming rules, errors, auto-creation."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from s3_helpers import assert_request_id, expect_error, make_client, status

from bifrost_py.testing import RunningServer

pytestmark = pytest.mark.every_store


def _name() -> str:
    return f"bkt-{uuid.uuid4().hex[:16]}"


def _bucket_names(s3: Any) -> list[str]:
    return [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_bucket_lifecycle_create_head_list_delete(s3: Any) -> None:
    name = _name()
    created = s3.create_bucket(Bucket=name)
    assert status(created) == 200
    assert_request_id(created)

    head = s3.head_bucket(Bucket=name)
    assert status(head) == 200
    assert_request_id(head)
    assert name in _bucket_names(s3)

    deleted = s3.delete_bucket(Bucket=name)
    assert status(deleted) == 204
    assert_request_id(deleted)
    assert name not in _bucket_names(s3)
    expect_error("404", 404, s3.head_bucket, Bucket=name)


def test_list_buckets_is_sorted_and_dated(s3: Any) -> None:
    names = sorted(_name() for _ in range(3))
    for name in reversed(names):
        s3.create_bucket(Bucket=name)
    buckets = s3.list_buckets()["Buckets"]
    listed = [b["Name"] for b in buckets]
    assert listed == sorted(listed)
    assert set(names) <= set(listed)
    assert all(b["CreationDate"] is not None for b in buckets)


def test_create_existing_bucket_is_bucket_already_owned_by_you(s3: Any, bucket: str) -> None:
    expect_error("BucketAlreadyOwnedByYou", 409, s3.create_bucket, Bucket=bucket)


def test_delete_non_empty_bucket_is_bucket_not_empty(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    expect_error("BucketNotEmpty", 409, s3.delete_bucket, Bucket=bucket)
    s3.head_bucket(Bucket=bucket)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"


def test_delete_bucket_with_open_multipart_upload_is_bucket_not_empty(s3: Any,
                                                                      bucket: str) -> None:
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp")
    expect_error("BucketNotEmpty", 409, s3.delete_bucket, Bucket=bucket)
    s3.abort_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload["UploadId"])
    assert status(s3.delete_bucket(Bucket=bucket)) == 204


def test_head_missing_bucket_is_404(s3: Any) -> None:
    # HEAD answers carry no body, so botocore reports the status as the code.
    expect_error("404", 404, s3.head_bucket, Bucket=_name())


def test_delete_missing_bucket_is_no_such_bucket(s3: Any) -> None:
    expect_error("NoSuchBucket", 404, s3.delete_bucket, Bucket=_name())


def test_get_object_in_missing_bucket_is_no_such_bucket(s3: Any) -> None:
    expect_error("NoSuchBucket", 404, s3.get_object, Bucket=_name(), Key="k")


def test_get_bucket_location_of_missing_bucket_is_no_such_bucket(s3: Any) -> None:
    expect_error("NoSuchBucket", 404, s3.get_bucket_location, Bucket=_name())


@pytest.mark.parametrize("name", [
    "UpperCase-bucket",
    "a",
    "ab",
    "a" * 64,
    "a..b",
    "192.168.1.1",
    "-leading-dash",
    "trailing-dash-",
    "under_score",
    "xn--prefixed",
    "name-s3alias",
    "dot-.dash",
], ids=["uppercase", "one-char", "two-chars", "64-chars", "double-dot", "ip-address",
        "leading-dash", "trailing-dash", "underscore", "xn-prefix", "s3alias-suffix",
        "dot-dash"])
def test_create_bucket_with_invalid_name_is_invalid_bucket_name(s3: Any, name: str) -> None:
    expect_error("InvalidBucketName", 400, s3.create_bucket, Bucket=name)
    assert name not in _bucket_names(s3)


@pytest.mark.parametrize("make", [
    lambda h: h[:3],
    lambda h: ("a" * 63)[:63 - len(h)] + h,
    lambda h: f"my.dotted.{h}",
    lambda h: f"0-{h}-9",
], ids=["3-chars", "63-chars", "dotted", "digit-ends"])
def test_create_bucket_with_valid_edge_name_succeeds(s3: Any, make: Callable[[str], str]) -> None:
    name = make(uuid.uuid4().hex[:16])
    assert status(s3.create_bucket(Bucket=name)) == 200
    assert status(s3.head_bucket(Bucket=name)) == 200
    s3.delete_bucket(Bucket=name)


def test_create_bucket_with_location_constraint(s3: Any) -> None:
    name = _name()
    region = s3.meta.region_name
    response = s3.create_bucket(Bucket=name,
                                CreateBucketConfiguration={"LocationConstraint": region})
    assert status(response) == 200
    assert s3.get_bucket_location(Bucket=name)["LocationConstraint"] == region
    assert s3.head_bucket(Bucket=name)["ResponseMetadata"]["HTTPHeaders"][
        "x-amz-bucket-region"] == region


def test_get_bucket_location_reports_server_region(s3: Any, bucket: str) -> None:
    response = s3.get_bucket_location(Bucket=bucket)
    assert response["LocationConstraint"] == s3.meta.region_name
    assert_request_id(response)


def test_put_into_missing_bucket_creates_it_by_default(s3: Any) -> None:
    name = _name()
    s3.put_object(Bucket=name, Key="auto", Body=b"created on demand")
    assert status(s3.head_bucket(Bucket=name)) == 200
    assert name in _bucket_names(s3)
    assert s3.get_object(Bucket=name, Key="auto")["Body"].read() == b"created on demand"


@pytest.fixture
def strict_s3(tmp_path: Path) -> Iterator[Any]:
    config = tmp_path / "config.toml"
    config.write_text("[providers.local]\nauto_create_buckets = false\n", encoding="utf-8")
    with RunningServer(tmp_path / "d", config) as server:
        yield make_client(server)


def test_put_into_missing_bucket_without_auto_create_is_no_such_bucket(strict_s3: Any) -> None:
    name = _name()
    expect_error("NoSuchBucket", 404, strict_s3.put_object, Bucket=name, Key="k", Body=b"x")
    expect_error("404", 404, strict_s3.head_bucket, Bucket=name)
    assert name not in _bucket_names(strict_s3)


def test_multipart_into_missing_bucket_without_auto_create_is_no_such_bucket(
        strict_s3: Any) -> None:
    expect_error("NoSuchBucket", 404, strict_s3.create_multipart_upload, Bucket=_name(), Key="k")


def test_explicit_create_still_works_without_auto_create(strict_s3: Any) -> None:
    name = _name()
    strict_s3.create_bucket(Bucket=name)
    strict_s3.put_object(Bucket=name, Key="k", Body=b"x")
    assert strict_s3.get_object(Bucket=name, Key="k")["Body"].read() == b"x"


def test_fresh_server_starts_with_no_buckets(fresh_server: RunningServer) -> None:
    client = make_client(fresh_server)
    assert client.list_buckets()["Buckets"] == []
