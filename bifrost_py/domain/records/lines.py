"""Bedrock batch record lines: parsing an input line, writing an output or an error line."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from bifrost_py.domain.records.neutral import JsonObject


@dataclass(frozen=True, slots=True)
class Record:
    record_id: str
    model_input: JsonObject
    line_no: int


@dataclass(frozen=True, slots=True)
class BadLine:
    line_no: int
    record_id: str | None
    raw: str
    message: str
    # The line's modelInput when it was a JSON object carrying one; else the error shows `raw`.
    model_input: Any = None


def generated_record_id(line_no: int) -> str:
    """Bedrock's id for a record without one: the line number, zero-padded to 11 digits."""
    return f"{line_no:011d}"


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


# Python's json accepts NaN and Infinity; the readers of our output lines would not.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant)
# ASCII escapes keep lone surrogates (legal in JSON input) encodable as UTF-8 on the way out.
_ENCODER = json.JSONEncoder(separators=(",", ":"))


def parse_line(line: bytes, line_no: int) -> Record | BadLine | None:
    """One input line (with or without its line ending); None when the line is blank."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        raw = line.decode("utf-8", "replace").strip()
        return BadLine(line_no, None, raw, "the line is not valid UTF-8")
    text = text.removeprefix("\ufeff").strip()  # a file may start with a byte-order mark
    if not text:
        return None
    try:
        value = _DECODER.decode(text)
    except (ValueError, RecursionError) as exc:
        return BadLine(line_no, None, text, f"the line is not valid JSON: {exc}")
    if not isinstance(value, dict):
        return BadLine(line_no, None, text, "the line is not a JSON object")
    return _record(value, text, line_no)


def _record(value: JsonObject, text: str, line_no: int) -> Record | BadLine:
    record_id = value.get("recordId")
    model_input = value.get("modelInput")
    if record_id is None:
        record_id = generated_record_id(line_no)
    elif not isinstance(record_id, str):
        return BadLine(line_no, None, text, "recordId must be a string", model_input)
    if not isinstance(model_input, dict):
        return BadLine(line_no, record_id, text, "modelInput must be a JSON object", model_input)
    return Record(record_id, model_input, line_no)


def output_line(record: Record, model_output: JsonObject) -> bytes:
    return _line({"recordId": record.record_id, "modelInput": record.model_input,
                  "modelOutput": model_output})


def error_line(record: Record | BadLine, code: int, message: str) -> bytes:
    model_input: Any  # a bad line's modelInput can be any JSON value, or its raw text
    if isinstance(record, Record):
        record_id, model_input = record.record_id, record.model_input
    else:
        record_id = record.record_id or generated_record_id(record.line_no)
        model_input = record.raw if record.model_input is None else record.model_input
    return _line({"recordId": record_id, "modelInput": model_input,
                  "error": {"errorCode": code, "errorMessage": message}})


def _line(value: JsonObject) -> bytes:
    return (_ENCODER.encode(value) + "\n").encode()
