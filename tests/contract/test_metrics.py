"""/metrics: a job's life as Prometheus sees it, scraped over HTTP and read with
prometheus_client's own parser, and who may scrape.

Requests are counted by mount, operation and status; the jobs, records and tokens come from the
job store, so they match what Get reports; upstream calls are counted per provider instance with
their outcome, an outage's 503s as `unavailable`.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from bedrock_helpers import (
    bedrock_client,
    configured_server,
    converse_record,
    counts,
    create_job,
    jsonl,
    output_key,
    put_records,
    read_object,
    run_job,
    s3_client,
    unique,
    wait_for_status,
    with_provider,
)
from openai_helpers import chat_line, client, run
from prometheus_client.parser import text_string_to_metric_families

from bifrost_py.testing import RunningServer
from tests.fakes.openai_fake import FakeOpenAI

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]
OPENAI_KEY = "sk-metrics-fake"
TOKEN = "scrape-me-0123456789"


def scrape(server: RunningServer, token: str | None = None) -> Samples:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = httpx.get(f"{server.url}/metrics", headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.text)
            for sample in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=OPENAI_KEY, process_seconds=0.1) as running:
        yield running


@pytest.fixture(scope="module")
def server(fake: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    config = f"""
[providers.openai-main]
kind = "openai"
api_key = "{OPENAI_KEY}"
base_url = "{fake.url}/v1"
poll_interval = 0.1
max_retries = 0     # an outage reaches the engine, which retries it, at once
"""
    with configured_server(tmp_path_factory.mktemp("metrics"), config) as running:
        yield running


def test_a_local_jobs_life_shows_in_requests_jobs_records_and_tokens(
        server: RunningServer) -> None:
    before = scrape(server)
    s3, bedrock = s3_client(server), bedrock_client(server)
    bucket = unique("metrics")
    s3.create_bucket(Bucket=bucket)
    records = [converse_record(i, f"r{i}") for i in range(5)]
    arn, job = run_job(bedrock, s3, bucket, records)
    assert job["status"] == "Completed"
    output = read_object(s3, bucket, output_key(arn, "in.jsonl"))
    after = scrape(server)

    put = {"mount": "s3", "operation": "put_object", "status": "200"}
    assert value(after, "bifrost_requests_total", **put) == value(
        before, "bifrost_requests_total", **put) + 1
    created = {"mount": "bedrock", "operation": "create_job", "status": "200"}
    assert value(after, "bifrost_requests_total", **created) >= 1
    latency = {"mount": "bedrock", "operation": "create_job"}
    assert value(after, "bifrost_request_duration_seconds_count", **latency) >= 1

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("bifrost_body_bytes_total", mount="s3", direction="in") >= len(jsonl(records))
    assert grew("bifrost_body_bytes_total", mount="s3", direction="out") >= len(output)
    assert grew("bifrost_jobs", provider="local", status="Completed") == 1
    assert grew("bifrost_records_total", provider="local", outcome="succeeded") == counts(
        job)["successRecordCount"] == 5
    assert grew("bifrost_records_total", provider="local", outcome="failed") == 0
    assert grew("bifrost_tokens_total", provider="local", direction="input") > 0
    assert grew("bifrost_tokens_total", provider="local", direction="output") > 0


def test_a_refused_request_is_counted_with_its_status(server: RunningServer) -> None:
    before = scrape(server)
    missing = httpx.get(f"{server.s3_url}/{unique('absent')}/key", timeout=10)
    assert missing.status_code == 404
    after = scrape(server)
    labels = {"mount": "s3", "operation": "get_object", "status": "404"}
    assert value(after, "bifrost_requests_total", **labels) == value(
        before, "bifrost_requests_total", **labels) + 1


def test_upstream_calls_are_counted_by_instance_and_outcome(server: RunningServer,
                                                            fake: FakeOpenAI) -> None:
    before = scrape(server)
    sdk = client(server.openai_url, "openai-main")
    fake.fail_requests(1, 503)
    batch = run(sdk, [chat_line(i, "gpt-4o-mini") for i in range(3)])
    assert batch.status == "completed"
    after = scrape(server)

    def grew(operation: str, outcome: str) -> float:
        labels = {"provider": "openai-main", "operation": operation, "outcome": outcome}
        return value(after, "bifrost_upstream_calls_total", **labels) - value(
            before, "bifrost_upstream_calls_total", **labels)

    assert grew("submit", "unavailable") >= 1
    assert grew("submit", "ok") == 1
    assert grew("poll", "ok") >= 1
    assert grew("results", "ok") == 1
    assert value(after, "bifrost_jobs", provider="openai-main", status="Completed") >= 1
    assert value(after, "bifrost_records_total", provider="openai-main",
                 outcome="succeeded") >= 3


def test_a_bedrock_job_on_the_openai_instance_counts_its_records(server: RunningServer) -> None:
    s3 = with_provider(s3_client(server), "openai-main")
    bedrock = with_provider(bedrock_client(server), "openai-main")
    before = scrape(server)
    uri = put_records(s3, unique("metrics-openai"), "in.jsonl",
                      [chat_line(i, "gpt-4o-mini") for i in range(2)])
    arn = create_job(bedrock, uri, "s3://metrics-out/", model_id="gpt-4o-mini")
    assert wait_for_status(bedrock, arn)["status"] == "Completed"
    after = scrape(server)
    labels = {"provider": "openai-main", "outcome": "succeeded"}
    assert value(after, "bifrost_records_total", **labels) - value(
        before, "bifrost_records_total", **labels) == 2


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    config = f"""
[server]
metrics_token = "{TOKEN}"

[[keys]]
access_key_id = "AKIAMETRICSGUARD0001"
secret_access_key = "metrics-secret-0123"
tenant = "team-a"
bearer_token = "sk-team-a-metrics-0123"
"""
    with configured_server(tmp_path_factory.mktemp("metrics-keys"), config) as running:
        yield running


@pytest.mark.parametrize("authorization", [
    None, "Bearer wrong-token", "Bearer sk-team-a-metrics-0123", f"Basic {TOKEN}"])
def test_with_keys_only_the_metrics_token_scrapes(guarded: RunningServer,
                                                  authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    refused = httpx.get(f"{guarded.url}/metrics", headers=headers, timeout=10)
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"].startswith("Bearer")
    assert "bifrost_requests_total" not in refused.text
    assert value(scrape(guarded, TOKEN), "bifrost_jobs", provider="local",
                 status="Completed") == 0


def test_with_keys_and_no_token_metrics_stay_closed(tmp_path_factory: pytest.TempPathFactory,
                                                    ) -> None:
    config = """
[[keys]]
access_key_id = "AKIAMETRICSCLOSED001"
secret_access_key = "metrics-secret-0123"
tenant = "team-a"
"""
    with configured_server(tmp_path_factory.mktemp("metrics-closed"), config) as running:
        refused = httpx.get(f"{running.url}/metrics", timeout=10)
    assert refused.status_code == 401
    assert "server.metrics_token" in refused.json()["error"]
