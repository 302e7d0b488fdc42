"""Vertex AI batch prediction lines, both families, and a job resource as a Poll.

Output lines follow Google's published shapes: the Gemini line of the "Batch inference from Cloud
Storage" guide (input fields carried, `status` empty, `response` a GenerateContentResponse) and
the Claude line of the "Batch predictions for Claude" guide (`custom_id`, `response` a Messages
API response)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bifrost_py.domain.jobs import (
    COMPLETED,
    EXPIRED,
    FAILED,
    IN_PROGRESS,
    SCHEDULED,
    STOPPED,
    STOPPING,
)
from bifrost_py.domain.records.neutral import Completion, Message, Prompt, text_block
from bifrost_py.domain.records.vertex import (
    ANTHROPIC_VERSION,
    is_claude,
    model_path,
    native_line,
    read_line,
    request_digest,
    request_line,
    sent_id,
)
from bifrost_py.providers.vertex.batch import job_poll, read_results

PROMPT = Prompt(system="Be brief.", messages=[Message("user", [text_block("What is 2 + 2?")])],
                max_tokens=50, temperature=0.2)
GEMINI_ANSWER = {"candidates": [{"content": {"role": "model", "parts": [{"text": "4"}]},
                                 "finishReason": "STOP", "avgLogprobs": -0.01}],
                 "usageMetadata": {"promptTokenCount": 9, "candidatesTokenCount": 1,
                                   "totalTokenCount": 10},
                 "modelVersion": "gemini-2.0-flash-001"}
CLAUDE_ANSWER = {"id": "msg_vrtx_01", "type": "message", "role": "assistant",
                 "model": "claude-3-5-sonnet-v2-20241022",
                 "content": [{"type": "text", "text": "4"}], "stop_reason": "end_turn",
                 "stop_sequence": None, "usage": {"input_tokens": 14, "output_tokens": 5}}


@pytest.mark.parametrize(("name", "path"), [
    ("gemini-2.5-flash", "publishers/google/models/gemini-2.5-flash"),
    ("google/gemini-2.5-pro", "publishers/google/models/gemini-2.5-pro"),
    ("anthropic/claude-sonnet-4", "publishers/anthropic/models/claude-sonnet-4"),
    ("claude-3-5-haiku@20241022", "publishers/anthropic/models/claude-3-5-haiku@20241022"),
    ("publishers/google/models/x", "publishers/google/models/x"),
    ("projects/p/locations/l/models/123", "projects/p/locations/l/models/123"),
])
def test_model_paths(name: str, path: str) -> None:
    assert model_path(name) == path


def test_a_gemini_line_is_keyed_and_holds_a_generate_content_request() -> None:
    line = json.loads(request_line("rec-1", PROMPT, "publishers/google/models/gemini-2.5-flash"))
    assert line["key"] == "rec-1"
    assert line["request"]["contents"] == [{"role": "user", "parts": [{"text": "What is 2 + 2?"}]}]
    assert line["request"]["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert line["request"]["generationConfig"] == {"maxOutputTokens": 50, "temperature": 0.2}


def test_a_claude_line_has_vertexs_version_and_no_model() -> None:
    path = "publishers/anthropic/models/claude-sonnet-4"
    assert is_claude(path) and not is_claude("publishers/google/models/claude-like")
    line = json.loads(request_line("rec-2", PROMPT, path))
    assert line["custom_id"] == "rec-2"
    request = line["request"]
    assert request["anthropic_version"] == ANTHROPIC_VERSION == "vertex-2023-10-16"
    assert "model" not in request
    assert request["max_tokens"] == 50 and request["system"] == "Be brief."
    assert request["messages"] == [{"role": "user", "content": [
        {"type": "text", "text": "What is 2 + 2?"}]}]


def test_native_lines_pass_through_in_vertexs_spelling() -> None:
    gemini = {"key": "a", "request": {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}}
    assert native_line(gemini) == ("a", gemini)
    seed = {"metadata": {"key": "b"}, "request": gemini["request"]}
    assert native_line(seed) == ("b", {**seed, "key": "b"})
    claude = {"custom_id": "c", "request": {
        "model": "x", "anthropic_version": "bedrock-2023-05-31", "max_tokens": 5,
        "messages": [{"role": "user", "content": "hi"}]}}
    assert native_line(claude) == ("c", {"custom_id": "c", "request": {
        "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}],
        "anthropic_version": ANTHROPIC_VERSION}})
    assert native_line({"recordId": "d", "modelInput": {}}) is None


def test_output_lines_of_both_families() -> None:
    gemini = {"key": "a", "status": "", "processed_time": "2024-11-01T18:13:16.826+00:00",
              "request": {"contents": []}, "response": GEMINI_ANSWER}
    key, answer = read_line(gemini) or (None, None)
    assert key == "a" and isinstance(answer, Completion)
    assert (answer.content, answer.input_tokens, answer.output_tokens) == (
        [text_block("4")], 9, 1)
    claude = {"custom_id": "b", "request": {}, "response": CLAUDE_ANSWER, "status": ""}
    key, answer = read_line(claude) or (None, None)
    assert key == "b" and isinstance(answer, Completion)
    assert (answer.input_tokens, answer.output_tokens) == (14, 5)


@pytest.mark.parametrize(("status", "code"), [
    ('{"code": 429, "message": "Resource exhausted"}', 429),
    ('Bad Request: {"error": {"code": 400, "message": "Invalid JSON payload", '
     '"status": "INVALID_ARGUMENT"}}', 400),
    ("400 Request contains an invalid argument.", 400),
    ("Internal error occurred.", 500),
])
def test_a_failed_line_is_an_error_with_its_code(status: str, code: int) -> None:
    assert read_line({"key": "a", "request": {}, "status": status}) == ("a", (code, status))


def test_lines_that_answer_nothing_are_not_results() -> None:
    assert read_line({"key": "a", "request": {}, "status": ""}) is None
    assert read_line(["not", "a", "line"]) is None
    keyless = read_line({"request": {}, "response": GEMINI_ANSWER})
    assert keyless is not None and keyless[0] is None


def test_an_unreadable_response_is_a_502() -> None:
    key, outcome = read_line({"key": "a", "status": "", "response": {"candidates": []}}) or (
        None, None)
    assert key == "a" and isinstance(outcome, tuple) and outcome[0] == 502


def test_a_prediction_file_yields_every_identified_answer(tmp_path: Path) -> None:
    path = tmp_path / "predictions.jsonl"
    lines: list[Any] = [
        {"key": "b", "status": "", "response": GEMINI_ANSWER},
        {"request": {"contents": [1]}, "status": "", "response": GEMINI_ANSWER},  # no key
        {"key": "a", "status": "500 Internal error"}]
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n\nnot json\n")
    unkeyed: list[int] = []
    results = list(read_results(path, unkeyed))
    assert [(r.custom_id, r.error) for r in results] == [
        ("b", None), ("a", (500, "500 Internal error"))]
    assert results[0].completion is not None
    assert unkeyed == [2]


def test_lines_without_their_id_are_matched_by_the_request_they_echo(tmp_path: Path) -> None:
    sent = [{"key": "first",
             "request": {"contents": [{"role": "user", "parts": [{"text": "a"}]}]}},
            {"key": "second",
             "request": {"contents": [{"parts": [{"text": "b"}], "role": "user"}]}}]
    ids = dict(filter(None, map(sent_id, sent)))
    path = tmp_path / "predictions.jsonl"
    echoed = [{"request": {"contents": [{"role": "user", "parts": [{"text": "b"}]}]},
               "status": "", "response": GEMINI_ANSWER},
              {"request": {"contents": [{"role": "user", "parts": [{"text": "zzz"}]}]},
               "status": "", "response": GEMINI_ANSWER}]
    path.write_text("\n".join(json.dumps(line) for line in echoed) + "\n")
    unkeyed: list[int] = []
    assert list(read_results(path, unkeyed)) == []
    assert unkeyed == [1, 2]
    matched = list(read_results(path, unkeyed, ids))
    assert [r.custom_id for r in matched] == ["second"], "key order does not matter; "\
        "a request never sent matches nothing"
    assert request_digest({"a": 1, "b": [2]}) == request_digest({"b": [2], "a": 1})


@pytest.mark.parametrize(("state", "status", "ready"), [
    ("JOB_STATE_QUEUED", SCHEDULED, False), ("JOB_STATE_PENDING", SCHEDULED, False),
    ("JOB_STATE_RUNNING", IN_PROGRESS, False), ("JOB_STATE_SUCCEEDED", COMPLETED, True),
    ("JOB_STATE_PARTIALLY_SUCCEEDED", COMPLETED, True),
    ("JOB_STATE_FAILED", FAILED, True), ("JOB_STATE_CANCELLING", STOPPING, False),
    ("JOB_STATE_CANCELLED", STOPPED, True), ("JOB_STATE_EXPIRED", EXPIRED, True),
])
def test_job_states_map_to_bedrock_statuses(state: str, status: str, ready: bool) -> None:
    poll = job_poll({"state": state})
    assert (poll.status, poll.results_ready) == (status, ready)


def test_completion_stats_are_proto3_strings_with_zeros_left_out() -> None:
    poll = job_poll({"state": "JOB_STATE_RUNNING",
                     "completionStats": {"successfulCount": "7", "incompleteCount": "3"}}, 10)
    assert (poll.counts.total, poll.counts.processed, poll.counts.success,
            poll.counts.errors) == (10, 7, 7, 0)


def test_a_jobs_error_is_its_message() -> None:
    poll = job_poll({"state": "JOB_STATE_FAILED",
                     "error": {"code": 3, "message": "Failed to import data. Not valid JSON."}})
    assert poll.message == "Failed to import data. Not valid JSON."
    assert job_poll({"state": "JOB_STATE_EXPIRED"}).message is not None
