"""Per-key request rate limits and the structured access log, with keys configured."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from bifrost_py.testing import RunningServer

KEY_ID, SECRET = "AKIALIMITSTEST000001", "limits-secret-value"


def write_config(tmp_path: Path, rate: float) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(f'''
[server]
requests_per_second_per_key = {rate}

[[keys]]
access_key_id = "{KEY_ID}"
secret_access_key = "{SECRET}"
tenant = "team-logs"
''')
    return path


@pytest.fixture
def slow_server(tmp_path: Path) -> Iterator[RunningServer]:
    with RunningServer(tmp_path / "data", write_config(tmp_path, 2)) as server:
        yield server


def client(server: RunningServer, service: str) -> Any:
    url = server.s3_url if service == "s3" else server.bedrock_url
    return boto3.client(service, endpoint_url=url, region_name="us-west-2",
                        aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET,
                        config=Config(retries={"total_max_attempts": 1}))


def refusals(call: Any, times: int) -> list[tuple[str, int]]:
    codes = []
    for _ in range(times):
        try:
            call()
        except ClientError as exc:
            codes.append((exc.response["Error"]["Code"],
                          exc.response["ResponseMetadata"]["HTTPStatusCode"]))
    return codes


def test_a_key_over_its_rate_gets_slow_down_on_s3(slow_server: RunningServer) -> None:
    s3 = client(slow_server, "s3")
    codes = refusals(s3.list_buckets, 12)
    assert codes and set(codes) == {("SlowDown", 503)}


def test_a_key_over_its_rate_gets_throttling_on_bedrock(slow_server: RunningServer) -> None:
    bedrock = client(slow_server, "bedrock")
    codes = refusals(bedrock.list_model_invocation_jobs, 12)
    assert codes and set(codes) == {("ThrottlingException", 429)}


def test_every_request_logs_one_line_without_secrets(tmp_path: Path,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    with RunningServer(tmp_path / "data", write_config(tmp_path, 0)) as server:
        s3, bedrock = client(server, "s3"), client(server, "bedrock")
        with caplog.at_level(logging.INFO, logger="bifrost_py.access"):
            s3.create_bucket(Bucket="logged")
            s3.put_object(Bucket="logged", Key="k", Body=b"x")
            with pytest.raises(ClientError):
                s3.get_object(Bucket="logged", Key="missing")
            bedrock.list_model_invocation_jobs()
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "bifrost_py.access"]
    assert [(line["mount"], line["operation"], line["status"]) for line in lines] == [
        ("s3", "create_bucket", 200), ("s3", "put_object", 200), ("s3", "get_object", 404),
        ("bedrock", "list_jobs", 200)]
    assert all(line["tenant"] == "team-logs" and len(line["request_id"]) == 16
               and line["ms"] >= 0 for line in lines)
    everything = "\n".join(r.getMessage() for r in caplog.records)
    assert SECRET not in everything and "Signature=" not in everything
