"""What the test_provider_gemini_* modules share: the fake Gemini API (google-genai) and a bifrost
server whose files are mirrored to, and whose jobs run on, it; plain boto3 clients with
`x-model-provider: gemini`; and what reads the upstream batches and the output back.

A test module takes the fixtures (`__all__`: the module-scoped fake and server, the autouse reset of
the fake, the clients) with `from gemini_helpers import *`, and with them a fake and a server of its
own.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from bedrock_helpers import (
    bedrock_client,
    configured_server,
    create_job,
    s3_client,
    wait_for,
    with_provider,
)
from botocore.exceptions import ClientError

from bifrost_py.testing import RunningServer
from tests.fakes.gemini_fake import FakeBatch, FakeGemini

__all__ = ["bedrock", "fake", "fake_defaults", "s3", "server"]

API_KEY = "gemini-test-key-0123"
SEED_MODEL = "gemini-1.5-flash"
MAPPED_MODEL = "my-gemini"  # [models] sends it as gemini-2.0-flash


def gemini_config(fake: FakeGemini) -> str:
    return f"""
[providers.gemini]
api_key = "{API_KEY}"
base_url = "{fake.url}"
api_version = "v1beta"
poll_interval = 0.2
max_retries = 1
timeout_seconds = 10

[models."{MAPPED_MODEL}"]
gemini = "gemini-2.0-flash"
"""


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeGemini]:
    with FakeGemini(api_key=API_KEY, process_seconds=0.4) as server:
        yield server


@pytest.fixture(autouse=True)
def fake_defaults(fake: FakeGemini) -> Iterator[None]:
    """Each test leaves the shared fake unheld, completing its batches, with its key."""
    yield
    fake.hold, fake.outcome, fake.api_key = False, "completed", API_KEY
    fake.fail_requests(0, 500)


@pytest.fixture(scope="module")
def server(fake: FakeGemini, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with configured_server(tmp_path_factory.mktemp("gemini"), gemini_config(fake)) as s:
        yield s


@pytest.fixture
def s3(server: RunningServer) -> Any:
    return with_provider(s3_client(server), "gemini")


@pytest.fixture
def bedrock(server: RunningServer) -> Any:
    return with_provider(bedrock_client(server), "gemini")


def upstream_of(fake: FakeGemini, job_name: str) -> FakeBatch:
    """The fake's batch for our job: created with the job's name as its display name."""
    found = wait_for(lambda: [b for b in fake.batches.values() if b.display_name == job_name],
                     bool, what=f"the upstream batch of {job_name}")
    assert len(found) == 1, found
    return found[0]


def sent_lines(fake: FakeGemini, batch: FakeBatch) -> list[dict[str, Any]]:
    """The request file the batch was created from, as uploaded."""
    name = batch.body["batch"]["inputConfig"]["fileName"]
    return [json.loads(line) for line in fake.files[name].data.splitlines()]


def read_lines(s3: Any, bucket: str, key: str) -> list[dict[str, Any]]:
    body: bytes = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    assert body.endswith(b"\n")
    return [json.loads(line) for line in body.splitlines()]


def gemini_line(key: str, text: str) -> dict[str, Any]:
    return {"key": key, "request": {"contents": [{"role": "user", "parts": [{"text": text}]}]}}


def put_file(s3: Any, body: bytes, bucket: str = "gemini-files", key: str = "in.jsonl") -> str:
    """Upload through the server; the Gemini file name (the ETag without quotes)."""
    etag: str = s3.put_object(Bucket=bucket, Key=key, Body=body)["ETag"]
    assert etag.startswith('"files/') and etag.endswith('"'), etag
    return etag.strip('"')


def create(bedrock: Any, input_uri: str, output_uri: str, **extra: Any) -> str:
    """create_job with a Gemini model unless told otherwise."""
    return create_job(bedrock, input_uri, output_uri, **{"model_id": SEED_MODEL, **extra})


def error_code(call: Any, **kwargs: Any) -> tuple[int, str, str]:
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    response = info.value.response
    return (response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"],
            response["Error"].get("Message", ""))
