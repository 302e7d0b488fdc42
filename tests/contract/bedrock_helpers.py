"""Helpers shared by the Bedrock batch contract tests: clients, records, jobs, waits, errors."""

from __future__ import annotations

import json
import re
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol, TypeVar

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from bifrost_py.testing import RunningServer

ACCESS_KEY = "AKIABIFROSTTEST00000"
SECRET_KEY = "bifrost-test-secret"
REGION = "us-west-2"
ACCOUNT = "123456789012"
ARN_PREFIX = f"arn:aws:bedrock:{REGION}:{ACCOUNT}:model-invocation-job/"
JOB_ARN = re.compile(re.escape(ARN_PREFIX) + r"[a-z0-9]{12}")
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/BedrockBatchInference"
CLAUDE = "anthropic.claude-3-sonnet-20240229-v1:0"
NOVA = "amazon.nova-lite-v1:0"
SLOW_MODEL = "slow-echo"
ENDED = frozenset({"Completed", "PartiallyCompleted", "Failed", "Stopped", "Expired"})
# A model whose records take latency_ms each, one or two at a time: jobs that stay InProgress
# long enough to be watched, stopped or collided with.
SLOW_CONFIG = f"""
[providers.local.models."{SLOW_MODEL}"]
latency_ms = 50
concurrency = 2
"""

T = TypeVar("T")
AwsCli = Callable[..., subprocess.CompletedProcess[str]]
Record = dict[str, Any]


# clients and servers


class Endpoints(Protocol):
    """Where a server listens: a RunningServer in a thread, or a server in a subprocess."""

    @property
    def s3_url(self) -> str: ...

    @property
    def bedrock_url(self) -> str: ...


def bedrock_client(server: Endpoints, **config: Any) -> Any:
    """A boto3 Bedrock client on `server` (config: botocore Config arguments)."""
    return boto3.client("bedrock", endpoint_url=server.bedrock_url, region_name=REGION,
                        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
                        config=Config(**config))


def s3_client(server: Endpoints) -> Any:
    return boto3.client("s3", endpoint_url=server.s3_url, region_name=REGION,
                        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)


def with_provider(client: Any, provider: str) -> Any:
    """`client` with the x-model-provider header on every request, as the user's seed does it."""
    def add_header(request: Any, **_: Any) -> None:
        request.headers["x-model-provider"] = provider

    client.meta.events.register("before-send", add_header)
    return client


def write_config(directory: Path, text: str) -> Path:
    path = directory / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


@contextmanager
def configured_server(directory: Path, config_text: str) -> Iterator[RunningServer]:
    """A server of its own on `directory`, started with `config_text` as its config.toml."""
    directory.mkdir(parents=True, exist_ok=True)
    with RunningServer(directory / "data", write_config(directory, config_text)) as server:
        yield server


def keys_toml(*keys: tuple[str, str, str]) -> str:
    """`[[keys]]` tables for config.toml, one per (access key id, secret, tenant)."""
    return "".join(f"""
[[keys]]
access_key_id = "{key_id}"
secret_access_key = "{secret}"
tenant = "{tenant}"
""" for key_id, secret, tenant in keys)


# names, records, inputs


def unique(prefix: str) -> str:
    """A job or bucket name no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def converse_record(i: int, record_id: str | None = None) -> Record:
    """A record in the Bedrock format of the user's seed (Converse-style modelInput)."""
    text = f"What is {i} + {i}? Answer briefly."
    record: Record = {"modelInput": {"messages": [{"role": "user", "content": [{"text": text}]}],
                                     "inferenceConfig": {"maxTokens": 100}}}
    if record_id is not None:
        record["recordId"] = record_id
    return record


def anthropic_record(i: int) -> Record:
    return {"recordId": f"claude-{i}", "modelInput": {
        "anthropic_version": "bedrock-2023-05-31", "max_tokens": 100,
        "system": "Answer briefly.",
        "messages": [{"role": "user", "content": f"Name the number {i}."}]}}


def numbered_records(count: int, prefix: str = "record") -> list[Record]:
    return [converse_record(i, f"{prefix}-{i:04d}") for i in range(count)]


def jsonl(records: list[Record], trailing_newline: bool = True) -> bytes:
    text = "\n".join(json.dumps(r) for r in records)
    return (text + "\n" if trailing_newline else text).encode()


