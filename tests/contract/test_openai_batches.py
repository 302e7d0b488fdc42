"""The OpenAI dialect's batches through the real openai SDK, on every provider: the four steps of
the user's guide (upload, create, poll, fetch), answers in OpenAI's shape whoever ran them, and
OpenAI's own errors for what OpenAI refuses."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from bedrock_helpers import configured_server
from openai_helpers import (
    CHAT,
    EMBEDDINGS,
    answer,
    chat_line,
    client,
    embeddings_line,
    file_lines,
    jsonl,
    run,
    upload,
    wait,
)

from bifrost_py.testing import RunningServer
from tests.fakes.anthropic_fake import FakeAnthropic
from tests.fakes.gemini_fake import FakeGemini
from tests.fakes.openai_fake import FakeOpenAI
from tests.postgres import StoreToml

pytestmark = pytest.mark.every_store

KEY = "test-key"
MODELS = {"local": "gpt-4o-mini", "openai": "gpt-4o-mini",
          "anthropic": "claude-3-5-haiku-latest", "gemini": "gemini-2.0-flash"}
PROVIDERS = list(MODELS)
Fakes = dict[str, Any]


@pytest.fixture(scope="module")
def fakes() -> Iterator[Fakes]:
    with (FakeOpenAI(api_key=KEY, process_seconds=0.2) as openai_fake,
          FakeGemini(api_key=KEY, process_seconds=0.2) as gemini,
          FakeAnthropic(api_key=KEY, process_seconds=0.2) as anthropic):
        yield {"openai": openai_fake, "gemini": gemini, "anthropic": anthropic}


@pytest.fixture(scope="module")
def server(fakes: Fakes, tmp_path_factory: pytest.TempPathFactory,
           store_toml: StoreToml) -> Iterator[RunningServer]:
    config = f"""
[providers.local]
latency_ms = 5

[providers.openai]
api_key = "{KEY}"
base_url = "{fakes['openai'].url}/v1"
poll_interval = 0.2
max_retries = 0

[providers.gemini]
api_key = "{KEY}"
base_url = "{fakes['gemini'].url}"
poll_interval = 0.2

