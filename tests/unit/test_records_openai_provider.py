"""OpenAI chat completions as a provider of answers: a Prompt written as a chat completion request,
and the chat.completion body read back as a Completion."""

from __future__ import annotations

from typing import Any

import pytest

from bifrost_py.domain.records.neutral import (
    Completion,
    Message,
    Prompt,
    image_block,
    text_block,
    tool_result_block,
    tool_use_block,
)
from bifrost_py.domain.records.openai_chat import from_openai_chat, to_openai_chat
from bifrost_py.domain.records.outputs import to_model_output
from bifrost_py.domain.records.prompt import to_prompt
from tests.unit.record_samples import CLAUDE, PNG, user

# ---------------------------------------------------------------------------------------------
# OpenAI chat completions


def test_to_openai_chat_with_text_only() -> None:
    prompt = Prompt(system="Be brief.",
                    messages=[user(text_block("Hi"), text_block("there")),
                              Message("assistant", [text_block("Hello")]),
                              user(text_block("Bye"))],
                    max_tokens=10, temperature=0.5, top_p=0.9, top_k=40, stop=["X"])
    assert to_openai_chat(prompt, "gpt-4o-mini") == {
        "model": "gpt-4o-mini",
        "messages": [{"role": "system", "content": "Be brief."},
                     {"role": "user", "content": "Hi\nthere"},
                     {"role": "assistant", "content": "Hello"},
                     {"role": "user", "content": "Bye"}],
        "max_tokens": 10, "temperature": 0.5, "top_p": 0.9, "stop": ["X"],
    }


def test_to_openai_chat_leaves_out_what_is_unset() -> None:
    assert to_openai_chat(Prompt(messages=[user(text_block("Hi"))]), "m") == {
        "model": "m", "messages": [{"role": "user", "content": "Hi"}]}


def test_to_openai_chat_with_images() -> None:
    prompt = Prompt(messages=[user(text_block("What is it?"), image_block("image/png", PNG))])
    assert to_openai_chat(prompt, "m")["messages"] == [{"role": "user", "content": [
        {"type": "text", "text": "What is it?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}]}]


def test_to_openai_chat_with_tools() -> None:
    prompt = Prompt(
        messages=[user(text_block("Weather?")),
                  Message("assistant", [tool_use_block("t1", "weather", {"city": "Oslo"}),
                                        tool_use_block("t2", "time", {})]),
                  user(text_block("Thanks"), tool_result_block("t1", "rain"),
                       tool_result_block("t2", "boom", is_error=True)),
                  Message("assistant", [text_block("Checking"),
                                        tool_use_block("t3", "time", {})])],
        tools=[{"name": "weather", "description": "Weather now",
                "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}],
        tool_choice="weather")
    body = to_openai_chat(prompt, "m")
    assert body["messages"] == [
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "t1", "type": "function",
             "function": {"name": "weather", "arguments": '{"city": "Oslo"}'}},
            {"id": "t2", "type": "function", "function": {"name": "time", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "t1", "content": "rain"},
        {"role": "tool", "tool_call_id": "t2", "content": "Error: boom"},
        {"role": "user", "content": "Thanks"},
        {"role": "assistant", "content": "Checking", "tool_calls": [
            {"id": "t3", "type": "function", "function": {"name": "time", "arguments": "{}"}}]},
    ]
    assert body["tools"] == [{"type": "function", "function": {
        "name": "weather", "description": "Weather now",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]
    assert body["tool_choice"] == {"type": "function", "function": {"name": "weather"}}


@pytest.mark.parametrize(("choice", "expected"),
                         [("auto", "auto"), ("any", "required"), ("none", "none")])
def test_to_openai_tool_choice(choice: str, expected: str) -> None:
    prompt = Prompt(messages=[user(text_block("x"))], tool_choice=choice,
                    tools=[{"name": "t", "description": "", "input_schema": {}}])
    assert to_openai_chat(prompt, "m")["tool_choice"] == expected


def test_to_openai_chat_without_tools_has_no_tool_choice() -> None:
    prompt = Prompt(messages=[user(text_block("x"))], tool_choice="auto")
    assert "tool_choice" not in to_openai_chat(prompt, "m")


def test_an_empty_assistant_turn_still_has_content() -> None:
    prompt = Prompt(messages=[user(text_block("x")), Message("assistant", []),
                              user(text_block("y"))])
    assert to_openai_chat(prompt, "m")["messages"][1] == {"role": "assistant", "content": ""}


def chat_completion(message: dict[str, Any], finish_reason: str | None = "stop",
                    usage: dict[str, int] | None = None) -> dict[str, Any]:
    return {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", **message},
                         "finish_reason": finish_reason}],
            "usage": usage or {"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13}}


def test_from_openai_chat_text() -> None:
    completion = from_openai_chat(chat_completion({"content": "Hello"}))
    assert completion == Completion([text_block("Hello")], 9, 4, "end_turn")


@pytest.mark.parametrize(
    ("finish_reason", "stop_reason"),
    [("stop", "end_turn"), ("length", "max_tokens"), ("tool_calls", "tool_use"),
     ("content_filter", "end_turn"), (None, "end_turn")],
)
def test_from_openai_chat_finish_reasons(finish_reason: str | None, stop_reason: str) -> None:
    body = chat_completion({"content": "x"}, finish_reason)
    assert from_openai_chat(body).stop_reason == stop_reason


def test_from_openai_chat_tool_calls() -> None:
    body = chat_completion({"content": None, "tool_calls": [
        {"id": "call_1", "type": "function",
         "function": {"name": "weather", "arguments": '{"city": "Oslo"}'}},
        {"id": "call_2", "type": "function", "function": {"name": "time", "arguments": ""}}]},
        "tool_calls")
    assert from_openai_chat(body) == Completion(
        [tool_use_block("call_1", "weather", {"city": "Oslo"}),
         tool_use_block("call_2", "time", {})], 9, 4, "tool_use")


def test_from_openai_chat_refusal_and_missing_usage() -> None:
    body = chat_completion({"content": None, "refusal": "I can't."}, "stop")
    del body["usage"]
    assert from_openai_chat(body) == Completion([text_block("I can't.")], 0, 0, "end_turn")


@pytest.mark.parametrize(
    "body",
    [{}, {"choices": []}, {"choices": [{}]}, {"choices": "x"},
     chat_completion({"tool_calls": [{"id": "c", "function": {"name": "f",
                                                             "arguments": "{oops"}}]}),
     chat_completion({"tool_calls": [{"id": "c", "function": {"name": "f",
                                                             "arguments": "[1]"}}]})],
)
def test_from_openai_chat_rejects_what_is_not_a_completion(body: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        from_openai_chat(body)


def test_anthropic_body_to_openai_and_back() -> None:
    body = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 20, "system": "S",
            "messages": [{"role": "user", "content": "Hi"}]}
    chat = to_openai_chat(to_prompt(CLAUDE, body), "gpt-4o-mini")
    assert chat == {"model": "gpt-4o-mini", "max_tokens": 20,
                    "messages": [{"role": "system", "content": "S"},
                                 {"role": "user", "content": "Hi"}]}
    output = to_model_output(CLAUDE, "InvokeModel",
                             from_openai_chat(chat_completion({"content": "Yo"}, "length")))
    assert (output["content"], output["stop_reason"]) == ([text_block("Yo")], "max_tokens")
