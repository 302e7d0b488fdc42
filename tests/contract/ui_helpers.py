"""What the dashboard's tests share: a server with two tenants and an operator, their jobs, and
logged-in HTTP clients."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import httpx
from bedrock_helpers import (
    REGION,
    configured_server,
    converse_record,
    create_job,
    job_id,
    unique,
    wait_for_status,
)
from openai_helpers import chat_line, client, upload, wait

from bifrost_py.domain.jobs import COMPLETED, Job, job_arn
from bifrost_py.store.blobs.disk import DiskBlobs
from bifrost_py.store.sqlite.store import SqliteStore
from bifrost_py.testing import RunningServer

OPERATOR_TOKEN = "operator-token-0123456789"
PRICES = (1.25, 5.0)  # dollars per million input, output tokens of "gpt-*"
# A model id and a job name that would run as script if the page did not escape them.
SCRIPT_MODEL = "gpt-<script>alert('model')</script>"
SCRIPT_NAME = "<script>alert('name')</script>"


@dataclass(frozen=True)
class Tenant:
    name: str
    access_key: str
    secret: str
    token: str

    def toml(self) -> str:
        return (f'\n[[keys]]\naccess_key_id = "{self.access_key}"\nsecret_access_key = '
                f'"{self.secret}"\ntenant = "{self.name}"\nbearer_token = "{self.token}"\n')

    def boto(self, server: RunningServer, service: str) -> Any:
        url = server.s3_url if service == "s3" else server.bedrock_url
        return boto3.client(service, endpoint_url=url, region_name=REGION,
                            aws_access_key_id=self.access_key,
                            aws_secret_access_key=self.secret)


ALPHA = Tenant("alpha", "AKIAUIALPHA000000000", "alpha-secret", "alpha-token-0123456789")
BETA = Tenant("beta", "AKIAUIBETA0000000000", "beta-secret", "beta-token-0123456789")


def config_toml(latency_ms: float = 0, keys: bool = True) -> str:
    server = f'[server]\nmetrics_token = "{OPERATOR_TOKEN}"\n' if keys else ""
    return (f'{server}\n[providers.local]\nlatency_ms = {latency_ms}\nconcurrency = 1\n'
            f'\n[prices]\n"gpt-*" = {{ input = {PRICES[0]}, output = {PRICES[1]} }}\n'
            + (ALPHA.toml() + BETA.toml() if keys else ""))


@contextmanager
def dashboard_server(directory: Path, latency_ms: float = 0,
                     keys: bool = True) -> Iterator[RunningServer]:
    with configured_server(directory, config_toml(latency_ms, keys)) as server:
        yield server


@contextmanager
def logged_in(server: RunningServer, token: str) -> Iterator[httpx.Client]:
    """A client holding the session cookie a login with `token` set."""
    with httpx.Client(base_url=server.url, timeout=10) as browser:
        response = browser.post("/ui/login", data={"token": token})
        assert response.status_code == 303, response.text
        yield browser


def batch_lines(count: int, model: str = SCRIPT_MODEL) -> list[dict[str, Any]]:
    """`count` chat requests, and one the local backend refuses (its messages are no list)."""
    bad = chat_line(count, model)
    bad["body"]["messages"] = "not a list"
    return [chat_line(i, model) for i in range(count)] + [bad]


def start_batch(server: RunningServer, tenant: Tenant, lines: list[dict[str, Any]]) -> str:
    """An OpenAI-dialect batch of `tenant`; its job id."""
    sdk = client(server.openai_url, api_key=tenant.token)
    batch = sdk.batches.create(input_file_id=upload(sdk, lines), endpoint="/v1/chat/completions",
                               completion_window="24h")
    return batch.id.removeprefix("batch_")


def run_batch(server: RunningServer, tenant: Tenant, lines: list[dict[str, Any]]) -> str:
    job = start_batch(server, tenant, lines)
    wait(client(server.openai_url, api_key=tenant.token), f"batch_{job}")
    return job


def run_bedrock_job(server: RunningServer, tenant: Tenant, count: int) -> tuple[str, str]:
    """A Bedrock-dialect job of `tenant` on `count` records and a line that is not JSON, run
    to its end; (job id, bucket)."""
    s3, bedrock = tenant.boto(server, "s3"), tenant.boto(server, "bedrock")
    bucket = unique("ui")
    s3.create_bucket(Bucket=bucket)
    body = b"\n".join(json.dumps(converse_record(i)).encode() for i in range(count))
    s3.put_object(Bucket=bucket, Key="in.jsonl", Body=body + b"\nthis is not json\n")
    arn = create_job(bedrock, f"s3://{bucket}/in.jsonl", f"s3://{bucket}/out/")
    wait_for_status(bedrock, arn)
    return job_id(arn), bucket


def seed_named_job(data_dir: Path, tenant: str, name: str) -> str:
    """An ended job written straight into the store, before the server opens it: the wire
    refuses such a name, the dashboard must still show one safely."""
    async def seed() -> str:
        store = SqliteStore(data_dir, DiskBlobs(data_dir))
        await store.open()
        now = time.time()
        job = Job(job_id="seededjob001", arn=job_arn(REGION, "123456789012", "seededjob001"),
                  name=name, provider="local", model_id=name, role_arn="", status=COMPLETED,
                  submit_time=now, last_modified=now,
                  input_config={"s3InputDataConfig": {"s3Uri": "s3://b/in.jsonl"}},
                  output_config={"s3OutputDataConfig": {"s3Uri": "s3://b/out/"}},
                  tenant=tenant)
        await store.jobs.create(job, [])
        await store.close()
        return job.job_id

    return asyncio.run(seed())