def put_records(s3: Any, bucket: str, key: str, records: list[Record]) -> str:
    """Upload `records` as one JSONL object; its s3:// URI."""
    s3.put_object(Bucket=bucket, Key=key, Body=jsonl(records))
    return f"s3://{bucket}/{key}"


def user_text(record: Record) -> str:
    """The text a record asks about, whatever its modelInput style."""
    content = record["modelInput"]["messages"][-1]["content"]
    return content if isinstance(content, str) else content[0]["text"]


# jobs


def create_job(bedrock: Any, input_uri: str, output_uri: str, *, name: str | None = None,
               model_id: str = CLAUDE, **extra: Any) -> str:
    """CreateModelInvocationJob with the required members filled in; the job ARN."""
    response = bedrock.create_model_invocation_job(
        jobName=name or unique("job"), modelId=model_id, roleArn=extra.pop("roleArn", ROLE_ARN),
        inputDataConfig={"s3InputDataConfig": {"s3Uri": input_uri, "s3InputFormat": "JSONL"}},
        outputDataConfig={"s3OutputDataConfig": {"s3Uri": output_uri}}, **extra)
    arn: str = response["jobArn"]
    return arn


def job_id(arn: str) -> str:
    return arn.rsplit("/", 1)[1]


def wait_for(fetch: Callable[[], T], done: Callable[[T], bool], timeout: float = 20.0,
             interval: float = 0.05, what: str = "condition") -> T:
    """Call `fetch` until `done(value)`; the value, or AssertionError at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout} s; last value: {value!r}")
        time.sleep(interval)


def get_job(bedrock: Any, arn: str) -> dict[str, Any]:
    job: dict[str, Any] = bedrock.get_model_invocation_job(jobIdentifier=arn)
    return job


def wait_for_status(bedrock: Any, arn: str, statuses: frozenset[str] | set[str] = ENDED,
                    timeout: float = 20.0) -> dict[str, Any]:
    """Poll Get until the job's status is one of `statuses`; the last Get answer."""
    return wait_for(lambda: get_job(bedrock, arn), lambda job: job["status"] in statuses,
                    timeout, what=f"status in {sorted(statuses)} for {arn}")


def wait_for_progress(bedrock: Any, arn: str, timeout: float = 20.0) -> dict[str, Any]:
    """Poll Get until some records, but not all, are processed."""
    def partway(job: dict[str, Any]) -> bool:
        assert job["status"] not in ENDED, f"the job ended before it could be watched: {job}"
        return 0 < job.get("processedRecordCount", 0) < (job.get("totalRecordCount") or 0)

    return wait_for(lambda: get_job(bedrock, arn), partway, timeout, what=f"progress of {arn}")


def run_job(bedrock: Any, s3: Any, bucket: str, records: list[Record], *, key: str = "in.jsonl",
            **create: Any) -> tuple[str, dict[str, Any]]:
    """Upload `records`, run a job on them to its end; (job ARN, final Get answer)."""
    arn = create_job(bedrock, put_records(s3, bucket, key, records), f"s3://{bucket}/out/",
                     **create)
    return arn, wait_for_status(bedrock, arn)


def list_job_arns(bedrock: Any, **filters: Any) -> list[str]:
    """Every job ARN ListModelInvocationJobs returns for `filters`, across all pages."""
    pages = bedrock.get_paginator("list_model_invocation_jobs").paginate(**filters)
    return [job["jobArn"] for page in pages for job in page.get("invocationJobSummaries", [])]


# outputs


def output_key(arn: str, input_name: str, prefix: str = "out/") -> str:
    return f"{prefix}{job_id(arn)}/{input_name}.out"


def read_object(s3: Any, bucket: str, key: str) -> bytes:
    data: bytes = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    return data


def parse_lines(data: bytes) -> list[Record]:
    assert data.endswith(b"\n"), "every output line ends with a newline"
    return [json.loads(line) for line in data.splitlines()]


def output_lines(s3: Any, bucket: str, arn: str, input_name: str = "in.jsonl",
                 prefix: str = "out/") -> list[Record]:
    return parse_lines(read_object(s3, bucket, output_key(arn, input_name, prefix)))


