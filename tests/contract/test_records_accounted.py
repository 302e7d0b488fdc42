"""Every record of a job is accounted for, whatever its provider's results file does: a result
line lost upstream becomes an error line of its own, a repeated one counts once, and the order
answers come in never matters."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from bedrock_helpers import (
    CLAUDE,
    assert_manifest_matches,
    bedrock_client,
    configured_server,
    counts,
    create_job,
    manifest,
    numbered_records,
    output_lines,
    put_records,
    s3_client,
    unique,
    wait_for_status,
    with_provider,
)

from bifrost_py.testing import RunningServer
from tests.fakes.anthropic_fake import FakeAnthropic
from tests.fakes.faults import ResultFaults
from tests.fakes.gemini_fake import FakeGemini
from tests.fakes.openai_fake import FakeOpenAI

KEY = "test-key"
RECORDS = 6
# Record 2's result is lost, 3's comes twice, and the rest arrive out of order.
DAMAGE = ResultFaults(drop={"record-0002"}, duplicate={"record-0003"}, shuffle=True)
Fakes = dict[str, Any]


@pytest.fixture(scope="module")
def fakes() -> Iterator[Fakes]:
    with (FakeOpenAI(api_key=KEY, process_seconds=0.2) as openai,
          FakeGemini(api_key=KEY, process_seconds=0.2) as gemini,
          FakeAnthropic(api_key=KEY, process_seconds=0.2) as anthropic):
        yield {"openai": openai, "gemini": gemini, "anthropic": anthropic}


@pytest.fixture(scope="module")
def server(fakes: Fakes, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    config = f"""
[providers.openai]
api_key = "{KEY}"
base_url = "{fakes['openai'].url}/v1"
poll_interval = 0.2

[providers.gemini]
api_key = "{KEY}"
base_url = "{fakes['gemini'].url}"
poll_interval = 0.2

[providers.anthropic]
api_key = "{KEY}"
base_url = "{fakes['anthropic'].url}"
poll_interval = 0.2

[models."{CLAUDE}"]
gemini = "gemini-2.0-flash"
"""
    with configured_server(tmp_path_factory.mktemp("accounted"), config) as running:
        yield running


def _run(server: RunningServer, provider: str) -> tuple[dict[str, Any], list[dict[str, Any]],
                                                        dict[str, Any]]:
    s3 = with_provider(s3_client(server), provider)
    bedrock = with_provider(bedrock_client(server), provider)
    bucket = unique(f"{provider}-in")
    s3.create_bucket(Bucket=bucket)
    put_records(s3, bucket, "in.jsonl", numbered_records(RECORDS))
    arn = create_job(bedrock, f"s3://{bucket}/in.jsonl", f"s3://{bucket}/out/")
    job = wait_for_status(bedrock, arn)
    return job, output_lines(s3, bucket, arn), manifest(s3, bucket, arn)


@pytest.mark.parametrize("provider", ["openai", "gemini", "anthropic"])
def test_lost_repeated_and_reordered_results_leave_every_record_accounted_for(
        server: RunningServer, fakes: Fakes, provider: str) -> None:
    fakes[provider].result_faults = DAMAGE
    try:
        job, lines, found = _run(server, provider)
    finally:
        fakes[provider].result_faults = None
    assert job["status"] == "Completed"
    assert counts(job) == {"totalRecordCount": RECORDS, "processedRecordCount": RECORDS,
                           "successRecordCount": RECORDS - 1, "errorRecordCount": 1}
    assert sorted(line["recordId"] for line in lines) == [f"record-{i:04d}" for i in range(RECORDS)]
    lost = next(line for line in lines if line["recordId"] == "record-0002")
    assert lost["error"]["errorCode"] == 502
    assert "returned no result" in lost["error"]["errorMessage"]
    assert all("modelOutput" in line for line in lines if line is not lost)
    assert_manifest_matches(job, found, lines)


@pytest.mark.parametrize("provider", ["openai", "gemini", "anthropic"])
def test_undamaged_results_complete_every_record(server: RunningServer, provider: str) -> None:
    job, lines, _ = _run(server, provider)
    assert (job["status"], job["errorRecordCount"], len(lines)) == ("Completed", 0, RECORDS)