[providers.anthropic]
api_key = "{KEY}"
base_url = "{fakes['anthropic'].url}"
poll_interval = 0.2
"""
    with store_toml() as toml, configured_server(tmp_path_factory.mktemp("openai-dialect"),
                                                 config + toml) as running:
        yield running


@pytest.fixture(autouse=True)
def fakes_reset(fakes: Fakes) -> Iterator[None]:
    yield
    fakes["openai"].hold = False
    fakes["gemini"].hold = False


# the four steps, on every provider

@pytest.mark.parametrize("provider", PROVIDERS)
def test_the_guides_four_steps_run_on_every_provider(server: RunningServer,
                                                     provider: str) -> None:
    sdk = client(server.openai_url, provider)
    model = MODELS[provider]
    lines = [chat_line(i, model) for i in range(1, 4)]
    file = sdk.files.create(file=("request.jsonl", io.BytesIO(jsonl(lines))), purpose="batch")
    batch_job = sdk.batches.create(input_file_id=file.id, endpoint=CHAT,
                                   completion_window="24h")
    assert batch_job.status == "validating" and batch_job.id.startswith("batch_")
    batch_status = wait(sdk, batch_job.id)
    assert batch_status.status == "completed"
    assert batch_status.request_counts is not None
    assert (batch_status.request_counts.total, batch_status.request_counts.completed,
            batch_status.request_counts.failed) == (3, 3, 0)
    assert batch_status.model == model and batch_status.error_file_id is None
    assert batch_status.in_progress_at and batch_status.completed_at
    output = sdk.files.content(batch_status.output_file_id or "").content.decode("utf-8")
    answered = {line["custom_id"]: line for line in map(json.loads, output.splitlines())}
    assert sorted(answered) == ["request-1", "request-2", "request-3"]
    for i in range(1, 4):
        line = answered[f"request-{i}"]
        assert line["response"]["status_code"] == 200 and line["error"] is None
        body = line["response"]["body"]
        assert body["object"] == "chat.completion" and body["usage"]["total_tokens"] > 0
        assert f"What is {i} + {i}?" in answer(line)
        openai.types.chat.ChatCompletion.model_validate(body)


@pytest.mark.parametrize("provider", ["local", "anthropic"])
def test_the_async_sdk_runs_the_same_steps(server: RunningServer, provider: str) -> None:
    async def steps() -> tuple[str, int]:
        sdk = openai.AsyncOpenAI(base_url=server.openai_url, api_key="any",
                                 default_headers={"x-model-provider": provider})
        lines = [chat_line(i, MODELS[provider]) for i in range(2)]
        file = await sdk.files.create(file=("a.jsonl", jsonl(lines)), purpose="batch")
        batch = await sdk.batches.create(input_file_id=file.id, endpoint=CHAT,
                                         completion_window="24h")
        while batch.status not in ("completed", "failed"):
            await asyncio.sleep(0.1)
            batch = await sdk.batches.retrieve(batch.id)
        content = await sdk.files.content(batch.output_file_id or "")
        await sdk.close()
        return batch.status, len(content.text.splitlines())

    assert asyncio.run(steps()) == ("completed", 2)


def test_the_openai_provider_hands_back_openais_own_answers(server: RunningServer,
                                                            fakes: Fakes) -> None:
    sdk = client(server.openai_url, "openai")
    batch = run(sdk, [chat_line(1, "gpt-4o-mini"), chat_line(2, "gpt-4o-mini", "FAIL")])
    assert batch.status == "completed"
    assert (batch.request_counts.completed, batch.request_counts.failed) == (1, 1)  # type: ignore[union-attr]
    job_id = batch.id.removeprefix("batch_")
    upstream = next(b for b in fakes["openai"].batches.values()
                    if (b["metadata"] or {}).get("bifrost_job") == job_id)
    assert upstream["endpoint"] == CHAT
    sent = fakes["openai"].files[upstream["input_file_id"]].content.splitlines()
    assert [json.loads(line) for line in sent] == [
        chat_line(1, "gpt-4o-mini"), chat_line(2, "gpt-4o-mini", "FAIL")]
    ours = file_lines(sdk, batch.output_file_id)["request-1"]
    # OpenAI's body as it came: the fake's own completion id and fields, not a rewritten one.
    assert ours["response"]["body"]["id"].startswith("chatcmpl-")
    assert ours["response"]["body"]["model"] == "gpt-4o-mini"
    failed = file_lines(sdk, batch.error_file_id)["request-2"]
    assert failed["response"]["status_code"] == 400
    assert failed["response"]["body"]["error"]["code"] == "invalid_request"


# embeddings

@pytest.mark.parametrize("provider", ["local", "openai"])
def test_embeddings_batches_answer_an_embedding_list(server: RunningServer,
                                                     provider: str) -> None:
    sdk = client(server.openai_url, provider)
    batch = run(sdk, [embeddings_line(i) for i in range(2)], EMBEDDINGS)
    assert batch.status == "completed", batch.errors
    for line in file_lines(sdk, batch.output_file_id).values():
        body = openai.types.CreateEmbeddingResponse.model_validate(line["response"]["body"])
        assert len(body.data) == 2 and all(len(item.embedding) > 1 for item in body.data)


def test_local_embeddings_are_deterministic(server: RunningServer) -> None:
    sdk = client(server.openai_url, "local")
    first, second = (file_lines(sdk, run(sdk, [embeddings_line(1)], EMBEDDINGS).output_file_id)
                     for _ in range(2))
    vectors = [line["embed-1"]["response"]["body"]["data"] for line in (first, second)]
    assert vectors[0] == vectors[1]


@pytest.mark.parametrize("provider", ["anthropic", "gemini"])
def test_an_endpoint_the_provider_cannot_run_is_refused_at_create(server: RunningServer,
                                                                  provider: str) -> None:
    sdk = client(server.openai_url, provider)
    file_id = upload(sdk, [embeddings_line(1)])
    with pytest.raises(openai.BadRequestError) as info:
        sdk.batches.create(input_file_id=file_id, endpoint=EMBEDDINGS,
                           completion_window="24h")
    error = info.value.body
    assert isinstance(error, dict) and error["param"] == "endpoint"
    assert provider in error["message"] and CHAT in error["message"]


# what OpenAI refuses

def _failed_with(sdk: openai.OpenAI, content: bytes) -> list[tuple[str, int | None]]:
    batch = sdk.batches.create(input_file_id=upload(sdk, content), endpoint=CHAT,
                               completion_window="24h")
    done = wait(sdk, batch.id)
    assert done.status == "failed" and done.output_file_id is None
    assert done.errors is not None and done.errors.data
    return [(error.code or "", error.line) for error in done.errors.data]


def test_a_bad_line_fails_the_batch_with_openais_errors(server: RunningServer) -> None:
    sdk = client(server.openai_url, "local")
    good = chat_line(1, "gpt-4o-mini")
    wrong_url = {**chat_line(2, "gpt-4o-mini"), "url": EMBEDDINGS}
    no_id = {k: v for k, v in chat_line(3, "gpt-4o-mini").items() if k != "custom_id"}
    content = jsonl([good, wrong_url, no_id]) + b"\n{not json\n" + jsonl([good])
    assert _failed_with(sdk, content) == [("invalid_url", 2), ("missing_required_parameter", 3),
                                          ("invalid_json_line", 4), ("duplicate_custom_id", 5)]


def test_a_batch_is_for_one_model(server: RunningServer) -> None:
    sdk = client(server.openai_url, "local")
    lines = [chat_line(1, "gpt-4o-mini"), chat_line(2, "gpt-4o")]
    assert _failed_with(sdk, jsonl(lines)) == [("mismatched_model", 2)]


@pytest.mark.parametrize(("args", "param"), [
    ({"input_file_id": "file-nope"}, "input_file_id"),
    ({"completion_window": "1h"}, "completion_window"),
    ({"endpoint": "/v1/completions"}, "endpoint"),
    ({"metadata": {f"k{i}": "v" for i in range(17)}}, "metadata"),
])
def test_what_openai_refuses_at_create_is_refused_at_create(
        server: RunningServer, args: dict[str, Any], param: str) -> None:
    sdk = client(server.openai_url, "local")
    params = {"input_file_id": upload(sdk, [chat_line(1, "m")]), "endpoint": CHAT,
              "completion_window": "24h", **args}
    with pytest.raises(openai.APIStatusError) as info:
        sdk.batches.create(**params)
    assert info.value.status_code in (400, 404)
    assert isinstance(info.value.body, dict) and info.value.body["param"] == param


def test_a_file_uploaded_for_another_purpose_is_not_a_batch_input(server: RunningServer) -> None:
    sdk = client(server.openai_url, "local")
    file = sdk.files.create(file=("notes.txt", b"hello"), purpose="user_data")
    with pytest.raises(openai.BadRequestError) as info:
        sdk.batches.create(input_file_id=file.id, endpoint=CHAT, completion_window="24h")
    assert isinstance(info.value.body, dict) and info.value.body["param"] == "input_file_id"


# cancel, outages, listing

def test_cancel_mid_run_goes_through_cancelling_to_cancelled(server: RunningServer,
                                                             fakes: Fakes) -> None:
    fakes["openai"].hold = True
    sdk = client(server.openai_url, "openai")
    batch = sdk.batches.create(input_file_id=upload(sdk, [chat_line(i, "gpt-4o-mini")
                                                          for i in range(3)]),
                               endpoint=CHAT, completion_window="24h")
    wait(sdk, batch.id, frozenset({"in_progress"}))
    cancelling = sdk.batches.cancel(batch.id)
    assert cancelling.status in ("cancelling", "cancelled")
    done = wait(sdk, batch.id)
    assert done.status == "cancelled" and done.cancelling_at and done.cancelled_at
    with pytest.raises(openai.ConflictError):
        sdk.batches.cancel(batch.id)


def test_an_upstream_outage_mid_batch_loses_nothing(server: RunningServer,
                                                    fakes: Fakes) -> None:
    sdk = client(server.openai_url, "gemini")
    fakes["gemini"].hold = True
    batch = sdk.batches.create(input_file_id=upload(sdk, [chat_line(i, "gemini-2.0-flash")
                                                          for i in range(4)]),
                               endpoint=CHAT, completion_window="24h")
    wait(sdk, batch.id, frozenset({"in_progress"}))
    fakes["gemini"].fail_requests(10, 503)
    fakes["gemini"].hold = False
    done = wait(sdk, batch.id, timeout=60)
    fakes["gemini"].fail_requests(0, 500)
    assert done.status == "completed"
    assert sorted(file_lines(sdk, done.output_file_id)) == [f"request-{i}" for i in range(4)]


def test_batches_list_newest_first_with_cursor_paging(server: RunningServer) -> None:
    sdk = client(server.openai_url, "local")
    made = [sdk.batches.create(input_file_id=upload(sdk, [chat_line(1, "m")]), endpoint=CHAT,
                               completion_window="24h").id for _ in range(3)]
    first = sdk.batches.list(limit=2)
    assert [b.id for b in first.data] == made[::-1][:2] and first.has_more
    second = sdk.batches.list(limit=2, after=first.data[-1].id)
    assert second.data[0].id == made[0]
    listed = [b.id for b in sdk.batches.list(limit=1)]  # the SDK follows the cursor itself
    assert listed[:3] == made[::-1]


def test_another_tenants_files_and_batches_are_not_there(tmp_path: Any) -> None:
    keys = """
