"""Two servers on one PostgreSQL database, each with a data directory of its own: what one is
told, the other answers at once (small objects live in their rows, so their bytes are shared
too), a bucket one deletes is gone on the other at once, and a clientRequestToken repeated on the
other server returns the job the first created."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from bedrock_helpers import bedrock_client, numbered_records, put_records, s3_client, write_config
from botocore.exceptions import ClientError

from bifrost_py.testing import RunningServer
from tests.postgres import fresh_database

Pair = tuple[RunningServer, RunningServer]


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[Pair]:
    yield from _servers(tmp_path, "")


@pytest.fixture
def strict_pair(tmp_path: Path) -> Iterator[Pair]:
    """A pair that refuses a write into a missing bucket rather than creating it."""
    yield from _servers(tmp_path, "[providers.local]\nauto_create_buckets = false\n")


def _servers(tmp_path: Path, config_text: str) -> Iterator[Pair]:
    with fresh_database() as url:
        config = write_config(tmp_path, f'[store]\ndatabase_url = "{url}"\n{config_text}')
        with (RunningServer(tmp_path / "one", config) as one,
              RunningServer(tmp_path / "two", config) as two):
            yield one, two


def test_a_small_object_put_on_one_server_is_listed_read_and_deleted_on_the_other(
        pair: Pair) -> None:
    one, two = (s3_client(server) for server in pair)
    one.create_bucket(Bucket="shared")
    one.put_object(Bucket="shared", Key="a/é.txt", Body=b"written on one")
    assert two.get_object(Bucket="shared", Key="a/é.txt")["Body"].read() == b"written on one"
    assert [o["Key"] for o in two.list_objects_v2(Bucket="shared")["Contents"]] == ["a/é.txt"]
    two.delete_object(Bucket="shared", Key="a/é.txt")
    assert one.list_objects_v2(Bucket="shared")["KeyCount"] == 0


def test_a_repeated_client_token_on_the_other_server_returns_the_first_job(pair: Pair) -> None:
    s3 = s3_client(pair[0])
    s3.create_bucket(Bucket="jobs")
    input_uri = put_records(s3, "jobs", "in.jsonl", numbered_records(2))
    request = {"jobName": "once", "roleArn": "arn:aws:iam::123456789012:role/r",
               "modelId": "anthropic.claude-3-haiku-20240307-v1:0", "clientRequestToken": "tok",
               "inputDataConfig": {"s3InputDataConfig": {"s3Uri": input_uri}},
               "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": "s3://jobs/out/"}}}
    first, second = (bedrock_client(server).create_model_invocation_job(**request)
                     for server in pair)
    assert first["jobArn"] == second["jobArn"]
    listed = bedrock_client(pair[1]).list_model_invocation_jobs()["invocationJobSummaries"]
    assert [job["jobArn"] for job in listed] == [first["jobArn"]]


def test_a_bucket_deleted_on_the_other_server_is_gone_on_this_one(strict_pair: Pair) -> None:
    """Each server keeps the names of the buckets it has seen: one deleted on the other server
    must not make this one answer NoSuchKey, an empty listing, or take a write."""
    one, two = (s3_client(server) for server in strict_pair)
    one.create_bucket(Bucket="gone")
    one.put_object(Bucket="gone", Key="k", Body=b"x")
    assert one.get_object(Bucket="gone", Key="k")["Body"].read() == b"x"
    two.delete_object(Bucket="gone", Key="k")
    two.delete_bucket(Bucket="gone")
    refusals = {
        "get": lambda: one.get_object(Bucket="gone", Key="k"),
        "list": lambda: one.list_objects_v2(Bucket="gone"),
        "put": lambda: one.put_object(Bucket="gone", Key="k", Body=b"y"),
        "multipart": lambda: one.create_multipart_upload(Bucket="gone", Key="k"),
    }
    for name, call in refusals.items():
        with pytest.raises(ClientError) as refused:
            call()
        assert refused.value.response["Error"]["Code"] == "NoSuchBucket", name
    with pytest.raises(ClientError) as head:  # a HEAD answer has no body to name the error
        one.head_object(Bucket="gone", Key="k")
    assert head.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    one.create_bucket(Bucket="gone")
    one.put_object(Bucket="gone", Key="k", Body=b"again")
    assert two.get_object(Bucket="gone", Key="k")["Body"].read() == b"again"
