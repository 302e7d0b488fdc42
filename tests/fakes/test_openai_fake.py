"""The OpenAI fake speaks the real protocol: every test drives it through the real openai SDK."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from openai.types import Batch, BatchError, FileObject
from openai.types.chat import ChatCompletion

from tests.fakes.faults import ResultFaults
from tests.fakes.openai_fake import FakeOpenAI

_ENDED = {"completed", "failed", "expired", "cancelled"}


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def client(fake: FakeOpenAI) -> openai.OpenAI:
    return openai.OpenAI(base_url=fake.url + "/v1", api_key="test-key", max_retries=0)


@pytest.fixture(scope="module")
def shared() -> Iterator[openai.OpenAI]:
    """One fake for tests that only add to its state, to save server start-ups."""
    with FakeOpenAI() as server:
        yield openai.OpenAI(base_url=server.url + "/v1", api_key="test-key", max_retries=0)


def _line(custom_id: str, text: str, url: str = "/v1/chat/completions", **extra: Any) -> str:
    body = {"model": "gpt-4o-mini", "max_tokens": 50,
            "messages": [{"role": "system", "content": "be brief"},
                         {"role": "user", "content": text}]}
    return json.dumps({"custom_id": custom_id, "method": "POST", "url": url, "body": body,
                       **extra})


def _batch(client: openai.OpenAI, lines: list[str], endpoint: str = "/v1/chat/completions",
           ) -> Batch:
    upload = client.files.create(file=("in.jsonl", "\n".join(lines).encode()), purpose="batch")
    return client.batches.create(input_file_id=upload.id, endpoint=endpoint,  # type: ignore[arg-type]
                                 completion_window="24h", metadata={"job": "t"})


def _wait(client: openai.OpenAI, batch_id: str, until: set[str] = _ENDED,
          ) -> tuple[Batch, list[Batch]]:
    """Poll until the batch's status is in `until`; return it and every state seen on the way."""
    seen: list[Batch] = []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        seen.append(client.batches.retrieve(batch_id))
        if seen[-1].status in until:
            return seen[-1], seen
        time.sleep(0.01)
    raise AssertionError(f"batch stuck in {seen[-1].status}")


def _jsonl(client: openai.OpenAI, file_id: str | None) -> list[dict[str, Any]]:
    assert file_id is not None
    return [json.loads(line) for line in client.files.content(file_id).text.splitlines()]


def test_batch_round_trip() -> None:
    with FakeOpenAI(process_seconds=0.5) as fake:
        client = openai.OpenAI(base_url=fake.url + "/v1", api_key="test-key", max_retries=0)
        lines = [_line(f"r{i}", f"hello {i}") for i in range(5)] + [_line("bad", "please FAIL")]
        created = _batch(client, lines)
        assert created.status == "validating" and created.id.startswith("batch_")
        assert created.metadata == {"job": "t"} and created.expires_at is not None
        done, seen = _wait(client, created.id)
        outputs = _jsonl(client, done.output_file_id)
        errors = _jsonl(client, done.error_file_id)
        output_file = client.files.retrieve(done.output_file_id or "")
        listed = {f.id for f in client.files.list(purpose="batch_output")}
    statuses = [b.status for b in seen]
    order = ["validating", "in_progress", "finalizing", "completed"]
    assert "in_progress" in statuses and statuses == sorted(statuses, key=order.index)
    progress = [b.request_counts.completed for b in seen
                if b.status == "in_progress" and b.request_counts]
    assert progress == sorted(progress)  # counts move while the batch runs
    assert done.request_counts is not None
    assert done.request_counts.model_dump() == {"total": 6, "completed": 5, "failed": 1}
    assert done.in_progress_at and done.finalizing_at and done.completed_at
    assert [o["custom_id"] for o in outputs] != [f"r{i}" for i in range(5)]  # shuffled
    by_id = {o["custom_id"]: o for o in outputs}
    assert set(by_id) == {f"r{i}" for i in range(5)}
    answer = by_id["r3"]
    assert answer["id"].startswith("batch_req_") and answer["error"] is None
    assert answer["response"]["status_code"] == 200
    completion = answer["response"]["body"]
    assert completion["object"] == "chat.completion"
    assert completion["choices"][0]["message"]["content"] == "echo: hello 3"
    assert completion["choices"][0]["finish_reason"] == "stop"
    usage = completion["usage"]
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert [e["custom_id"] for e in errors] == ["bad"]
    assert errors[0]["response"]["status_code"] == 400
    assert set(errors[0]["response"]["body"]["error"]) >= {"message", "type", "code"}
    assert output_file.purpose == "batch_output" and output_file.filename.endswith(".jsonl")
    assert {done.output_file_id, done.error_file_id} <= listed
    assert ("POST", "/v1/files") in fake.requests and ("POST", "/v1/batches") in fake.requests
    assert fake.batches[created.id]["status"] == "completed"


