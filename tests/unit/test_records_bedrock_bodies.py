"""Bedrock as a provider of answers: Prompts written as each model family's request body, and
response bodies read back, each the inverse of the reader or writer the server already has."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bifrost_py.domain.records.bedrock_bodies import from_model_output, to_model_input
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
from bifrost_py.domain.records.outputs import to_model_output
from bifrost_py.domain.records.prompt import to_prompt
from tests.unit.record_strategies import (
    MAX_TOKENS,
    NON_EMPTY_TEXTS,
    STOPS,
    TEXTS,
    UNIT_NUMBERS,
    completions,
    image_blocks,
    joined_text,
    text_blocks,
    tool_choices,
    tool_result_blocks,
    tool_use_blocks,
    tools,
)

CLAUDE = "anthropic.claude-3-5-sonnet-20240620-v1:0"
NOVA = "us.amazon.nova-lite-v1:0"
TITAN = "amazon.titan-text-express-v1"
LLAMA = "meta.llama3-1-8b-instruct-v1:0"
LLAMA2 = "meta.llama2-13b-chat-v1"
MISTRAL = "mistral.mistral-7b-instruct-v0:2"
PNG = "iVBORw0KGgo="
ZOOM = {"type": "object", "properties": {"zoom": {"type": "integer"}}}
LOOK = {"name": "look", "description": "Look closer", "input_schema": ZOOM}


def user(*blocks: Block) -> Message:
    return Message("user", list(blocks))


def assistant(*blocks: Block) -> Message:
    return Message("assistant", list(blocks))


TOOL_PROMPT = Prompt(
    system="Be brief.",
    messages=[user(text_block("What is this?"), image_block("image/png", PNG)),
              assistant(text_block("Let me look."), tool_use_block("t1", "look", {"zoom": 2})),
              user(tool_result_block("t1", "a cat"), tool_result_block("t2", "no", True))],
    max_tokens=256, temperature=0.5, top_p=0.9, top_k=40, stop=["END"], tools=[LOOK],
    tool_choice="look")
CHAT = Prompt(system="Be kind.",
              messages=[user(text_block("Hi")), assistant(text_block("Hello!")),
                        user(text_block("How are you?"))],
              max_tokens=10, temperature=0.3, top_p=0.5)


# ---------------------------------------------------------------------------------------------
# Prompt -> request bodies


def test_anthropic_body() -> None:
    assert to_model_input(CLAUDE, TOOL_PROMPT) == {
        "anthropic_version": "bedrock-2023-05-31", "max_tokens": 256, "system": "Be brief.",
        "temperature": 0.5, "top_p": 0.9, "top_k": 40, "stop_sequences": ["END"],
        "messages": [
            {"role": "user", "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                             "data": PNG}}]},
            {"role": "assistant", "content": [
                {"type": "text", "text": "Let me look."},
                {"type": "tool_use", "id": "t1", "name": "look", "input": {"zoom": 2}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "t1", "content": "a cat"},
                {"type": "tool_result", "tool_use_id": "t2", "content": "no",
                 "is_error": True}]}],
        "tools": [LOOK], "tool_choice": {"type": "tool", "name": "look"}}


CONVERSE_MESSAGES = [
    {"role": "user", "content": [
        {"text": "What is this?"}, {"image": {"format": "png", "source": {"bytes": PNG}}}]},
    {"role": "assistant", "content": [
        {"text": "Let me look."},
        {"toolUse": {"toolUseId": "t1", "name": "look", "input": {"zoom": 2}}}]},
    {"role": "user", "content": [
        {"toolResult": {"toolUseId": "t1", "content": [{"text": "a cat"}]}},
        {"toolResult": {"toolUseId": "t2", "content": [{"text": "no"}], "status": "error"}}]}]
CONVERSE_TOOLS = {"tools": [{"toolSpec": {"name": "look", "description": "Look closer",
                                          "inputSchema": {"json": ZOOM}}}],
                  "toolChoice": {"tool": {"name": "look"}}}


def test_nova_body() -> None:
    assert to_model_input(NOVA, TOOL_PROMPT) == {
        "schemaVersion": "messages-v1", "system": [{"text": "Be brief."}],
        "messages": CONVERSE_MESSAGES, "toolConfig": CONVERSE_TOOLS,
        "inferenceConfig": {"max_new_tokens": 256, "temperature": 0.5, "top_p": 0.9,
                            "top_k": 40, "stopSequences": ["END"]}}


def test_converse_request_for_any_model() -> None:
    for model_id in (CLAUDE, NOVA, LLAMA, "arn:aws:bedrock:us-east-1:1:provisioned-model/x"):
        assert to_model_input(model_id, TOOL_PROMPT, "Converse") == {
            "system": [{"text": "Be brief."}], "messages": CONVERSE_MESSAGES,
            "toolConfig": CONVERSE_TOOLS,
            "inferenceConfig": {"maxTokens": 256, "temperature": 0.5, "topP": 0.9,
                                "stopSequences": ["END"]},
            "additionalModelRequestFields": {"top_k": 40}}


def test_converse_leaves_out_what_is_unset() -> None:
    prompt = Prompt(messages=[user(text_block("Hi"))],
                    tools=[{"name": "t", "description": "", "input_schema": {}}])
    assert to_model_input(NOVA, prompt, "Converse") == {
        "messages": [{"role": "user", "content": [{"text": "Hi"}]}],
        "toolConfig": {"tools": [{"toolSpec": {"name": "t", "inputSchema": {"json": {}}}}]}}
    assert to_model_input(NOVA, prompt)["schemaVersion"] == "messages-v1"


@pytest.mark.parametrize(("choice", "expected"),
                         [("auto", {"auto": {}}), ("any", {"any": {}}),
                          ("look", {"tool": {"name": "look"}})])
def test_converse_tool_choice(choice: str, expected: dict[str, Any]) -> None:
    prompt = Prompt(messages=[user(text_block("Hi"))], tools=[LOOK], tool_choice=choice)
    assert to_model_input(NOVA, prompt)["toolConfig"]["toolChoice"] == expected


def test_llama3_body() -> None:
    assert to_model_input(LLAMA, CHAT) == {
        "prompt": "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe kind."
                  "<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
                  "<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>"
                  "<|start_header_id|>user<|end_header_id|>\n\nHow are you?<|eot_id|>"
                  "<|start_header_id|>assistant<|end_header_id|>\n\n",
        "max_gen_len": 10, "temperature": 0.3, "top_p": 0.5}


def test_llama3_leaves_a_closing_assistant_turn_open() -> None:
    prompt = Prompt(messages=[user(text_block("  Hi\n")), assistant(text_block("Well,"))],
                    top_k=5)
    assert to_model_input(LLAMA, prompt) == {  # trimmed as Meta's template trims; no top_k
        "prompt": "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
                  "<|start_header_id|>assistant<|end_header_id|>\n\nWell,"}


def test_mistral_and_llama2_bodies() -> None:
    expected = ("<s>[INST] <<SYS>>\nBe kind.\n<</SYS>>\n\nHi [/INST] Hello!</s>"
                "[INST] How are you? [/INST]")
    assert to_model_input(MISTRAL, CHAT) == {"prompt": expected, "max_tokens": 10,
                                             "temperature": 0.3, "top_p": 0.5}
    assert to_model_input(LLAMA2, CHAT) == {"prompt": expected, "max_gen_len": 10,
                                            "temperature": 0.3, "top_p": 0.5}
    prefilled = Prompt(messages=[user(text_block("Hi")), assistant(text_block("Sure"))],
                       top_k=3, stop=["\n"])
    assert to_model_input(MISTRAL, prefilled) == {"prompt": "<s>[INST] Hi [/INST] Sure",
                                                  "top_k": 3, "stop": ["\n"]}


def test_titan_bodies() -> None:
    lone = Prompt(messages=[user(text_block(" verbatim "), text_block("text"))], max_tokens=5,
                  stop=["User:"], top_k=9)
    assert to_model_input(TITAN, lone) == {
        "inputText": " verbatim \ntext",
        "textGenerationConfig": {"maxTokenCount": 5, "stopSequences": ["User:"]}}
    assert to_model_input(TITAN, CHAT) == {
        "inputText": "Be kind.\nUser: Hi\nBot: Hello!\nUser: How are you?\nBot:",
        "textGenerationConfig": {"maxTokenCount": 10, "temperature": 0.3, "topP": 0.5}}
    assert to_model_input(TITAN, Prompt(messages=[user(text_block("Hi"))])) == {
        "inputText": "Hi"}


@pytest.mark.parametrize(
    ("model_id", "prompt", "message"),
    [
        (CLAUDE, Prompt(), "the request has no messages"),
        ("gpt-4o", CHAT, "no InvokeModel body is known for gpt-4o; use Converse"),
        (NOVA, Prompt(messages=[user(image_block("image/tiff", PNG))]),
         "messages[0].content[0]: images must be png, jpeg, gif or webp"),
        (NOVA, Prompt(messages=[user(text_block("x"))], tools=[LOOK], tool_choice="none"),
         "tool_choice: Converse cannot be told not to use"),
        (LLAMA, Prompt(messages=[user(text_block("x"), image_block("image/png", PNG))]),
         "messages[0].content[1]: Llama takes text only, not image blocks"),
        (LLAMA, Prompt(messages=[user(text_block("x"))], tools=[LOOK]),
         "tools: Llama on Bedrock takes no tools"),
        (LLAMA, Prompt(messages=[user(text_block("x"))], stop=["END"]),
         "stop sequences: Llama on Bedrock takes none"),
        (LLAMA, Prompt(messages=[user(text_block("x<|eot_id|>"))]),
         "messages[0] holds '<|eot_id|>', which the prompt template would read as its own"),
        (LLAMA, Prompt(system="<|start_header_id|>", messages=[user(text_block("x"))]),
         "system holds '<|start_header_id|>'"),
        (MISTRAL, Prompt(messages=[user(text_block("[INST] again"))]), "messages[0] holds"),
        (MISTRAL, Prompt(system="a </s> b", messages=[user(text_block("x"))]), "system holds"),
        (MISTRAL, Prompt(messages=[user(text_block("<|start_header_id|>user"))]),
         "messages[0] holds '<|start_header_id|>'"),
        (MISTRAL, Prompt(messages=[assistant(text_block("x"))]),
         "messages[0]: an [INST] prompt needs turns alternating user and assistant"),
        (MISTRAL, Prompt(messages=[user(text_block("x")), user(text_block("y"))]),
         "messages[1]: an [INST] prompt needs turns alternating"),
        (MISTRAL, Prompt(messages=[user(tool_result_block("t", "x"))]),
         "an [INST] prompt takes text only, not tool_result blocks"),
        (MISTRAL, Prompt(messages=[user(text_block("x"))], tools=[LOOK]),
         "tools: Mistral on Bedrock takes no tools"),
        (LLAMA2, Prompt(messages=[user(text_block("x"))], stop=["y"]),
         "stop sequences: Llama"),
        (TITAN, Prompt(messages=[user(image_block("image/png", PNG))]),
         "Titan takes text only, not image blocks"),
        (TITAN, Prompt(messages=[assistant(tool_use_block("t", "n", {}))]),
         "Titan takes text only, not tool_use blocks"),
        (TITAN, Prompt(messages=[user(text_block("x"))], tools=[LOOK]),
         "tools: Titan on Bedrock takes no tools"),
    ],
)
def test_prompts_a_family_cannot_carry(model_id: str, prompt: Prompt, message: str) -> None:
    with pytest.raises(RecordError, match=re.escape(message)):
        to_model_input(model_id, prompt)


# Each family's body read back by the server's own reader gives the prompt that was written,
# for the prompts the family can carry.


def messages_of(user_blocks: st.SearchStrategy[Block],
                assistant_blocks: st.SearchStrategy[Block]) -> st.SearchStrategy[list[Message]]:
    return st.lists(st.one_of(st.builds(Message, st.just("user"), st.lists(user_blocks,
                                                                           max_size=3)),
                              st.builds(Message, st.just("assistant"),
                                        st.lists(assistant_blocks, max_size=3))),
                    min_size=1, max_size=4)


@st.composite
def rich_prompts(draw: st.DrawFn, max_tokens: st.SearchStrategy[int | None],
                 choices_none: bool) -> Prompt:
    """Prompts of every block kind, as the Messages and Converse formats carry them."""
    tool_list = draw(st.lists(tools, max_size=2))
    choice = draw(tool_choices(tool_list).filter(lambda c: choices_none or c != "none"))
    return Prompt(system=draw(st.none() | NON_EMPTY_TEXTS),
                  messages=draw(messages_of(st.one_of(text_blocks, image_blocks,
                                                      tool_result_blocks),
                                            st.one_of(text_blocks, tool_use_blocks))),
                  max_tokens=draw(max_tokens), temperature=draw(UNIT_NUMBERS),
                  top_p=draw(UNIT_NUMBERS), top_k=draw(st.none() | st.integers(0, 500)),
                  stop=draw(STOPS), tools=tool_list, tool_choice=choice)


def template_texts(markers: tuple[str, ...]) -> st.SearchStrategy[str]:
    """Texts a chat template gives back as they went in: trimmed, and free of its markers."""
    return st.text(min_size=1, max_size=20).map(str.strip).filter(
        lambda text: text != "" and not any(marker in text for marker in markers))


LLAMA3_TEXTS = template_texts(("<|begin_of_text|>", "<|start_header_id|>",
                               "<|end_header_id|>", "<|eot_id|>"))
INST_TEXTS = template_texts(("[INST]", "[/INST]", "<<SYS>>", "<</SYS>>", "<s>", "</s>",
                             "<|start_header_id|>"))


@st.composite
def template_prompts(draw: st.DrawFn, texts: st.SearchStrategy[str], alternate: bool,
                     top_k: bool, stop: bool) -> Prompt:
    count = draw(st.integers(1, 5))
    roles = (["user", "assistant"] * 3)[:count] if alternate else draw(
        st.lists(st.sampled_from(["user", "assistant"]), min_size=count, max_size=count))
    return Prompt(system=draw(st.none() | texts),
                  messages=[Message(role, [text_block(draw(texts))]) for role in roles],
                  max_tokens=draw(MAX_TOKENS), temperature=draw(UNIT_NUMBERS),
                  top_p=draw(UNIT_NUMBERS),
                  top_k=draw(st.none() | st.integers(0, 500)) if top_k else None,
                  stop=draw(STOPS) if stop else [])


@given(prompt=rich_prompts(st.integers(1, 100_000), choices_none=True))
def test_anthropic_bodies_read_back(prompt: Prompt) -> None:
    assert to_prompt(CLAUDE, round_trip(to_model_input(CLAUDE, prompt))) == prompt


@given(prompt=rich_prompts(MAX_TOKENS, choices_none=False))
def test_nova_and_converse_bodies_read_back(prompt: Prompt) -> None:
    assert to_prompt(NOVA, round_trip(to_model_input(NOVA, prompt))) == prompt
    converse = round_trip(to_model_input(CLAUDE, prompt, "Converse"))
    assert to_prompt(CLAUDE, converse, "Converse") == prompt


@given(prompt=template_prompts(LLAMA3_TEXTS, alternate=False, top_k=False, stop=False))
def test_llama3_bodies_read_back(prompt: Prompt) -> None:
    assert to_prompt(LLAMA, round_trip(to_model_input(LLAMA, prompt))) == prompt


@given(prompt=template_prompts(INST_TEXTS, alternate=True, top_k=True, stop=True))
def test_mistral_bodies_read_back(prompt: Prompt) -> None:
    assert to_prompt(MISTRAL, round_trip(to_model_input(MISTRAL, prompt))) == prompt


@given(prompt=template_prompts(INST_TEXTS, alternate=True, top_k=False, stop=False))
def test_llama2_bodies_read_back(prompt: Prompt) -> None:
    assert to_prompt(LLAMA2, round_trip(to_model_input(LLAMA2, prompt))) == prompt


@given(text=TEXTS, max_tokens=MAX_TOKENS, temperature=UNIT_NUMBERS, top_p=UNIT_NUMBERS,
       stop=STOPS)
def test_titan_bodies_read_back(text: str, max_tokens: int | None, temperature: float | None,
                                top_p: float | None, stop: list[str]) -> None:
    prompt = Prompt(messages=[user(text_block(text))], max_tokens=max_tokens,
                    temperature=temperature, top_p=top_p, stop=stop)
    assert to_prompt(TITAN, round_trip(to_model_input(TITAN, prompt))) == prompt


def round_trip(body: dict[str, Any]) -> dict[str, Any]:
    """The body as it would arrive: JSON text, read again."""
    value: dict[str, Any] = json.loads(json.dumps(body))
    return value


# ---------------------------------------------------------------------------------------------
# Response bodies -> Completion


def test_converse_response_with_reasoning_and_a_stop_sequence() -> None:
    body = {"output": {"message": {"role": "assistant", "content": [
                {"reasoningContent": {"reasoningText": {"text": "hmm"}}},
                {"text": "Hi"},
                {"toolUse": {"toolUseId": "t1", "name": "look", "input": {"zoom": 1}}}]}},
            "stopReason": "stop_sequence",
            "usage": {"inputTokens": 5, "outputTokens": 2, "totalTokens": 7},
            "additionalModelResponseFields": {"stop_sequence": "END"},
            "metrics": {"latencyMs": 10}}
    assert from_model_output(CLAUDE, body, "Converse") == Completion(
        [text_block("Hi"), tool_use_block("t1", "look", {"zoom": 1})], 5, 2, "stop_sequence",
        "END")


@pytest.mark.parametrize(("reason", "expected"),
                         [("guardrail_intervened", "end_turn"), ("content_filtered", "end_turn"),
                          ("model_context_window_exceeded", "max_tokens"), (None, "end_turn")])
def test_converse_stop_reasons(reason: str | None, expected: str) -> None:
    body = {"output": {"message": {"role": "assistant", "content": []}}, "stopReason": reason}
    assert from_model_output(NOVA, body) == Completion([], 0, 0, expected)


@pytest.mark.parametrize(
    ("model_id", "body", "expected"),
    [
        (TITAN, {"inputTextTokenCount": 4, "results": [
            {"tokenCount": 2, "outputText": "Hi", "completionReason": "CONTENT_FILTERED"}]},
         Completion([text_block("Hi")], 4, 2, "end_turn")),
        (LLAMA, {"generation": "", "prompt_token_count": 3, "generation_token_count": 0,
                 "stop_reason": "length"}, Completion([], 3, 0, "max_tokens")),
        (MISTRAL, {"outputs": [{"text": "Hi", "stop_reason": "model_length"}]},
         Completion([text_block("Hi")], 0, 0, "max_tokens")),
        ("gpt-4o", {"type": "message", "role": "assistant", "content": [
            {"type": "text", "text": "Hi"}], "stop_reason": "end_turn",
            "usage": {"input_tokens": 1, "output_tokens": 1}},
         Completion([text_block("Hi")], 1, 1, "end_turn")),
        ("gpt-4o", {"output": {"message": {"role": "assistant", "content": [{"text": "Hi"}]}},
                    "stopReason": "end_turn", "usage": {"inputTokens": 1, "outputTokens": 1}},
         Completion([text_block("Hi")], 1, 1, "end_turn")),
    ],
)
def test_response_bodies(model_id: str, body: dict[str, Any], expected: Completion) -> None:
    assert from_model_output(model_id, body) == expected


@pytest.mark.parametrize(
    ("model_id", "body"),
    [(CLAUDE, []), (CLAUDE, {"content": "x"}), (NOVA, {}), (NOVA, {"output": {"message": {
        "content": [{"toolUse": {"toolUseId": "t", "name": "n", "input": []}}]}}}),
     (NOVA, {"output": {"message": {"content": [{"text": 5}]}}}), (TITAN, {"results": []}),
     (LLAMA, {"generation": None}), (MISTRAL, {"outputs": "x"}), ("gpt-4o", {})],
)
def test_bodies_that_are_no_response(model_id: str, body: Any) -> None:
    with pytest.raises(ValueError):
        from_model_output(model_id, body)


def through(family: str, completion: Completion) -> Completion:
    """What a family's response body keeps of a completion."""
    if family == "anthropic":
        return completion
    if family in ("nova", "converse"):
        return Completion(completion.content, completion.input_tokens, completion.output_tokens,
                          completion.stop_reason)
    reasons = {"max_tokens": "max_tokens"}
    if family == "titan":
        reasons["stop_sequence"] = "stop_sequence"
    tokens = (0, 0) if family == "mistral" else (completion.input_tokens,
                                                  completion.output_tokens)
    return Completion(joined_text(completion), *tokens,
                      reasons.get(completion.stop_reason, "end_turn"))


@pytest.mark.parametrize(("model_id", "family"),
                         [(CLAUDE, "anthropic"), (NOVA, "nova"), (TITAN, "titan"),
                          (LLAMA, "llama"), (MISTRAL, "mistral")])
@given(completion=completions())
def test_what_to_model_output_writes_reads_back(model_id: str, family: str,
                                                completion: Completion) -> None:
    body = round_trip(to_model_output(model_id, "InvokeModel", completion))
    assert from_model_output(model_id, body) == through(family, completion)


@given(completion=completions(), model_id=st.sampled_from([CLAUDE, NOVA, LLAMA, "gpt-4o"]))
def test_what_to_model_output_writes_for_converse_reads_back(model_id: str,
                                                            completion: Completion) -> None:
    body = round_trip(to_model_output(model_id, "Converse", completion))
    assert from_model_output(model_id, body, "Converse") == through("converse", completion)
