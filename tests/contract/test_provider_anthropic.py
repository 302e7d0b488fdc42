"""Jobs on the anthropic provider, end to end through plain boto3 with the x-model-provider header:
the server keeps the files and sends each job's records inline to a fake Message Batches API."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bedrock_helpers import (
    CLAUDE,
    Record,
    answer_text,
    anthropic_record,
    assert_manifest_matches,
    bedrock_client,
    configured_server,
    converse_record,
    counts,
    create_job,
    get_job,
    job_id,
    jsonl,
    list_job_arns,
    manifest,
    output_key,
    output_lines,
    put_records,
    read_object,
    record_ids,
    run_job,
    s3_client,
    unique,
    wait_for,
    wait_for_status,
    with_provider,
)

from bifrost_py.config import AnthropicConfig
from bifrost_py.domain.jobs import Job
from bifrost_py.ports.upstream import Poll, UpstreamRefused
from bifrost_py.providers.anthropic import batch as adapter
from bifrost_py.testing import RunningServer
from tests.fakes.anthropic_fake import FakeAnthropic

CLAUDE_NAME = "claude-3-5-sonnet-20241022"  # what [models] maps CLAUDE to for anthropic
API_KEY = "test-key"
WRONG_KEY = "sk-ant-wrong-0123456789"


def anthropic_config(fake: FakeAnthropic, api_key: str = API_KEY) -> str:
    return f"""
[providers.anthropic]
api_key = "{api_key}"
base_url = "{fake.url}"
poll_interval = 0.2
max_retries = 1
timeout_seconds = 5

[models."{CLAUDE}"]
anthropic = "{CLAUDE_NAME}"
"""


@pytest.fixture(scope="module")
def server_fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic(api_key=API_KEY, process_seconds=0.3) as fake:
        yield fake


@pytest.fixture
def fake(server_fake: FakeAnthropic) -> FakeAnthropic:
    server_fake.reset()
    return server_fake


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory,
           server_fake: FakeAnthropic) -> Iterator[RunningServer]:
    with configured_server(tmp_path_factory.mktemp("anthropic"),
                           anthropic_config(server_fake)) as running:
        yield running


@pytest.fixture
def s3(server: RunningServer) -> Any:
    return with_provider(s3_client(server), "anthropic")


@pytest.fixture
def bedrock(server: RunningServer) -> Any:
    return with_provider(bedrock_client(server), "anthropic")


@pytest.fixture
def bucket() -> str:
    return unique("your-s3-bucket")  # buckets are created on first put, as the seed expects


def native_line(i: int, **params: Any) -> Record:
    """A line already in Anthropic's batch format."""
    return {"custom_id": f"request-{i + 1}", "params": {
        "model": CLAUDE_NAME, "max_tokens": 100,
        "messages": [{"role": "user", "content": f"What is {i + 1} + {i + 1}?"}], **params}}


def sent_params(fake: FakeAnthropic) -> list[dict[str, Any]]:
    """The params of every request the fake received, in order."""
    return [item["params"] for batch in fake.batches.values() for item in batch.requests]


def seed_flow(bedrock: Any, s3: Any, bucket: str, content: bytes) -> tuple[str, dict[str, Any]]:
    """The seed's end-to-end workflow, with roleArn added and no `statistics`: upload, create,
    poll to a terminal state, find the job in the list. (job ARN, final Get answer)."""
    timestamp = int(time.time())
    s3_key = f"bifrost-batch-input/batch_{timestamp}.jsonl"
    upload = s3.put_object(Bucket=bucket, Key=s3_key, Body=content,
                           ContentType="application/jsonl")
    file_id = upload.get("ETag", "").strip('"')
    job_arn = bedrock.create_model_invocation_job(
        jobName=f"bifrost-e2e-{timestamp}", modelId=CLAUDE,
        roleArn="not-required-for-anthropic",
        inputDataConfig={"s3InputDataConfig": {"s3Uri": f"s3://{bucket}/{s3_key}",
                                               "s3InputFormat": "JSONL"}},
        outputDataConfig={"s3OutputDataConfig": {"s3Uri": f"s3://{bucket}/bifrost-batch-output/"}},
        tags=[{"key": "endpoint", "value": "/v1/chat/completions"},
              {"key": "file_id", "value": file_id}],
    )["jobArn"]
    job = wait_for_status(bedrock, job_arn, {"Completed", "Failed", "Stopped"})
    assert job_arn in list_job_arns(bedrock, maxResults=20)
    return job_arn, job