def test_files_api(client: openai.OpenAI, fake: FakeOpenAI) -> None:
    data = b'{"a": 1}\r\n{"b": 2}\n\n'
    ids = [client.files.create(file=(f"f{i}.jsonl", data), purpose="batch").id for i in range(3)]
    assert all(key.startswith("file-") and len(key) == 29 for key in ids)
    first = client.files.retrieve(ids[0])
    assert (first.object, first.bytes, first.filename, first.purpose, first.status) == (
        "file", len(data), "f0.jsonl", "batch", "processed")
    assert client.files.content(ids[1]).content == data
    page = client.files.list(limit=2)
    assert [f.id for f in page.data] == ids[:0:-1] and page.has_more  # newest first
    assert [f.id for f in client.files.list(limit=1)] == ids[::-1]  # the SDK follows `after`
    assert [f.id for f in client.files.list(purpose="batch_output")] == []
    deleted = client.files.delete(ids[2])
    assert (deleted.id, deleted.object, deleted.deleted) == (ids[2], "file", True)
    with pytest.raises(openai.NotFoundError) as caught:
        client.files.retrieve(ids[2])
    assert caught.value.body["type"] == "invalid_request_error"  # type: ignore[index]
    assert fake.files[ids[0]].content == data


def test_batch_upload_must_be_jsonl(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError, match=r"Must be \.jsonl"):
        client.files.create(file=b"{}\n", purpose="batch")  # bytes alone are named "upload"


def test_list_batches_pages(client: openai.OpenAI) -> None:
    ids = [_batch(client, [_line("a", "hi")]).id for _ in range(3)]
    first = client.batches.list(limit=2)
    assert [b.id for b in first.data] == ids[:0:-1] and first.has_more
    assert [b.id for b in client.batches.list(limit=2)] == ids[::-1]


def test_cancel_held_batch_keeps_done_requests(client: openai.OpenAI, fake: FakeOpenAI) -> None:
    fake.hold = True
    created = _batch(client, [_line(f"r{i}", f"hi {i}") for i in range(4)])
    running, _ = _wait(client, created.id, until={"in_progress"})
    time.sleep(fake.process_seconds * 2)
    running = client.batches.retrieve(created.id)
    assert running.status == "in_progress" and running.request_counts is not None
    assert running.request_counts.completed == 2
    cancelling = client.batches.cancel(created.id)
    assert cancelling.status == "cancelling" and cancelling.cancelling_at
    cancelled, _ = _wait(client, created.id)
    assert cancelled.status == "cancelled" and cancelled.cancelled_at
    assert sorted(o["custom_id"] for o in _jsonl(client, cancelled.output_file_id)) == ["r0", "r1"]
    assert cancelled.error_file_id is None
    assert client.batches.cancel(created.id).status == "cancelled"


def test_hold_released_completes(client: openai.OpenAI, fake: FakeOpenAI) -> None:
    fake.hold = True
    created = _batch(client, [_line("a", "hi"), _line("b", "ho")])
    time.sleep(fake.process_seconds * 2)
    assert client.batches.retrieve(created.id).status == "in_progress"
    fake.hold = False
    done, _ = _wait(client, created.id)
    assert done.status == "completed"
    with pytest.raises(openai.ConflictError, match="Cannot cancel"):
        client.batches.cancel(created.id)


@pytest.mark.parametrize(("lines", "code", "line"), [
    (['{"custom_id": "a", not json'], "invalid_json_line", 1),
    ([_line("a", "hi"), json.dumps({"custom_id": "b", "method": "POST", "body": {}})],
     "missing_required_parameter", 2),
    ([_line("a", "hi", url="/chat/completions")], "invalid_url", 1),
    ([_line("a", "hi"), _line("a", "again")], "duplicate_custom_id", 2),
    ([""], "empty_file", None),
])
def test_invalid_input_fails_the_batch(shared: openai.OpenAI, lines: list[str], code: str,
                                       line: int | None) -> None:
    failed, _ = _wait(shared, _batch(shared, lines).id)
    assert failed.status == "failed" and failed.failed_at and failed.errors is not None
    assert failed.errors.object == "list" and failed.errors.data
    assert (failed.errors.data[0].code, failed.errors.data[0].line) == (code, line)
    assert failed.errors.data[0].message
    assert failed.output_file_id is None and failed.error_file_id is None


