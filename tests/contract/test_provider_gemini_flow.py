"""The gemini provider end to end, files and records: plain boto3 with `x-model-provider: gemini`
against a bifrost server whose files are mirrored to, and whose jobs run on, the fake Gemini API
(google-genai): the seed document's flow, Gemini file ids, and Bedrock-format records translated
there and back."""

from __future__ import annotations

import json
import time
from typing import Any

import boto3
from bedrock_helpers import (
    answer_text,
    anthropic_record,
    assert_manifest_matches,
    converse_record,
    counts,
    job_id,
    jsonl,
    numbered_records,
    unique,
    user_text,
    wait_for,
    wait_for_status,
)
from gemini_helpers import *  # noqa: F403 - the fixtures fake, server, s3 and bedrock
from gemini_helpers import (
    MAPPED_MODEL,
    create,
    error_code,
    gemini_line,
    put_file,
    read_lines,
    sent_lines,
    upstream_of,
)

from bifrost_py.testing import RunningServer
from tests.fakes.gemini_fake import FakeGemini

# the seed document's flow


def test_the_seed_end_to_end_flow_runs_on_gemini(
        server: RunningServer, fake: FakeGemini) -> None:
    # The seed's Gemini example as written, but for roleArn (required) and the endpoint.
    region = "us-west-2"
    model_id = "gemini-1.5-flash"
    provider = "gemini"

    def add_provider_header(request: Any, **kwargs: Any) -> None:
        request.headers["x-model-provider"] = provider

    s3_client = boto3.client("s3", region_name=region, endpoint_url=server.s3_url,
                             aws_access_key_id="AKIAEXAMPLE", aws_secret_access_key="x")
    s3_client.meta.events.register("before-send", add_provider_header)
    bedrock_client = boto3.client("bedrock", region_name=region, endpoint_url=server.bedrock_url,
                                  aws_access_key_id="AKIAEXAMPLE", aws_secret_access_key="x")
    bedrock_client.meta.events.register("before-send", add_provider_header)

    def create_gemini_jsonl(num_requests: int) -> str:
        lines = []
        for i in range(num_requests):
            record = {
                "request": {
                    "contents": [{"role": "user",
                                  "parts": [{"text": f"What is {i+1} + {i+1}? Answer briefly."}]}],
                    "generationConfig": {"maxOutputTokens": 100},
                },
                "metadata": {"key": f"request-{i+1}"},
            }
            lines.append(json.dumps(record))
        return "\n".join(lines)

    jsonl_content = create_gemini_jsonl(num_requests=3)
    timestamp = int(time.time())
    upload_response = s3_client.put_object(
        Bucket="gemini-files", Key=f"batch_{timestamp}.jsonl", Body=jsonl_content.encode(),
        ContentType="application/jsonl")
    file_id = upload_response.get("ETag", "").strip('"')
    assert file_id.startswith("files/") and fake.files[file_id].data == jsonl_content.encode()
    job_response = bedrock_client.create_model_invocation_job(
        jobName=f"gemini-e2e-{timestamp}", modelId=model_id, roleArn="not-required-for-gemini",
        inputDataConfig={"s3InputDataConfig": {"s3Uri": f"s3://gemini-files/{file_id}",
                                               "s3InputFormat": "JSONL"}},
        outputDataConfig={"s3OutputDataConfig": {"s3Uri": "s3://gemini-output/"}})
    job_arn = job_response["jobArn"]
    for _ in range(200):
        status_response = bedrock_client.get_model_invocation_job(jobIdentifier=job_arn)
        if status_response["status"] in ["Completed", "Failed", "Stopped"]:
            break
        time.sleep(0.1)
    assert status_response["status"] == "Completed"
    assert counts(status_response) == {"totalRecordCount": 3, "processedRecordCount": 3,
                                       "successRecordCount": 3, "errorRecordCount": 0}
    list_response = bedrock_client.list_model_invocation_jobs(maxResults=20)
    assert job_arn in [job["jobArn"] for job in list_response["invocationJobSummaries"]]

    batch = upstream_of(fake, f"gemini-e2e-{timestamp}")
    assert batch.model == f"models/{model_id}"
    # Gemini reads a line's key from `key` only: the seed's `metadata.key` goes up as `key`.
    assert sent_lines(fake, batch) == [
        {"key": line["metadata"]["key"], "request": line["request"]}
        for line in map(json.loads, jsonl_content.splitlines())]
    lines = read_lines(s3_client, "gemini-output", f"{job_id(job_arn)}/batch_{timestamp}.jsonl.out")
    assert [line["recordId"] for line in lines] == ["request-1", "request-2", "request-3"]
    for i, line in enumerate(lines, 1):
        assert line["modelInput"] == json.loads(jsonl_content.splitlines()[i - 1])
        assert answer_text(line["modelOutput"]) == f"echo: What is {i} + {i}? Answer briefly."
    manifest = read_lines(s3_client, "gemini-output", f"{job_id(job_arn)}/manifest.json.out")[0]
    assert_manifest_matches(status_response, manifest, lines)


