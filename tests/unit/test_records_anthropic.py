"""Prompts as Anthropic Message Batches request lines, and result lines back as completions."""

from __future__ import annotations

from typing import Any

import pytest

from bifrost_py.domain.records.anthropic import (
    DEFAULT_MAX_TOKENS,
    batch_request,
    from_anthropic_message,
    native_custom_id,
    native_request,
    read_result,
    to_anthropic_params,
)
from bifrost_py.domain.records.neutral import (
    Completion,
    Message,
    Prompt,
    image_block,
    text_block,
    tool_result_block,
    tool_use_block,
)
from bifrost_py.domain.records.prompt import to_prompt

MODEL = "claude-3-5-sonnet-20241022"
CLAUDE = "anthropic.claude-3-5-sonnet-20240620-v1:0"
PNG = "iVBORw0KGgo="
WEATHER = {"name": "weather", "description": "Look up the weather",
           "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}


def user(text: str) -> Message:
    return Message("user", [text_block(text)])


def test_a_minimal_prompt_gets_the_model_and_the_default_max_tokens() -> None:
    params = to_anthropic_params(Prompt(messages=[user("hi")]), MODEL)
    assert params == {"model": MODEL, "max_tokens": DEFAULT_MAX_TOKENS,
                      "messages": [{"role": "user",
                                    "content": [{"type": "text", "text": "hi"}]}]}


def test_sampling_options_system_and_stop_sequences() -> None:
    prompt = Prompt(system="Be brief.", messages=[user("hi")], max_tokens=50, temperature=0.2,
                    top_p=0.9, top_k=40, stop=["END", "\n\n"])
    params = to_anthropic_params(prompt, MODEL)
    assert params["system"] == "Be brief."
    assert (params["max_tokens"], params["temperature"], params["top_p"], params["top_k"]) == (
        50, 0.2, 0.9, 40)
    assert params["stop_sequences"] == ["END", "\n\n"]


def test_unset_options_are_left_out() -> None:
    params = to_anthropic_params(Prompt(messages=[user("hi")]), MODEL)
    assert not {"system", "temperature", "top_p", "top_k", "stop_sequences", "tools",
                "tool_choice", "anthropic_version", "anthropic_beta"} & set(params)


def test_multi_turn_keeps_roles_and_order() -> None:
    prompt = Prompt(messages=[user("one"), Message("assistant", [text_block("two")]),
                              user("three")])
    params = to_anthropic_params(prompt, MODEL)
    assert [(m["role"], m["content"][0]["text"]) for m in params["messages"]] == [
        ("user", "one"), ("assistant", "two"), ("user", "three")]


def test_images_become_base64_sources() -> None:
    prompt = Prompt(messages=[Message("user", [image_block("image/png", PNG),
                                               text_block("what is this?")])])
    content = to_anthropic_params(prompt, MODEL)["messages"][0]["content"]
    assert content[0] == {"type": "image", "source": {"type": "base64",
                                                      "media_type": "image/png", "data": PNG}}
    assert content[1] == {"type": "text", "text": "what is this?"}


def test_tools_tool_use_and_tool_results() -> None:
    prompt = Prompt(messages=[
        user("weather in Paris?"),
        Message("assistant", [text_block("Looking."),
                              tool_use_block("toolu_1", "weather", {"city": "Paris"})]),
        Message("user", [tool_result_block("toolu_1", "sunny"),
                         tool_result_block("toolu_2", "timeout", is_error=True)]),
    ], tools=[WEATHER, {**WEATHER, "name": "bare", "description": ""}], tool_choice="auto")
    params = to_anthropic_params(prompt, MODEL)
    assert params["tools"] == [WEATHER, {"name": "bare", "input_schema": WEATHER["input_schema"]}]
    assert params["tool_choice"] == {"type": "auto"}
    assert params["messages"][1]["content"][1] == {
        "type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Paris"}}
    assert params["messages"][2]["content"] == [
        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"},
        {"type": "tool_result", "tool_use_id": "toolu_2", "content": "timeout",
         "is_error": True}]


@pytest.mark.parametrize(("choice", "expected"), [
    ("auto", {"type": "auto"}), ("any", {"type": "any"}), ("none", {"type": "none"}),
    ("weather", {"type": "tool", "name": "weather"})])
def test_tool_choice(choice: str, expected: dict[str, Any]) -> None:
    params = to_anthropic_params(Prompt(messages=[user("x")], tools=[WEATHER],
                                        tool_choice=choice), MODEL)
    assert params["tool_choice"] == expected


def test_tool_choice_without_tools_is_dropped() -> None:
    params = to_anthropic_params(Prompt(messages=[user("x")], tool_choice="any"), MODEL)
    assert "tool_choice" not in params


def test_a_bedrock_claude_body_loses_anthropic_version_on_the_way() -> None:
    body = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 100,
            "system": [{"type": "text", "text": "Be brief."}], "stop_sequences": ["STOP"],
            "messages": [{"role": "user", "content": "hello"}]}
    params = to_anthropic_params(to_prompt(CLAUDE, body), MODEL)
    assert params == {"model": MODEL, "max_tokens": 100, "system": "Be brief.",
                      "stop_sequences": ["STOP"],
                      "messages": [{"role": "user",
                                    "content": [{"type": "text", "text": "hello"}]}]}


