"""A model id and prompt pieces shared by the records' tests."""

from __future__ import annotations

from typing import Any

from bifrost_py.domain.records.neutral import Message

CLAUDE = "anthropic.claude-3-5-sonnet-20240620-v1:0"
PNG = "iVBORw0KGgo="


def user(*blocks: dict[str, Any]) -> Message:
    return Message("user", list(blocks))