def test_gemini_file_ids_name_files_whatever_the_bucket_and_key(
        s3: Any, fake: FakeGemini) -> None:
    body = jsonl([gemini_line("a", "hello")], trailing_newline=False)
    key = unique("upload") + ".jsonl"
    file_id = put_file(s3, body, "gemini-files", key)
    assert fake.files[file_id].mime_type == "application/jsonl"
    assert fake.files[file_id].display_name == key
    head = s3.head_object(Bucket="any-bucket", Key="any/key", IfMatch=file_id)
    assert (head["ETag"], head["ContentLength"]) == (f'"{file_id}"', len(body))
    got = s3.get_object(Bucket="other", Key="x", IfMatch=file_id)
    assert got["Body"].read() == body and got["ETag"] == f'"{file_id}"'
    listed = s3.list_objects_v2(Bucket="gemini-files")["Contents"]
    assert {"Key": key, "ETag": f'"{file_id}"'} in [{k: o[k] for k in ("Key", "ETag")}
                                                   for o in listed]
    assert error_code(s3.head_object, Bucket="gemini-files", Key=key,
                      IfMatch="files/other")[0] == 412
    s3.delete_object(Bucket="any-bucket", Key="any/key", IfMatch=file_id)
    wait_for(lambda: fake.files[file_id].deleted, bool, what="the Gemini file's deletion")
    assert error_code(s3.head_object, Bucket="gemini-files", Key=key)[0] == 404


def test_replacing_an_object_replaces_its_gemini_file(s3: Any, fake: FakeGemini) -> None:
    key = unique("replaced") + ".jsonl"
    first = put_file(s3, b"one\n", key=key)
    second = put_file(s3, b"two\n", key=key)
    assert first != second and fake.files[second].data == b"two\n"
    wait_for(lambda: fake.files[first].deleted, bool, what="the old file's deletion")
    assert s3.get_object(Bucket="gemini-files", Key=key)["Body"].read() == b"two\n"


# Bedrock-format records


