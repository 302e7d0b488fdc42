"""With keys configured, a request that is not signed right never reaches a provider.

The server fronts a fake OpenAI (files and batches) and a fake Anthropic (batches). Each refused
request, whether unsigned, by an unknown key, with a wrong secret or with its body changed after
signing, leaves both fakes without a single HTTP request and the store without the object or job
it asked for. The same calls signed right do reach them, so the test can tell the difference.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from bedrock_helpers import (
    ROLE_ARN,
    configured_server,
    converse_record,
    create_job,
    jsonl,
    keys_toml,
    unique,
    wait_for,
    with_provider,
)
from botocore import UNSIGNED
from botocore.exceptions import ClientError
from keys_helpers import bedrock_client, s3_client

from bifrost_py.testing import RunningServer
from tests.fakes.anthropic_fake import FakeAnthropic
from tests.fakes.openai_fake import FakeOpenAI

REGION = "us-west-2"
KEY_ID, SECRET = "AKIAUPSTREAMGUARD001", "upstream-guard-secret-0123"
OPENAI_KEY, ANTHROPIC_KEY = "sk-upstream-guard", "anthropic-upstream-guard"
RECORDS = jsonl([converse_record(i, f"record-{i}") for i in range(2)])


class Fakes:
    def __init__(self, openai: FakeOpenAI, anthropic: FakeAnthropic) -> None:
        self.openai, self.anthropic = openai, anthropic

    def requests(self) -> list[tuple[str, str]]:
        return [*self.openai.requests, *self.anthropic.requests]

    def clear(self) -> None:
        self.openai.requests.clear()
        self.anthropic.requests.clear()


@pytest.fixture(scope="module")
def fakes() -> Iterator[Fakes]:
    with FakeOpenAI(api_key=OPENAI_KEY) as openai, FakeAnthropic(api_key=ANTHROPIC_KEY) as claude:
        yield Fakes(openai, claude)


@pytest.fixture(scope="module")
def server(fakes: Fakes, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    config = f"""
[providers.openai]
api_key = "{OPENAI_KEY}"
base_url = "{fakes.openai.url}/v1"
poll_interval = 0.2

[providers.anthropic]
api_key = "{ANTHROPIC_KEY}"
base_url = "{fakes.anthropic.url}"
poll_interval = 0.2
""" + keys_toml((KEY_ID, SECRET, "team-a"))
    with configured_server(tmp_path_factory.mktemp("keys-upstream"), config) as running:
        yield running


def client(server: RunningServer, service: str, provider: str, key_id: str = KEY_ID,
           secret: str = SECRET, **config: Any) -> Any:
    make = s3_client if service == "s3" else bedrock_client
    return with_provider(make(server, key_id, secret, **config), provider)


def tampered(made: Any) -> Any:
    """`made`, with every body changed after botocore signed it."""
    def change(request: Any, **_: Any) -> None:
        body = request.body if isinstance(request.body, bytes) else request.body.read()
        request.body = body.replace(b"record-0", b"record-X")

    made.meta.events.register("before-send", change)
    return made


WRONG_SIGNING: dict[str, Callable[[RunningServer, str, str], Any]] = {
    "unsigned": lambda s, service, p: client(s, service, p, signature_version=UNSIGNED),
    "unknown key": lambda s, service, p: client(s, service, p, key_id="AKIAUPSTREAMNOBODY01"),
    "wrong secret": lambda s, service, p: client(s, service, p, secret="wrong"),
    "tampered body": lambda s, service, p: tampered(client(s, service, p)),
}


@pytest.fixture(scope="module")
def buckets(server: RunningServer) -> dict[str, str]:
    """A bucket per provider, made by the right key; the local input for anthropic's jobs."""
    made = {p: unique(p) for p in ("openai", "anthropic")}
    for provider, bucket in made.items():
        client(server, "s3", provider).create_bucket(Bucket=bucket)
    client(server, "s3", "anthropic").put_object(Bucket=made["anthropic"], Key="in.jsonl",
                                                 Body=RECORDS)
    return made


def put_file(s3: Any, buckets: dict[str, str], name: str) -> None:
    s3.put_object(Bucket=buckets["openai"], Key=name, Body=RECORDS)


def start_job(bedrock: Any, buckets: dict[str, str], provider: str, name: str) -> None:
    bucket = buckets[provider]
    source = f"s3://{bucket}/in.jsonl"
    create_job(bedrock, source, f"s3://{bucket}/out/", name=name, roleArn=ROLE_ARN)


@pytest.mark.parametrize("how", sorted(WRONG_SIGNING))
def test_a_wrongly_signed_upload_never_reaches_openai(server: RunningServer, fakes: Fakes,
                                                      buckets: dict[str, str], how: str) -> None:
    fakes.clear()
    name, files = unique("refused"), len(fakes.openai.files)
    with pytest.raises(ClientError) as info:
        put_file(WRONG_SIGNING[how](server, "s3", "openai"), buckets, name)
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] in (400, 403)
    assert fakes.requests() == []
    listed = client(server, "s3", "openai").list_objects_v2(Bucket=buckets["openai"])
    assert name not in {o["Key"] for o in listed.get("Contents", [])}
    assert len(fakes.openai.files) == files


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
@pytest.mark.parametrize("how", sorted(WRONG_SIGNING))
def test_a_wrongly_signed_job_never_reaches_the_provider(server: RunningServer, fakes: Fakes,
                                                         buckets: dict[str, str], how: str,
                                                         provider: str) -> None:
    fakes.clear()
    name = "record-0-" + unique(provider)  # "record-0" is what a tampered body changes
    with pytest.raises(ClientError) as info:
        start_job(WRONG_SIGNING[how](server, "bedrock", provider), buckets, provider, name)
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] in (400, 403)
    jobs = client(server, "bedrock", provider).list_model_invocation_jobs()
    listed = {j["jobName"] for j in jobs["invocationJobSummaries"]}
    assert not {name, name.replace("record-0", "record-X")} & listed
    assert fakes.requests() == []


def test_the_same_calls_signed_right_reach_both_providers(server: RunningServer, fakes: Fakes,
                                                          buckets: dict[str, str]) -> None:
    fakes.clear()
    put_file(client(server, "s3", "openai"), buckets, unique("accepted"))
    assert any(path.endswith("/files") for _, path in fakes.openai.requests)
    start_job(client(server, "bedrock", "anthropic"), buckets, "anthropic", unique("accepted"))
    wait_for(lambda: list(fakes.anthropic.requests), bool)
    assert any("/messages/batches" in path for _, path in fakes.anthropic.requests)