def manifest(s3: Any, bucket: str, arn: str, prefix: str = "out/") -> dict[str, Any]:
    value: dict[str, Any] = json.loads(read_object(s3, bucket,
                                                   output_key(arn, "manifest.json", prefix)))
    return value


def counts(job: dict[str, Any]) -> dict[str, int]:
    """The record counts of a Get answer, keyed as the manifest keys them."""
    return {name: job[name] for name in ("totalRecordCount", "processedRecordCount",
                                         "successRecordCount", "errorRecordCount")}


def record_ids(lines: list[Record]) -> list[str]:
    return [line["recordId"] for line in lines]


def answer_text(model_output: Record) -> str:
    """The text of an Anthropic Messages or Converse/Nova response body."""
    if model_output.get("type") == "message":
        return "".join(block["text"] for block in model_output["content"])
    return "".join(block["text"] for block in model_output["output"]["message"]["content"])


def assert_manifest_matches(job: dict[str, Any], found: dict[str, Any],
                            lines: list[Record]) -> None:
    """The manifest's counts are Get's, and its token counts add up the output lines' usage."""
    assert {k: found[k] for k in counts(job)} == counts(job)
    usage = [line["modelOutput"]["usage"] for line in lines if "modelOutput" in line]
    assert found["inputTokenCount"] == sum(u.get("input_tokens", u.get("inputTokens", 0))
                                           for u in usage)
    assert found["outputTokenCount"] == sum(u.get("output_tokens", u.get("outputTokens", 0))
                                            for u in usage)


# a job that outlives its server: slow enough to interrupt, checked for every record exactly once

RESTART_MODEL = "restart-echo"
RESTART_RECORDS = 200
# 200 records at 60 ms, 4 at a time: about 3 s, long enough to interrupt the job partway. On a
# store replicas share (PostgreSQL) a killed server's leases are not the next one's to take back:
# they lapse, after the shortest lease allowed.
RESTART_CONFIG = f"""
[server]
job_lease_seconds = 3

[providers.local.models."{RESTART_MODEL}"]
latency_ms = 60
concurrency = 4
"""


def start_slow_job(server: Endpoints, records: int = RESTART_RECORDS) -> str:
    """A job of `records` slow records, watched until it is partway through; its ARN."""
    bedrock, s3 = bedrock_client(server), s3_client(server)
    s3.create_bucket(Bucket="restart")
    input_uri = put_records(s3, "restart", "in.jsonl", numbered_records(records))
    arn = create_job(bedrock, input_uri, "s3://restart/out/", model_id=RESTART_MODEL)
    wait_for_progress(bedrock, arn)
    return arn


def assert_finished_once(server: Endpoints, arn: str, records: int = RESTART_RECORDS) -> None:
    """The job of start_slow_job completed on `server` with every record in its output exactly
    once."""
    bedrock, s3 = bedrock_client(server), s3_client(server)
    job = wait_for_status(bedrock, arn, timeout=30)
    assert job["status"] == "Completed", job
    assert counts(job) == {"totalRecordCount": records, "processedRecordCount": records,
                           "successRecordCount": records, "errorRecordCount": 0}
    lines = output_lines(s3, "restart", arn)
    found = Counter(record_ids(lines))
    expected = {r["recordId"] for r in numbered_records(records)}
    doubled = sorted(record for record, times in found.items() if times > 1)
    assert found.keys() == expected and not doubled, (
        f"doubled: {doubled}, missing: {sorted(expected - found.keys())}, "
        f"unexpected: {sorted(found.keys() - expected)}")
    assert all("modelOutput" in line for line in lines)
    assert_manifest_matches(job, manifest(s3, "restart", arn), lines)


# errors


def expect_error(code: str, http_status: int, call: Callable[..., Any], /, *args: Any,
                 **kwargs: Any) -> dict[str, Any]:
    """Call `call`, require a Bedrock error `code` with `http_status` and AWS's error headers."""
    with pytest.raises(ClientError) as info:
        call(*args, **kwargs)
    response: dict[str, Any] = info.value.response
    headers = response["ResponseMetadata"]["HTTPHeaders"]
    assert response["Error"]["Code"] == code, response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == http_status, response
    assert headers.get("x-amzn-errortype", "").split(":")[0] == code, headers
    assert headers.get("x-amzn-requestid"), headers
    assert response["Error"]["Message"], response
    return response
