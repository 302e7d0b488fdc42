"""Bedrock records as OpenAI Batch API request lines, output lines back as outcomes, and the
batch's state as a Bedrock status."""

from __future__ import annotations

from typing import Any

import pytest
from openai.types import Batch

from bifrost_py.domain.records.fields import RecordError
from bifrost_py.domain.records.neutral import JsonObject
from bifrost_py.domain.records.openai_batch import (
    AZURE_CHAT_URL,
    CHAT_URL,
    batch_request,
    native_custom_id,
    read_output_line,
)
from bifrost_py.domain.records.prompt import to_prompt
from bifrost_py.ports.upstream import (
    UpstreamAuth,
    UpstreamRefused,
    UpstreamUnavailable,
    status_error,
)
from bifrost_py.providers.openai.batch import batch_poll, failure_message
from bifrost_py.providers.openai.client import _clean
from bifrost_py.providers.openai.files import batch_filename

CLAUDE = "anthropic.claude-3-5-sonnet-20240620-v1:0"
NOVA = "amazon.nova-lite-v1:0"
GPT = "gpt-4o-mini"
PNG = "iVBORw0KGgo="
WEATHER_SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}}


def line(model_input: JsonObject, model_id: str = CLAUDE, url: str = CHAT_URL,
         invocation: str = "InvokeModel") -> JsonObject:
    return batch_request("rec-1", to_prompt(model_id, model_input, invocation), model=GPT,
                         url=url)


def claude(messages: list[JsonObject], **extra: Any) -> JsonObject:
    return {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 100, "messages": messages,
            **extra}


# requests


def test_a_record_becomes_a_post_to_chat_completions_with_the_mapped_model() -> None:
    request = line(claude([{"role": "user", "content": "Hi"}]))
    assert request == {"custom_id": "rec-1", "method": "POST", "url": "/v1/chat/completions",
                       "body": {"model": GPT, "max_tokens": 100,
                                "messages": [{"role": "user", "content": "Hi"}]}}


def test_azure_lines_use_the_deployment_path() -> None:
    assert line(claude([{"role": "user", "content": "Hi"}]), url=AZURE_CHAT_URL)["url"] == (
        "/chat/completions")


def test_sampling_options_system_and_stop_sequences() -> None:
    body = line(claude([{"role": "user", "content": "Hi"}], system="Be brief.", temperature=0.2,
                       top_p=0.9, top_k=40, stop_sequences=["END"]))["body"]
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}
    assert (body["max_tokens"], body["temperature"], body["top_p"], body["stop"]) == (
        100, 0.2, 0.9, ["END"])
    assert "top_k" not in body  # OpenAI has none


def test_converse_records_read_inference_config() -> None:
    body = line({"system": [{"text": "Be brief."}],
                 "messages": [{"role": "user", "content": [{"text": "Hi"}]}],
                 "inferenceConfig": {"maxTokens": 50, "temperature": 0.5, "topP": 0.8,
                                     "stopSequences": ["STOP"]}}, model_id=NOVA)["body"]
    assert body == {"model": GPT, "max_tokens": 50, "temperature": 0.5, "top_p": 0.8,
                    "stop": ["STOP"], "messages": [{"role": "system", "content": "Be brief."},
                                                   {"role": "user", "content": "Hi"}]}


def test_unset_options_are_left_out() -> None:
    body = line({"messages": [{"role": "user", "content": [{"text": "Hi"}]}]},
                model_id=NOVA)["body"]
    assert set(body) == {"model", "messages"}


def test_multi_turn_keeps_roles_and_order() -> None:
    messages = [{"role": "user", "content": "one"}, {"role": "assistant", "content": "two"},
                {"role": "user", "content": "three"}]
    body = line(claude(messages))["body"]
    assert [(m["role"], m["content"]) for m in body["messages"]] == [
        ("user", "one"), ("assistant", "two"), ("user", "three")]


def test_images_become_data_urls() -> None:
    content = [{"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                            "data": PNG}},
               {"type": "text", "text": "What is this?"}]
    body = line(claude([{"role": "user", "content": content}]))["body"]
    assert body["messages"][0]["content"] == [
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
        {"type": "text", "text": "What is this?"}]


def test_converse_images_become_data_urls() -> None:
    content = [{"image": {"format": "jpeg", "source": {"bytes": PNG}}}, {"text": "And this?"}]
    body = line({"messages": [{"role": "user", "content": content}]}, model_id=NOVA)["body"]
    assert body["messages"][0]["content"][0] == {
        "type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{PNG}"}}


