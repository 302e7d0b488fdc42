"""OpenAI Batch API files from the client's side: input lines checked as OpenAI checks them,
and output and error lines written as OpenAI writes them."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import given
from openai.types import BatchError
from openai.types.batch import Errors
from openai.types.chat import ChatCompletion

from bifrost_py.domain.records.neutral import Completion, text_block
from bifrost_py.domain.records.openai_batch import read_output_line
from bifrost_py.domain.records.openai_batch_lines import (
    CHAT_COMPLETIONS,
    EMBEDDINGS,
    EMPTY_FILE,
    UNANSWERED,
    BatchLine,
    LineError,
    answer_line,
    check_input_file,
    duplicate_custom_ids,
    error_answer_line,
    errors_object,
    mismatched_models,
    model_not_found,
    parse_input_line,
    unanswered_line,
)
from bifrost_py.domain.records.openai_chat import chat_completion
from tests.unit.record_strategies import JSON_OBJECTS, TEXTS, completions

CHAT_BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}


def line(**fields: Any) -> bytes:
    return json.dumps({"custom_id": "r1", "method": "POST", "url": CHAT_COMPLETIONS,
                       "body": CHAT_BODY, **fields}).encode()


def without(field: str) -> bytes:
    value = json.loads(line())
    del value[field]
    return json.dumps(value).encode()


# ---------------------------------------------------------------------------------------------
# Input lines


@pytest.mark.parametrize("ending", [b"", b"\n", b"\r\n"])
def test_a_good_line(ending: bytes) -> None:
    assert parse_input_line(line() + ending, 3, CHAT_COMPLETIONS) == BatchLine("r1", CHAT_BODY, 3)


def test_blank_lines_and_a_byte_order_mark() -> None:
    assert parse_input_line(b"  \r\n", 1, CHAT_COMPLETIONS) is None
    assert parse_input_line(b"\xef\xbb\xbf" + line(), 1, CHAT_COMPLETIONS) == BatchLine(
        "r1", CHAT_BODY, 1)


def test_an_embeddings_line() -> None:
    body = {"model": "text-embedding-3-small", "input": ["a"]}
    assert parse_input_line(line(url=EMBEDDINGS, body=body), 2, EMBEDDINGS) == BatchLine(
        "r1", body, 2)


NOT_JSON = ("invalid_json_line", "This line is not parseable as valid JSON.", None)


@pytest.mark.parametrize(
    ("raw", "endpoint", "error"),
    [
        (b"{invalid json here", CHAT_COMPLETIONS, NOT_JSON),
        (b'{"custom_id": "r1", "body": {"x": NaN}}', CHAT_COMPLETIONS, NOT_JSON),
        (b'\xff\xfe{"custom_id": "r1"}', CHAT_COMPLETIONS, NOT_JSON),
        (b"[1, 2]", CHAT_COMPLETIONS,
         ("invalid_request", "This line is not a JSON object.", None)),
        (without("custom_id"), CHAT_COMPLETIONS,
         ("missing_required_parameter", "Missing required parameter: 'custom_id'.", "custom_id")),
        (without("method"), CHAT_COMPLETIONS,
         ("missing_required_parameter", "Missing required parameter: 'method'.", "method")),
        (without("url"), CHAT_COMPLETIONS,
         ("missing_required_parameter", "Missing required parameter: 'url'.", "url")),
        (without("body"), CHAT_COMPLETIONS,
         ("missing_required_parameter", "Missing required parameter: 'body'.", "body")),
        (b"{}", CHAT_COMPLETIONS,
         ("missing_required_parameter", "Missing required parameter: 'custom_id'.", "custom_id")),
        (line(custom_id=7), CHAT_COMPLETIONS,
         ("invalid_type", "Invalid type for 'custom_id': expected a string, but got an integer "
          "instead.", "custom_id")),
        (line(custom_id=None), CHAT_COMPLETIONS,
         ("invalid_type", "Invalid type for 'custom_id': expected a string, but got null "
          "instead.", "custom_id")),
        (line(method=["POST"]), CHAT_COMPLETIONS,
         ("invalid_type", "Invalid type for 'method': expected a string, but got an array "
          "instead.", "method")),
        (line(url=1.5), CHAT_COMPLETIONS,
         ("invalid_type", "Invalid type for 'url': expected a string, but got a decimal "
          "instead.", "url")),
        (line(body="hi"), CHAT_COMPLETIONS,
         ("invalid_type", "Invalid type for 'body': expected an object, but got a string "
          "instead.", "body")),
        (line(body=True), CHAT_COMPLETIONS,
         ("invalid_type", "Invalid type for 'body': expected an object, but got a boolean "
          "instead.", "body")),
        (line(method="GET"), CHAT_COMPLETIONS,
         ("invalid_value", "Invalid value: 'GET'. Supported values are: 'POST'.", "method")),
        (line(method="post"), CHAT_COMPLETIONS,
         ("invalid_value", "Invalid value: 'post'. Supported values are: 'POST'.", "method")),
        (line(url="/v1/embeddings"), CHAT_COMPLETIONS,
         ("invalid_url", "The URL provided for this request does not match the batch endpoint.",
          "url")),
        (line(url="/chat/completions"), CHAT_COMPLETIONS,
         ("invalid_url", "The URL provided for this request does not match the batch endpoint.",
          "url")),
        (line(body={**CHAT_BODY, "stream": True}), CHAT_COMPLETIONS,
         ("streaming_unsupported", "Chat Completions: Streaming is not supported in the Batch "
          "API.", "body.stream")),
        (line(body={"messages": []}), CHAT_COMPLETIONS,
         ("invalid_request", "Model parameter is required.", "body.model")),
        (line(body={"model": "m"}), CHAT_COMPLETIONS,
         ("invalid_request", "Messages parameter is required.", "body.messages")),
        (line(url=EMBEDDINGS, body={"model": "m"}), EMBEDDINGS,
         ("invalid_request", "Input parameter is required.", "body.input")),
    ],
)
def test_bad_lines(raw: bytes, endpoint: str, error: tuple[str, str, str | None]) -> None:
    found = parse_input_line(raw + b"\n", 4, endpoint)
    assert found == LineError(*error, line=4)
    assert isinstance(found, LineError)
    assert BatchError.model_validate(found.as_json()) == BatchError(code=error[0],
                                                                     message=error[1],
                                                                     param=error[2], line=4)


def test_a_stream_flag_that_is_false_is_no_stream() -> None:
    body = {**CHAT_BODY, "stream": False}
    assert parse_input_line(line(body=body), 1, CHAT_COMPLETIONS) == BatchLine("r1", body, 1)


def requests(*pairs: tuple[str, str]) -> list[BatchLine]:
    return [BatchLine(custom_id, {"model": model, "messages": []}, n)
            for n, (custom_id, model) in enumerate(pairs, 1)]


def test_duplicate_custom_ids_are_reported_on_every_line_after_the_first() -> None:
    found = duplicate_custom_ids(requests(("a", "m"), ("b", "m"), ("a", "m"), ("a", "m")))
    assert [(error.code, error.param, error.line) for error in found] == [
        ("duplicate_custom_id", "custom_id", 3), ("duplicate_custom_id", "custom_id", 4)]
    assert found[0].message == ("The custom_id 'a' for this request is a duplicate of another "
                                "request. The custom_id parameter must be unique for each "
                                "request in a batch.")


def test_the_first_line_names_the_batchs_model() -> None:
    found = mismatched_models(requests(("a", "m"), ("b", "n"), ("c", "m")))
    assert found == [LineError("mismatched_model", "The model 'n' for this request does not "
                               "match the rest of the batch. Each batch must contain requests "
                               "for a single model.", "body.model", 2)]
    assert mismatched_models([]) == []


def test_an_unknown_model() -> None:
    assert model_not_found(requests(("a", "nonexistent-model-xyz"))[0]) == LineError(
        "model_not_found", "The provided model 'nonexistent-model-xyz' is not supported by the "
        "Batch API.", "body.model", 1)


def test_a_whole_file_checked() -> None:
    lines = [line(custom_id="a"), b"", line(custom_id="b", method="GET"), b"{oops",
             line(custom_id="a"), line(custom_id="c", body={**CHAT_BODY, "model": "other"})]
    found, errors = check_input_file(lines, CHAT_COMPLETIONS)
    assert [request.custom_id for request in found] == ["a", "a", "c"]
    assert [(error.code, error.line) for error in errors] == [
        ("invalid_value", 3), ("invalid_json_line", 4), ("duplicate_custom_id", 5),
        ("mismatched_model", 6)]
    assert Errors.model_validate(errors_object(errors)).data == [
        BatchError.model_validate(error.as_json()) for error in errors]


@pytest.mark.parametrize("lines", [[], [b""], [b"\n", b"  "]])
def test_an_empty_file(lines: list[bytes]) -> None:
    assert check_input_file(lines, CHAT_COMPLETIONS) == ([], [EMPTY_FILE])


def test_a_good_file_has_no_errors() -> None:
    found, errors = check_input_file([line(custom_id="a"), line(custom_id="b")],
                                     CHAT_COMPLETIONS)
    assert (len(found), errors) == (2, [])


@given(custom_id=TEXTS, body=JSON_OBJECTS)
def test_any_well_formed_line_is_read_as_it_was_written(custom_id: str,
                                                        body: dict[str, Any]) -> None:
    body = {**body, "model": "m", "input": "x"}
    raw = json.dumps({"custom_id": custom_id, "method": "POST", "url": EMBEDDINGS, "body": body})
    assert parse_input_line(raw.encode(), 9, EMBEDDINGS) == BatchLine(
        custom_id, body, 9)


# ---------------------------------------------------------------------------------------------
# Output and error lines

ANSWER = chat_completion(Completion([text_block("2 + 2 equals 4.")], 24, 15), "gpt-4o-mini",
                         1_711_475_054)
# openai-python types/batch_request_output.py (BatchRequestOutput): its members and error codes.
OUTPUT_MEMBERS = {"id", "custom_id", "response", "error"}
RESPONSE_MEMBERS = {"status_code", "request_id", "body"}
ERROR_CODES = {"batch_expired", "batch_cancelled", "request_timeout"}


def read(raw: bytes) -> dict[str, Any]:
    assert raw.endswith(b"\n") and raw.count(b"\n") == 1
    value: dict[str, Any] = json.loads(raw)
    assert set(value) == OUTPUT_MEMBERS
    assert re.fullmatch(r"batch_req_[0-9a-f]{24}", value["id"])
    return value


def test_an_answer() -> None:
    value = read(answer_line("request-2", ANSWER))
    assert value["custom_id"] == "request-2" and value["error"] is None
    response = value["response"]
    assert set(response) == RESPONSE_MEMBERS and response["status_code"] == 200
    assert re.fullmatch(r"[0-9a-f]{32}", response["request_id"])
    assert ChatCompletion.model_validate(response["body"]).choices[0].message.content == (
        "2 + 2 equals 4.")
    # The reader of OpenAI's own output files reads it as OpenAI's.
    assert read_output_line(value) == ("request-2", Completion([text_block("2 + 2 equals 4.")],
                                                              24, 15), None)


def test_line_ids_follow_the_answer() -> None:
    first = read(answer_line("a", ANSWER))
    assert read(answer_line("a", ANSWER)) == first
    assert read(answer_line("b", ANSWER))["id"] != first["id"]
    assert read(answer_line("a", {"other": 1}))["response"]["request_id"] != (
        first["response"]["request_id"])
    assert read(unanswered_line("a", "batch_expired"))["id"] != read(
        unanswered_line("a", "batch_cancelled"))["id"]


def test_an_answer_with_an_error_status() -> None:
    value = read(error_answer_line("request-5", 400, "This model's maximum context length is "
                                   "128000 tokens.", param="messages",
                                   code="context_length_exceeded"))
    assert value["error"] is None
    assert value["response"]["status_code"] == 400
    assert value["response"]["body"] == {"error": {
        "message": "This model's maximum context length is 128000 tokens.",
        "type": "invalid_request_error", "param": "messages", "code": "context_length_exceeded"}}
    assert read_output_line(value) == ("request-5", None, (400, "This model's maximum context "
                                                               "length is 128000 tokens."))


@pytest.mark.parametrize(("status", "error_type", "expected"),
                         [(404, None, "invalid_request_error"), (500, None, "server_error"),
                          (429, "requests", "requests")])
def test_error_types(status: int, error_type: str | None, expected: str) -> None:
    body = read(error_answer_line("a", status, "m", error_type))["response"]["body"]
    assert body["error"] == {"message": "m", "type": expected, "param": None, "code": None}


@pytest.mark.parametrize("code", sorted(UNANSWERED))
def test_requests_without_a_response(code: str) -> None:
    value = read(unanswered_line("request-3", code))
    assert value["response"] is None
    assert value["error"] == {"code": code, "message": UNANSWERED[code]}
    assert set(UNANSWERED) == ERROR_CODES
    # Requests that never ran are no answer; a timed out one is a failed answer.
    assert (read_output_line(value) is None) == (code != "request_timeout")


def test_an_expired_request_has_the_guides_message() -> None:
    assert read(unanswered_line("r", "batch_expired"))["error"]["message"] == (
        "This request could not be executed before the completion window expired.")


@given(custom_id=TEXTS, completion=completions())
def test_any_answer_is_one_line_the_upstream_reader_reads_back(custom_id: str,
                                                               completion: Completion) -> None:
    value = read(answer_line(custom_id, chat_completion(completion, "m", 0)))
    outcome = read_output_line(value)
    assert outcome is not None and outcome[0] == custom_id and outcome[2] is None
