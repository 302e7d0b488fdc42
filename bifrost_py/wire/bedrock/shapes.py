"""Requests decoded and validated against botocore's own service model for `bedrock`.

botocore only checks required members client-side; AWS checks the rest (lengths, patterns, enums,
ranges, unions) and answers ValidationException with messages in this form.
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import cache
from typing import Any, Protocol

import botocore.session
import orjson
import re2
from botocore.model import OperationModel, Shape, StructureShape

from bifrost_py.errors import SerializationException, ValidationException


@cache
def operation(name: str) -> OperationModel:
    return _service().operation_model(name)


@cache
def _service() -> Any:
    return botocore.session.get_session().get_service_model("bedrock")


def decode(op: OperationModel, uri: dict[str, str], query: dict[str, str], body: bytes,
           relaxed: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The operation's input from path labels, query string and JSON body, validated.

    `relaxed` names members whose pattern is not enforced (e.g. roleArn for non-AWS providers).
    """
    shape = op.input_shape
    params: dict[str, Any] = {}
    if body.strip():
        try:
            # orjson caps nesting (stdlib json would overflow the stack) and refuses NaN.
            params = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise SerializationException() from None
        if not isinstance(params, dict):
            raise SerializationException("The request body must be a JSON object.")
    for name, member in shape.members.items():
        location = member.serialization.get("location")
        wire_name = member.serialization.get("name", name)
        if location == "uri" and wire_name in uri:
            params[name] = uri[wire_name]
        elif location == "querystring" and wire_name in query:
            params[name] = _from_query(member, query[wire_name], name)
        elif location in ("uri", "querystring", "header"):
            params.pop(name, None)
    errors: list[str] = []
    _check_structure(shape, params, "", errors, relaxed)
    if errors:
        noun = "error" if len(errors) == 1 else "errors"
        raise ValidationException(f"{len(errors)} validation {noun} detected: "
                                  + "; ".join(errors))
    return params


def _from_query(shape: Shape, value: str, name: str) -> Any:
    try:
        if shape.type_name == "integer":
            return int(value)
        if shape.type_name == "timestamp":
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise ValidationException(f"1 validation error detected: Value '{value}' at '{name}' "
                                  f"failed to satisfy constraint: Member must be a valid "
                                  f"{shape.type_name}") from None
    return value


def _check_structure(shape: StructureShape, value: dict[str, Any], path: str,
                     errors: list[str], relaxed: frozenset[str]) -> None:
    for name in shape.required_members:
        if value.get(name) is None:
            errors.append(f"Value null at '{path}{name}' failed to satisfy constraint: "
                          "Member must not be null")
    if shape.metadata.get("union"):
        present = [n for n in shape.members if value.get(n) is not None]
        if len(present) != 1:
            errors.append(f"Value at '{path.rstrip('.') or shape.name}' failed to satisfy "
                          "constraint: Member must have exactly one member set")
    for name, member in shape.members.items():
        if value.get(name) is not None:
            _check(member, value[name], f"{path}{name}", errors, relaxed)


def _check(shape: Shape, value: Any, path: str, errors: list[str],
           relaxed: frozenset[str]) -> None:
    kind = shape.type_name
    meta = shape.metadata
    if not _has_type(kind, value):
        errors.append(f"Value at '{path}' failed to satisfy constraint: Member must be of type "
                      f"{kind}")
        return
    if kind == "structure":
        _check_structure(shape, value, f"{path}.", errors, relaxed)  # type: ignore[arg-type]
    elif kind == "list":
        for index, item in enumerate(value):
            _check(shape.member, item, f"{path}.{index + 1}.member", errors,  # type: ignore[attr-defined]
                   relaxed)
    _check_bounds(kind, meta, value, path, errors)
    enum = meta.get("enum")
    if enum and value not in enum:
        errors.append(f"Value '{value}' at '{path}' failed to satisfy constraint: Member must "
                      f"satisfy enum value set: [{', '.join(enum)}]")
    pattern = meta.get("pattern")
    if (kind == "string" and pattern and path.rsplit(".", 1)[-1] not in relaxed
            and not _matches(pattern, value)):
        errors.append(f"Value '{value}' at '{path}' failed to satisfy constraint: Member must "
                      f"satisfy regular expression pattern: {pattern}")


def _check_bounds(kind: str, meta: dict[str, Any], value: Any, path: str,
                  errors: list[str]) -> None:
    if kind not in ("integer", "long", "string", "list", "map"):
        return
    measure, what = (value, "value") if kind in ("integer", "long") else (len(value), "length")
    if "min" in meta and measure < meta["min"]:
        errors.append(f"Value '{value}' at '{path}' failed to satisfy constraint: Member must "
                      f"have {what} greater than or equal to {meta['min']}")
    if "max" in meta and measure > meta["max"]:
        errors.append(f"Value '{value}' at '{path}' failed to satisfy constraint: Member must "
                      f"have {what} less than or equal to {meta['max']}")


def _has_type(kind: str, value: Any) -> bool:
    if kind in ("integer", "long"):
        return isinstance(value, int) and not isinstance(value, bool)
    expected: dict[str, type | tuple[type, ...]] = {
        "string": str, "structure": dict, "list": list, "map": dict, "boolean": bool,
        "timestamp": (int, float, str), "double": (int, float), "float": (int, float)}
    return isinstance(value, expected.get(kind, object))


class _Matcher(Protocol):
    def fullmatch(self, text: str) -> object | None: ...


_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False
_RE2_OPTIONS.never_capture = True


def _matches(pattern: str, value: str) -> bool:
    try:
        return _pattern(pattern).fullmatch(value) is not None
    except UnicodeEncodeError:  # a lone surrogate: RE2 reads UTF-8, and no AWS pattern admits one
        return False


@cache
def _pattern(pattern: str) -> _Matcher:
    """RE2 matches in linear time: some of the model's patterns, such as jobName's
    `[a-zA-Z0-9]{1,63}(-*[a-zA-Z0-9\\+\\-\\.]){0,63}`, backtrack exponentially under `re` on
    a name of dashes, which would hold the event loop for hours."""
    try:
        return re2.compile(pattern, _RE2_OPTIONS)
    except re2.error:
        # RE2 refuses counted repetitions over 1000 (`.{1,1024}` in an s3Uri); the model's
        # patterns that have them have no nested quantifiers, so `re` matches them quickly.
        return re.compile(pattern)
