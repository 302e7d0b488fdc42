"""Tenancy on the bedrock provider, whose files are one AWS account's S3 (moto here): a bucket
created through the server belongs to its tenant and is not there for any other; a bucket the
account already had is the operator's and every allowed key sees it."""

# Fixtures imported from bedrock_upstream are redefined as test arguments, as pytest means them.
# ruff: noqa: F811

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from bedrock_helpers import (
    REGION,
    configured_server,
    create_job,
    keys_toml,
    wait_for_status,
    with_provider,
)
from bedrock_upstream import (  # noqa: F401 - fixtures
    SignedS3,
    bedrock_config,
    direct,
    fake,
    fake_defaults,
    moto,
    signed_s3,
)
from botocore.config import Config
from botocore.exceptions import ClientError

from bifrost_py.testing import RunningServer
from tests.fakes.bedrock_fake import FakeBedrock

A_ID, A_SECRET = "AKIAPROXYTENANTA0001", "proxy-team-a-secret"
B_ID, B_SECRET = "AKIAPROXYTENANTB0001", "proxy-team-b-secret"
KEYS = keys_toml((A_ID, A_SECRET, "team-a"), (B_ID, B_SECRET, "team-b"))


@pytest.fixture(scope="module")
def server(signed_s3: SignedS3, fake: FakeBedrock,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    config = bedrock_config(signed_s3.url, fake) + KEYS
    with configured_server(tmp_path_factory.mktemp("bedrock-tenancy"), config) as running:
        yield running


def client(server: RunningServer, service: str, key: tuple[str, str]) -> Any:
    url = server.s3_url if service == "s3" else server.bedrock_url
    made = boto3.client(service, endpoint_url=url, region_name=REGION,
                        aws_access_key_id=key[0], aws_secret_access_key=key[1],
                        config=Config(retries={"total_max_attempts": 1}))
    return with_provider(made, "bedrock")


@pytest.fixture(scope="module")
def a(server: RunningServer) -> Any:
    return client(server, "s3", (A_ID, A_SECRET))


@pytest.fixture(scope="module")
def b(server: RunningServer) -> Any:
    return client(server, "s3", (B_ID, B_SECRET))


@pytest.fixture(scope="module")
def owned(a: Any) -> str:
    name = f"team-a-{uuid.uuid4().hex[:10]}"
    a.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    a.put_object(Bucket=name, Key="doc.txt", Body=b"team-a's bytes")
    return name


def names(s3: Any) -> set[str]:
    return {bucket["Name"] for bucket in s3.list_buckets()["Buckets"]}


PROBES: dict[str, Callable[[Any, str, str], Any]] = {
    "HeadBucket": lambda s3, bucket, _: s3.head_bucket(Bucket=bucket),
    "ListObjectsV2": lambda s3, bucket, _: s3.list_objects_v2(Bucket=bucket),
    "GetObject": lambda s3, bucket, _: s3.get_object(Bucket=bucket, Key="doc.txt"),
    "HeadObject": lambda s3, bucket, _: s3.head_object(Bucket=bucket, Key="doc.txt"),
    "PutObject": lambda s3, bucket, _: s3.put_object(Bucket=bucket, Key="doc.txt", Body=b"x"),
    "DeleteObject": lambda s3, bucket, _: s3.delete_object(Bucket=bucket, Key="doc.txt"),
    "DeleteBucket": lambda s3, bucket, _: s3.delete_bucket(Bucket=bucket),
    "CreateMultipartUpload": lambda s3, bucket, _: s3.create_multipart_upload(Bucket=bucket,
                                                                           Key="m"),
    "CopyObjectFrom": lambda s3, bucket, own: s3.copy_object(
        Bucket=own, Key="stolen", CopySource={"Bucket": bucket, "Key": "doc.txt"}),
}


@pytest.fixture(scope="module")
def b_own(b: Any) -> str:
    name = f"team-b-{uuid.uuid4().hex[:10]}"
    b.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    return name


@pytest.mark.parametrize("name", sorted(PROBES))
def test_another_tenants_bucket_is_not_there(name: str, a: Any, b: Any, owned: str,
                                             b_own: str) -> None:
    with pytest.raises(ClientError) as info:
        PROBES[name](b, owned, b_own)
    error = info.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert error["Error"]["Code"] in {"NoSuchBucket", "404"}
    assert a.get_object(Bucket=owned, Key="doc.txt")["Body"].read() == b"team-a's bytes"


def test_list_buckets_shows_own_and_the_accounts_buckets_only(a: Any, b: Any, direct: Any,
                                                              owned: str) -> None:
    operators = f"operator-{uuid.uuid4().hex[:10]}"
    direct.create_bucket(Bucket=operators, CreateBucketConfiguration={"LocationConstraint": REGION})
    assert {owned, operators} <= names(a)
    assert operators in names(b) and owned not in names(b)
    assert b.head_bucket(Bucket=operators)["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_a_deleted_bucket_is_released(a: Any, b: Any) -> None:
    name = f"released-{uuid.uuid4().hex[:10]}"
    a.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    assert name not in names(b)
    a.delete_bucket(Bucket=name)
    b.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    assert name in names(b) and name not in names(a)


def test_a_job_on_another_tenants_bucket_fails_before_reaching_bedrock(
        server: RunningServer, fake: FakeBedrock, owned: str) -> None:
    bedrock = client(server, "bedrock", (B_ID, B_SECRET))
    before = len(fake.jobs)
    arn = create_job(bedrock, f"s3://{owned}/doc.txt", f"s3://{owned}/out/")
    job = wait_for_status(bedrock, arn)
    assert job["status"] == "Failed" and "NoSuchBucket" in job["message"], job
    assert len(fake.jobs) == before