def seed_outputs(s3: Any, bucket: str, arn: str) -> list[Record]:
    """The output lines of the seed flow's one input file, found by listing the job's outputs."""
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"bifrost-batch-output/{job_id(arn)}/")
    (name,) = [o["Key"].rsplit("/", 1)[1] for o in listed["Contents"]
               if not o["Key"].endswith("manifest.json.out")]
    return output_lines(s3, bucket, arn, name.removesuffix(".out"), "bifrost-batch-output/")


# the seed's workflow


def test_seed_flow_with_native_anthropic_lines(fake: FakeAnthropic, bedrock: Any, s3: Any,
                                               bucket: str) -> None:
    lines = [native_line(0), native_line(1, anthropic_version="bedrock-2023-05-31"),
             {"custom_id": "request-3", "params": {"messages": [
                 {"role": "user", "content": "no model, no max_tokens"}]}}]
    arn, job = seed_flow(bedrock, s3, bucket, jsonl(lines, trailing_newline=False))

    assert job["status"] == "Completed"
    assert counts(job) == {"totalRecordCount": 3, "processedRecordCount": 3,
                           "successRecordCount": 3, "errorRecordCount": 0}
    params = sent_params(fake)
    assert [p["model"] for p in params] == [CLAUDE_NAME] * 3
    assert not any("anthropic_version" in p for p in params)
    assert params[2]["max_tokens"] == 4096
    outputs = {line["recordId"]: line for line in seed_outputs(s3, bucket, arn)}
    assert sorted(outputs) == ["request-1", "request-2", "request-3"]
    assert outputs["request-1"]["modelInput"] == lines[0]
    assert answer_text(outputs["request-1"]["modelOutput"]) == "echo: What is 1 + 1?"
    assert answer_text(outputs["request-3"]["modelOutput"]) == "echo: no model, no max_tokens"


def test_seed_flow_with_bedrock_records(fake: FakeAnthropic, bedrock: Any, s3: Any,
                                        bucket: str) -> None:
    records = [converse_record(i + 1, f"request-{i + 1}") for i in range(3)]
    records.append(anthropic_record(4))
    arn, job = seed_flow(bedrock, s3, bucket, jsonl(records, trailing_newline=False))

    assert job["status"] == "Completed"
    assert counts(job) == {"totalRecordCount": 4, "processedRecordCount": 4,
                           "successRecordCount": 4, "errorRecordCount": 0}
    params = sent_params(fake)
    assert {p["model"] for p in params} == {CLAUDE_NAME}  # the [models] name, not the Bedrock id
    assert not any("anthropic_version" in p or "anthropic_beta" in p for p in params)
    assert params[-1]["system"] == "Answer briefly."
    lines = seed_outputs(s3, bucket, arn)
    assert sorted(record_ids(lines)) == sorted(r["recordId"] for r in records)
    for line in lines:
        output = line["modelOutput"]  # an Anthropic Messages response, as Claude on Bedrock
        assert output["type"] == "message" and output["model"] == CLAUDE
        assert output["usage"]["input_tokens"] > 0 and output["stop_reason"] == "end_turn"
    by_id = {line["recordId"]: line for line in lines}
    assert answer_text(by_id["request-2"]["modelOutput"]) == "echo: What is 2 + 2? Answer briefly."
    found = manifest(s3, bucket, arn, "bifrost-batch-output/")
    assert_manifest_matches(job, found, lines)


# stop, outages, throttling


def test_stop_goes_through_stopping_to_stopped(fake: FakeAnthropic, bedrock: Any, s3: Any,
                                               bucket: str) -> None:
    fake.hold = True
    arn = create_job(bedrock, put_records(s3, bucket, "in.jsonl", [converse_record(1, "a")]),
                     f"s3://{bucket}/out/")
    wait_for_status(bedrock, arn, {"InProgress"})
    bedrock.stop_model_invocation_job(jobIdentifier=arn)
    wait_for_status(bedrock, arn, {"Stopping"})
    wait_for(lambda: [b.processing_status for b in fake.batches.values()],
             lambda states: states in (["canceling"], ["ended"]), what="cancel")
    job = wait_for_status(bedrock, arn)
    assert job["status"] == "Stopped"
    assert ("POST", f"/v1/messages/batches/{next(iter(fake.batches))}/cancel") in fake.requests


