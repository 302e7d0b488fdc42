"""Every Bedrock model family's bodies: which family and input format a record is in, its request
body read into a Prompt, and a Completion written back as that family's response body."""

from __future__ import annotations

import re
from typing import Any

import pytest

from bifrost_py.domain.records.families import input_format, model_family
from bifrost_py.domain.records.fields import RecordError
from bifrost_py.domain.records.neutral import (
    Completion,
    Message,
    Prompt,
    count_tokens,
    image_block,
    text_block,
    tool_result_block,
    tool_use_block,
)
from bifrost_py.domain.records.outputs import to_model_output
from bifrost_py.domain.records.prompt import to_prompt
from tests.unit.record_samples import CLAUDE, PNG, user

NOVA = "amazon.nova-lite-v1:0"
TITAN = "amazon.titan-text-express-v1"
LLAMA = "meta.llama3-1-8b-instruct-v1:0"
MISTRAL = "mistral.mistral-7b-instruct-v0:2"
ZOOM = {"type": "object", "properties": {"zoom": {"type": "integer"}}}


# ---------------------------------------------------------------------------------------------
# Families and formats


@pytest.mark.parametrize(
    ("model_id", "family"),
    [
        (CLAUDE, "anthropic"),
        ("us.anthropic.claude-3-5-haiku-20241022-v1:0", "anthropic"),
        ("arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-v2", "anthropic"),
        ("arn:aws:bedrock:us-east-1:123456789012:inference-profile/eu.anthropic.claude-3",
         "anthropic"),
        (NOVA, "nova"),
        ("us.amazon.nova-pro-v1:0", "nova"),
        (TITAN, "titan"),
        ("amazon.titan-embed-text-v2:0", None),
        (LLAMA, "llama"),
        ("us.meta.llama3-2-90b-instruct-v1:0", "llama"),
        (MISTRAL, "mistral"),
        ("mistral.mixtral-8x7b-instruct-v0:1", "mistral"),
        ("gpt-4o-mini", None),
        ("arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abc123", None),
    ],
)
def test_model_family(model_id: str, family: str | None) -> None:
    assert model_family(model_id) == family


@pytest.mark.parametrize(
    ("model_id", "body", "invocation_type", "expected"),
    [
        (CLAUDE, {"anthropic_version": "v", "messages": []}, "InvokeModel", "anthropic"),
        ("gpt-4o", {"messages": [{"role": "user", "content": "hi"}]}, "InvokeModel", "anthropic"),
        ("x", {"messages": [{"role": "user", "content": [{"type": "text", "text": "a"}]}]},
         "InvokeModel", "anthropic"),
        ("x", {"system": "s", "messages": []}, "InvokeModel", "anthropic"),
        # The seed's own example: a Converse-style body, whatever the model.
        (CLAUDE, {"messages": [{"role": "user", "content": [{"text": "Hello!"}]}],
                  "inferenceConfig": {"maxTokens": 100}}, "InvokeModel", "converse"),
        ("x", {"messages": [{"role": "user", "content": [{"text": "a"}]}]}, "InvokeModel",
         "converse"),
        (NOVA, {"schemaVersion": "messages-v1", "messages": []}, "InvokeModel", "converse"),
        (CLAUDE, {"messages": [{"role": "user", "content": "hi"}]}, "Converse", "converse"),
        (CLAUDE, {"messages": []}, "InvokeModel", "anthropic"),
        (NOVA, {"messages": []}, "InvokeModel", "converse"),
        (TITAN, {"inputText": "hi"}, "InvokeModel", "titan"),
        (LLAMA, {"prompt": "hi"}, "InvokeModel", "prompt"),
        (MISTRAL, {"prompt": "hi"}, "InvokeModel", "prompt"),
    ],
)
def test_input_format(model_id: str, body: dict[str, Any], invocation_type: str,
                      expected: str) -> None:
    assert input_format(model_id, body, invocation_type) == expected


# ---------------------------------------------------------------------------------------------
# Request bodies -> Prompt


