"""OpenAI embeddings: requests read, echo vectors, and the response body OpenAI's SDK reads."""

from __future__ import annotations

import base64
import json
import math
import re
import struct
from typing import Any

import httpx
import openai
import pytest
from hypothesis import given
from hypothesis import strategies as st
from openai.types import CreateEmbeddingResponse

from bifrost_py.domain.records.fields import RecordError
from bifrost_py.domain.records.openai_embeddings import (
    DEFAULT_DIMENSIONS,
    MAX_INPUTS,
    EmbeddingsRequest,
    base64_embedding,
    echo_embedding,
    echo_response,
    embeddings_response,
    read_embeddings_request,
)

MODEL = "text-embedding-3-small"


def decoded(text: str) -> list[float]:
    raw = base64.b64decode(text)
    return list(struct.unpack(f"<{len(raw) // 4}f", raw))


# ---------------------------------------------------------------------------------------------
# Requests


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"model": MODEL, "input": "hi"}, EmbeddingsRequest(MODEL, ["hi"], 1536, "float")),
        ({"model": MODEL, "input": ["a", "b"], "dimensions": 8, "encoding_format": "base64",
          "user": "u-1"}, EmbeddingsRequest(MODEL, ["a", "b"], 8, "base64")),
        ({"model": "text-embedding-3-large", "input": "hi", "encoding_format": None},
         EmbeddingsRequest("text-embedding-3-large", ["hi"], 3072, "float")),
        ({"model": "local-model", "input": "hi", "dimensions": None},
         EmbeddingsRequest("local-model", ["hi"], DEFAULT_DIMENSIONS, "float")),
    ],
)
def test_requests(body: dict[str, Any], expected: EmbeddingsRequest) -> None:
    assert read_embeddings_request(body) == expected


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"input": "hi"}, "model must be a string"),
        ({"model": MODEL}, "input must be a list"),
        ({"model": MODEL, "input": ""}, "input must not be an empty string"),
        ({"model": MODEL, "input": ["a", ""]}, "input[1] must not be an empty string"),
        ({"model": MODEL, "input": []}, "between 1 and 2048"),
        ({"model": MODEL, "input": ["a"] * (MAX_INPUTS + 1)}, "between 1 and 2048"),
        ({"model": MODEL, "input": [1, 2, 3]}, "input[0]: token arrays are not supported"),
        ({"model": MODEL, "input": [[1, 2], [3]]}, "input[0]: token arrays are not supported"),
        ({"model": MODEL, "input": [True]}, "input[0] must be a string"),
        ({"model": MODEL, "input": "hi", "dimensions": 0}, "dimensions must be an integer"),
        ({"model": MODEL, "input": "hi", "dimensions": 3073}, "at most 3072"),
        ({"model": MODEL, "input": "hi", "dimensions": "8"}, "dimensions must be an integer"),
        ({"model": MODEL, "input": "hi", "encoding_format": "int8"}, "float or base64"),
        ({"model": MODEL, "input": "hi", "truncate": True},
         "Unrecognized request argument supplied: truncate"),
    ],
)
def test_requests_that_cannot_be_answered(body: dict[str, Any], message: str) -> None:
    with pytest.raises(RecordError, match=re.escape(message)):
        read_embeddings_request(body)


# ---------------------------------------------------------------------------------------------
# Echo vectors


def test_the_same_text_gets_the_same_vector() -> None:
    assert echo_embedding("hello") == echo_embedding("hello")
    assert echo_embedding("hello") != echo_embedding("hello!")
    assert len(echo_embedding("hello")) == DEFAULT_DIMENSIONS


@given(text=st.text(min_size=1), dimensions=st.integers(1, 3072))
def test_echo_vectors_are_unit_length_float32(text: str, dimensions: int) -> None:
    vector = echo_embedding(text, dimensions)
    assert len(vector) == dimensions
    assert math.isclose(math.fsum(x * x for x in vector), 1.0, rel_tol=1e-5)
    assert decoded(base64_embedding(vector)) == vector  # float32 already: nothing is lost


@given(text=st.text(min_size=1), short=st.integers(1, 64))
def test_a_shorter_vector_is_the_longer_ones_beginning_renormalised(text: str,
                                                                     short: int) -> None:
    head = echo_embedding(text, 256)[:short]
    norm = math.sqrt(math.fsum(x * x for x in head))
    for got, want in zip(echo_embedding(text, short), head, strict=True):
        assert math.isclose(got, want / norm, rel_tol=1e-5, abs_tol=1e-6)


def test_lone_surrogates_have_vectors_too() -> None:
    assert len(echo_embedding("\ud800", 4)) == 4


# ---------------------------------------------------------------------------------------------
# Responses


def test_a_float_response() -> None:
    body = embeddings_response([[0.5, -0.25], [1.0, 0.0]], MODEL, 7)
    assert body == {"object": "list", "model": MODEL,
                    "data": [{"object": "embedding", "index": 0, "embedding": [0.5, -0.25]},
                             {"object": "embedding", "index": 1, "embedding": [1.0, 0.0]}],
                    "usage": {"prompt_tokens": 7, "total_tokens": 7}}
    assert CreateEmbeddingResponse.model_validate(body).model_dump(exclude_unset=True) == body


def test_base64_is_little_endian_float32() -> None:
    body = embeddings_response([[0.5, -0.25]], MODEL, 1, "base64")
    assert body["data"][0]["embedding"] == base64.b64encode(
        bytes.fromhex("0000003f000080be")).decode()


@given(texts=st.lists(st.text(min_size=1, max_size=20), min_size=1, max_size=4),
       dimensions=st.integers(1, 64))
def test_echo_responses_in_both_encodings_say_the_same(texts: list[str],
                                                       dimensions: int) -> None:
    floats = echo_response(EmbeddingsRequest(MODEL, texts, dimensions, "float"))
    encoded = echo_response(EmbeddingsRequest(MODEL, texts, dimensions, "base64"))
    parsed = CreateEmbeddingResponse.model_validate(json.loads(json.dumps(floats)))
    assert [item.embedding for item in parsed.data] == [
        decoded(item["embedding"]) for item in encoded["data"]]
    assert [item.index for item in parsed.data] == list(range(len(texts)))
    assert parsed.usage.prompt_tokens == parsed.usage.total_tokens == encoded["usage"][
        "prompt_tokens"] > 0


def test_the_sdk_reads_an_echo_answer_in_the_encoding_it_asks_for() -> None:
    asked: list[dict[str, Any]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        asked.append(json.loads(request.content))
        return httpx.Response(200, json=echo_response(read_embeddings_request(asked[-1])))

    client = openai.OpenAI(api_key="test", base_url="http://bifrost.test/v1",
                           http_client=httpx.Client(transport=httpx.MockTransport(answer)))
    result = client.embeddings.create(model=MODEL, input=["a", "b"], dimensions=8)
    assert asked[-1]["encoding_format"] == "base64"  # the SDK's default, decoded by it
    assert [item.embedding for item in result.data] == [echo_embedding("a", 8),
                                                        echo_embedding("b", 8)]
    floats = client.embeddings.create(model=MODEL, input="a", dimensions=8,
                                      encoding_format="float")
    assert floats.data[0].embedding == echo_embedding("a", 8)
