"""The Anthropic fake speaks the Message Batches protocol: proven with the real `anthropic` SDK."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import anthropic
import pytest
from anthropic.types import Message
from anthropic.types.messages import (
    MessageBatch,
    MessageBatchIndividualResponse,
    MessageBatchRequestCounts,
)
from anthropic.types.shared import ErrorResponse, InvalidRequestError

from tests.fakes.anthropic_fake import FakeAnthropic
from tests.fakes.faults import ResultFaults

MODEL = "claude-3-5-haiku-20241022"


@pytest.fixture(scope="module")
def server() -> Iterator[FakeAnthropic]:
    with FakeAnthropic(process_seconds=0.1) as fake:
        yield fake


@pytest.fixture
def fake(server: FakeAnthropic) -> FakeAnthropic:
    server.reset()
    return server


@pytest.fixture
def client(fake: FakeAnthropic) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=fake.url, api_key="test-key", max_retries=0)


def request(custom_id: str, text: str, **params: Any) -> Any:
    """An item of `requests`; Any, as some tests send what the SDK's TypedDicts would refuse."""
    return {"custom_id": custom_id,
            "params": {"model": MODEL, "max_tokens": 100,
                       "messages": [{"role": "user", "content": text}], **params}}


def wait_ended(client: anthropic.Anthropic, batch_id: str) -> MessageBatch:
    deadline = time.monotonic() + 5
    batch = client.messages.batches.retrieve(batch_id)
    while batch.processing_status != "ended":
        assert time.monotonic() < deadline, "the batch did not end"
        time.sleep(0.02)
        batch = client.messages.batches.retrieve(batch_id)
    return batch


def results(client: anthropic.Anthropic,
            batch_id: str) -> dict[str, MessageBatchIndividualResponse]:
    return {line.custom_id: line for line in client.messages.batches.results(batch_id)}


def test_create_poll_and_read_results(fake: FakeAnthropic, client: anthropic.Anthropic) -> None:
    batch = client.messages.batches.create(requests=[
        request("r-1", "hello", system="be brief", temperature=0.2),
        request("r_2", "please FAIL"),
        {"custom_id": "r3", "params": {"model": MODEL, "max_tokens": 100, "messages": [
            {"role": "user", "content": [{"type": "text", "text": "blocks"}]}]}},
    ])
    assert batch.id.startswith("msgbatch_") and batch.type == "message_batch"
    assert batch.processing_status == "in_progress" and batch.results_url is None
    assert batch.request_counts.processing == 3 and batch.request_counts.succeeded == 0

    ended = wait_ended(client, batch.id)
    assert ended.ended_at is not None
    assert ended.results_url == f"{fake.url}/v1/messages/batches/{batch.id}/results"
    counts = ended.request_counts
    assert (counts.processing, counts.succeeded, counts.errored) == (0, 2, 1)

    lines = results(client, batch.id)
    message = lines["r-1"].result.message  # type: ignore[union-attr]
    assert message.type == "message" and message.role == "assistant" and message.model == MODEL
    assert message.content[0].text == "echo: hello"  # type: ignore[union-attr]
    assert message.stop_reason == "end_turn" and message.stop_sequence is None
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0
    assert lines["r3"].result.message.content[0].text == "echo: blocks"  # type: ignore[union-attr]
    failed = lines["r_2"].result
    assert failed.type == "errored" and failed.error.error.type == "invalid_request_error"
    assert fake.batches[batch.id].requests[0]["params"]["system"] == "be brief"
    assert ("POST", "/v1/messages/batches") in fake.requests


def test_results_come_shuffled_the_same_way_each_time(client: anthropic.Anthropic) -> None:
    ids = [f"id{number}" for number in range(20)]
    batch = client.messages.batches.create(requests=[request(i, i) for i in ids])
    wait_ended(client, batch.id)
    first = list(results(client, batch.id))
    assert sorted(first) == sorted(ids) and first != ids
    assert list(results(client, batch.id)) == first


@pytest.mark.parametrize(("params", "expected"), [
    ({"max_tokens": 2}, ("echo: so", "max_tokens", None)),
    ({"stop_sequences": ["ng"]}, ("echo: so lo", "stop_sequence", "ng")),
])
def test_echo_honours_max_tokens_and_stop_sequences(
        client: anthropic.Anthropic, params: dict[str, Any],
        expected: tuple[str, str, str | None]) -> None:
    batch = client.messages.batches.create(requests=[request("a", "so long", **params)])
    wait_ended(client, batch.id)
    message = results(client, batch.id)["a"].result.message  # type: ignore[union-attr]
    text = message.content[0].text  # type: ignore[union-attr]
    assert (text, message.stop_reason, message.stop_sequence) == expected


def test_a_forced_tool_is_called(client: anthropic.Anthropic) -> None:
    tool = {"name": "lookup", "input_schema": {"type": "object"}}
    batch = client.messages.batches.create(requests=[
        request("a", "hi", tools=[tool], tool_choice={"type": "tool", "name": "lookup"})])
    wait_ended(client, batch.id)
    message = results(client, batch.id)["a"].result.message  # type: ignore[union-attr]
    assert message.stop_reason == "tool_use"
    assert (message.content[0].type, message.content[0].name) == ("tool_use", "lookup")  # type: ignore[union-attr]


