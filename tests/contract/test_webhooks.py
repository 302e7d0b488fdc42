"""Jobs' ends as signed webhooks, and their cost at the configured prices.

A receiver on a loopback port records every POST; it can refuse the first few, and the server
can be stopped between attempts, to show the at-least-once delivery: every event arrives, signed,
with the same delivery id on each retry. The cost in the event, in /metrics, matches the
manifest's token counts times the prices.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from bedrock_helpers import (
    CLAUDE,
    bedrock_client,
    converse_record,
    create_job,
    manifest,
    put_records,
    run_job,
    s3_client,
    unique,
    wait_for,
    wait_for_status,
    write_config,
)
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bifrost_py.testing import RunningServer, ServerThread

SECRET = "whsec-test-0123456789"
INPUT_PRICE, OUTPUT_PRICE = 3.0, 15.0


class Receiver:
    """A webhook endpoint: `refuse` answers that many POSTs with 500 first."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.refused = 0
        self.refuse = 0
        self._lock = threading.Lock()
        self._server = ServerThread(Starlette(routes=[Route("/hook", self._hook,
                                                            methods=["POST"])]))
        self.url = f"{self._server.url}/hook"

    async def _hook(self, request: Request) -> Response:
        body = await request.body()
        with self._lock:
            if self.refused < self.refuse:
                self.refused += 1
                return Response(status_code=500)
            self.received.append((dict(request.headers), body))
        return Response(status_code=204)

    def events(self, job_arn: str) -> list[tuple[dict[str, str], dict[str, Any]]]:
        with self._lock:
            found = [(headers, json.loads(body)) for headers, body in self.received]
        return [(h, b) for h, b in found if b["detail"]["batchJobArn"] == job_arn]

    def __enter__(self) -> Receiver:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop()


def config(receiver: Receiver) -> str:
    return f"""
[prices]
"anthropic.claude-3*" = {{ input = {INPUT_PRICE}, output = {OUTPUT_PRICE} }}

[[webhooks]]
url = "{receiver.url}"
secret = "{SECRET}"

[[webhooks]]
url = "{receiver.url}?only=failed"
secret = "{SECRET}"
events = ["job.failed"]

[[webhooks]]
url = "{receiver.url}?tenant=other"
secret = "{SECRET}"
tenant = "someone-else"
"""


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


def verified(headers: dict[str, str], body: dict[str, Any]) -> bool:
    signed = f"{headers['x-bifrost-timestamp']}.".encode() + json.dumps(
        body, separators=(",", ":")).encode()
    expected = "sha256=" + hmac.new(SECRET.encode(), signed, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, headers["x-bifrost-signature"])


def test_a_completed_job_is_posted_signed_with_its_cost(tmp_path: Path,
                                                        receiver: Receiver) -> None:
    with RunningServer(tmp_path / "data", write_config(tmp_path, config(receiver))) as server:
        s3, bedrock = s3_client(server), bedrock_client(server)
        bucket = unique("hooks")
        s3.create_bucket(Bucket=bucket)
        arn, job = run_job(bedrock, s3, bucket, [converse_record(i, f"r{i}") for i in range(4)],
                           model_id=CLAUDE)
        events = wait_for(lambda: receiver.events(arn), bool, what="the webhook")
        found = manifest(s3, bucket, arn)
        metrics = httpx.get(f"{server.url}/metrics", timeout=10).text

    assert len(events) == 1, "one event, to the one webhook that wants it"
    headers, body = events[0]
    assert headers["x-bifrost-event"] == "job.completed"
    assert headers["content-type"] == "application/json"
    assert verified(headers, body)
    assert (body["detail-type"], body["source"], body["resources"]) == (
        "Batch Inference Job State Change", "aws.bedrock", [arn])
    detail = body["detail"]
    assert (detail["status"], detail["batchJobName"], detail["batchModelId"]) == (
        "Completed", job["jobName"], CLAUDE)
    assert (detail["processedRecordCount"], detail["successRecordCount"],
            detail["errorRecordCount"]) == (4, 4, 0)
    assert (detail["inputTokenCount"], detail["outputTokenCount"]) == (
        found["inputTokenCount"], found["outputTokenCount"])
    expected = (found["inputTokenCount"] * INPUT_PRICE
                + found["outputTokenCount"] * OUTPUT_PRICE) / 1e6
    assert detail["cost"] == pytest.approx(expected)
    costs = {sample.labels["provider"]: sample.value
             for family in text_string_to_metric_families(metrics)
             for sample in family.samples if sample.name == "bifrost_cost_dollars_total"}
    assert costs == {"local": pytest.approx(expected)}


def test_refused_deliveries_are_retried_across_a_restart(tmp_path: Path,
                                                         receiver: Receiver) -> None:
    receiver.refuse = 2
    path = write_config(tmp_path, config(receiver))
    with RunningServer(tmp_path / "data", path) as server:
        s3, bedrock = s3_client(server), bedrock_client(server)
        bucket = unique("hooks")
        s3.create_bucket(Bucket=bucket)
        arn, _ = run_job(bedrock, s3, bucket, [converse_record(0, "r0")])
        wait_for(lambda: receiver.refused, lambda n: n >= 1, what="a refused delivery")
    assert receiver.events(arn) == []
    with RunningServer(tmp_path / "data", path):
        events = wait_for(lambda: receiver.events(arn), bool, timeout=30, what="the retry")
    assert receiver.refused == 2
    assert len(events) == 1
    assert verified(*events[0])


def test_a_failed_job_reaches_the_webhooks_for_failures(tmp_path: Path,
                                                        receiver: Receiver) -> None:
    with RunningServer(tmp_path / "data", write_config(tmp_path, config(receiver))) as server:
        s3, bedrock = s3_client(server), bedrock_client(server)
        bucket = unique("hooks")
        s3.create_bucket(Bucket=bucket)
        arn = create_job(bedrock, f"s3://{bucket}/missing.jsonl", f"s3://{bucket}/out/")
        assert wait_for_status(bedrock, arn)["status"] == "Failed"
        events = wait_for(lambda: receiver.events(arn), lambda e: len(e) == 2,
                          what="both failure webhooks")
    assert {h["x-bifrost-event"] for h, _ in events} == {"job.failed"}
    assert all(body["detail"]["failureMessage"] for _, body in events)
    assert all(body["detail"]["cost"] is None or body["detail"]["cost"] == 0
               for _, body in events)


def test_unpriced_models_have_no_cost(tmp_path: Path, receiver: Receiver) -> None:
    with RunningServer(tmp_path / "data", write_config(tmp_path, config(receiver))) as server:
        s3, bedrock = s3_client(server), bedrock_client(server)
        uri = put_records(s3, unique("hooks"), "in.jsonl", [converse_record(0, "r0")])
        arn = create_job(bedrock, uri, "s3://hooks-out/", model_id="amazon.nova-lite-v1:0")
        assert wait_for_status(bedrock, arn)["status"] == "Completed"
        events = wait_for(lambda: receiver.events(arn), bool, what="the webhook")
    assert events[0][1]["detail"]["cost"] is None
