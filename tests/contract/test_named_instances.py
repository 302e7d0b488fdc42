"""Named provider instances: two OpenAI accounts side by side, each with its own key, its own
files and its own model names, chosen per request by the instance's name.

`openai-main` and `openai-backup` are both of kind openai, each in front of its own fake OpenAI
that accepts only its own API key, so a request sent to the wrong account fails there. Keys limited
to one instance cannot reach the other, on every mount.
"""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest
from bedrock_helpers import (
    configured_server,
    create_job,
    unique,
    wait_for_status,
    with_provider,
)
from botocore.exceptions import ClientError
from keys_helpers import bedrock_client, s3_client
from openai_helpers import CHAT, answer, chat_line, client, file_lines, jsonl, run, upload

from bifrost_py.testing import RunningServer
from tests.fakes.openai_fake import FakeOpenAI

MAIN_KEY, BACKUP_KEY = "sk-main-account", "sk-backup-account"
MAIN_ID, BACKUP_ID = "AKIANAMEDMAIN0000001", "AKIANAMEDBACKUP00001"
SECRET = "named-instances-secret-0123"
MAIN_TOKEN, BACKUP_TOKEN = "sk-team-main-0123456789", "sk-team-backup-0123456789"
MODEL = "house-model"
MODELS_TOKEN = "sk-team-models-0123456789"


@pytest.fixture(scope="module")
def accounts() -> Iterator[dict[str, FakeOpenAI]]:
    with FakeOpenAI(api_key=MAIN_KEY) as main, FakeOpenAI(api_key=BACKUP_KEY) as backup:
        yield {"openai-main": main, "openai-backup": backup}


@pytest.fixture(autouse=True)
def fresh(accounts: dict[str, FakeOpenAI]) -> None:
    for fake in accounts.values():
        fake.requests.clear()


