"""Checked reads of an untrusted model body's fields.

Each check names the offending field, so the record's error line says what to fix.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bifrost_py.domain.records.neutral import Block, JsonObject, Message


class RecordError(ValueError):
    """A modelInput no model would accept: the record becomes an error line, the job goes on."""


# Which neutral blocks each role may carry, as both Anthropic and Converse allow.
_ROLE_BLOCKS = {"user": {"text", "image", "tool_result"}, "assistant": {"text", "tool_use"}}


def checked_message(role: Any, blocks: list[Block], where: str) -> Message:
    allowed = _ROLE_BLOCKS.get(role) if isinstance(role, str) else None
    if allowed is None:
        raise RecordError(f"{where}.role must be user or assistant")
    for block in blocks:
        if block["type"] not in allowed:
            raise RecordError(f"{where}: a {role} message cannot hold {block['type']} blocks")
    return Message(role, blocks)


def checked_tool(name: Any, description: Any, schema: Any, where: str) -> Block:
    return {"name": json_str(name, f"{where}.name"),
            "description": ("" if description is None
                            else json_str(description, f"{where}.description")),
            "input_schema": json_object(schema, f"{where} input schema")}


def json_object(value: Any, where: str) -> JsonObject:
    if not isinstance(value, dict):
        raise RecordError(f"{where} must be a JSON object")
    return value


def json_list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise RecordError(f"{where} must be a list")
    return value


def json_str(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise RecordError(f"{where} must be a string")
    return value


def json_strs(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [json_str(item, f"{where}[{i}]") for i, item in enumerate(json_list(value, where))]


def opt_int(value: Any, where: str, minimum: int = 0) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise RecordError(f"{where} must be an integer of at least {minimum}")
    return value


def opt_num(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RecordError(f"{where} must be a number")
    return float(value)


def first_set(values: Mapping[str, Any], *keys: str) -> Any:
    """The first of these aliases that is set (Nova takes both camelCase and snake_case)."""
    return next((values[key] for key in keys if values.get(key) is not None), None)