def test_an_outage_mid_job_loses_nothing(fake: FakeAnthropic, bedrock: Any, s3: Any,
                                         bucket: str) -> None:
    records = [converse_record(i, f"r{i}") for i in range(3)]
    fake.hold = True
    arn = create_job(bedrock, put_records(s3, bucket, "in.jsonl", records), f"s3://{bucket}/out/")
    wait_for_status(bedrock, arn, {"InProgress"})
    fake.stop()
    try:
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:  # polls fail meanwhile; Get answers from the store
            started = time.monotonic()
            assert get_job(bedrock, arn)["status"] == "InProgress"
            assert time.monotonic() - started < 0.5
            time.sleep(0.1)
    finally:
        fake.start()
    fake.hold = False
    job = wait_for_status(bedrock, arn, timeout=30)
    assert (job["status"], job["successRecordCount"]) == ("Completed", 3)
    assert sorted(record_ids(output_lines(s3, bucket, arn))) == ["r0", "r1", "r2"]


@pytest.mark.parametrize("status", [429, 500])
def test_bursts_of_429_and_500_are_ridden_out(fake: FakeAnthropic, bedrock: Any, s3: Any,
                                              bucket: str, status: int) -> None:
    fake.fail_requests(3, status)  # more than the SDK's own retry absorbs
    _, job = run_job(bedrock, s3, bucket, [converse_record(1, "a"), converse_record(2, "b")])
    assert (job["status"], job["successRecordCount"]) == ("Completed", 2)
    assert fake.requests.count(("POST", "/v1/messages/batches")) > 1
    assert len(fake.batches) == 1  # the failed attempts created nothing


# bad input, bad records, bad credentials


def test_malformed_lines_become_error_lines(fake: FakeAnthropic, bedrock: Any, s3: Any,
                                           bucket: str) -> None:
    text = "\n".join(["not json", json.dumps(converse_record(1, "good")),
                      json.dumps({"recordId": "empty", "modelInput": {"messages": []}})])
    s3.put_object(Bucket=bucket, Key="in.jsonl", Body=text.encode())
    arn = create_job(bedrock, f"s3://{bucket}/in.jsonl", f"s3://{bucket}/out/")
    job = wait_for_status(bedrock, arn)
    assert job["status"] == "Completed"
    assert counts(job) == {"totalRecordCount": 3, "processedRecordCount": 3,
                           "successRecordCount": 1, "errorRecordCount": 2}
    errors = [line for line in output_lines(s3, bucket, arn) if "error" in line]
    assert {e["error"]["errorCode"] for e in errors} == {400}
    assert len(sent_params(fake)) == 1  # only the good record went upstream


def test_a_batch_anthropic_refuses_fails_the_job_with_its_message(
        fake: FakeAnthropic, bedrock: Any, s3: Any, bucket: str) -> None:
    bad = {"custom_id": "not a valid id!", "params": native_line(0)["params"]}
    _, job = run_job(bedrock, s3, bucket, [native_line(1), bad])
    assert job["status"] == "Failed"
    assert "anthropic" in job["message"] and "custom_id" in job["message"]
    assert fake.batches == {}


def test_a_missing_input_fails_the_job(bedrock: Any, bucket: str) -> None:
    arn = create_job(bedrock, f"s3://{bucket}/missing.jsonl", f"s3://{bucket}/out/")
    job = wait_for_status(bedrock, arn)
    assert job["status"] == "Failed" and "missing.jsonl" in job["message"]


def test_errored_requests_become_error_lines(fake: FakeAnthropic, bedrock: Any, s3: Any,
                                             bucket: str) -> None:
    records = [converse_record(1, "ok"), {"recordId": "boom", "modelInput": {
        "messages": [{"role": "user", "content": [{"text": "please FAIL"}]}]}}]
    arn, job = run_job(bedrock, s3, bucket, records)
    assert job["status"] == "Completed"
    assert counts(job) == {"totalRecordCount": 2, "processedRecordCount": 2,
                           "successRecordCount": 1, "errorRecordCount": 1}
    by_id = {line["recordId"]: line for line in output_lines(s3, bucket, arn)}
    assert by_id["boom"]["error"] == {"errorCode": 400,
                                      "errorMessage": "fake: the request asked to FAIL"}
    assert "modelOutput" in by_id["ok"]


def test_a_wrong_api_key_fails_the_job_naming_the_provider(
        tmp_path: Path, fake: FakeAnthropic) -> None:
    with configured_server(tmp_path, anthropic_config(fake, WRONG_KEY)) as running:
        s3 = with_provider(s3_client(running), "anthropic")
        bedrock = with_provider(bedrock_client(running), "anthropic")
        bucket = unique("bucket")
        _, job = run_job(bedrock, s3, bucket, [converse_record(1, "a")])
    assert job["status"] == "Failed"
    assert "anthropic" in job["message"] and "rejected" in job["message"]
    assert WRONG_KEY not in job["message"]
    assert fake.batches == {}