@pytest.fixture(scope="module")
def server(accounts: dict[str, FakeOpenAI],
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    config = f"""
[providers.openai-main]
kind = "openai"
api_key = "{MAIN_KEY}"
base_url = "{accounts['openai-main'].url}/v1"
poll_interval = 0.2

[providers.openai-backup]
kind = "openai"
api_key = "{BACKUP_KEY}"
base_url = "{accounts['openai-backup'].url}/v1"
poll_interval = 0.2

[models]
"{MODEL}" = {{ openai-main = "gpt-main-name", openai = "gpt-kind-name" }}

[[keys]]
access_key_id = "{MAIN_ID}"
secret_access_key = "{SECRET}"
tenant = "team-main"
providers = ["openai-main", "local"]
bearer_token = "{MAIN_TOKEN}"

[[keys]]
access_key_id = "{BACKUP_ID}"
secret_access_key = "{SECRET}"
tenant = "team-backup"
providers = ["openai-backup"]
bearer_token = "{BACKUP_TOKEN}"

[[keys]]
access_key_id = "AKIANAMEDMODELS00001"
secret_access_key = "{SECRET}"
tenant = "team-models"
models = ["gpt-4o-*"]
bearer_token = "{MODELS_TOKEN}"
"""
    with configured_server(tmp_path_factory.mktemp("named"), config) as running:
        yield running


def sdk(server: RunningServer, instance: str) -> openai.OpenAI:
    token = MAIN_TOKEN if instance == "openai-main" else BACKUP_TOKEN
    return client(server.openai_url, instance, api_key=token)


def batch_models(fake: FakeOpenAI) -> set[str | None]:
    return {batch["model"] for batch in fake.batches.values()}


@pytest.mark.parametrize("instance", ["openai-main", "openai-backup"])
def test_an_openai_batch_runs_on_the_instance_it_names(server: RunningServer,
                                                       accounts: dict[str, FakeOpenAI],
                                                       instance: str) -> None:
    other = next(name for name in accounts if name != instance)
    before = len(accounts[instance].batches)
    calls = sdk(server, instance)
    batch = run(calls, [chat_line(i, MODEL) for i in range(3)])
    assert batch.status == "completed", batch
    assert batch.request_counts is not None and batch.request_counts.completed == 3
    out = file_lines(calls, batch.output_file_id)
    assert sorted(out) == ["request-0", "request-1", "request-2"]
    assert all(answer(line) for line in out.values())
    assert len(accounts[instance].batches) == before + 1
    assert accounts[other].requests == []


def test_model_names_map_per_instance_then_per_kind(server: RunningServer,
                                                    accounts: dict[str, FakeOpenAI]) -> None:
    for instance in accounts:
        assert run(sdk(server, instance), [chat_line(0, MODEL)]).status == "completed"
    assert "gpt-main-name" in batch_models(accounts["openai-main"])
    assert "gpt-kind-name" in batch_models(accounts["openai-backup"])
    assert "gpt-main-name" not in batch_models(accounts["openai-backup"])


def test_a_bedrock_job_runs_on_the_named_instance(server: RunningServer,
                                                  accounts: dict[str, FakeOpenAI]) -> None:
    s3 = with_provider(s3_client(server, BACKUP_ID, SECRET), "openai-backup")
    bedrock = with_provider(bedrock_client(server, BACKUP_ID, SECRET), "openai-backup")
    line = chat_line(0, "gpt-4o-mini")
    file_id = s3.put_object(Bucket=unique("named"), Key="in.jsonl",
                            Body=jsonl([line]))["ETag"].strip('"')
    arn = create_job(bedrock, f"s3://any/{file_id}", "s3://named-out/", model_id="gpt-4o-mini")
    job = wait_for_status(bedrock, arn)
    assert job["status"] == "Completed", job
    assert ("POST", "/v1/batches") in accounts["openai-backup"].requests
    assert accounts["openai-main"].requests == []
    listed = bedrock.list_model_invocation_jobs()["invocationJobSummaries"]
    assert [j["jobArn"] for j in listed] == [arn]


def test_a_key_reaches_only_the_instances_it_lists(server: RunningServer,
                                                   accounts: dict[str, FakeOpenAI]) -> None:
    s3 = with_provider(s3_client(server, MAIN_ID, SECRET), "openai-backup")
    with pytest.raises(ClientError) as refused:
        s3.put_object(Bucket="named-x", Key="in.jsonl", Body=b"{}")
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    bedrock = with_provider(bedrock_client(server, MAIN_ID, SECRET), "openai-backup")
    with pytest.raises(ClientError) as denied:
        bedrock.list_model_invocation_jobs()
    assert denied.value.response["Error"]["Code"] == "AccessDeniedException"
    with pytest.raises(openai.PermissionDeniedError) as forbidden:
        client(server.openai_url, "openai-backup", api_key=MAIN_TOKEN).files.list()
    assert "openai-backup" in str(forbidden.value)
    assert accounts["openai-backup"].requests == []


def test_a_kind_is_not_an_instance_name(server: RunningServer) -> None:
    with pytest.raises(openai.BadRequestError) as unknown:
        client(server.openai_url, "openai", api_key=MAIN_TOKEN).files.list()
    message = str(unknown.value)
    assert "'openai' is not configured" in message
    assert "openai-main" in message and "openai-backup" in message


def test_a_keys_model_allow_list_holds_for_batches(server: RunningServer,
                                                   accounts: dict[str, FakeOpenAI]) -> None:
    calls = client(server.openai_url, "openai-main", api_key=MODELS_TOKEN)
    refused = upload(calls, [chat_line(i, MODEL) for i in range(2)])
    with pytest.raises(openai.PermissionDeniedError) as denied:
        calls.batches.create(input_file_id=refused, endpoint=CHAT, completion_window="24h")
    assert f"model {MODEL}" in str(denied.value)
    assert ("POST", "/v1/batches") not in accounts["openai-main"].requests
    assert run(calls, [chat_line(0, "gpt-4o-mini")]).status == "completed"
