"""OpenAI chat completions from the client's side: its requests read into a Prompt, and a
Completion written back as the chat.completion body OpenAI answers with."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from openai.types.chat import ChatCompletion

from bifrost_py.domain.records.fields import RecordError
from bifrost_py.domain.records.neutral import (
    Block,
    Completion,
    Message,
    Prompt,
    image_block,
    text_block,
    tool_result_block,
    tool_use_block,
)
from bifrost_py.domain.records.openai_chat import (
    chat_completion,
    from_openai_chat,
    read_chat_request,
    to_openai_chat,
)
from tests.unit.record_strategies import (
    MAX_TOKENS,
    NON_EMPTY_TEXTS,
    STOPS,
    TEXTS,
    completions,
    image_blocks,
    joined_text,
    text_blocks,
    tool_choices,
    tool_result_blocks,
    tool_use_blocks,
    tool_uses,
    tools,
)

MODEL = "gpt-4o-mini"
PNG = "iVBORw0KGgo="
WEATHER = {"type": "object", "properties": {"city": {"type": "string"}}}


def request(*messages: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"model": MODEL, "messages": list(messages), **fields}


def say(role: str, content: Any, **fields: Any) -> dict[str, Any]:
    return {"role": role, "content": content, **fields}


def user(*blocks: Block) -> Message:
    return Message("user", list(blocks))


def assistant(*blocks: Block) -> Message:
    return Message("assistant", list(blocks))


# ---------------------------------------------------------------------------------------------
# Requests -> Prompt


def test_a_full_request() -> None:
    body = request(
        say("developer", "Be brief."),
        say("user", [{"type": "text", "text": "What is this?"},
                     {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}",
                                                         "detail": "low"}}]),
        say("assistant", None, tool_calls=[
            {"id": "call_1", "type": "function",
             "function": {"name": "weather", "arguments": '{"city": "Oslo"}'}}]),
        say("tool", "rain", tool_call_id="call_1"),
        say("user", "And tomorrow?", name="kim"),
        max_completion_tokens=64, temperature=0.5, top_p=0.9, stop="END", seed=7, user="u-1",
        tools=[{"type": "function", "function": {"name": "weather", "description": "Now",
                                                 "parameters": WEATHER, "strict": True}}],
        tool_choice="required", n=1, stream=False, response_format={"type": "text"})
    assert read_chat_request(body) == Prompt(
        system="Be brief.",
        messages=[user(text_block("What is this?"), image_block("image/png", PNG)),
                  assistant(tool_use_block("call_1", "weather", {"city": "Oslo"})),
                  user(tool_result_block("call_1", "rain"), text_block("And tomorrow?"))],
        max_tokens=64, temperature=0.5, top_p=0.9, stop=["END"],
        tools=[{"name": "weather", "description": "Now", "input_schema": WEATHER}],
        tool_choice="any")


def test_system_and_developer_messages_at_the_start_are_one_system_prompt() -> None:
    body = request(say("system", "One."), say("developer", [{"type": "text", "text": "Two."}]),
                   say("user", "Hi"))
    prompt = read_chat_request(body)
    assert prompt.system == "One.\nTwo."
    assert prompt.messages == [user(text_block("Hi"))]
    assert read_chat_request(request(say("system", ""), say("user", "Hi"))).system is None


def test_unset_fields_stay_unset() -> None:
    assert read_chat_request(request(say("user", "Hi"))) == Prompt(
        messages=[user(text_block("Hi"))])


def test_consecutive_tool_results_and_the_user_message_after_them_are_one_turn() -> None:
    body = request(say("user", "Go"),
                   say("assistant", "Checking", tool_calls=[
                       {"id": "a", "type": "function", "function": {"name": "f", "arguments": ""}},
                       {"id": "b", "type": "function",
                        "function": {"name": "g", "arguments": "{}"}}]),
                   say("tool", [{"type": "text", "text": "one"}, {"type": "text", "text": "two"}],
                       tool_call_id="a"),
                   say("tool", "Error: boom", tool_call_id="b"),
                   say("user", "Thanks"),
                   say("user", "Really"))
    assert read_chat_request(body).messages == [
        user(text_block("Go")),
        assistant(text_block("Checking"), tool_use_block("a", "f", {}),
                  tool_use_block("b", "g", {})),
        # No error flag in OpenAI's dialect: the result's words are kept as they are.
        user(tool_result_block("a", "one\ntwo"), tool_result_block("b", "Error: boom"),
             text_block("Thanks")),
        user(text_block("Really"))]


@pytest.mark.parametrize(
    ("message", "blocks"),
    [(say("assistant", ""), []),
     (say("assistant", None, refusal="I can't."), [text_block("I can't.")]),
     (say("assistant", [{"type": "text", "text": "a"}, {"type": "refusal", "refusal": "b"}]),
      [text_block("a"), text_block("b")]),
     (say("assistant", "Yes", refusal="ignored"), [text_block("Yes")])],
)
def test_assistant_messages(message: dict[str, Any], blocks: list[Block]) -> None:
    prompt = read_chat_request(request(say("user", "Hi"), message))
    assert prompt.messages[1] == assistant(*blocks)


@pytest.mark.parametrize(
    ("choice", "expected"),
    [("auto", "auto"), ("none", "none"), ("required", "any"), (None, None),
     ({"type": "function", "function": {"name": "weather"}}, "weather")],
)
def test_tool_choice(choice: Any, expected: str | None) -> None:
    body = request(say("user", "Hi"), tool_choice=choice,
                   tools=[{"type": "function", "function": {"name": "weather"}}])
    prompt = read_chat_request(body)
    assert prompt.tool_choice == expected
    # A function declared without parameters takes none.
    assert prompt.tools == [{"name": "weather", "description": "",
                             "input_schema": {"type": "object", "properties": {}}}]


@pytest.mark.parametrize(
    ("fields", "max_tokens"),
    [({"max_tokens": 5}, 5), ({"max_completion_tokens": 6}, 6),
     ({"max_tokens": 7, "max_completion_tokens": 7}, 7),
     ({"max_tokens": None, "max_completion_tokens": 8}, 8)],
)
def test_either_token_limit(fields: dict[str, Any], max_tokens: int) -> None:
    assert read_chat_request(request(say("user", "Hi"), **fields)).max_tokens == max_tokens


@pytest.mark.parametrize(("stop", "expected"), [(None, []), ("X", ["X"]), (["A", "B"], ["A", "B"])])
def test_stop_is_a_string_or_a_list(stop: Any, expected: list[str]) -> None:
    assert read_chat_request(request(say("user", "Hi"), stop=stop)).stop == expected


@pytest.mark.parametrize(
    "fields",
    [{"seed": 1}, {"frequency_penalty": 0.5}, {"presence_penalty": -1}, {"user": "u"},
     {"parallel_tool_calls": False}, {"reasoning_effort": "low"}, {"verbosity": "low"},
     {"metadata": {"k": "v"}}, {"store": True}, {"service_tier": "auto"},
     {"prompt_cache_key": "k"}, {"prompt_cache_retention": "24h"}, {"safety_identifier": "s"},
     {"prediction": {"type": "content", "content": "x"}}, {"stream_options": None},
     {"n": None}, {"n": 1}, {"stream": None}, {"logprobs": False}, {"logit_bias": {}},
     {"modalities": ["text"]}, {"response_format": {"type": "text"}}],
)
def test_hints_and_bookkeeping_are_ignored(fields: dict[str, Any]) -> None:
    assert read_chat_request(request(say("user", "Hi"), **fields)) == Prompt(
        messages=[user(text_block("Hi"))])


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"messages": [say("user", "Hi")]}, "model must be a string"),
        (request(), "no messages"),
        (request(say("system", "Only a system prompt")), "no messages"),
        ({"model": MODEL}, "messages must be a list"),
        (request(say("user", "Hi"), n=2), "n cannot be 2: one choice"),
        (request(say("user", "Hi"), n=True), "n cannot be true"),
        (request(say("user", "Hi"), stream=True), "stream cannot be true"),
        (request(say("user", "Hi"), stream=0), "stream cannot be 0"),
        (request(say("user", "Hi"), logprobs=True), "logprobs"),
        (request(say("user", "Hi"), top_logprobs=2), "top_logprobs"),
        (request(say("user", "Hi"), response_format={"type": "json_object"}),
         "response_format cannot be"),
        (request(say("user", "Hi"), modalities=["text", "audio"]), "only text"),
        (request(say("user", "Hi"), audio={"voice": "alloy", "format": "wav"}), "audio"),
        (request(say("user", "Hi"), web_search_options={}), "search the web"),
        (request(say("user", "Hi"), logit_bias={"50256": -100}), "logit_bias"),
        (request(say("user", "Hi"), functions=[{"name": "f"}]), "deprecated"),
        (request(say("user", "Hi"), function_call="auto"), "deprecated"),
        (request(say("user", "Hi"), top_k=5), "Unrecognized request argument supplied: top_k"),
        (request(say("user", "Hi"), max_tokens=5, max_completion_tokens=6), "disagree"),
        (request(say("user", "Hi"), max_tokens=0), "max_tokens must be an integer of at least 1"),
        (request(say("user", "Hi"), max_completion_tokens="9"), "max_completion_tokens"),
        (request(say("user", "Hi"), temperature="hot"), "temperature must be a number"),
        (request(say("user", "Hi"), stop=[1]), "stop[0] must be a string"),
        (request(say("user", "Hi"), say("system", "Late")),
         "messages[1]: a system message after the conversation has begun"),
        (request(say("user", "Hi"), say("developer", "Late")), "a developer message after"),
        (request(say("function", "x", name="f")), "messages[0].role"),
        (request("hi"), "messages[0] must be a JSON object"),
        (request(say("user", None)), "messages[0].content must be a list"),
        (request(say("user", [{"type": "image_url",
                               "image_url": {"url": "https://example.com/cat.png"}}])),
         "messages[0].content[0].image_url.url must be a base64 data: URL"),
        (request(say("user", [{"type": "image_url",
                               "image_url": {"url": "data:image/tiff;base64,AAAA"}}])),
         "png, jpeg, gif or webp"),
        (request(say("user", [{"type": "image_url", "image_url": {"url": "data:image/png,x"}}])),
         "base64 data: URL"),
        (request(say("user", [{"type": "input_audio",
                               "input_audio": {"data": "AAAA", "format": "wav"}}])),
         "unsupported content part type 'input_audio'"),
        (request(say("user", [{"type": "file", "file": {"file_id": "file-1"}}])),
         "unsupported content part type 'file'"),
        (request(say("user", [{"type": "text"}])), "messages[0].content[0].text must be a string"),
        (request(say("system", [{"type": "image_url"}]), say("user", "Hi")),
         "messages[0].content[0]: only text parts"),
        (request(say("user", "Hi"), say("assistant", None, audio={"id": "a"})),
         "messages[1].audio cannot be carried"),
        (request(say("user", "Hi"), say("assistant", None,
                                        function_call={"name": "f", "arguments": "{}"})),
         "messages[1].function_call"),
        (request(say("user", "Hi"), say("assistant", [{"type": "image_url"}])),
         "messages[1].content[0]: unsupported content part type"),
        (request(say("user", "Hi"), say("assistant", None, tool_calls=[
            {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{oops"}}])),
         "messages[1].tool_calls[0].function.arguments is not valid JSON"),
        (request(say("user", "Hi"), say("assistant", None, tool_calls=[
            {"id": "c", "type": "function", "function": {"name": "f", "arguments": "[1]"}}])),
         "arguments must be a JSON object"),
        (request(say("user", "Hi"), say("assistant", None, tool_calls=[
            {"id": "c", "type": "function",
             "function": {"name": "f", "arguments": '{"x": NaN}'}}])),
         "arguments is not valid JSON"),
        (request(say("user", "Hi"), say("assistant", None, tool_calls=[
            {"id": "c", "type": "custom", "custom": {"name": "f", "input": "x"}}])),
         "only function tool calls"),
        (request(say("user", "Hi"), say("assistant", None, tool_calls=[
            {"type": "function", "function": {"name": "f", "arguments": "{}"}}])),
         "messages[1].tool_calls[0].id must be a string"),
        (request(say("tool", "x")), "messages[0].tool_call_id must be a string"),
        (request(say("user", "Hi"), tools=[{"type": "custom", "custom": {"name": "f"}}]),
         "tools[0].type: only function tools"),
        (request(say("user", "Hi"), tools=[{"type": "function", "function": {"name": 1}}]),
         "tools[0].function.name must be a string"),
        (request(say("user", "Hi"), tools=[{"type": "function",
                                             "function": {"name": "f", "parameters": []}}]),
         "tools[0].function input schema must be a JSON object"),
        (request(say("user", "Hi"), tool_choice="any"), "tool_choice must be auto, none"),
        (request(say("user", "Hi"), tool_choice={"type": "allowed_tools",
                                                  "allowed_tools": {"mode": "auto"}}),
         "tool_choice must be"),
        (request(say("user", "Hi"), tool_choice={"type": "function", "function": {}}),
         "tool_choice.function.name must be a string"),
    ],
)
def test_requests_a_prompt_cannot_carry(body: dict[str, Any], message: str) -> None:
    with pytest.raises(RecordError, match=re.escape(message)):
        read_chat_request(body)


def test_a_body_that_is_not_an_object() -> None:
    with pytest.raises(RecordError, match="the request body must be a JSON object"):
        read_chat_request([])  # type: ignore[arg-type]


@st.composite
def openai_prompts(draw: st.DrawFn) -> Prompt:
    """Prompts in the form to_openai_chat writes without loss: turns alternate, a user turn's
    tool results come first (never flagged as errors) and its other blocks are one text or
    hold an image, an assistant turn is at most one text before its tool calls, and there is
    no top_k."""
    messages = []
    for i in range(draw(st.integers(1, 5))):
        if i % 2:
            text = draw(st.lists(NON_EMPTY_TEXTS.map(text_block), max_size=1))
            messages.append(Message("assistant", text + draw(st.lists(tool_use_blocks,
                                                                      max_size=2))))
            continue
        results = draw(st.lists(tool_result_blocks.map(lambda b: {**b, "is_error": False}),
                                max_size=2))
        rest = draw(st.one_of(
            st.lists(text_blocks, min_size=0 if results else 1, max_size=1),
            st.lists(st.one_of(text_blocks, image_blocks), min_size=1, max_size=3).filter(
                lambda blocks: any(b["type"] == "image" for b in blocks))))
        messages.append(Message("user", results + rest))
    tool_list = draw(st.lists(tools, max_size=2))
    return Prompt(system=draw(st.none() | NON_EMPTY_TEXTS), messages=messages,
                  max_tokens=draw(MAX_TOKENS), temperature=draw(st.none() | st.floats(0, 2)),
                  top_p=draw(st.none() | st.floats(0, 1)), stop=draw(STOPS), tools=tool_list,
                  tool_choice=draw(tool_choices(tool_list)))


@given(prompt=openai_prompts())
def test_what_to_openai_chat_writes_reads_back_the_same(prompt: Prompt) -> None:
    body = json.loads(json.dumps(to_openai_chat(prompt, MODEL)))
    assert read_chat_request(body) == prompt
    assert to_openai_chat(read_chat_request(body), MODEL) == body


def test_a_canonical_body_survives_the_round_trip() -> None:
    body = request(
        say("system", "Be brief."),
        say("user", [{"type": "text", "text": "Look"},
                     {"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{PNG}"}}]),
        say("assistant", "On it", tool_calls=[
            {"id": "call_1", "type": "function",
             "function": {"name": "weather", "arguments": '{"city": "Oslo"}'}}]),
        say("tool", "rain", tool_call_id="call_1"),
        say("user", "Thanks"),
        max_tokens=10, temperature=0.0, top_p=1.0, stop=["X"],
        tools=[{"type": "function", "function": {"name": "weather", "description": "",
                                                 "parameters": WEATHER}}],
        tool_choice={"type": "function", "function": {"name": "weather"}})
    assert to_openai_chat(read_chat_request(body), MODEL) == body


# ---------------------------------------------------------------------------------------------
# Completion -> chat.completion

CREATED = 1_711_475_054


def test_a_text_answer() -> None:
    body = chat_completion(Completion([text_block("Hello"), text_block(" world")], 12, 3),
                           MODEL, CREATED)
    completion_id = body.pop("id")
    assert re.fullmatch(r"chatcmpl-[0-9a-f]{29}", completion_id)
    assert body == {
        "object": "chat.completion", "created": CREATED, "model": MODEL,
        "choices": [{"index": 0, "logprobs": None, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": "Hello world",
                                 "refusal": None, "annotations": []}}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15,
                  "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                  "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                                "accepted_prediction_tokens": 0,
                                                "rejected_prediction_tokens": 0}},
        "system_fingerprint": None}


def test_tool_calls_carry_their_arguments_as_a_json_string() -> None:
    completion = Completion([tool_use_block("toolu_1", "weather", {"city": "Oslo"})], 5, 2,
                            "tool_use")
    choice = chat_completion(completion, MODEL, CREATED)["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    assert choice["message"]["tool_calls"] == [
        {"id": "toolu_1", "type": "function",
         "function": {"name": "weather", "arguments": '{"city": "Oslo"}'}}]


@pytest.mark.parametrize(("stop_reason", "finish_reason"),
                         [("end_turn", "stop"), ("stop_sequence", "stop"),
                          ("max_tokens", "length"), ("tool_use", "tool_calls")])
def test_finish_reasons(stop_reason: str, finish_reason: str) -> None:
    body = chat_completion(Completion([text_block("x")], 1, 1, stop_reason), MODEL, CREATED)
    assert body["choices"][0]["finish_reason"] == finish_reason


def test_an_empty_answer_has_empty_content() -> None:
    body = chat_completion(Completion([], 1, 0, "max_tokens"), MODEL, CREATED)
    assert body["choices"][0]["message"]["content"] == ""
    assert "tool_calls" not in body["choices"][0]["message"]


def test_ids_follow_the_answer() -> None:
    first = chat_completion(Completion([text_block("a")], 1, 1), MODEL, CREATED)["id"]
    assert chat_completion(Completion([text_block("a")], 1, 1), MODEL, CREATED + 5)["id"] == first
    assert chat_completion(Completion([text_block("b")], 1, 1), MODEL, CREATED)["id"] != first


@given(completion=completions(), created=st.integers(0, 2**40), model=TEXTS)
def test_the_sdk_reads_every_answer_and_from_openai_chat_reads_it_back(
        completion: Completion, created: int, model: str) -> None:
    body = json.loads(json.dumps(chat_completion(completion, model, created)))
    parsed = ChatCompletion.model_validate(body)
    assert parsed.model_dump(mode="json", exclude_unset=True) == body  # nothing unknown to it
    # One text, then the calls; a stop sequence ends a turn like any other stop.
    reason = "end_turn" if completion.stop_reason == "stop_sequence" else completion.stop_reason
    assert from_openai_chat(body) == Completion(
        joined_text(completion) + tool_uses(completion), completion.input_tokens,
        completion.output_tokens, reason)
