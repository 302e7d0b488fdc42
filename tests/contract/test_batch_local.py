"""Jobs the local provider runs itself: inputs (one object, a prefix, malformed lines), outputs
and manifest, model-family output shapes, stop and progress, and the openai-compatible backend
against a fake chat server that throttles and fails."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bedrock_helpers import (
    CLAUDE,
    NOVA,
    SLOW_CONFIG,
    SLOW_MODEL,
    AwsCli,
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
    manifest,
    numbered_records,
    output_key,
    output_lines,
    parse_lines,
    put_records,
    read_object,
    record_ids,
    run_job,
    s3_client,
    unique,
    user_text,
    wait_for,
    wait_for_progress,
    wait_for_status,
)

from bifrost_py.testing import RunningServer
from tests.fakes.chat import FakeChat
from tests.postgres import StoreToml

pytestmark = pytest.mark.every_store


@pytest.fixture
def bedrock(bifrost_bedrock: Any) -> Any:
    return bifrost_bedrock


@pytest.fixture(scope="module")
def slow_server(tmp_path_factory: pytest.TempPathFactory,
                store_toml: StoreToml) -> Iterator[RunningServer]:
    with store_toml() as toml, configured_server(tmp_path_factory.mktemp("slow"),
                                                 SLOW_CONFIG + toml) as server:
        yield server


def openai_config(fake: FakeChat, **settings: str | int) -> str:
    """[providers.local] on the openai-compatible backend, pointed at `fake`."""
    lines = ["[providers.local]", 'backend = "openai-compatible"', f'base_url = "{fake.url}/v1"',
             *(f"{key} = {json.dumps(value)}" for key, value in settings.items())]
    return "\n".join(lines) + "\n"


def assert_echoed(lines: list[Record], records: list[Record]) -> None:
    """Exactly one successful line per record, each answering its own record."""
    by_id = {r["recordId"]: r for r in records}
    assert sorted(record_ids(lines)) == sorted(by_id)
    for line in lines:
        assert "error" not in line, line
        record = by_id[line["recordId"]]
        assert line["modelInput"] == record["modelInput"]
        assert answer_text(line["modelOutput"]) == "echo: " + user_text(record)


# inputs and outputs


def test_a_job_writes_one_line_per_record_and_a_manifest_matching_get(
        bedrock: Any, s3: Any, bucket: str) -> None:
    records = numbered_records(5)
    arn, job = run_job(bedrock, s3, bucket, records)
    assert job["status"] == "Completed"
    assert counts(job) == {"totalRecordCount": 5, "processedRecordCount": 5,
                           "successRecordCount": 5, "errorRecordCount": 0}
    lines = output_lines(s3, bucket, arn)
    assert_echoed(lines, records)
    found = manifest(s3, bucket, arn)
    assert_manifest_matches(job, found, lines)
    assert found["inputTokenCount"] > 0 and found["outputTokenCount"] > 0


def test_outputs_read_the_same_through_aws_s3_cp_to_stdout(
        aws: AwsCli, bedrock: Any, s3: Any, bucket: str) -> None:
    arn, _ = run_job(bedrock, s3, bucket, numbered_records(3))
    for name in ("in.jsonl", "manifest.json"):
        key = output_key(arn, name)
        printed = aws("s3", "cp", f"s3://{bucket}/{key}", "-").stdout.encode()
        assert printed == read_object(s3, bucket, key)
    assert len(parse_lines(read_object(s3, bucket, output_key(arn, "in.jsonl")))) == 3


def test_a_prefix_input_runs_every_jsonl_under_it_and_names_outputs_by_relative_path(
        bedrock: Any, s3: Any, bucket: str) -> None:
    files = {"batch/a.jsonl": numbered_records(2, "a"),
             "batch/sub/b.jsonl": numbered_records(3, "b"),
             "batch/c.jsonl": numbered_records(1, "c")}
    for key, records in files.items():
        put_records(s3, bucket, key, records)
    s3.put_object(Bucket=bucket, Key="batch/notes.txt", Body=b"not a record\n")
    s3.put_object(Bucket=bucket, Key="other/d.jsonl", Body=jsonl(numbered_records(4, "d")))

    arn = create_job(bedrock, f"s3://{bucket}/batch/", f"s3://{bucket}/out/")
    job = wait_for_status(bedrock, arn)
    assert job["status"] == "Completed"
    assert counts(job) == {"totalRecordCount": 6, "processedRecordCount": 6,
                           "successRecordCount": 6, "errorRecordCount": 0}
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"out/{job_id(arn)}/")["Contents"]
    assert sorted(o["Key"] for o in listed) == sorted(
        output_key(arn, name) for name in ("a.jsonl", "sub/b.jsonl", "c.jsonl", "manifest.json"))
    for key, records in files.items():
        assert_echoed(output_lines(s3, bucket, arn, key.removeprefix("batch/")), records)


def test_malformed_lines_become_error_lines_and_the_job_still_completes(
        bedrock: Any, s3: Any, bucket: str) -> None:
    good = [converse_record(1, "good-1"), converse_record(2, "good-2")]
    text = "\n".join([
        json.dumps(good[0]),                           # line 1
        "this is not json",                            # line 2
        "[1, 2, 3]",                                   # line 3
        "",                                            # line 4: blank, skipped
        json.dumps({"recordId": "no-input"}),          # line 5
        "   ",                                         # line 6: blank, skipped
        json.dumps({"recordId": "bad-input", "modelInput": "a string"}),  # line 7
        json.dumps(good[1]),                           # line 8, no final newline
    ])
    s3.put_object(Bucket=bucket, Key="in.jsonl", Body=text.encode())
    arn = create_job(bedrock, f"s3://{bucket}/in.jsonl", f"s3://{bucket}/out/")
    job = wait_for_status(bedrock, arn)

    assert job["status"] == "Completed"
    assert counts(job) == {"totalRecordCount": 6, "processedRecordCount": 6,
                           "successRecordCount": 2, "errorRecordCount": 4}
    lines = output_lines(s3, bucket, arn)
    assert len(lines) == 6
    errors = [line for line in lines if "error" in line]
    assert_echoed([line for line in lines if "error" not in line], good)
    assert len(errors) == 4
    assert all(e["error"]["errorCode"] == 400 and e["error"]["errorMessage"] for e in errors)
    assert all("modelOutput" not in e for e in errors)
    ids = record_ids(errors)
    assert {"no-input", "bad-input"} <= set(ids)
    assert len(set(ids)) == 4 and all(isinstance(i, str) and i for i in ids)
    assert_manifest_matches(job, manifest(s3, bucket, arn), lines)


def test_a_record_without_a_record_id_gets_a_generated_one(
        bedrock: Any, s3: Any, bucket: str) -> None:
    records = [converse_record(1, "given"), converse_record(2), converse_record(3)]
    arn, job = run_job(bedrock, s3, bucket, records)
    assert (job["status"], job["successRecordCount"]) == ("Completed", 3)
    lines = output_lines(s3, bucket, arn)
    ids = record_ids(lines)
    generated = [i for i in ids if i != "given"]
    assert "given" in ids and len(generated) == 2 and len(set(generated)) == 2
    assert all(isinstance(i, str) and i for i in generated)
    answers = {answer_text(line["modelOutput"]) for line in lines}
    assert answers == {"echo: " + user_text(r) for r in records}


def test_a_missing_input_fails_the_job_with_a_message(bedrock: Any, bucket: str) -> None:
    arn = create_job(bedrock, f"s3://{bucket}/nothing-here.jsonl", f"s3://{bucket}/out/")
    job = wait_for_status(bedrock, arn)
    assert job["status"] == "Failed"
    assert "nothing-here.jsonl" in job["message"]
    assert "endTime" in job


# model families


def test_a_claude_job_outputs_anthropic_messages_responses(
        bedrock: Any, s3: Any, bucket: str) -> None:
    records = [anthropic_record(i) for i in range(2)]
    arn, job = run_job(bedrock, s3, bucket, records, model_id=CLAUDE)
    assert job["status"] == "Completed"
    for line in output_lines(s3, bucket, arn):
        output = line["modelOutput"]
        i = int(line["recordId"].rsplit("-", 1)[1])
        assert output["type"] == "message" and output["role"] == "assistant"
        assert output["model"] == CLAUDE and output["id"].startswith("msg_")
        assert output["content"] == [{"type": "text", "text": f"echo: Name the number {i}."}]
        assert output["stop_reason"] == "end_turn" and output["stop_sequence"] is None
        assert set(output["usage"]) >= {"input_tokens", "output_tokens"}
        assert output["usage"]["output_tokens"] > 0


def test_a_nova_job_outputs_nova_responses(bedrock: Any, s3: Any, bucket: str) -> None:
    records = numbered_records(2)
    arn, job = run_job(bedrock, s3, bucket, records, model_id=NOVA)
    assert job["status"] == "Completed"
    for line in output_lines(s3, bucket, arn):
        output = line["modelOutput"]
        assert set(output) == {"output", "stopReason", "usage"}
        assert output["output"]["message"]["role"] == "assistant"
        assert output["stopReason"] == "end_turn"
        usage = output["usage"]
        assert usage["totalTokens"] == usage["inputTokens"] + usage["outputTokens"]
    assert_echoed(output_lines(s3, bucket, arn), records)


def test_a_converse_job_outputs_converse_responses(bedrock: Any, s3: Any, bucket: str) -> None:
    records = [{"recordId": f"conv-{i}", "modelInput": {
        "system": [{"text": "Be brief."}],
        "messages": [{"role": "user", "content": [{"text": f"Converse {i}"}]}],
        "inferenceConfig": {"maxTokens": 50, "temperature": 0.2}}} for i in range(3)]
    arn, job = run_job(bedrock, s3, bucket, records, model_id=CLAUDE,
                       modelInvocationType="Converse")
    assert (job["status"], job["modelInvocationType"]) == ("Completed", "Converse")
    lines = output_lines(s3, bucket, arn)
    for line in lines:
        output = line["modelOutput"]
        assert set(output) == {"output", "stopReason", "usage", "metrics"}
        assert output["output"]["message"]["role"] == "assistant"
        assert output["output"]["message"]["content"] == [
            {"text": f"echo: Converse {line['recordId'].rsplit('-', 1)[1]}"}]
        assert isinstance(output["metrics"]["latencyMs"], int)
    assert_echoed(lines, records)


# stop and progress


def test_processed_record_count_grows_while_a_job_runs(slow_server: RunningServer) -> None:
    bedrock, s3 = bedrock_client(slow_server), s3_client(slow_server)
    bucket = unique("progress")
    s3.create_bucket(Bucket=bucket)
    arn = create_job(bedrock, put_records(s3, bucket, "in.jsonl", numbered_records(80)),
                     f"s3://{bucket}/out/", model_id=SLOW_MODEL)
    seen: list[int] = []

    def observe() -> dict[str, Any]:
        job = get_job(bedrock, arn)
        seen.append(job.get("processedRecordCount", 0))
        return job

    job = wait_for(observe, lambda j: j["status"] == "Completed", interval=0.1)
    assert seen == sorted(seen), "processedRecordCount never goes back"
    partway = {n for n in seen if 0 < n < 80}
    assert len(partway) >= 2, f"only saw {seen}"
    assert counts(job)["processedRecordCount"] == 80


def test_stop_of_a_running_job_goes_stopping_then_stopped_and_outputs_what_was_processed(
        slow_server: RunningServer) -> None:
    bedrock, s3 = bedrock_client(slow_server), s3_client(slow_server)
    bucket = unique("stop")
    s3.create_bucket(Bucket=bucket)
    records = numbered_records(100)
    arn = create_job(bedrock, put_records(s3, bucket, "in.jsonl", records),
                     f"s3://{bucket}/out/", model_id=SLOW_MODEL)
    wait_for_progress(bedrock, arn)

    bedrock.stop_model_invocation_job(jobIdentifier=arn)
    assert get_job(bedrock, arn)["status"] == "Stopping"
    job = wait_for_status(bedrock, arn)
    assert job["status"] == "Stopped"
    assert 0 < job["processedRecordCount"] < 100
    assert job["processedRecordCount"] == job["successRecordCount"]

    lines = output_lines(s3, bucket, arn)
    ids = record_ids(lines)
    assert len(ids) == len(set(ids)) == job["processedRecordCount"]
    assert set(ids) <= {r["recordId"] for r in records}
    assert_echoed(lines, [r for r in records if r["recordId"] in ids])
    assert_manifest_matches(job, manifest(s3, bucket, arn), lines)


# the openai-compatible backend


def test_openai_compatible_backend_retries_throttling_and_failures_until_every_record_succeeds(
        tmp_path: Path) -> None:
    records = numbered_records(12)
    with FakeChat(fail_every=3) as fake, configured_server(
            tmp_path, openai_config(fake, concurrency=8, model="llama3")) as server:
        bedrock, s3 = bedrock_client(server), s3_client(server)
        s3.create_bucket(Bucket="flaky")
        arn, job = run_job(bedrock, s3, "flaky", records, model_id=CLAUDE)
        assert job["status"] == "Completed"
        assert counts(job) == {"totalRecordCount": 12, "processedRecordCount": 12,
                               "successRecordCount": 12, "errorRecordCount": 0}
        lines = output_lines(s3, "flaky", arn)
        assert_echoed(lines, records)
        assert_manifest_matches(job, manifest(s3, "flaky", arn), lines)
    assert fake.failures >= 2, "the fake answered both 429 and 500"
    assert fake.requests == len(records) + fake.failures
    assert {body["model"] for body in fake.bodies} == {"llama3"}
    asked = {body["messages"][-1]["content"] for body in fake.bodies}
    assert asked == {user_text(r) for r in records}
    assert all(body["max_tokens"] == 100 for body in fake.bodies)


def test_openai_compatible_backend_refusals_become_error_lines_with_code_400(
        tmp_path: Path) -> None:
    records = numbered_records(4)
    with FakeChat(fail_every=1, fail_status=400) as fake, configured_server(
            tmp_path, openai_config(fake)) as server:
        bedrock, s3 = bedrock_client(server), s3_client(server)
        s3.create_bucket(Bucket="refused")
        arn, job = run_job(bedrock, s3, "refused", records, model_id=CLAUDE)
        assert job["status"] == "Completed"
        assert counts(job) == {"totalRecordCount": 4, "processedRecordCount": 4,
                               "successRecordCount": 0, "errorRecordCount": 4}
        lines = output_lines(s3, "refused", arn)
    assert sorted(record_ids(lines)) == sorted(r["recordId"] for r in records)
    for line in lines:
        assert line["error"]["errorCode"] == 400
        assert "fake failure" in line["error"]["errorMessage"]
        assert "modelOutput" not in line
    assert fake.requests == 4, "a refusal is not retried"
    assert {body["model"] for body in fake.bodies} == {CLAUDE}