@pytest.mark.parametrize("requests", [
    [],
    [request("bad id!", "x")],
    [request("x" * 65, "x")],
    [request("same", "x"), request("same", "y")],
    [{"custom_id": "a", "params": {"model": MODEL, "messages": []}}],
    [{"custom_id": "a", "params": {"max_tokens": 5, "messages": []}}],
    [{"custom_id": "a", "params": {"model": MODEL, "max_tokens": 5}}],
    [request("a", "x", anthropic_version="bedrock-2023-05-31")],
    [request("a", "x", anthropic_beta=["x"])],
], ids=["empty", "pattern", "too-long", "duplicate", "no-max-tokens", "no-model",
        "no-messages", "anthropic-version", "anthropic-beta"])
def test_invalid_batches_are_refused(fake: FakeAnthropic, client: anthropic.Anthropic,
                                     requests: list[dict[str, Any]]) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        client.messages.batches.create(requests=requests)  # type: ignore[arg-type]
    assert caught.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
    assert fake.batches == {}


def test_at_most_100000_requests(client: anthropic.Anthropic) -> None:
    too_many = [{"custom_id": "r", "params": {}}] * 100_001  # the count is checked first
    with pytest.raises(anthropic.BadRequestError, match="at most 100000"):
        client.messages.batches.create(requests=too_many)  # type: ignore[arg-type]


def test_anthropic_version_header_is_required(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError, match="anthropic-version"):
        client.messages.batches.list(extra_headers={"anthropic-version": anthropic.omit})


def test_list_pages_newest_first(client: anthropic.Anthropic) -> None:
    ids = [client.messages.batches.create(requests=[request("a", str(n))]).id for n in range(3)]
    page = client.messages.batches.list(limit=2)
    assert [b.id for b in page.data] == [ids[2], ids[1]]
    assert page.has_more and (page.first_id, page.last_id) == (ids[2], ids[1])
    assert [b.id for b in client.messages.batches.list(limit=2)] == ids[::-1]  # auto-paging
    after = client.messages.batches.list(after_id=ids[1], limit=2)
    assert [b.id for b in after.data] == [ids[0]] and not after.has_more
    before = client.messages.batches.list(before_id=ids[0], limit=1)
    assert [b.id for b in before.data] == [ids[1]] and before.has_more


def test_cancel_a_held_batch(fake: FakeAnthropic, client: anthropic.Anthropic) -> None:
    fake.hold = True
    batch = client.messages.batches.create(requests=[request("a", "x"), request("b", "y")])
    time.sleep(0.15)
    assert client.messages.batches.retrieve(batch.id).processing_status == "in_progress"
    with pytest.raises(anthropic.BadRequestError):
        client.messages.batches.delete(batch.id)

    canceling = client.messages.batches.cancel(batch.id)
    assert canceling.processing_status == "canceling"
    assert canceling.cancel_initiated_at is not None
    ended = wait_ended(client, batch.id)
    assert (ended.request_counts.canceled, ended.request_counts.succeeded) == (2, 0)
    assert {line.result.type for line in client.messages.batches.results(batch.id)} == {"canceled"}
    with pytest.raises(anthropic.BadRequestError):
        client.messages.batches.cancel(batch.id)

    deleted = client.messages.batches.delete(batch.id)
    assert (deleted.id, deleted.type) == (batch.id, "message_batch_deleted")
    with pytest.raises(anthropic.NotFoundError):
        client.messages.batches.retrieve(batch.id)


def test_releasing_hold_lets_the_batch_end(fake: FakeAnthropic,
                                           client: anthropic.Anthropic) -> None:
    fake.hold = True
    batch = client.messages.batches.create(requests=[request("a", "x")])
    time.sleep(0.15)
    assert client.messages.batches.retrieve(batch.id).processing_status == "in_progress"
    fake.hold = False
    assert wait_ended(client, batch.id).request_counts.succeeded == 1


def test_outcome_expired_answers_only_the_first_half(fake: FakeAnthropic,
                                                     client: anthropic.Anthropic) -> None:
    fake.outcome = "expired"
    batch = client.messages.batches.create(requests=[request(f"r{n}", "x") for n in range(4)])
    counts = wait_ended(client, batch.id).request_counts
    assert (counts.succeeded, counts.expired) == (2, 2)
    kinds = {key: line.result.type for key, line in results(client, batch.id).items()}
    assert kinds == {"r0": "succeeded", "r1": "succeeded", "r2": "expired", "r3": "expired"}


def test_outcome_failed_refuses_the_create(fake: FakeAnthropic,
                                           client: anthropic.Anthropic) -> None:
    fake.outcome = "failed"
    with pytest.raises(anthropic.BadRequestError) as caught:
        client.messages.batches.create(requests=[request("a", "x")])
    assert caught.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]