[[keys]]
access_key_id = "AKIAOPENAITENANTA000"
secret_access_key = "a-secret"
tenant = "team-a"
bearer_token = "sk-team-a-0123456789"

[[keys]]
access_key_id = "AKIAOPENAITENANTB000"
secret_access_key = "b-secret"
tenant = "team-b"
bearer_token = "sk-team-b-0123456789"
"""
    with configured_server(tmp_path, keys) as server:
        a = client(server.openai_url, api_key="sk-team-a-0123456789")
        b = client(server.openai_url, api_key="sk-team-b-0123456789")
        batch = run(a, [chat_line(1, "m")])
        file_id = batch.input_file_id
        for call in (lambda: b.files.retrieve(file_id), lambda: b.files.content(file_id),
                     lambda: b.files.delete(file_id), lambda: b.batches.retrieve(batch.id),
                     lambda: b.batches.cancel(batch.id),
                     lambda: b.batches.create(input_file_id=file_id, endpoint=CHAT,
                                              completion_window="24h")):
            with pytest.raises(openai.NotFoundError):
                call()
        assert [f.id for f in b.files.list()] == [] and list(b.batches.list()) == []
        assert a.files.retrieve(file_id).id == file_id
        with pytest.raises(openai.AuthenticationError) as info:
            client(server.openai_url, api_key="sk-nobody-0123456789").files.list()
        assert isinstance(info.value.body, dict)
        assert info.value.body["code"] == "invalid_api_key"
        unsigned = httpx.get(f"{server.openai_url}/files", timeout=10)
        assert unsigned.status_code == 401
        assert unsigned.json()["error"]["type"] == "invalid_request_error"


def test_azure_openai_gets_its_own_forms_of_the_same_batch(tmp_path: Any, fakes: Fakes) -> None:
    """OpenAI's /v1 lines go to Azure as Azure takes them: urls without /v1, the model a
    deployment (mapped with [models])."""
    fake = fakes["openai"]
    config = f"""
[providers.openai]
api_key = "{KEY}"
base_url = "{fake.url}"
api_version = "2024-12-01-preview"
poll_interval = 0.2

[models."gpt-4o-mini"]
openai = "my-gpt4o-deployment"
"""
    with configured_server(tmp_path, config) as azure_server:
        sdk = client(azure_server.openai_url, "openai")
        batch = run(sdk, [chat_line(i, "gpt-4o-mini") for i in range(2)])
        answered = file_lines(sdk, batch.output_file_id)
    assert batch.status == "completed" and sorted(answered) == ["request-0", "request-1"]
    upstream = next(b for b in fake.batches.values()
                    if (b["metadata"] or {}).get("bifrost_job") == batch.id.removeprefix("batch_"))
    assert upstream["endpoint"] == "/chat/completions"
    sent = [json.loads(line) for line in
            fake.files[upstream["input_file_id"]].content.splitlines()]
    assert {(line["url"], line["body"]["model"]) for line in sent} == {
        ("/chat/completions", "my-gpt4o-deployment")}