def test_anthropic_messages_body() -> None:
    body = {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 256,
        "system": "Be brief.",
        "temperature": 0.5,
        "top_p": 0.9,
        "top_k": 40,
        "stop_sequences": ["END"],
        "messages": [
            {"role": "user", "content": "What is in this picture?"},
            {"role": "assistant", "content": [
                {"type": "text", "text": "Let me look."},
                {"type": "tool_use", "id": "toolu_1", "name": "look", "input": {"zoom": 2}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "a cat"},
                {"type": "tool_result", "tool_use_id": "toolu_2", "is_error": True,
                 "content": [{"type": "text", "text": "no"}, {"type": "text", "text": "way"}]},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                             "data": PNG}},
                {"type": "text", "text": "And now?", "cache_control": {"type": "ephemeral"}}]},
        ],
        "tools": [{"name": "look", "description": "Look closer", "input_schema": ZOOM}],
        "tool_choice": {"type": "auto"},
    }
    assert to_prompt(CLAUDE, body) == Prompt(
        system="Be brief.",
        messages=[
            user(text_block("What is in this picture?")),
            Message("assistant", [text_block("Let me look."),
                                  tool_use_block("toolu_1", "look", {"zoom": 2})]),
            user(tool_result_block("toolu_1", "a cat"),
                 tool_result_block("toolu_2", "no\nway", is_error=True),
                 image_block("image/png", PNG), text_block("And now?")),
        ],
        max_tokens=256, temperature=0.5, top_p=0.9, top_k=40, stop=["END"],
        tools=[{"name": "look", "description": "Look closer", "input_schema": ZOOM}],
        tool_choice="auto",
    )


@pytest.mark.parametrize(
    ("choice", "expected"),
    [({"type": "auto"}, "auto"), ({"type": "any"}, "any"), ({"type": "none"}, "none"),
     ({"type": "tool", "name": "look"}, "look"), (None, None)],
)
def test_anthropic_tool_choice(choice: dict[str, Any] | None, expected: str | None) -> None:
    body = {"messages": [{"role": "user", "content": "hi"}], "tool_choice": choice,
            "tools": [{"name": "look", "input_schema": {"type": "object"}}]}
    prompt = to_prompt(CLAUDE, body)
    assert prompt.tool_choice == expected
    assert prompt.tools == [{"name": "look", "description": "", "input_schema": {"type": "object"}}]


def test_anthropic_system_blocks_and_defaults() -> None:
    body = {"anthropic_version": "v", "messages": [{"role": "user", "content": "hi"}],
            "system": [{"type": "text", "text": "one"}, {"type": "text", "text": "two"}]}
    prompt = to_prompt(CLAUDE, body)
    assert prompt.system == "one\ntwo"
    assert (prompt.max_tokens, prompt.temperature, prompt.top_p, prompt.top_k) == (None,) * 4
    assert (prompt.stop, prompt.tools, prompt.tool_choice) == ([], [], None)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"anthropic_version": "v"}, "messages must be a list"),
        ({"anthropic_version": "v", "messages": []}, "no messages"),
        ({"messages": [{"role": "system", "content": "x"}]}, "messages[0].role"),
        ({"messages": ["hi"]}, "messages[0] must be a JSON object"),
        ({"messages": [{"role": "user", "content": [{"type": "document"}]}]},
         "messages[0].content[0]: unsupported content block type 'document'"),
        ({"messages": [{"role": "user", "content": [
            {"type": "image", "source": {"type": "url", "url": "http://x"}}]}]}, "base64"),
        ({"messages": [{"role": "user", "content": [{"type": "text"}]}]},
         "messages[0].content[0].text must be a string"),
        ({"messages": [{"role": "assistant", "content": [
            {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                         "data": PNG}}]}]}, "cannot hold image"),
        ({"messages": [{"role": "user", "content": [
            {"type": "tool_use", "id": "t", "name": "n", "input": {}}]}]}, "cannot hold tool_use"),
        ({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 0}, "max_tokens"),
        ({"messages": [{"role": "user", "content": "hi"}], "max_tokens": "9"}, "max_tokens"),
        ({"messages": [{"role": "user", "content": "hi"}], "temperature": "hot"}, "temperature"),
        ({"messages": [{"role": "user", "content": "hi"}], "top_k": True}, "top_k"),
        ({"messages": [{"role": "user", "content": "hi"}], "stop_sequences": [1]},
         "stop_sequences[0]"),
        ({"messages": [{"role": "user", "content": "hi"}], "tools": [{"name": "x"}]},
         "tools[0] input schema"),
        ({"messages": [{"role": "user", "content": "hi"}], "tool_choice": {"type": "maybe"}},
         "tool_choice"),
    ],
)
def test_malformed_anthropic_bodies(body: dict[str, Any], message: str) -> None:
    with pytest.raises(RecordError, match=re.escape(message)):
        to_prompt(CLAUDE, body)