@pytest.mark.parametrize(("records", "status", "success"), [(4, "PartiallyCompleted", 2),
                                                             (1, "Expired", 0)])
def test_expired_batches(fake: FakeAnthropic, bedrock: Any, s3: Any, bucket: str, records: int,
                         status: str, success: int) -> None:
    fake.outcome = "expired"
    arn, job = run_job(bedrock, s3, bucket, [converse_record(i, f"r{i}") for i in range(records)])
    assert (job["status"], job["successRecordCount"]) == (status, success)
    assert "expired" in job["message"]
    assert len(read_object(s3, bucket, output_key(arn, "in.jsonl")).splitlines()) == success


# alongside local jobs


def test_list_and_get_show_anthropic_and_local_jobs(fake: FakeAnthropic, server: RunningServer,
                                                    bedrock: Any, s3: Any, bucket: str) -> None:
    local_s3 = with_provider(s3_client(server), "local")
    local_bedrock = with_provider(bedrock_client(server), "local")
    local_bucket = unique("local")
    local_arn = create_job(local_bedrock, put_records(local_s3, local_bucket, "in.jsonl",
                                                      [converse_record(1, "l")]),
                           f"s3://{local_bucket}/out/")
    remote_arn, _ = run_job(bedrock, s3, bucket, [converse_record(2, "a")])
    assert wait_for_status(local_bedrock, local_arn)["status"] == "Completed"
    listed = list_job_arns(bedrock)
    assert {local_arn, remote_arn} <= set(listed)
    assert get_job(bedrock, local_arn)["status"] == "Completed"
    assert get_job(local_bedrock, remote_arn)["modelId"] == CLAUDE


# the adapter's own limits (no server: nothing reaches upstream)


def a_job() -> Job:
    return Job("abcdefghijkl", "arn", "name", "anthropic", CLAUDE, "role", "InProgress", 0.0,
               0.0, {}, {})


def submit(path: Path, count: int, fake: FakeAnthropic) -> None:
    async def go() -> None:
        api = adapter.AnthropicBatch(AnthropicConfig(api_key=API_KEY, base_url=fake.url),
                                     lambda model_id: model_id)
        try:
            await api.submit(a_job(), path, count)
        finally:
            await api.aclose()

    asyncio.run(go())


def test_cancelling_a_batch_that_ended_meanwhile_is_not_an_error(
        tmp_path: Path, fake: FakeAnthropic) -> None:
    path = tmp_path / "requests.jsonl"
    path.write_bytes(jsonl([native_line(0)]))

    async def go() -> None:
        api = adapter.AnthropicBatch(AnthropicConfig(api_key=API_KEY, base_url=fake.url),
                                     lambda model_id: model_id)
        try:
            upstream = await api.submit(a_job(), path, 1)
            poll = await wait_until_ended(api, upstream)
            await api.cancel(a_job(), upstream)  # refused upstream (400): the batch has ended
            assert (poll.status, poll.counts.success) == ("Completed", 1)
        finally:
            await api.aclose()

    asyncio.run(go())
    assert sum(1 for _, route in fake.requests if route.endswith("/cancel")) == 1


async def wait_until_ended(api: adapter.AnthropicBatch, upstream: dict[str, Any]) -> Poll:
    deadline = time.monotonic() + 5
    while not (poll := await api.poll(a_job(), upstream)).results_ready:
        assert time.monotonic() < deadline, "the batch did not end"
        await asyncio.sleep(0.05)
    return poll


def test_more_than_100000_requests_are_refused(tmp_path: Path, fake: FakeAnthropic) -> None:
    path = tmp_path / "requests.jsonl"
    path.write_bytes(b'{"custom_id": "x", "params": {}}\n' * 100_001)
    with pytest.raises(UpstreamRefused, match="at most 100,000 requests"):
        submit(path, 100_001, fake)
    assert fake.requests == []


def test_more_than_256_mb_is_refused(tmp_path: Path, fake: FakeAnthropic,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(adapter, "MAX_BYTES", 1000)  # stands in for 256 MB
    path = tmp_path / "requests.jsonl"
    path.write_bytes(json.dumps(native_line(0)).encode() * 20)
    with pytest.raises(UpstreamRefused, match="at most 256 MB"):
        submit(path, 1, fake)
    assert fake.requests == []
