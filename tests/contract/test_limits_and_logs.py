"""Limits with keys configured (per-key request rate, jobs in flight per tenant, records per
job) and the structured access log."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from bedrock_helpers import CLAUDE, converse_record, create_job, expect_error, wait_for_status
from botocore.config import Config
from botocore.exceptions import ClientError

from bifrost_py.testing import RunningServer

KEY_ID, SECRET = "AKIALIMITSTEST000001", "limits-secret-value"
OTHER_ID, OTHER_SECRET = "AKIALIMITSTEST000002", "limits-other-secret"
SLOW = "slow-echo"


def write_config(tmp_path: Path, rate: float, extra: str = "") -> Path:
    path = tmp_path / "config.toml"
    path.write_text(f'''
[server]
requests_per_second_per_key = {rate}
{extra}

[providers.local.models."{SLOW}"]
latency_ms = 100
concurrency = 1

[[keys]]
access_key_id = "{KEY_ID}"
secret_access_key = "{SECRET}"
tenant = "team-logs"

[[keys]]
access_key_id = "{OTHER_ID}"
secret_access_key = "{OTHER_SECRET}"
tenant = "team-other"
''')
    return path


@pytest.fixture
def slow_server(tmp_path: Path) -> Iterator[RunningServer]:
    with RunningServer(tmp_path / "data", write_config(tmp_path, 2)) as server:
        yield server


def client(server: RunningServer, service: str, key: tuple[str, str] = (KEY_ID, SECRET)) -> Any:
    url = server.s3_url if service == "s3" else server.bedrock_url
    return boto3.client(service, endpoint_url=url, region_name="us-west-2",
                        aws_access_key_id=key[0], aws_secret_access_key=key[1],
                        config=Config(retries={"total_max_attempts": 1}))


@pytest.fixture
def quota_server(tmp_path: Path) -> Iterator[RunningServer]:
    limits = "max_jobs_in_flight_per_tenant = 2\nmax_records_per_job = 5"
    with RunningServer(tmp_path / "data", write_config(tmp_path, 0, limits)) as server:
        yield server


def start_job(server: RunningServer, records: int, model: str = SLOW,
              key: tuple[str, str] = (KEY_ID, SECRET)) -> str:
    s3, bedrock = client(server, "s3", key), client(server, "bedrock", key)
    lines = b"".join(json.dumps(converse_record(i)).encode() + b"\n" for i in range(records))
    bucket = f"in-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="in.jsonl", Body=lines)
    return create_job(bedrock, f"s3://{bucket}/in.jsonl", f"s3://{bucket}/out/", model_id=model)


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


def test_a_tenant_at_its_jobs_in_flight_limit_gets_service_quota_exceeded(
        quota_server: RunningServer) -> None:
    bedrock = client(quota_server, "bedrock")
    first, _ = start_job(quota_server, 5), start_job(quota_server, 5)
    expect_error("ServiceQuotaExceededException", 400, start_job, quota_server, 1)
    other = start_job(quota_server, 1, CLAUDE, (OTHER_ID, OTHER_SECRET))  # per tenant
    assert wait_for_status(client(quota_server, "bedrock", (OTHER_ID, OTHER_SECRET)),
                           other)["status"] == "Completed"
    bedrock.stop_model_invocation_job(jobIdentifier=first)
    assert wait_for_status(bedrock, first)["status"] == "Stopped"
    start_job(quota_server, 1)  # a stopped job no longer counts


def test_a_job_over_the_records_limit_fails_and_one_at_it_completes(
        quota_server: RunningServer) -> None:
    bedrock = client(quota_server, "bedrock")
    over = wait_for_status(bedrock, start_job(quota_server, 6, CLAUDE))
    assert over["status"] == "Failed"
    assert "6 records" in over["message"] and "max_records_per_job" in over["message"]
    at = wait_for_status(bedrock, start_job(quota_server, 5, CLAUDE))
    assert at["status"] == "Completed" and at["successRecordCount"] == 5