def test_tools_tool_calls_and_tool_results() -> None:
    messages: list[JsonObject] = [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "call_1", "name": "weather",
                                           "input": {"city": "Paris"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_1",
                                      "content": "sunny"}]}]
    tools = [{"name": "weather", "description": "Look up the weather",
              "input_schema": WEATHER_SCHEMA}]
    body = line(claude(messages, tools=tools, tool_choice={"type": "any"}))["body"]
    assert body["tools"] == [{"type": "function", "function": {
        "name": "weather", "description": "Look up the weather", "parameters": WEATHER_SCHEMA}}]
    assert body["tool_choice"] == "required"
    assert body["messages"][1] == {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function",
         "function": {"name": "weather", "arguments": '{"city": "Paris"}'}}]}
    assert body["messages"][2] == {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}


def test_a_converse_job_reads_converse_requests() -> None:
    body = line({"messages": [{"role": "user", "content": [{"text": "Hi"}]}],
                 "inferenceConfig": {"maxTokens": 7}}, invocation="Converse")["body"]
    assert body["max_tokens"] == 7


def test_a_record_without_messages_is_a_record_error() -> None:
    with pytest.raises(RecordError):
        line(claude([]))


@pytest.mark.parametrize(("value", "expected"), [
    ({"custom_id": "a", "method": "POST", "url": CHAT_URL, "body": {}}, "a"),
    ({"custom_id": "a", "body": {"messages": []}}, "a"),  # OpenAI judges what is missing
    ({"custom_id": "a", "params": {}}, None),  # Anthropic's batch format
    ({"custom_id": 7, "body": {}}, None),
    ({"custom_id": "a", "body": "text"}, None),
    ({"key": "a", "request": {}}, None),  # Gemini's
])
def test_native_lines(value: JsonObject, expected: str | None) -> None:
    assert native_custom_id(value) == expected


# output and error lines


def output(custom_id: str, status: int | None = 200, body: Any = None,
           error: JsonObject | None = None) -> JsonObject:
    response = None if status is None else {"status_code": status, "request_id": "r",
                                            "body": body}
    return {"id": "batch_req_1", "custom_id": custom_id, "response": response, "error": error}


def chat(message: JsonObject, finish_reason: str = "stop") -> JsonObject:
    return {"id": "chatcmpl-1", "object": "chat.completion", "model": GPT,
            "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
            "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}}


def test_an_answer_becomes_a_completion_with_usage_and_stop_reason() -> None:
    outcome = read_output_line(output("a", 200, chat({"role": "assistant", "content": "Hi!"})))
    assert outcome is not None
    custom_id, completion, error = outcome
    assert (custom_id, error) == ("a", None) and completion is not None
    assert completion.content == [{"type": "text", "text": "Hi!"}]
    assert (completion.input_tokens, completion.output_tokens) == (12, 3)
    assert completion.stop_reason == "end_turn"


@pytest.mark.parametrize(("finish", "reason"), [("length", "max_tokens"),
                                                ("tool_calls", "tool_use"),
                                                ("content_filter", "end_turn")])
def test_finish_reasons(finish: str, reason: str) -> None:
    outcome = read_output_line(output("a", 200, chat({"role": "assistant", "content": "x"},
                                                     finish)))
    assert outcome is not None and outcome[1] is not None
    assert outcome[1].stop_reason == reason


def test_tool_calls_become_tool_use_blocks() -> None:
    message = {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_9", "type": "function",
         "function": {"name": "weather", "arguments": '{"city": "Oslo"}'}}]}
    outcome = read_output_line(output("a", 200, chat(message, "tool_calls")))
    assert outcome is not None and outcome[1] is not None
    assert outcome[1].content == [{"type": "tool_use", "id": "call_9", "name": "weather",
                                   "input": {"city": "Oslo"}}]


def test_a_refused_request_keeps_its_status_and_message() -> None:
    body = {"error": {"message": "Bad messages.", "type": "invalid_request_error",
                      "code": "invalid_request"}}
    assert read_output_line(output("a", 400, body)) == ("a", None, (400, "Bad messages."))
    assert read_output_line(output("a", 429, None)) == (
        "a", None, (429, "OpenAI answered the request with status 429"))


def test_an_unreadable_answer_is_a_502() -> None:
    outcome = read_output_line(output("a", 200, {"choices": []}))
    assert outcome is not None and outcome[2] is not None
    assert outcome[2][0] == 502 and "unreadable response" in outcome[2][1]


