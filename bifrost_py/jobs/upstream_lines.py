"""Input lines and the requests they go upstream as: the custom id each record is sent with, the
request line written for it, and, when results come back, which input line each one answers.

The ids are assigned again, the same way, when results are collected (after a restart too), so
nothing but the order the requests were sent in needs keeping, with the job's spools
(`Spools.write_order`), for providers that answer by place rather than by id.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from bifrost_py.jobs.dialects.base import Item
from bifrost_py.ports.upstream import BatchAPI, Result, UpstreamRequest

_CUSTOM_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


@dataclass(frozen=True)
class Line:
    """An input line that goes upstream: which input it is in, and the item it stands for."""

    input_index: int
    item: Item


class CustomIds:
    """The id each record is sent upstream with: its recordId when every provider accepts it
    and it is not taken yet, else one made from its place in the input."""

    def __init__(self) -> None:
        self._seen: set[str] = set()

    def assign(self, wanted: str, input_index: int, line_no: int) -> str:
        if not _CUSTOM_ID.match(wanted) or wanted in self._seen:
            wanted = f"line-{input_index}-{line_no}"
        self._seen.add(wanted)
        return wanted


@dataclass(frozen=True)
class Native:
    """An input line already in the provider's own request format."""

    custom_id: str
    given: dict[str, Any]  # as the user wrote it: what the output line shows as modelInput
    sent: dict[str, Any]  # as the provider documents it


def native(api: BatchAPI, line: bytes) -> Native | None:
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(value, dict) or "modelInput" in value:
        return None
    found = api.native(value)
    return Native(found[0], value, found[1]) if found is not None else None


def request_line(api: BatchAPI, request: UpstreamRequest) -> bytes:
    """The provider's request line, newline-ended (RecordError if it cannot be said)."""
    line = api.request_line(request)
    return line if line.endswith(b"\n") else line + b"\n"


@dataclass
class Sent:
    """The input lines that went upstream: by custom id, in input order, and (when the order
    was kept) in the order they were sent."""

    by_id: dict[str, Line] = field(default_factory=dict)
    lines: list[Line] = field(default_factory=list)
    order: list[str] = field(default_factory=list)

    def add(self, custom_id: str, line: Line) -> None:
        self.by_id[custom_id] = line
        self.lines.append(line)

    def answered_by(self, result: Result) -> Line | None:
        if result.custom_id is not None:
            return self.by_id.get(result.custom_id)
        if result.position is not None and 0 <= result.position < len(self.order):
            return self.by_id.get(self.order[result.position])
        return None