def test_bedrock_records_are_translated_and_answered_as_bedrock_output_lines(
        s3: Any, bedrock: Any, fake: FakeGemini) -> None:
    records = [*numbered_records(2), anthropic_record(7)]
    records[0]["modelInput"]["inferenceConfig"].update(temperature=0.5, topP=0.9,
                                                       stopSequences=["END"])
    key = unique("bedrock") + ".jsonl"
    file_id = put_file(s3, jsonl(records), key=key)
    name, bucket = unique("records"), unique("out")
    # The file id names the file in any bucket; [models] maps the model name.
    arn = create(bedrock, f"s3://elsewhere/{file_id}", f"s3://{bucket}/results/",
                     name=name, model_id=MAPPED_MODEL, roleArn="any role")
    job = wait_for_status(bedrock, arn)
    assert job["status"] == "Completed" and job["modelId"] == MAPPED_MODEL
    assert counts(job) == {"totalRecordCount": 3, "processedRecordCount": 3,
                           "successRecordCount": 3, "errorRecordCount": 0}

    batch = upstream_of(fake, name)
    assert batch.model == "models/gemini-2.0-flash"
    sent = {line["key"]: line["request"] for line in sent_lines(fake, batch)}
    assert sent["record-0000"] == {
        "contents": [{"role": "user", "parts": [{"text": "What is 0 + 0? Answer briefly."}]}],
        "generationConfig": {"maxOutputTokens": 100, "temperature": 0.5, "topP": 0.9,
                             "stopSequences": ["END"]}}
    assert sent["claude-7"]["systemInstruction"] == {"parts": [{"text": "Answer briefly."}]}

    # Outputs are named after the object the file id names.
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"results/{job_id(arn)}/")["Contents"]
    output = f"results/{job_id(arn)}/{key}.out"
    assert sorted(o["Key"] for o in listed) == sorted(
        [output, f"results/{job_id(arn)}/manifest.json.out"])
    lines = read_lines(s3, bucket, output)
    by_id = {line["recordId"]: line for line in lines}
    assert sorted(by_id) == sorted(r["recordId"] for r in records)
    for record in records:
        line = by_id[record["recordId"]]
        assert line["modelInput"] == record["modelInput"]
        assert answer_text(line["modelOutput"]) == "echo: " + user_text(record)
    assert by_id["claude-7"]["modelOutput"]["type"] == "message"  # Messages in, Messages out
    assert by_id["record-0000"]["modelOutput"]["stopReason"] == "end_turn"  # Converse shape
    assert_manifest_matches(job, read_lines(s3, bucket, f"results/{job_id(arn)}/"
                                                       "manifest.json.out")[0], lines)


def test_record_errors_become_error_lines_and_the_job_completes(
        s3: Any, bedrock: Any, fake: FakeGemini) -> None:
    fail = converse_record(1, "asks-to-fail")
    fail["modelInput"]["messages"][0]["content"][0]["text"] = "please FAIL"
    text = "\n".join([
        json.dumps(converse_record(0, "good")),
        json.dumps(fail),
        "this is not json",
        json.dumps({"recordId": "no-messages", "modelInput": {"inferenceConfig": {}}}),
        json.dumps({"key": "empty-request", "request": {}}),
        json.dumps(gemini_line("native", "native line")),
    ])
    key, bucket = unique("mixed") + ".jsonl", unique("out")
    file_id = put_file(s3, text.encode(), key=key)
    arn = create(bedrock, f"s3://gemini-files/{file_id}", f"s3://{bucket}/")
    job = wait_for_status(bedrock, arn)
    assert job["status"] == "Completed", job.get("message")
    assert counts(job) == {"totalRecordCount": 6, "processedRecordCount": 6,
                           "successRecordCount": 2, "errorRecordCount": 4}
    by_id = {line["recordId"]: line
             for line in read_lines(s3, bucket, f"{job_id(arn)}/{key}.out")}
    assert answer_text(by_id["good"]["modelOutput"]) == "echo: What is 0 + 0? Answer briefly."
    assert answer_text(by_id["native"]["modelOutput"]) == "echo: native line"
    assert by_id["asks-to-fail"]["error"] == {
        "errorCode": 500, "errorMessage": "fake per-request failure (FAIL in the prompt)"}
    assert by_id["empty-request"]["error"]["errorCode"] == 400
    assert by_id["no-messages"]["error"]["errorCode"] == 400
    bad = [line for line in by_id.values() if line["modelInput"] == "this is not json"]
    assert len(bad) == 1 and bad[0]["error"]["errorCode"] == 400