def test_missing_input_file_fails_the_batch(shared: openai.OpenAI) -> None:
    created = shared.batches.create(input_file_id="file-missing", endpoint="/v1/chat/completions",
                                    completion_window="24h")
    failed, _ = _wait(shared, created.id)
    assert failed.status == "failed" and failed.errors and failed.errors.data
    assert "file-missing" in (failed.errors.data[0].message or "")


def test_outcome_failed(client: openai.OpenAI, fake: FakeOpenAI) -> None:
    fake.outcome = "failed"
    failed, _ = _wait(client, _batch(client, [_line("a", "hi")]).id)
    assert failed.status == "failed" and failed.errors and failed.errors.data
    assert "limit" in (failed.errors.data[0].message or "")


def test_outcome_expired_answers_first_half(client: openai.OpenAI, fake: FakeOpenAI) -> None:
    fake.outcome = "expired"
    expired, seen = _wait(client, _batch(client, [_line(f"r{i}", "hi") for i in range(4)]).id)
    assert expired.status == "expired" and expired.expired_at
    assert "finalizing" not in {b.status for b in seen}
    assert expired.request_counts is not None
    assert expired.request_counts.model_dump() == {"total": 4, "completed": 2, "failed": 0}
    assert sorted(o["custom_id"] for o in _jsonl(client, expired.output_file_id)) == ["r0", "r1"]
    leftovers = _jsonl(client, expired.error_file_id)
    assert sorted(e["custom_id"] for e in leftovers) == ["r2", "r3"]
    assert {e["error"]["code"] for e in leftovers} == {"batch_expired"}