def test_wrong_key_is_401(fake: FakeAnthropic) -> None:
    wrong = anthropic.Anthropic(base_url=fake.url, api_key="other", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as caught:
        wrong.messages.batches.list()
    assert caught.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]


def test_unknown_batch_is_404(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.NotFoundError) as caught:
        client.messages.batches.retrieve("msgbatch_nope")
    assert caught.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]


def test_results_before_the_end_are_refused_by_the_sdk(fake: FakeAnthropic,
                                                       client: anthropic.Anthropic) -> None:
    fake.hold = True
    batch = client.messages.batches.create(requests=[request("a", "x")])
    with pytest.raises(anthropic.AnthropicError, match="No `results_url`"):
        client.messages.batches.results(batch.id)


@pytest.mark.parametrize(("status", "error_class", "kind"), [
    (429, anthropic.RateLimitError, "rate_limit_error"),
    (500, anthropic.InternalServerError, "api_error"),
    (529, anthropic.OverloadedError, "overloaded_error"),
    (401, anthropic.AuthenticationError, "authentication_error"),
])
def test_fail_requests(fake: FakeAnthropic, client: anthropic.Anthropic, status: int,
                       error_class: type[anthropic.APIStatusError], kind: str) -> None:
    fake.fail_requests(1, status)
    with pytest.raises(error_class) as caught:
        client.messages.batches.list()
    assert caught.value.body["error"]["type"] == kind  # type: ignore[index]
    if status == 429:
        assert caught.value.response.headers["retry-after"] == "0"
    client.messages.batches.list()  # the next request is served again


def test_sdk_retries_through_scripted_failures(fake: FakeAnthropic) -> None:
    retrying = anthropic.Anthropic(base_url=fake.url, api_key="test-key", max_retries=2)
    fake.fail_requests(1, 429)
    retrying.messages.batches.list()
    assert fake.requests == [("GET", "/v1/messages/batches")] * 2


def test_stop_and_start_keep_the_state(fake: FakeAnthropic, client: anthropic.Anthropic) -> None:
    batch = client.messages.batches.create(requests=[request("a", "x")])
    fake.stop()
    with pytest.raises(anthropic.APIConnectionError):
        client.messages.batches.retrieve(batch.id)
    fake.start()
    assert wait_ended(client, batch.id).request_counts.succeeded == 1


# -- behaviours pinned to independent sources (tests/fakes/README.md names them) ---------------


def test_objects_have_exactly_the_sdks_members(client: anthropic.Anthropic) -> None:
    batch = client.messages.batches.create(requests=[request("ok", "hi"), request("no", "FAIL")])
    assert set(batch.to_dict(exclude_none=False)) == set(MessageBatch.model_fields)
    ended = wait_ended(client, batch.id)
    counts = ended.request_counts
    assert set(counts.to_dict()) == set(MessageBatchRequestCounts.model_fields)
    raw = client.messages.batches.with_raw_response.results(batch.id).http_response
    lines = [json.loads(line) for line in raw.read().decode().splitlines()]
    by_id = {line["custom_id"]: line for line in lines}
    assert set(by_id) == {"ok", "no"} and all(set(line) == {"custom_id", "result"}
                                               for line in lines)
    succeeded, errored = by_id["ok"]["result"], by_id["no"]["result"]
    assert set(succeeded) == {"type", "message"}
    assert set(succeeded["message"]) <= set(Message.model_fields)
    assert set(errored) == {"type", "error"}
    assert set(errored["error"]) <= set(ErrorResponse.model_fields)
    assert set(errored["error"]["error"]) == set(InvalidRequestError.model_fields)


def test_error_answers_have_the_sdks_envelope(fake: FakeAnthropic,
                                              client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.NotFoundError) as caught:
        client.messages.batches.retrieve("msgbatch_missing")
    body = caught.value.response.json()
    assert set(body) <= set(ErrorResponse.model_fields) and body["type"] == "error"
    assert caught.value.response.headers["request-id"] == body["request_id"]


# -- result faults -----------------------------------------------------------------------------


def test_result_faults_drop_duplicate_and_reorder(fake: FakeAnthropic,
                                                  client: anthropic.Anthropic) -> None:
    ids = [f"r{number}" for number in range(6)]
    batch = client.messages.batches.create(requests=[request(i, i) for i in ids])
    wait_ended(client, batch.id)
    undamaged = [line.custom_id for line in client.messages.batches.results(batch.id)]
    fake.result_faults = ResultFaults(drop={"r1"}, duplicate={"r4"}, drop_every=3, shuffle=True)
    damaged = [line.custom_id for line in client.messages.batches.results(batch.id)]
    expected = [i for n, i in enumerate(undamaged, 1) if i != "r1" and n % 3]
    expected += ["r4"] * ("r4" in expected)
    assert sorted(damaged) == sorted(expected) and damaged != expected
    assert [line.custom_id for line in client.messages.batches.results(batch.id)] == damaged
    assert client.messages.batches.retrieve(batch.id).request_counts.succeeded == 6
