"""OpenAI Batch API files from the client's side: input lines checked as OpenAI checks them, and
the output and error file lines OpenAI writes. (openai_batch.py is the upstream side.)

An input line is `{"custom_id", "method": "POST", "url", "body"}`. A bad line fails the whole
batch, each problem a BatchError `{code, message, param, line}` in the batch's `errors`. Where
OpenAI's codes and words come from:

- Recorded from OpenAI's own answers in meta-llama/llama-stack,
  tests/integration/batches/test_batches_errors.py: invalid_json_line, missing_required_parameter
  (one per missing field, in the order custom_id, method, url, body), invalid_url,
  streaming_unsupported (param body.stream), invalid_request for a body without model or
  messages, model_not_found; and, from batches.create, the validator's invalid_type ("Invalid
  type for 'x': expected a string, but got an array instead.") and invalid_value ("Invalid
  value: 'x'. Supported values are: ...") wording.
- duplicate_custom_id and mismatched_model, with their wording: Alibaba Cloud Model Studio's
  error-code reference for its OpenAI-compatible Batch API, which repeats OpenAI's.
- Assumed, no source found: invalid_type and invalid_value for a line's own fields (the
  validator's wording above), the words for a line that is JSON but not an object, an embeddings
  body without input (by analogy with model and messages), and empty_file's message.

Output and error lines follow BatchRequestOutput in openai-python
(types/batch_request_output.py): `{"id", "custom_id", "response": {"status_code", "request_id",
"body"} | null, "error": {"code", "message"} | null}`, the error codes batch_expired,
batch_cancelled and request_timeout with that file's descriptions as messages, batch_expired's
message as OpenAI's batch guide gives it. A request answered with an error status is a response
whose body is `{"error": {"message", "type", "param", "code"}}` and whose `error` is null, as a
recorded error file shows (openai/openai-openapi issue 302), request_id 32 hex digits.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from bifrost_py.domain.records.neutral import JsonObject

CHAT_COMPLETIONS = "/v1/chat/completions"
EMBEDDINGS = "/v1/embeddings"


@dataclass(frozen=True, slots=True)
class BatchLine:
    custom_id: str
    body: JsonObject
    line: int  # from 1, as OpenAI numbers a file's lines


@dataclass(frozen=True, slots=True)
class LineError:
    code: str
    message: str
    param: str | None = None
    line: int | None = None

    def as_json(self) -> JsonObject:
        """As a batch's `errors.data` holds it (openai.types.BatchError)."""
        return {"code": self.code, "message": self.message, "param": self.param,
                "line": self.line}


EMPTY_FILE = LineError("empty_file", "The batch input file is empty.")
_FIELDS = (("custom_id", str, "a string"), ("method", str, "a string"), ("url", str, "a string"),
           ("body", dict, "an object"))
# What a body must hold, for the endpoints answered here.
_REQUIRED = {CHAT_COMPLETIONS: ("model", "messages"), EMBEDDINGS: ("model", "input")}
_STREAMED = {CHAT_COMPLETIONS: "Chat Completions"}  # endpoints that could stream, by API name


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


# Python's json accepts NaN and Infinity; OpenAI's reader, like ours of Bedrock lines, does not.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant)
# ASCII escapes keep lone surrogates (legal in JSON input) encodable as UTF-8 on the way out.


def parse_input_line(line: bytes, line_no: int, endpoint: str) -> BatchLine | LineError | None:
    """One line of a batch input file, against the batch's endpoint; None for a blank line."""
    try:
        text = line.decode("utf-8").removeprefix("\ufeff").strip()
        if not text:
            return None
        value = _DECODER.decode(text)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return LineError("invalid_json_line", "This line is not parseable as valid JSON.",
                         None, line_no)
    if not isinstance(value, dict):
        return LineError("invalid_request", "This line is not a JSON object.", None, line_no)
    return _request(value, line_no, endpoint)


def _request(value: JsonObject, line_no: int, endpoint: str) -> BatchLine | LineError:
    for name, kind, expected in _FIELDS:
        if name not in value:
            return LineError("missing_required_parameter",
                             f"Missing required parameter: '{name}'.", name, line_no)
        if not isinstance(value[name], kind):
            return LineError("invalid_type", f"Invalid type for '{name}': expected {expected}, "
                             f"but got {_type_name(value[name])} instead.", name, line_no)
    if value["method"] != "POST":
        return LineError("invalid_value", f"Invalid value: '{value['method']}'. Supported values "
                         "are: 'POST'.", "method", line_no)
    if value["url"] != endpoint:
        return LineError("invalid_url", "The URL provided for this request does not match the "
                         "batch endpoint.", "url", line_no)
    body: JsonObject = value["body"]
    if endpoint in _STREAMED and body.get("stream") is True:
        return LineError("streaming_unsupported", f"{_STREAMED[endpoint]}: Streaming is not "
                         "supported in the Batch API.", "body.stream", line_no)
    for name in _REQUIRED.get(endpoint, ()):
        if body.get(name) is None:
            return LineError("invalid_request", f"{name.capitalize()} parameter is required.",
                             f"body.{name}", line_no)
    return BatchLine(value["custom_id"], body, line_no)


