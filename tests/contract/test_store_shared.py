"""Two servers on one PostgreSQL database, each with a data directory of its own: what one is
told, the other answers at once (small objects live in their rows, so their bytes are shared
too), and a clientRequestToken repeated on the other server returns the job the first created."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from bedrock_helpers import bedrock_client, numbered_records, put_records, s3_client, write_config

from bifrost_py.testing import RunningServer
from tests.postgres import fresh_database

Pair = tuple[RunningServer, RunningServer]


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[Pair]:
    with fresh_database() as url:
        config = write_config(tmp_path, f'[store]\ndatabase_url = "{url}"\n')
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
