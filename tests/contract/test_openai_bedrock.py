"""OpenAI batches on the bedrock provider: the requests written to S3 as Bedrock records in the
model family's body, run as a batch inference job with the configured role, the outputs read back
and answered as chat.completion lines; AWS's minimum of 100 records told at create."""

# Fixtures imported from bedrock_upstream are redefined as test arguments, as pytest means them.
# ruff: noqa: F811

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from bedrock_helpers import configured_server, unique
from bedrock_upstream import (  # noqa: F401 - fixtures
    CONFIGURED_ROLE,
    HAIKU,
    SignedS3,
    bedrock_config,
    direct,
    fake,
    fake_defaults,
    moto,
    signed_s3,
)
from openai_helpers import CHAT, answer, chat_line, client, file_lines, run, upload

from bifrost_py.testing import RunningServer
from tests.fakes.bedrock_fake import FakeBedrock, MotoS3

NOVA = "amazon.nova-lite-v1:0"
RECORDS = 100  # AWS's minimum for a batch inference job


@pytest.fixture(scope="module")
def staging(moto: MotoS3) -> str:
    bucket = unique("staging")
    moto.client().create_bucket(Bucket=bucket,
                                CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    return bucket


@pytest.fixture(scope="module")
def server(signed_s3: SignedS3, fake: FakeBedrock, staging: str,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    config = bedrock_config(signed_s3.url, fake).replace(
        "[providers.bedrock]", f'[providers.bedrock]\nstaging_uri = "s3://{staging}/batches/"')
    with configured_server(tmp_path_factory.mktemp("openai-bedrock"), config) as running:
        yield running


@pytest.mark.parametrize("model", [HAIKU, NOVA])
def test_an_openai_batch_runs_as_bedrock_batch_inference(
        server: RunningServer, fake: FakeBedrock, direct: Any, staging: str,
        model: str) -> None:
    sdk = client(server.openai_url, "bedrock")
    lines = [chat_line(i, model) for i in range(RECORDS)]
    lines[7] = chat_line(7, model, "FAIL this one")
    batch = run(sdk, lines)
    assert batch.status == "completed", (batch.errors, batch)
    assert batch.request_counts is not None
    assert (batch.request_counts.total, batch.request_counts.completed,
            batch.request_counts.failed) == (RECORDS, RECORDS - 1, 1)

    upstream = next(job for job in fake.jobs.values()
                    if job.spec["clientRequestToken"] == batch.id.removeprefix("batch_"))
    assert (upstream.spec["roleArn"], upstream.spec["modelId"]) == (CONFIGURED_ROLE, model)
    staged = upstream.spec["inputDataConfig"]["s3InputDataConfig"]["s3Uri"]
    assert staged.startswith(f"s3://{staging}/batches/")
    key = staged.removeprefix(f"s3://{staging}/")
    records = [json.loads(line) for line in
               direct.get_object(Bucket=staging, Key=key)["Body"].read().splitlines()]
    assert [r["recordId"] for r in records] == [line["custom_id"] for line in lines]
    family_field = "anthropic_version" if model == HAIKU else "inferenceConfig"
    assert all(family_field in r["modelInput"] for r in records)

    answered = file_lines(sdk, batch.output_file_id)
    assert len(answered) == RECORDS - 1
    one = answered["request-3"]
    openai.types.chat.ChatCompletion.model_validate(one["response"]["body"])
    assert answer(one) == "echo: What is 3 + 3?"
    failed = file_lines(sdk, batch.error_file_id)["request-7"]
    assert failed["response"]["status_code"] == 400
    assert "FAIL" in failed["response"]["body"]["error"]["message"]


def test_fewer_records_than_aws_takes_are_refused_at_create(server: RunningServer) -> None:
    sdk = client(server.openai_url, "bedrock")
    file_id = upload(sdk, [chat_line(i, HAIKU) for i in range(RECORDS - 1)])
    with pytest.raises(openai.BadRequestError) as info:
        sdk.batches.create(input_file_id=file_id, endpoint=CHAT, completion_window="24h")
    error = info.value.body
    assert isinstance(error, dict) and error["param"] == "input_file_id"
    assert "at least 100 records" in error["message"]


def test_without_staging_the_bedrock_provider_says_what_to_configure(
        tmp_path: Path, signed_s3: SignedS3, fake: FakeBedrock) -> None:
    with configured_server(tmp_path, bedrock_config(signed_s3.url, fake)) as unstaged:
        sdk = client(unstaged.openai_url, "bedrock")
        file_id = upload(sdk, [chat_line(i, HAIKU) for i in range(RECORDS)])
        with pytest.raises(openai.BadRequestError) as info:
            sdk.batches.create(input_file_id=file_id, endpoint=CHAT, completion_window="24h")
    assert isinstance(info.value.body, dict)
    assert "staging_uri" in info.value.body["message"]