def test_requests_that_never_ran_are_left_out() -> None:
    for code in ("batch_expired", "batch_cancelled"):
        assert read_output_line(output("a", None, error={"code": code, "message": "m"})) is None


def test_other_errors_without_a_response() -> None:
    line_ = output("a", None, error={"code": "server_error", "message": "boom"})
    assert read_output_line(line_) == ("a", None, (500, "server_error: boom"))
    assert read_output_line(output("a", None)) == (
        "a", None, (502, "OpenAI returned neither a response nor an error"))


@pytest.mark.parametrize("value", [[], "x", {"response": None}, {"custom_id": 3}])
def test_lines_with_no_custom_id_are_skipped(value: Any) -> None:
    assert read_output_line(value) is None


# the batch's state


def batch(status: str, completed: int = 0, failed: int = 0, total: int = 4,
          errors: list[JsonObject] | None = None) -> Batch:
    read = Batch.model_validate({
        "id": "batch_1", "object": "batch", "endpoint": CHAT_URL, "input_file_id": "file-1",
        "completion_window": "24h", "status": "in_progress", "created_at": 0,
        "request_counts": {"total": total, "completed": completed, "failed": failed},
        "errors": {"object": "list", "data": errors} if errors is not None else None})
    # Set after validation: the SDK reads answers leniently, so newer states do reach us.
    return read.model_copy(update={"status": status})


@pytest.mark.parametrize(("status", "bedrock", "ready"), [
    ("validating", "Validating", False), ("in_progress", "InProgress", False),
    ("finalizing", "InProgress", False), ("cancelling", "Stopping", False),
    ("completed", "Completed", True), ("cancelled", "Stopped", True),
    ("failed", "Failed", True), ("some_new_state", "InProgress", False)])
def test_status_mapping(status: str, bedrock: str, ready: bool) -> None:
    poll = batch_poll(batch(status, completed=2, failed=1))
    assert (poll.status, poll.results_ready) == (bedrock, ready)
    assert (poll.counts.processed, poll.counts.success, poll.counts.errors) == (3, 2, 1)


@pytest.mark.parametrize(("completed", "failed", "status"), [
    (2, 0, "PartiallyCompleted"), (0, 1, "PartiallyCompleted"), (0, 0, "Expired")])
def test_expired_batches(completed: int, failed: int, status: str) -> None:
    poll = batch_poll(batch("expired", completed, failed))
    assert (poll.status, poll.results_ready) == (status, True)
    assert poll.message == (f"{4 - completed - failed} of 4 requests expired before OpenAI "
                            "processed them.")


def test_a_failed_batch_says_why() -> None:
    errors = [{"code": "invalid_url", "message": f"bad url {n}", "line": n} for n in range(1, 6)]
    assert failure_message(batch("failed", errors=errors)) == (
        "OpenAI failed the batch: request line 1: invalid_url: bad url 1; request line 2: "
        "invalid_url: bad url 2; request line 3: invalid_url: bad url 3 (and 2 more)")
    no_line = [{"code": "token_limit_exceeded", "message": "Enqueued token limit reached."}]
    assert failure_message(batch("failed", errors=no_line)) == (
        "OpenAI failed the batch: token_limit_exceeded: Enqueued token limit reached.")
    assert batch_poll(batch("failed")).message == (
        "OpenAI failed the batch without giving a reason.")


# files and errors


@pytest.mark.parametrize(("key", "name"), [("in/batch_1.jsonl", "batch_1.jsonl"),
                                           ("data.txt", "data.txt.jsonl"),
                                           ("folder/", "upload.jsonl")])
def test_uploads_are_named_for_the_batch_api(key: str, name: str) -> None:
    assert batch_filename(key) == name


@pytest.mark.parametrize(("status", "kind"), [(429, UpstreamUnavailable),
                                              (500, UpstreamUnavailable),
                                              (503, UpstreamUnavailable), (401, UpstreamAuth),
                                              (403, UpstreamAuth), (400, UpstreamRefused),
                                              (404, UpstreamRefused), (409, UpstreamRefused)])
def test_status_errors(status: int, kind: type[Exception]) -> None:
    error = status_error("openai", status, "m")
    assert type(error) is kind and error.provider == "openai"


def test_keys_never_reach_a_message() -> None:
    text = "Incorrect API key provided: sk-proj-****abcd and my-secret-key"
    assert _clean(text, "my-secret-key") == "Incorrect API key provided: sk-*** and ***"
