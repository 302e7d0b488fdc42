"""A project's own test of Bedrock batch inference, using the fixtures the bifrost-py pytest plugin
provides once installed: `bifrost_s3` and `bifrost_bedrock` are boto3 clients on a real server."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest


def test_batch_job_answers_every_record(bifrost_s3: Any, bifrost_bedrock: Any) -> None:
    records = [{"recordId": f"q{i}", "modelInput": {
        "messages": [{"role": "user", "content": [{"text": f"What is {i} + {i}?"}]}]}}
        for i in range(3)]
    bifrost_s3.create_bucket(Bucket="my-batch")
    bifrost_s3.put_object(Bucket="my-batch", Key="in/questions.jsonl",
                          Body="\n".join(json.dumps(r) for r in records))

    job_arn = bifrost_bedrock.create_model_invocation_job(
        jobName="my-batch-job",
        modelId="amazon.nova-lite-v1:0",
        roleArn="arn:aws:iam::123456789012:role/BedrockBatch",
        inputDataConfig={"s3InputDataConfig": {"s3Uri": "s3://my-batch/in/questions.jsonl"}},
        outputDataConfig={"s3OutputDataConfig": {"s3Uri": "s3://my-batch/out/"}},
    )["jobArn"]
    for _ in range(100):
        job = bifrost_bedrock.get_model_invocation_job(jobIdentifier=job_arn)
        if job["status"] not in ("Submitted", "Validating", "Scheduled", "InProgress"):
            break
        time.sleep(0.1)
    assert job["status"] == "Completed"
    assert job["successRecordCount"] == 3

    job_id = job_arn.rsplit("/", 1)[1]
    output = bifrost_s3.get_object(Bucket="my-batch", Key=f"out/{job_id}/questions.jsonl.out")
    lines = [json.loads(line) for line in output["Body"].iter_lines()]
    answers = {line["recordId"]: line["modelOutput"]["output"]["message"]["content"][0]["text"]
               for line in lines}
    # The built-in echo model answers with the question; point the server at a real model
    # with a config.toml (see the `bifrost_config` fixture).
    assert answers == {"q0": "echo: What is 0 + 0?", "q1": "echo: What is 1 + 1?",
                       "q2": "echo: What is 2 + 2?"}


KEYS_CONFIG = """
[[keys]]
access_key_id = "AKIAPLUGINKEY0000000"
secret_access_key = "plugin-secret"
tenant = "suite"
"""

SUITE = """
def test_the_clients_work(bifrost_s3, bifrost_bedrock):
    bifrost_s3.create_bucket(Bucket="signed")
    bifrost_s3.put_object(Bucket="signed", Key="k", Body=b"v")
    assert bifrost_s3.get_object(Bucket="signed", Key="k")["Body"].read() == b"v"
    assert bifrost_bedrock.list_model_invocation_jobs()["invocationJobSummaries"] == []
"""


def test_the_fixtures_sign_with_the_configs_own_key(pytester: pytest.Pytester) -> None:
    """A user's suite whose config has [[keys]]: its fixtures' clients must be let in."""
    pytester.makefile(".toml", config=KEYS_CONFIG)
    pytester.makeconftest(
        "import pytest\n\n"
        "@pytest.fixture(scope='session')\n"
        "def bifrost_config():\n"
        f"    return {str(pytester.path / 'config.toml')!r}\n")
    pytester.makepyfile(test_suite=SUITE)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
