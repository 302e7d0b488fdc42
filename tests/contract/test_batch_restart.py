"""A job survives its server: killed with SIGKILL mid-job, or stopped with SIGTERM, the server
comes back on the same data directory and finishes the job with every record exactly once."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from bedrock_helpers import (
    assert_manifest_matches,
    bedrock_client,
    counts,
    create_job,
    get_job,
    job_id,
    manifest,
    numbered_records,
    output_lines,
    put_records,
    record_ids,
    s3_client,
    wait_for_progress,
    wait_for_status,
    write_config,
)
from server_process import ServerProcess

from tests.postgres import StoreToml

pytestmark = pytest.mark.every_store

MODEL = "restart-echo"
RECORDS = 200
# 200 records at 60 ms, 4 at a time: about 3 s, long enough to interrupt the job partway. On a
# store replicas share (PostgreSQL) a killed server's leases are not the next one's to take back:
# they lapse, after the shortest lease allowed.
CONFIG = f"""
[server]
job_lease_seconds = 3

[providers.local.models."{MODEL}"]
latency_ms = 60
concurrency = 4
"""


StartServer = Callable[[], ServerProcess]


@pytest.fixture
def start_server(tmp_path: Path, store_toml: StoreToml) -> Iterator[StartServer]:
    """Start a server process on tmp_path's data dir and the test's store (again after a
    restart); all are closed."""
    started: list[ServerProcess] = []

    def start() -> ServerProcess:
        server = ServerProcess(config, tmp_path / "data", tmp_path / "server.log")
        started.append(server)
        return server

    with store_toml() as toml:
        config = write_config(tmp_path, CONFIG + toml)
        yield start
        for server in started:
            server.close()


def start_slow_job(server: ServerProcess) -> str:
    """A job of RECORDS slow records, watched until it is partway through; its ARN."""
    bedrock, s3 = bedrock_client(server), s3_client(server)
    s3.create_bucket(Bucket="restart")
    input_uri = put_records(s3, "restart", "in.jsonl", numbered_records(RECORDS))
    arn = create_job(bedrock, input_uri, "s3://restart/out/", model_id=MODEL)
    wait_for_progress(bedrock, arn)
    return arn


def assert_finished_once(server: ServerProcess, arn: str) -> None:
    """The job completed on `server` with every record in its output exactly once."""
    bedrock, s3 = bedrock_client(server), s3_client(server)
    job = wait_for_status(bedrock, arn, timeout=30)
    assert job["status"] == "Completed", job
    assert counts(job) == {"totalRecordCount": RECORDS, "processedRecordCount": RECORDS,
                           "successRecordCount": RECORDS, "errorRecordCount": 0}
    lines = output_lines(s3, "restart", arn)
    assert sorted(record_ids(lines)) == [r["recordId"] for r in numbered_records(RECORDS)]
    assert all("modelOutput" in line for line in lines)
    assert_manifest_matches(job, manifest(s3, "restart", arn), lines)


def test_a_job_killed_with_sigkill_midway_resumes_and_writes_every_record_once(
        start_server: StartServer) -> None:
    first = start_server()
    arn = start_slow_job(first)
    assert first.signal(signal.SIGKILL) == -signal.SIGKILL

    second = start_server()
    assert get_job(bedrock_client(second), job_id(arn))["jobArn"] == arn
    assert_finished_once(second, arn)


def test_sigterm_stops_the_server_cleanly_and_the_job_resumes_after_restart(
        start_server: StartServer) -> None:
    first = start_server()
    arn = start_slow_job(first)
    started = time.monotonic()
    exit_code = first.signal(signal.SIGTERM)
    assert time.monotonic() - started < 5
    assert "Application shutdown complete" in first.log_path.read_text()

    second = start_server()
    assert_finished_once(second, arn)
    assert exit_code == 0, f"exit code {exit_code} after SIGTERM"


def test_an_idle_server_exits_zero_on_sigterm(start_server: StartServer) -> None:
    server = start_server()
    bedrock_client(server).list_model_invocation_jobs()
    started = time.monotonic()
    exit_code = server.signal(signal.SIGTERM)
    assert time.monotonic() - started < 5
    assert "Application shutdown complete" in server.log_path.read_text()
    assert exit_code == 0, f"exit code {exit_code} after SIGTERM"