CONVERSE_REQUEST = {
    "modelId": CLAUDE,
    "system": [{"text": "Be brief."}, {"cachePoint": {"type": "default"}}, {"text": "Really."}],
    "messages": [
        {"role": "user", "content": [
            {"text": "Look at this"},
            {"image": {"format": "jpeg", "source": {"bytes": PNG}}},
            {"cachePoint": {"type": "default"}}]},
        {"role": "assistant", "content": [
            {"toolUse": {"toolUseId": "t1", "name": "look", "input": {"zoom": 1}}}]},
        {"role": "user", "content": [
            {"toolResult": {"toolUseId": "t1", "content": [{"text": "a cat"}, {"json": {"n": 1}}]}},
            {"toolResult": {"toolUseId": "t2", "content": [{"text": "bad"}], "status": "error"}}]},
    ],
    "inferenceConfig": {"maxTokens": 64, "temperature": 0.2, "topP": 0.8,
                        "stopSequences": ["STOP"]},
    "additionalModelRequestFields": {"top_k": 5},
    "toolConfig": {"tools": [{"toolSpec": {"name": "look", "description": "Look",
                                           "inputSchema": {"json": {"type": "object"}}}},
                             {"cachePoint": {"type": "default"}}],
                   "toolChoice": {"any": {}}},
}


def test_converse_request() -> None:
    assert to_prompt(CLAUDE, CONVERSE_REQUEST, "Converse") == Prompt(
        system="Be brief.\nReally.",
        messages=[
            user(text_block("Look at this"), image_block("image/jpeg", PNG)),
            Message("assistant", [tool_use_block("t1", "look", {"zoom": 1})]),
            user(tool_result_block("t1", 'a cat\n{"n": 1}'),
                 tool_result_block("t2", "bad", is_error=True)),
        ],
        max_tokens=64, temperature=0.2, top_p=0.8, top_k=5, stop=["STOP"],
        tools=[{"name": "look", "description": "Look", "input_schema": {"type": "object"}}],
        tool_choice="any",
    )


@pytest.mark.parametrize(
    ("choice", "expected"),
    [({"auto": {}}, "auto"), ({"any": {}}, "any"), ({"tool": {"name": "look"}}, "look")],
)
def test_converse_tool_choice(choice: dict[str, Any], expected: str) -> None:
    body = {**CONVERSE_REQUEST, "toolConfig": {**CONVERSE_REQUEST["toolConfig"],
                                               "toolChoice": choice}}
    assert to_prompt(CLAUDE, body, "Converse").tool_choice == expected


def test_nova_invoke_model_body() -> None:
    body = {"schemaVersion": "messages-v1",
            "system": [{"text": "You are terse."}],
            "messages": [{"role": "user", "content": [
                {"text": "Describe"}, {"image": {"format": "png", "source": {"bytes": PNG}}}]}],
            "inferenceConfig": {"max_new_tokens": 300, "temperature": 0.7, "top_p": 0.9,
                                "top_k": 20, "stopSequences": ["\n\n"]}}
    assert to_prompt(NOVA, body) == Prompt(
        system="You are terse.",
        messages=[user(text_block("Describe"), image_block("image/png", PNG))],
        max_tokens=300, temperature=0.7, top_p=0.9, top_k=20, stop=["\n\n"])


