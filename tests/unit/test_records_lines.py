"""Record lines: JSONL input lines read into records, and output and error lines written back."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bifrost_py.domain.records.lines import (
    BadLine,
    Record,
    error_line,
    generated_record_id,
    output_line,
    parse_line,
)

# ---------------------------------------------------------------------------------------------
# Lines


@pytest.mark.parametrize("ending", [b"", b"\n", b"\r\n", b"\r"])
def test_parse_line_reads_a_record_with_any_line_ending(ending: bytes) -> None:
    line = b'{"recordId": "r1", "modelInput": {"prompt": "hi"}}' + ending
    assert parse_line(line, 3) == Record("r1", {"prompt": "hi"}, 3)


@pytest.mark.parametrize("line", [b"", b"\n", b"\r\n", b"   \t \r\n"])
def test_blank_lines_are_skipped(line: bytes) -> None:
    assert parse_line(line, 1) is None


@pytest.mark.parametrize("line", [b'{"modelInput": {}}', b'{"recordId": null, "modelInput": {}}'])
def test_a_missing_record_id_is_the_line_number(line: bytes) -> None:
    record = parse_line(line, 42)
    assert isinstance(record, Record)
    assert record.record_id == "00000000042" == generated_record_id(42)


def test_a_byte_order_mark_is_ignored() -> None:
    assert parse_line(b'\xef\xbb\xbf{"recordId": "a", "modelInput": {}}\n', 1) == Record("a", {}, 1)


def test_unicode_in_a_record_survives() -> None:
    line = json.dumps({"recordId": "é", "modelInput": {"prompt": "日本"}}).encode()
    assert parse_line(line, 1) == Record("é", {"prompt": "日本"}, 1)


@pytest.mark.parametrize(
    ("line", "record_id", "model_input", "message"),
    [
        (b"not json\r\n", None, None, "not valid JSON"),
        (b'{"recordId": "a", "modelInput": ', None, None, "not valid JSON"),
        (b'{"recordId": "a", "modelInput": {"x": NaN}}', None, None, "not valid JSON"),
        (b"[1, 2]", None, None, "not a JSON object"),
        (b'"text"', None, None, "not a JSON object"),
        (b'{"recordId": "a"}', "a", None, "modelInput must be a JSON object"),
        (b'{"recordId": "a", "modelInput": "hi"}', "a", "hi", "modelInput must be a JSON object"),
        (b'{"recordId": "a", "modelInput": [1]}', "a", [1], "modelInput must be a JSON object"),
        (b'{"modelInput": 5}', "00000000009", 5, "modelInput must be a JSON object"),
        (b'{"recordId": 7, "modelInput": {}}', None, {}, "recordId must be a string"),
        (b'\xff\xfe{"recordId": "a"}', None, None, "not valid UTF-8"),
    ],
)
def test_bad_lines(line: bytes, record_id: str | None, model_input: Any, message: str) -> None:
    bad = parse_line(line + b"\n", 9)
    assert isinstance(bad, BadLine)
    assert (bad.line_no, bad.record_id, bad.model_input) == (9, record_id, model_input)
    assert message in bad.message
    assert not bad.raw.endswith("\n")


def test_output_line() -> None:
    record = Record("r1", {"prompt": "hi"}, 1)
    line = output_line(record, {"generation": "yo"})
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert json.loads(line) == {"recordId": "r1", "modelInput": {"prompt": "hi"},
                                "modelOutput": {"generation": "yo"}}


def test_output_line_survives_odd_unicode() -> None:
    record = parse_line(b'{"recordId": "r", "modelInput": {"prompt": "\\ud800 \xc3\xa9"}}', 1)
    assert isinstance(record, Record)
    assert json.loads(output_line(record, {}))["modelInput"] == {"prompt": "\ud800 é"}


def test_error_line_for_a_record() -> None:
    line = error_line(Record("r1", {"prompt": "hi"}, 1), 429, "throttled")
    assert line.endswith(b"\n")
    assert json.loads(line) == {"recordId": "r1", "modelInput": {"prompt": "hi"},
                                "error": {"errorCode": 429, "errorMessage": "throttled"}}


@pytest.mark.parametrize(
    ("line", "record_id", "model_input"),
    [
        (b"not json", "00000000004", "not json"),
        (b"[1, 2]\r\n", "00000000004", "[1, 2]"),
        (b'{"recordId": "a", "modelInput": "hi"}', "a", "hi"),
        (b'{"recordId": "a"}', "a", '{"recordId": "a"}'),
        (b'{"recordId": 5, "modelInput": {"p": 1}}', "00000000004", {"p": 1}),
    ],
)
def test_error_line_for_a_bad_line(line: bytes, record_id: str, model_input: Any) -> None:
    bad = parse_line(line, 4)
    assert isinstance(bad, BadLine)
    written = json.loads(error_line(bad, 400, bad.message))
    assert written == {"recordId": record_id, "modelInput": model_input,
                       "error": {"errorCode": 400, "errorMessage": bad.message}}