def test_wrong_key_is_401(fake: FakeOpenAI) -> None:
    client = openai.OpenAI(base_url=fake.url + "/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as caught:
        client.files.list()
    assert caught.value.code == "invalid_api_key"


@pytest.mark.parametrize(("status", "error"), [
    (400, openai.BadRequestError), (429, openai.RateLimitError),
    (500, openai.InternalServerError), (503, openai.InternalServerError)])
def test_fail_requests(client: openai.OpenAI, fake: FakeOpenAI, status: int,
                       error: type[openai.APIStatusError]) -> None:
    fake.fail_requests(2, status)
    for _ in range(2):
        with pytest.raises(error) as caught:
            client.batches.list()
        assert caught.value.status_code == status and caught.value.message
    if status == 429:
        assert caught.value.response.headers["retry-after"] == "0"
    assert client.batches.list().data == []


def test_sdk_retries_through_fail_requests(fake: FakeOpenAI) -> None:
    fake.fail_requests(1, 429)
    client = openai.OpenAI(base_url=fake.url + "/v1", api_key="test-key", max_retries=1)
    assert client.files.list().data == []
    assert fake.requests == [("GET", "/v1/files")] * 2


def test_batches_progress_while_the_fake_is_down(client: openai.OpenAI, fake: FakeOpenAI) -> None:
    created = _batch(client, [_line("a", "hi")])
    fake.stop()
    with pytest.raises(openai.APIConnectionError):
        client.batches.retrieve(created.id)
    time.sleep(fake.process_seconds * 1.5)
    fake.start()
    done = client.batches.retrieve(created.id)
    assert done.status == "completed"
    assert _jsonl(client, done.output_file_id)[0]["custom_id"] == "a"


def test_azure_dialect(fake: FakeOpenAI) -> None:
    azure = openai.AzureOpenAI(azure_endpoint=fake.url, api_key="test-key",
                               api_version="2024-12-01-preview", max_retries=0)
    created = _batch(azure, [_line("a", "hi azure", url="/chat/completions")],
                     endpoint="/chat/completions")
    done, _ = _wait(azure, created.id)
    assert done.status == "completed"
    [answer] = _jsonl(azure, done.output_file_id)
    assert answer["response"]["body"]["choices"][0]["message"]["content"] == "echo: hi azure"
    assert ("POST", "/openai/batches") in fake.requests
    openai_view = openai.OpenAI(base_url=fake.url + "/v1", api_key="test-key")
    assert openai_view.batches.retrieve(created.id).status == "completed"  # one shared state
    wrong = openai.AzureOpenAI(azure_endpoint=fake.url, api_key="nope",
                               api_version="2024-12-01-preview", max_retries=0)
    with pytest.raises(openai.AuthenticationError, match="Access denied"):
        wrong.files.list()
    no_version = openai.OpenAI(base_url=fake.url + "/openai", api_key="x", max_retries=0,
                               default_headers={"api-key": "test-key"})
    with pytest.raises(openai.NotFoundError, match="Resource not found"):
        no_version.files.list()


def test_azure_lines_need_azure_urls(fake: FakeOpenAI) -> None:
    azure = openai.AzureOpenAI(azure_endpoint=fake.url, api_key="test-key",
                               api_version="2024-12-01-preview", max_retries=0)
    failed, _ = _wait(azure, _batch(azure, [_line("a", "hi")]).id)
    assert failed.status == "failed" and failed.errors and failed.errors.data
    assert failed.errors.data[0].code == "invalid_url"


# -- behaviours pinned to independent sources (tests/fakes/README.md names them) ---------------

# The batch guide's example output line: these members, `error` null beside a response.
DOC_OUTPUT_LINE = {"id", "custom_id", "response", "error"}
DOC_RESPONSE = {"status_code", "request_id", "body"}
DOC_COMPLETION = {"id", "object", "created", "model", "choices", "usage", "system_fingerprint"}
# The guide's line for a request an expired batch never ran, word for word but for the ids.
DOC_EXPIRED_ERROR = {"code": "batch_expired",
                     "message": "This request could not be executed before the completion window "
                                "expired."}


def test_objects_have_exactly_the_sdks_members(client: openai.OpenAI, fake: FakeOpenAI) -> None:
    created = _batch(client, [_line("a", "hi"), _line("b", "ho")])
    done, _ = _wait(client, created.id)
    assert set(fake.batches[created.id]) == set(Batch.model_fields)
    assert done.model == "gpt-4o-mini"
    assert done.usage is not None and done.usage.total_tokens == (
        done.usage.input_tokens + done.usage.output_tokens) > 0
    stored = fake.files[done.output_file_id or ""].view()
    assert set(stored) == set(FileObject.model_fields)
    assert (stored["purpose"], stored["filename"]) == (
        "batch_output", f"{created.id}_output.jsonl")
    failed, _ = _wait(client, _batch(client, ["not json"]).id)
    assert failed.errors is not None and failed.errors.data
    assert set(failed.errors.data[0].model_dump()) == set(BatchError.model_fields)


def test_output_lines_have_the_documented_shape(client: openai.OpenAI) -> None:
    done, _ = _wait(client, _batch(client, [_line("a", "hi")]).id)
    [line] = _jsonl(client, done.output_file_id)
    assert set(line) == DOC_OUTPUT_LINE and line["error"] is None
    assert set(line["response"]) == DOC_RESPONSE and line["response"]["status_code"] == 200
    assert set(line["response"]["body"]) >= DOC_COMPLETION
    ChatCompletion.model_validate(line["response"]["body"])


def test_expired_requests_are_written_as_documented(client: openai.OpenAI,
                                                    fake: FakeOpenAI) -> None:
    fake.outcome = "expired"
    expired, _ = _wait(client, _batch(client, [_line(f"r{i}", "hi") for i in range(2)]).id)
    [line] = _jsonl(client, expired.error_file_id)
    assert set(line) == DOC_OUTPUT_LINE and line["id"].startswith("batch_req_")
    assert (line["response"], line["error"]) == (None, DOC_EXPIRED_ERROR)


# -- result faults -----------------------------------------------------------------------------


def test_result_faults_drop_duplicate_and_reorder(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    fake.result_faults = ResultFaults(drop={"r1"}, duplicate={"r2", "bad"}, shuffle=True)
    lines = [_line(f"r{i}", f"hello {i}") for i in range(4)] + [_line("bad", "please FAIL")]
    done, _ = _wait(client, _batch(client, lines).id)
    outputs = [o["custom_id"] for o in _jsonl(client, done.output_file_id)]
    assert sorted(outputs) == ["r0", "r2", "r2", "r3"]
    assert [e["custom_id"] for e in _jsonl(client, done.error_file_id)] == ["bad", "bad"]
    assert done.request_counts is not None and done.request_counts.total == 5  # counts intact
    fake.result_faults = ResultFaults(drop_every=2)
    done, _ = _wait(client, _batch(client, lines[:4]).id)
    assert len(_jsonl(client, done.output_file_id)) == 2
