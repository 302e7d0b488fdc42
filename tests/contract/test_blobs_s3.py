"""A server whose object bytes live in an S3 bucket (moto's server): they land there, and when
the bucket goes away the server answers 503 ServiceUnavailable, losing nothing it had stored."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import psutil
import pytest
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError
from moto.server import ThreadedMotoServer
from rss import RssSampler
from server_process import ServerProcess, free_port

from bifrost_py.testing import RunningServer
from tests.moto_s3 import BUCKET, KEYS, blobs_toml

PREFIX = "served/"
MIB = 1024 * 1024
# Eight times the two parts an upload may hold, so growing with the body could not pass.
LARGE = 256 * MIB


@pytest.fixture
def bucket_server() -> Iterator[str]:
    """A moto server of the test's own, which it may stop."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    try:
        boto3.client("s3", endpoint_url=url, region_name="us-east-1",
                     **KEYS).create_bucket(Bucket=BUCKET)
        yield url
    finally:
        server.stop()


def client(server: RunningServer) -> Any:
    return boto3.client("s3", endpoint_url=server.s3_url, region_name="us-east-1",
                        aws_access_key_id="AKIABIFROSTTEST00000",
                        aws_secret_access_key="bifrost-test-secret",
                        config=BotoConfig(retries={"max_attempts": 1}))


def serve(tmp_path: Path, toml: str) -> RunningServer:
    config = tmp_path / "config.toml"
    config.write_text(f"[store]\n{toml}", encoding="utf-8")
    return RunningServer(tmp_path / "data", config)


def test_bytes_live_in_the_bucket_and_an_outage_is_a_503(tmp_path: Path,
                                                         bucket_server: str) -> None:
    large, small = os.urandom(300_000), b"small bodies live in the database"
    with serve(tmp_path, blobs_toml(PREFIX, bucket_server)) as server:
        s3 = client(server)
        s3.create_bucket(Bucket="outage")
        s3.put_object(Bucket="outage", Key="large", Body=large)
        raw = boto3.client("s3", endpoint_url=bucket_server, region_name="us-east-1", **KEYS)
        stored = raw.list_objects_v2(Bucket=BUCKET, Prefix=PREFIX)["Contents"]
        assert [item["Size"] for item in stored] == [len(large)]
        assert raw.get_object(Bucket=BUCKET, Key=stored[0]["Key"])["Body"].read() == large
        assert not (tmp_path / "data" / "blobs").exists()

        _stop_bucket(raw)
        for call in (lambda: s3.put_object(Bucket="outage", Key="other", Body=large),
                     lambda: s3.get_object(Bucket="outage", Key="large")):
            with pytest.raises(ClientError) as refused:
                call()
            assert refused.value.response["Error"]["Code"] == "ServiceUnavailable"
            assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
        s3.put_object(Bucket="outage", Key="small", Body=small)
        assert s3.get_object(Bucket="outage", Key="small")["Body"].read() == small
        assert s3.head_object(Bucket="outage", Key="large")["ContentLength"] == len(large)
        with pytest.raises(ClientError):
            s3.head_object(Bucket="outage", Key="other")


def _stop_bucket(raw: Any) -> None:
    """Take the bucket away: its objects, then itself."""
    for item in raw.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        raw.delete_object(Bucket=BUCKET, Key=item["Key"])
    raw.delete_bucket(Bucket=BUCKET)


def test_a_missing_bucket_stops_the_server_from_starting(tmp_path: Path,
                                                         bucket_server: str) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[store]\n" + blobs_toml(PREFIX, bucket_server).replace(
        BUCKET, "no-such-bucket"), encoding="utf-8")
    with pytest.raises(AssertionError, match=r"store\.blobs: the bucket no-such-bucket at http"):
        ServerProcess(config, tmp_path / "data", tmp_path / "server.log").close()


def test_a_large_object_streams_to_and_from_the_bucket_in_flat_memory(
        tmp_path: Path, bucket_server: str) -> None:
    source = tmp_path / "large.bin"
    md5 = hashlib.md5()
    with source.open("wb") as out:
        for i in range(LARGE // MIB):
            chunk = bytes([i % 251]) * MIB
            md5.update(chunk)
            out.write(chunk)
    config = tmp_path / "config.toml"
    config.write_text(f"[store]\n{blobs_toml(PREFIX, bucket_server)}", encoding="utf-8")
    server = ServerProcess(config, tmp_path / "data", tmp_path / "server.log")
    try:
        s3 = boto3.client("s3", endpoint_url=server.s3_url, region_name="us-east-1",
                          aws_access_key_id="AKIABIFROSTTEST00000",
                          aws_secret_access_key="bifrost-test-secret")
        s3.create_bucket(Bucket="large")
        baseline = psutil.Process(server.process.pid).memory_info().rss
        with RssSampler(server.process.pid) as rss:
            with source.open("rb") as body:
                s3.put_object(Bucket="large", Key="k", Body=body)
            read_back = hashlib.md5()
            for chunk in s3.get_object(Bucket="large", Key="k")["Body"].iter_chunks(MIB):
                read_back.update(chunk)
        assert read_back.hexdigest() == md5.hexdigest()
        growth = max(rss.samples) - baseline
        # Two 8 MiB parts in flight, as received: measured at 17 MiB for this 256 MiB body.
        assert len(rss.samples) > 20 and growth < 48 * MIB, f"{growth / MIB:.0f} MiB"
    finally:
        server.close()