def _type_name(value: Any) -> str:
    """A JSON value's type as OpenAI's request validator names it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object"


def duplicate_custom_ids(requests: Iterable[BatchLine]) -> list[LineError]:
    """An error for every line whose custom_id an earlier line already has."""
    seen: set[str] = set()
    errors = []
    for request in requests:
        if request.custom_id in seen:
            errors.append(LineError(
                "duplicate_custom_id", f"The custom_id '{request.custom_id}' for this request is "
                "a duplicate of another request. The custom_id parameter must be unique for each "
                "request in a batch.", "custom_id", request.line))
        seen.add(request.custom_id)
    return errors


def mismatched_models(requests: Iterable[BatchLine]) -> list[LineError]:
    """An error for every line naming another model than the first line does: a batch is for
    one model."""
    models = [(request, request.body.get("model")) for request in requests]
    return [LineError("mismatched_model", f"The model '{model}' for this request does not match "
                      "the rest of the batch. Each batch must contain requests for a single "
                      "model.", "body.model", request.line)
            for request, model in models[1:] if model != models[0][1]]


def model_not_found(request: BatchLine) -> LineError:
    """The error for a line naming a model this server does not serve."""
    return LineError("model_not_found", f"The provided model '{request.body.get('model')}' is "
                     "not supported by the Batch API.", "body.model", request.line)


def check_input_file(lines: Iterable[bytes], endpoint: str) -> tuple[list[BatchLine],
                                                                       list[LineError]]:
    """Every line of an input file (split at line feeds) checked: the requests, and the errors
    that fail the batch, in line order. Models are checked for agreement, not existence."""
    requests: list[BatchLine] = []
    errors: list[LineError] = []
    for line_no, line in enumerate(lines, 1):
        parsed = parse_input_line(line, line_no, endpoint)
        if isinstance(parsed, BatchLine):
            requests.append(parsed)
        elif parsed is not None:
            errors.append(parsed)
    if not requests and not errors:
        return [], [EMPTY_FILE]
    errors += duplicate_custom_ids(requests) + mismatched_models(requests)
    return requests, sorted(errors, key=lambda error: error.line or 0)


def errors_object(errors: Iterable[LineError]) -> JsonObject:
    """A batch's `errors` member."""
    return {"object": "list", "data": [error.as_json() for error in errors]}


def answer_line(custom_id: str, body: JsonObject, status_code: int = 200) -> bytes:
    """A request that was answered: in the output file when the status is 2xx, else in the
    error file. Its id and request id follow the answer, so the same answer writes the same
    line."""
    # The body is encoded once, for the digest and the line both: a 20,000-line batch writes
    # each answer's bytes once.
    encoded = orjson.dumps(body)
    digest = _digest([custom_id, status_code, orjson.Fragment(encoded)])
    return _line({"id": "batch_req_" + digest[:24], "custom_id": custom_id,
                  "response": {"status_code": status_code, "request_id": digest[32:],
                               "body": orjson.Fragment(encoded)},
                  "error": None})


def error_answer_line(custom_id: str, status_code: int, message: str,
                      error_type: str | None = None, param: str | None = None,
                      code: str | None = None) -> bytes:
    """A request answered with an error status, its body OpenAI's error object. The type is,
    unless given, OpenAI's usual one for the status."""
    kind = error_type or ("invalid_request_error" if status_code < 500 else "server_error")
    return answer_line(custom_id, {"error": {"message": message, "type": kind, "param": param,
                                             "code": code}}, status_code)


# The codes of requests that have no response, with the messages OpenAI gives them.
UNANSWERED = {
    "batch_expired": "This request could not be executed before the completion window expired.",
    "batch_cancelled": "The batch was cancelled before this request executed.",
    "request_timeout": "The underlying call to the model timed out.",
}


def unanswered_line(custom_id: str, code: str) -> bytes:
    """An error file line for a request without a response; `code` is one of UNANSWERED."""
    return _line({"id": "batch_req_" + _digest([custom_id, code])[:24], "custom_id": custom_id,
                  "response": None, "error": {"code": code, "message": UNANSWERED[code]}})


def _digest(value: Any) -> str:
    return hashlib.sha256(orjson.dumps(value)).hexdigest()


def _line(value: JsonObject) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_APPEND_NEWLINE)
