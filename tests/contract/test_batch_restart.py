"""A job survives its server: killed with SIGKILL mid-job, or stopped with SIGTERM, the server
comes back on the same data directory and finishes the job with every record exactly once."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from bedrock_helpers import (
    RESTART_CONFIG,
    assert_finished_once,
    bedrock_client,
    get_job,
    job_id,
    start_slow_job,
    write_config,
)
from server_process import ServerProcess

from tests.postgres import StoreToml

pytestmark = pytest.mark.every_store

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
        config = write_config(tmp_path, RESTART_CONFIG + toml)
        yield start
        for server in started:
            server.close()


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
