"""`bifrost-py check-config` and `bifrost-py jobs`, run as an operator runs them: a subprocess
beside a running server on the same data directory."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from bedrock_helpers import (
    CLAUDE,
    bedrock_client,
    converse_record,
    job_id,
    run_job,
    s3_client,
    unique,
    wait_for,
    write_config,
)
from openai_helpers import chat_line, client, run

from bifrost_py.testing import RunningServer
from tests.postgres import fresh_database

ROOT = Path(__file__).parents[2]
SECRET = "sk-never-print-this-0123"


def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bifrost_py", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=False)


def test_check_config_says_what_each_instance_uses_and_no_secret(tmp_path: Path) -> None:
    config = write_config(tmp_path, f"""
[providers.openai-main]
kind = "openai"
api_key = "{SECRET}"

[providers.azure-eu]
kind = "azure"
base_url = "https://eu.openai.azure.com"
api_key = "{SECRET}"

[providers.vertex]
project = "my-project"
staging_uri = "gs://my-bucket/bifrost/"

[providers.bedrock]
secret_access_key = "{SECRET}"
access_key_id = "AKIACHECKCONFIG00001"

[prices]
"anthropic.*" = {{ input = 1.5, output = 7.5 }}

[[webhooks]]
url = "https://hooks.example.com/x"
secret = "{SECRET}"
events = ["job.failed"]
""")
    done = cli("check-config", "--config", config)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert SECRET not in out + done.stderr
    assert "config OK" in out
    for line in ("provider local (kind local): files in the embedded store, records through echo",
                 "provider openai-main (kind openai): https://api.openai.com/v1, api key set",
                 "provider azure-eu (kind azure): https://eu.openai.azure.com (Azure, api-version",
                 "provider vertex (kind vertex): project my-project in us-central1, staging in "
                 "gs://my-bucket/bifrost/, application default credentials",
                 "provider bedrock (kind bedrock): AWS Bedrock in us-west-2, AWS S3, access key "
                 "AKIACHECKCONFIG00001",
                 "keys: none", "prices: 1 model patterns",
                 "webhook https://hooks.example.com/x: job.failed"):
        assert line in out, out


def test_check_config_refuses_a_bad_file_naming_the_key(tmp_path: Path) -> None:
    done = cli("check-config", "--config",
               write_config(tmp_path, "[providers.eu]\nkind = 'watsonx'\n"))
    assert done.returncode == 1
    assert "providers.eu.kind" in done.stderr


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> RunningServer:
    directory = tmp_path_factory.mktemp("cli-jobs")
    config = write_config(directory, '[prices]\n"anthropic.*" = { input = 3.0, output = 15.0 }\n')
    return RunningServer(directory / "data", config)


def test_jobs_lists_both_dialects_beside_a_running_server(server: RunningServer) -> None:
    with server:
        s3, bedrock = s3_client(server), bedrock_client(server)
        bucket = unique("cli")
        s3.create_bucket(Bucket=bucket)
        arn, job = run_job(bedrock, s3, bucket, [converse_record(i, f"r{i}") for i in range(3)],
                           model_id=CLAUDE)
        batch = run(client(server.openai_url), [chat_line(i, "gpt-4o-mini") for i in range(2)])
        listing = cli("jobs", "--data-dir", server.config.data_path)
        # The cost is settled just after the job ends.
        shown = wait_for(lambda: cli("jobs", arn, "--data-dir", server.config.data_path),
                         lambda done: "cost       0." in done.stdout, what="the job's cost")
        by_batch = cli("jobs", batch.id, "--data-dir", server.config.data_path)
    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.splitlines()
    assert lines[0].split()[:3] == ["JOB", "TENANT", "API"]
    bedrock_row = next(line for line in lines if line.startswith(job_id(arn)))
    assert "bedrock" in bedrock_row and "Completed" in bedrock_row
    assert "[##########] 3/3" in bedrock_row
    batch_row = next(line for line in lines if line.startswith(batch.id.removeprefix("batch_")))
    assert "openai" in batch_row and "2/2" in batch_row
    assert lines.index(batch_row) < lines.index(bedrock_row), "newest first"

    assert shown.returncode == 0, shown.stderr
    assert f"arn        {arn}" in shown.stdout
    assert "status     Completed" in shown.stdout
    assert f"model      {CLAUDE}" in shown.stdout
    assert "  Submitted" in shown.stdout and "  Completed" in shown.stdout
    assert job["status"] == "Completed"
    assert by_batch.returncode == 0 and "api        openai" in by_batch.stdout


def test_jobs_names_what_it_cannot_find(server: RunningServer, tmp_path: Path) -> None:
    missing = cli("jobs", "abcdefghijkl", "--data-dir", server.config.data_path)
    assert missing.returncode == 1 and "no job abcdefghijkl" in missing.stderr
    empty = cli("jobs", "--data-dir", tmp_path / "nothing-here")
    assert empty.returncode == 1 and "no database" in empty.stderr
    assert not (tmp_path / "nothing-here" / "bifrost.sqlite3").exists()


def test_jobs_reads_a_postgresql_store_beside_a_running_server(tmp_path: Path) -> None:
    with fresh_database() as url:
        config = write_config(tmp_path, f'[store]\ndatabase_url = "{url}"\n')
        with RunningServer(tmp_path / "data", config) as server:
            s3, bedrock = s3_client(server), bedrock_client(server)
            s3.create_bucket(Bucket="cli-pg")
            arn, _ = run_job(bedrock, s3, "cli-pg", [converse_record(0, "r0")], model_id=CLAUDE)
            listing = cli("jobs", "--config", config, "--data-dir", tmp_path / "elsewhere")
            shown = cli("jobs", arn, "--config", config)
    assert listing.returncode == 0, listing.stderr
    assert any(line.startswith(job_id(arn)) and "Completed" in line
               for line in listing.stdout.splitlines())
    assert shown.returncode == 0 and "status     Completed" in shown.stdout
