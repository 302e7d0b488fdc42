"""The neutral request and response as Gemini GenerateContent bodies and batch lines."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bifrost_py.domain.records.fields import RecordError
from bifrost_py.domain.records.gemini import (
    batch_line,
    from_gemini,
    gemini_error,
    native_key,
    read_result,
    to_gemini,
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

PNG = "iVBORw0KGgo="
ZOOM = {"type": "object", "properties": {"zoom": {"type": "integer"}},
        "additionalProperties": False}


def user(*blocks: dict[str, Any]) -> Message:
    return Message("user", list(blocks))


def answer(*parts: dict[str, Any], finish: str = "STOP", **usage: int) -> dict[str, Any]:
    return {"candidates": [{"content": {"role": "model", "parts": list(parts)},
                            "finishReason": finish, "index": 0}],
            "usageMetadata": {"promptTokenCount": 7, "candidatesTokenCount": 3, **usage}}


# requests


def test_a_text_prompt_leaves_out_what_is_unset() -> None:
    assert to_gemini(Prompt(messages=[user(text_block("Hi"))])) == {
        "contents": [{"role": "user", "parts": [{"text": "Hi"}]}]}


def test_system_prompt_and_multi_turn() -> None:
    prompt = Prompt(system="Be brief.", messages=[
        user(text_block("One?")), Message("assistant", [text_block("1")]),
        user(text_block("Two?"), text_block("Digits only."))])
    assert to_gemini(prompt) == {
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "contents": [{"role": "user", "parts": [{"text": "One?"}]},
                     {"role": "model", "parts": [{"text": "1"}]},
                     {"role": "user", "parts": [{"text": "Two?"}, {"text": "Digits only."}]}]}


def test_images_are_inline_data() -> None:
    prompt = Prompt(messages=[user(image_block("image/png", PNG), text_block("What is it?"))])
    assert to_gemini(prompt)["contents"][0]["parts"] == [
        {"inlineData": {"mimeType": "image/png", "data": PNG}}, {"text": "What is it?"}]


def test_generation_config_carries_every_sampling_setting() -> None:
    prompt = Prompt(messages=[user(text_block("Hi"))], max_tokens=64, temperature=0.2,
                    top_p=0.9, top_k=40, stop=["END", "STOP"])
    assert to_gemini(prompt)["generationConfig"] == {
        "maxOutputTokens": 64, "temperature": 0.2, "topP": 0.9, "topK": 40,
        "stopSequences": ["END", "STOP"]}


def test_tools_tool_calls_and_tool_results() -> None:
    prompt = Prompt(
        messages=[user(text_block("Zoom in")),
                  Message("assistant", [text_block("Zooming."),
                                        tool_use_block("call-1", "zoom", {"zoom": 2})]),
                  user(tool_result_block("call-1", "done"),
                       tool_result_block("call-1", "lens stuck", is_error=True))],
        tools=[{"name": "zoom", "description": "Zooms.", "input_schema": ZOOM}],
        tool_choice="auto")
    request = to_gemini(prompt)
    assert request["tools"] == [{"functionDeclarations": [
        {"name": "zoom", "description": "Zooms.", "parametersJsonSchema": ZOOM}]}]
    assert request["toolConfig"] == {"functionCallingConfig": {"mode": "AUTO"}}
    assert request["contents"][1] == {"role": "model", "parts": [
        {"text": "Zooming."}, {"functionCall": {"id": "call-1", "name": "zoom",
                                                "args": {"zoom": 2}}}]}
    assert request["contents"][2] == {"role": "user", "parts": [
        {"functionResponse": {"id": "call-1", "name": "zoom", "response": {"output": "done"}}},
        {"functionResponse": {"id": "call-1", "name": "zoom",
                              "response": {"error": "lens stuck"}}}]}


@pytest.mark.parametrize(("choice", "config"), [
    ("auto", {"mode": "AUTO"}), ("any", {"mode": "ANY"}), ("none", {"mode": "NONE"}),
    ("zoom", {"mode": "ANY", "allowedFunctionNames": ["zoom"]})])
def test_tool_choice(choice: str, config: dict[str, Any]) -> None:
    prompt = Prompt(messages=[user(text_block("Hi"))], tool_choice=choice,
                    tools=[{"name": "zoom", "description": "", "input_schema": ZOOM}])
    assert to_gemini(prompt)["toolConfig"] == {"functionCallingConfig": config}


def test_a_tool_choice_without_tools_is_left_out() -> None:
    assert "toolConfig" not in to_gemini(Prompt(messages=[user(text_block("Hi"))],
                                                tool_choice="any"))


def test_a_tool_result_for_an_unknown_call_is_a_record_error() -> None:
    prompt = Prompt(messages=[user(tool_result_block("call-9", "done"))])
    with pytest.raises(RecordError, match="call-9"):
        to_gemini(prompt)


def test_batch_line_from_a_bedrock_converse_record() -> None:
    body = {"system": [{"text": "Be brief."}],
            "messages": [{"role": "user", "content": [{"text": "Hello"}]}],
            "inferenceConfig": {"maxTokens": 100, "temperature": 0.5}}
    line = batch_line("request-1", to_prompt("gemini-1.5-flash", body))
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert json.loads(line) == {"key": "request-1", "request": {
        "contents": [{"role": "user", "parts": [{"text": "Hello"}]}],
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "generationConfig": {"maxOutputTokens": 100, "temperature": 0.5}}}


def test_batch_line_keeps_lone_surrogates_encodable() -> None:
    line = batch_line("r", Prompt(messages=[user(text_block("odd \ud800 text"))]))
    assert json.loads(line)["request"]["contents"][0]["parts"][0]["text"] == "odd \ud800 text"


# native lines


@pytest.mark.parametrize(("line", "key"), [
    ({"key": "a", "request": {"contents": []}}, "a"),
    ({"request": {"contents": []}, "metadata": {"key": "seed-1"}}, "seed-1"),
    ({"key": "a", "metadata": {"key": "b"}, "request": {}}, "a"),
    ({"request": {"contents": []}}, None),
    ({"key": "", "request": {}}, None),
    ({"key": 7, "request": {}}, None),
    ({"key": "a", "request": "not an object"}, None),
    ({"key": "a"}, None),
    ({"recordId": "r", "modelInput": {}}, None),
])
def test_native_key(line: dict[str, Any], key: str | None) -> None:
    assert native_key(line) == key


# responses


def test_a_text_answer() -> None:
    completion = from_gemini(answer({"text": "Hello"}, {"text": " there"}))
    assert completion == Completion([text_block("Hello"), text_block(" there")], 7, 3,
                                    "end_turn")


@pytest.mark.parametrize(("finish", "reason"), [
    ("STOP", "end_turn"), ("MAX_TOKENS", "max_tokens"), ("SAFETY", "end_turn"),
    (None, "end_turn")])
def test_finish_reasons(finish: str | None, reason: str) -> None:
    body = answer({"text": "x"})
    body["candidates"][0]["finishReason"] = finish
    assert from_gemini(body).stop_reason == reason


def test_function_calls_are_tool_uses() -> None:
    completion = from_gemini(answer(
        {"text": "Let me zoom."}, {"functionCall": {"id": "fc-1", "name": "zoom",
                                                    "args": {"zoom": 3}}},
        {"functionCall": {"name": "reset"}}))
    assert completion.stop_reason == "tool_use"
    assert completion.content == [text_block("Let me zoom."),
                                  tool_use_block("fc-1", "zoom", {"zoom": 3}),
                                  tool_use_block("toolu_gemini_2", "reset", {})]


def test_thoughts_are_left_out_of_the_answer_but_counted_as_output() -> None:
    completion = from_gemini(answer({"text": "pondering", "thought": True}, {"text": "42"},
                                    thoughtsTokenCount=10))
    assert completion.content == [text_block("42")]
    assert (completion.input_tokens, completion.output_tokens) == (7, 13)


def test_missing_usage_counts_are_zero() -> None:
    body = answer({"text": "x"})
    body["usageMetadata"] = {"promptTokenCount": 5}
    assert (from_gemini(body).input_tokens, from_gemini(body).output_tokens) == (5, 0)
    del body["usageMetadata"]
    assert from_gemini(body).input_tokens == 0


@pytest.mark.parametrize(("body", "message"), [
    ("text", "not a JSON object"),
    ({"candidates": []}, "no candidates"),
    ({"promptFeedback": {"blockReason": "SAFETY"}}, r"blocked \(SAFETY\)"),
    ({"candidates": ["x"]}, "AttributeError"),
    ({"candidates": [{"content": {"parts": [{"functionCall": {}}]}}]}, "KeyError"),
])
def test_bodies_that_are_no_answer(body: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        from_gemini(body)


def test_result_lines() -> None:
    ok = read_result({"key": "a", "response": answer({"text": "hi"})})
    assert ok is not None and ok[0] == "a" and isinstance(ok[1], Completion)
    assert read_result({"metadata": {"key": "seed"}, "error": {
        "code": 500, "message": "boom", "status": "INTERNAL"}}) == ("seed", (500, "boom"))
    assert read_result({"key": "b", "response": {"candidates": []}}) == (
        "b", (502, "Gemini answered with an unreadable response: the response has no "
                   "candidates"))
    assert read_result({"response": answer({"text": "hi"})}) is None


@pytest.mark.parametrize(("status", "error"), [
    ({"code": 400, "message": "bad", "status": "INVALID_ARGUMENT"}, (400, "bad")),
    ({"code": 3, "message": "bad"}, (400, "bad")),
    ({"code": 8, "message": "slow down"}, (429, "slow down")),
    ({"code": 13, "status": "INTERNAL"}, (500, "INTERNAL")),
    ({"message": "no code"}, (500, "no code")),
    ({}, (500, "unknown error")),
    ("text", (500, "Gemini reported an error: text")),
])
def test_gemini_errors(status: Any, error: tuple[int, str]) -> None:
    assert gemini_error(status) == error