def test_the_seeds_bedrock_example() -> None:
    body = {"messages": [{"role": "user", "content": [{"text": "Hello!"}]}],
            "inferenceConfig": {"maxTokens": 100}}
    assert to_prompt(CLAUDE, body) == Prompt(messages=[user(text_block("Hello!"))],
                                             max_tokens=100)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ([{"document": {}}], "unsupported content block"),
        ([{"image": {"format": "tiff", "source": {"bytes": PNG}}}], "format"),
        ([{"image": {"format": "png", "source": {"s3Location": {"uri": "s3://b/k"}}}}],
         "inline base64"),
        ([{"toolResult": {"toolUseId": "t", "content": [{"image": {}}]}}], "text and json"),
        ("hi", "content must be a list"),
    ],
)
def test_malformed_converse_bodies(content: Any, message: str) -> None:
    body = {"messages": [{"role": "user", "content": content}]}
    with pytest.raises(RecordError, match=message):
        to_prompt(CLAUDE, body, "Converse")


def test_titan_body() -> None:
    body = {"inputText": "User: hi\nBot:",
            "textGenerationConfig": {"maxTokenCount": 50, "temperature": 0, "topP": 1,
                                     "stopSequences": ["User:"]}}
    assert to_prompt(TITAN, body) == Prompt(messages=[user(text_block("User: hi\nBot:"))],
                                            max_tokens=50, temperature=0.0, top_p=1.0,
                                            stop=["User:"])


def test_llama_plain_prompt() -> None:
    body = {"prompt": "Tell me a joke", "max_gen_len": 128, "temperature": 0.3, "top_p": 0.5}
    assert to_prompt(LLAMA, body) == Prompt(messages=[user(text_block("Tell me a joke"))],
                                            max_tokens=128, temperature=0.3, top_p=0.5)


def test_llama3_chat_template() -> None:
    prompt = ("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe kind.<|eot_id|>"
              "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
              "<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>"
              "<|start_header_id|>user<|end_header_id|>\n\nHow are you?<|eot_id|>"
              "<|start_header_id|>assistant<|end_header_id|>\n\n")
    result = to_prompt(LLAMA, {"prompt": prompt})
    assert result.system == "Be kind."
    assert result.messages == [user(text_block("Hi")),
                               Message("assistant", [text_block("Hello!")]),
                               user(text_block("How are you?"))]


def test_llama2_and_mistral_inst_template() -> None:
    prompt = ("<s>[INST] <<SYS>>\nBe kind.\n<</SYS>>\n\nHi [/INST] Hello! </s>"
              "<s>[INST] How are you? [/INST]")
    result = to_prompt(MISTRAL, {"prompt": prompt, "max_tokens": 10, "top_k": 3,
                                 "stop": ["</s>"], "temperature": 1, "top_p": 0.2})
    assert result == Prompt(system="Be kind.",
                            messages=[user(text_block("Hi")),
                                      Message("assistant", [text_block("Hello!")]),
                                      user(text_block("How are you?"))],
                            max_tokens=10, temperature=1.0, top_p=0.2, top_k=3, stop=["</s>"])


@pytest.mark.parametrize(
    ("model_id", "body", "message"),
    [
        (CLAUDE, {"input": "hi"}, "none of messages, inputText or prompt"),
        (TITAN, {"inputText": 5}, "inputText must be a string"),
        (LLAMA, {"prompt": None}, "prompt must be a string"),
        (TITAN, {"inputText": "x", "textGenerationConfig": []}, "textGenerationConfig"),
        (LLAMA, {"prompt": "x", "max_gen_len": -1}, "max_tokens"),
    ],
)
def test_malformed_completion_bodies(model_id: str, body: dict[str, Any], message: str) -> None:
    with pytest.raises(RecordError, match=message):
        to_prompt(model_id, body)


# ---------------------------------------------------------------------------------------------
# Completion -> response bodies

TEXT = Completion([text_block("Hello"), text_block(" world")], 12, 3, "end_turn")
TOOL = Completion([text_block("Calling."), tool_use_block("toolu_9", "look", {"zoom": 2})],
                  20, 8, "tool_use")


def test_completion_text_joins_text_blocks() -> None:
    assert TEXT.text == "Hello world"
    assert TOOL.text == "Calling."