def test_the_seeds_converse_record() -> None:
    body = {"messages": [{"role": "user", "content": [{"text": "What is 1 + 1?"}]}],
            "inferenceConfig": {"maxTokens": 100, "topP": 0.5}}
    params = to_anthropic_params(to_prompt(CLAUDE, body), MODEL)
    assert (params["max_tokens"], params["top_p"]) == (100, 0.5)
    assert params["messages"][0]["content"] == [{"type": "text", "text": "What is 1 + 1?"}]


def test_batch_request_line() -> None:
    assert batch_request("r-1", {"model": MODEL}) == {"custom_id": "r-1",
                                                       "params": {"model": MODEL}}


@pytest.mark.parametrize(("line", "expected"), [
    ({"custom_id": "a", "params": {}}, "a"),
    ({"custom_id": "a"}, None),
    ({"custom_id": 1, "params": {}}, None),
    ({"params": {}}, None),
    ({"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": {}}, None),
])
def test_native_custom_id(line: dict[str, Any], expected: str | None) -> None:
    assert native_custom_id(line) == expected


def test_native_request_strips_bedrock_fields_and_fills_defaults() -> None:
    line = {"custom_id": "a", "params": {"anthropic_version": "bedrock-2023-05-31",
                                         "anthropic_beta": ["x"], "messages": []}}
    assert native_request(line, MODEL) == {"custom_id": "a", "params": {
        "messages": [], "model": MODEL, "max_tokens": DEFAULT_MAX_TOKENS}}
    own = {"custom_id": "b", "params": {"model": "claude-x", "max_tokens": 7, "messages": []}}
    assert native_request(own, MODEL) == own
    assert "anthropic_version" in line["params"]  # the input is not changed


def message(**fields: Any) -> dict[str, Any]:
    return {"id": "msg_1", "type": "message", "role": "assistant", "model": MODEL,
            "content": [{"type": "text", "text": "echo: hi"}], "stop_reason": "end_turn",
            "stop_sequence": None, "usage": {"input_tokens": 12, "output_tokens": 3},
            **fields}


def test_a_message_becomes_a_completion_with_usage_and_stop_reason() -> None:
    completion = from_anthropic_message(message(stop_reason="stop_sequence",
                                                stop_sequence="END"))
    assert completion == Completion([text_block("echo: hi")], 12, 3, "stop_sequence", "END")


def test_tool_use_and_thinking_blocks() -> None:
    completion = from_anthropic_message(message(content=[
        {"type": "thinking", "thinking": "hmm", "signature": "s"},
        {"type": "text", "text": "Checking."},
        {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Paris"}}],
        stop_reason="tool_use"))
    assert completion.content == [text_block("Checking."),
                                  tool_use_block("toolu_1", "weather", {"city": "Paris"})]
    assert completion.stop_reason == "tool_use"


@pytest.mark.parametrize(("reason", "expected"), [
    ("max_tokens", "max_tokens"), ("end_turn", "end_turn"), ("refusal", "end_turn"),
    (None, "end_turn")])
def test_stop_reasons(reason: str | None, expected: str) -> None:
    assert from_anthropic_message(message(stop_reason=reason)).stop_reason == expected


@pytest.mark.parametrize("body", [
    {}, {"content": "text"}, {"content": [{"type": "tool_use", "id": "t", "name": "n",
                                           "input": "not an object"}]}, None])
def test_not_a_message(body: Any) -> None:
    with pytest.raises(ValueError, match="not a Messages response"):
        from_anthropic_message(body)


def test_a_succeeded_result() -> None:
    outcome = read_result({"custom_id": "r-1",
                           "result": {"type": "succeeded", "message": message()}})
    assert outcome == ("r-1", Completion([text_block("echo: hi")], 12, 3), None)


def test_an_errored_result_keeps_the_code_and_message() -> None:
    line = {"custom_id": "r-2", "result": {"type": "errored", "error": {
        "type": "error", "error": {"type": "invalid_request_error", "message": "bad"}}}}
    assert read_result(line) == ("r-2", None, (400, "bad"))
    overloaded = {"custom_id": "r-3", "result": {"type": "errored", "error": {
        "type": "error", "error": {"type": "overloaded_error", "message": ""}}}}
    assert read_result(overloaded) == ("r-3", None, (529, "overloaded_error"))


@pytest.mark.parametrize("kind", ["canceled", "expired"])
def test_requests_that_never_ran_have_no_outcome(kind: str) -> None:
    assert read_result({"custom_id": "r", "result": {"type": kind}}) is None


def test_an_unreadable_result_is_an_error() -> None:
    broken = read_result({"custom_id": "r", "result": {"type": "succeeded", "message": {}}})
    assert broken is not None and broken[1] is None and broken[2] is not None
    assert broken[2][0] == 502
    assert read_result({"custom_id": "r", "result": {"type": "new"}}) == (
        "r", None, (502, "unknown result type 'new' from Anthropic"))
