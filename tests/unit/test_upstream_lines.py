"""Which input line an upstream result answers: by its id, or, from a provider that answers in
request order (Gemini), by its place when the answer names no id."""

from __future__ import annotations

import json
from pathlib import Path

from bifrost_py.domain.records.lines import Record
from bifrost_py.jobs.upstream_lines import Line, Sent
from bifrost_py.ports.upstream import Result
from bifrost_py.providers.gemini.batch import read_results


def _sent(order: list[str]) -> Sent:
    sent = Sent(order=order)
    for number, custom_id in enumerate(order, 1):
        sent.add(custom_id, Line(0, Record(custom_id, {}, number)))
    return sent


def test_a_result_is_matched_by_its_id_before_its_place() -> None:
    sent = _sent(["a", "b", "c"])
    assert sent.answered_by(Result("c", position=0)) is sent.by_id["c"]
    assert sent.answered_by(Result("unknown", position=0)) is None
    assert sent.answered_by(Result(None, position=1)) is sent.by_id["b"]
    assert sent.answered_by(Result(None, position=3)) is None
    assert sent.answered_by(Result(None)) is None


def test_gemini_answers_without_a_key_are_placed_by_their_line(tmp_path: Path) -> None:
    answer = {"candidates": [{"content": {"parts": [{"text": "hi"}]}}]}
    lines = [{"key": "a", "response": answer}, {"response": answer}, {"error": {"code": 3}},
             {"neither": True}]
    path = tmp_path / "responses.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n\n")
    results = list(read_results(path))
    assert [(r.custom_id, r.position) for r in results] == [("a", 0), (None, 1), (None, 2)]
    assert results[1].completion is not None and results[2].error == (400, "unknown error")