def test_converse_response() -> None:
    assert to_model_output(CLAUDE, "Converse", TOOL) == {
        "output": {"message": {"role": "assistant", "content": [
            {"text": "Calling."},
            {"toolUse": {"toolUseId": "toolu_9", "name": "look", "input": {"zoom": 2}}}]}},
        "stopReason": "tool_use",
        "usage": {"inputTokens": 20, "outputTokens": 8, "totalTokens": 28},
        "metrics": {"latencyMs": 0},
    }


@pytest.mark.parametrize("model_id", [CLAUDE, "us.anthropic.claude-3-haiku-20240307-v1:0",
                                      "arn:aws:bedrock:us-west-2::foundation-model/" + CLAUDE])
def test_anthropic_response(model_id: str) -> None:
    completion = Completion([text_block("Hi"), tool_use_block("toolu_9", "look", {})], 5, 2,
                            "stop_sequence", "END")
    output = to_model_output(model_id, "InvokeModel", completion)
    message_id = output.pop("id")
    assert message_id.startswith("msg_bdrk_") and len(message_id) == 9 + 24
    int(message_id[9:], 16)
    assert output == {
        "type": "message", "role": "assistant", "model": model_id,
        "content": [{"type": "text", "text": "Hi"},
                    {"type": "tool_use", "id": "toolu_9", "name": "look", "input": {}}],
        "stop_reason": "stop_sequence", "stop_sequence": "END",
        "usage": {"input_tokens": 5, "output_tokens": 2},
    }


def test_anthropic_message_ids_follow_the_content() -> None:
    first = to_model_output(CLAUDE, "InvokeModel", TEXT)["id"]
    assert to_model_output(CLAUDE, "InvokeModel", TEXT)["id"] == first
    assert to_model_output(CLAUDE, "InvokeModel", TOOL)["id"] != first


def test_nova_response() -> None:
    assert to_model_output("us." + NOVA, "InvokeModel", TEXT) == {
        "output": {"message": {"role": "assistant",
                               "content": [{"text": "Hello"}, {"text": " world"}]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": 12, "outputTokens": 3, "totalTokens": 15},
    }


@pytest.mark.parametrize(
    ("stop_reason", "reason"),
    [("end_turn", "FINISH"), ("max_tokens", "LENGTH"), ("stop_sequence", "STOP_CRITERIA_MET"),
     ("tool_use", "FINISH")],
)
def test_titan_response(stop_reason: str, reason: str) -> None:
    completion = Completion([text_block("Hi")], 4, 1, stop_reason)
    assert to_model_output(TITAN, "InvokeModel", completion) == {
        "inputTextTokenCount": 4,
        "results": [{"tokenCount": 1, "outputText": "Hi", "completionReason": reason}]}


@pytest.mark.parametrize(("stop_reason", "reason"),
                         [("end_turn", "stop"), ("stop_sequence", "stop"),
                          ("max_tokens", "length")])
def test_llama_and_mistral_responses(stop_reason: str, reason: str) -> None:
    completion = Completion([text_block("Hi")], 4, 1, stop_reason)
    assert to_model_output(LLAMA, "InvokeModel", completion) == {
        "generation": "Hi", "prompt_token_count": 4, "generation_token_count": 1,
        "stop_reason": reason}
    assert to_model_output(MISTRAL, "InvokeModel", completion) == {
        "outputs": [{"text": "Hi", "stop_reason": reason}]}


def test_unknown_models_answer_in_the_shape_they_were_asked_in() -> None:
    messages_input = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}
    converse_input = {"messages": [{"role": "user", "content": [{"text": "hi"}]}]}
    assert to_model_output("gpt-4o", "InvokeModel", TEXT, messages_input)["type"] == "message"
    assert "output" in to_model_output("gpt-4o", "InvokeModel", TEXT, converse_input)
    assert "output" in to_model_output("gpt-4o", "InvokeModel", TEXT, {"prompt": "hi"})
    assert "metrics" in to_model_output("gpt-4o", "InvokeModel", TEXT)
    assert "metrics" in to_model_output(LLAMA, "Converse", TEXT)


@pytest.mark.parametrize(("text", "tokens"), [("", 0), ("a", 1), ("abcd", 1), ("abcde", 2),
                                              ("x" * 400, 100)])
def test_count_tokens(text: str, tokens: int) -> None:
    assert count_tokens(text) == tokens
