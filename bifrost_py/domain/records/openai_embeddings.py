"""OpenAI /v1/embeddings: the request read, echo vectors standing in for a model, and the body
OpenAI answers with.

An echo vector is derived from a hash of the text alone: the same text always gets the same
unit-length vector. A shorter one is the longer one's first components made unit length again,
as OpenAI shortens an embedding when `dimensions` asks for fewer.
"""

from __future__ import annotations

import base64
import hashlib
import math
import struct
from dataclasses import dataclass
from typing import Any

from bifrost_py.domain.records.fields import (
    RecordError,
    json_list,
    json_object,
    json_str,
    opt_int,
)
from bifrost_py.domain.records.neutral import JsonObject, count_tokens

DEFAULT_DIMENSIONS = 1536  # text-embedding-3-small's and ada-002's length
# Each OpenAI model's own length, which a request without `dimensions` gets.
MODEL_DIMENSIONS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072,
                    "text-embedding-ada-002": 1536}
MAX_DIMENSIONS = 3072  # text-embedding-3-large's, the longest OpenAI gives
MAX_INPUTS = 2048  # OpenAI's limit on the inputs of one request
ENCODINGS = ("float", "base64")
# `user` only identifies the end user to OpenAI; it changes no vector.
_FIELDS = frozenset({"model", "input", "dimensions", "encoding_format", "user"})


@dataclass(frozen=True, slots=True)
class EmbeddingsRequest:
    model: str
    inputs: list[str]
    dimensions: int  # as asked for, or the model's own length
    encoding_format: str  # float or base64


def read_embeddings_request(body: JsonObject) -> EmbeddingsRequest:
    """A /v1/embeddings request body; RecordError for one that cannot be answered.

    Token arrays are refused: without the model's tokenizer they cannot be read back into
    text, and a vector of the token ids would not be the vector of the same text sent as words.
    """
    for key in json_object(body, "the request body"):
        if key not in _FIELDS:
            raise RecordError(f"Unrecognized request argument supplied: {key}")
    model = json_str(body.get("model"), "model")
    dimensions = opt_int(body.get("dimensions"), "dimensions", minimum=1)
    if dimensions is not None and dimensions > MAX_DIMENSIONS:
        raise RecordError(f"dimensions must be at most {MAX_DIMENSIONS}")
    encoding = body.get("encoding_format")
    if encoding is None:
        encoding = "float"  # OpenAI's default, though its SDK asks for base64 unless told
    elif encoding not in ENCODINGS:
        raise RecordError("encoding_format must be float or base64")
    return EmbeddingsRequest(model, _inputs(body.get("input")),
                             dimensions or MODEL_DIMENSIONS.get(model, DEFAULT_DIMENSIONS),
                             encoding)


def _inputs(value: Any) -> list[str]:
    if isinstance(value, str):
        texts = [(value, "input")]
    else:
        items = json_list(value, "input")
        if not 1 <= len(items) <= MAX_INPUTS:
            raise RecordError(f"input must hold between 1 and {MAX_INPUTS} texts")
        texts = [(_input_text(item, f"input[{i}]"), f"input[{i}]")
                 for i, item in enumerate(items)]
    for text, where in texts:
        if not text:
            raise RecordError(f"{where} must not be an empty string")
    return [text for text, _ in texts]


def _input_text(item: Any, where: str) -> str:
    if isinstance(item, list) or (isinstance(item, int) and not isinstance(item, bool)):
        raise RecordError(f"{where}: token arrays are not supported; send the text")
    return json_str(item, where)


def echo_embedding(text: str, dimensions: int = DEFAULT_DIMENSIONS) -> list[float]:
    """A unit-length vector of float32 values, the same for the same text.

    SHAKE-256 gives as many bytes as asked for, the shorter output a prefix of the longer, so
    a short vector is a long one's beginning, renormalised.
    """
    # surrogatepass: JSON may carry lone surrogates, which strict UTF-8 cannot encode.
    stream = hashlib.shake_256(text.encode("utf-8", "surrogatepass")).digest(4 * dimensions)
    raw = [n / 2**31 - 1 for n in struct.unpack(f"<{dimensions}I", stream)]
    norm = math.sqrt(math.fsum(x * x for x in raw)) or 1.0
    # Rounded to float32 here, so the float and base64 answers carry the very same numbers.
    return list(struct.unpack(f"<{dimensions}f",
                              struct.pack(f"<{dimensions}f", *(x / norm for x in raw))))


def base64_embedding(vector: list[float]) -> str:
    """A vector as OpenAI's base64 encoding gives it: little-endian float32, base64."""
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")


def embeddings_response(vectors: list[list[float]], model: str, prompt_tokens: int,
                        encoding_format: str = "float") -> JsonObject:
    """The body OpenAI answers an embeddings request with, one vector per input in order."""
    data = [{"object": "embedding", "index": index,
             "embedding": base64_embedding(vector) if encoding_format == "base64" else vector}
            for index, vector in enumerate(vectors)]
    return {"object": "list", "data": data, "model": model,
            "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens}}


def echo_response(request: EmbeddingsRequest) -> JsonObject:
    """The answer to a request from echo vectors, usage counted as count_tokens counts."""
    vectors = [echo_embedding(text, request.dimensions) for text in request.inputs]
    tokens = sum(count_tokens(text) for text in request.inputs)
    return embeddings_response(vectors, request.model, tokens, request.encoding_format)
