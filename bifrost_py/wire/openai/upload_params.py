"""The JSON bodies of the Uploads API, checked field by field as OpenAI checks them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bifrost_py.domain.file_uploads import check_mime_type
from bifrost_py.errors import InvalidRequestError
from bifrost_py.wire.openai.purposes import checked_purpose, lifetime


@dataclass(frozen=True)
class NewUpload:
    filename: str
    purpose: str
    bytes: int
    mime_type: str
    file_lifetime: int | None


@dataclass(frozen=True)
class Completion:
    part_ids: list[str]
    md5: str | None


def new_upload(body: dict[str, Any], max_file_size: int) -> NewUpload:
    size = _field(body, "bytes", int, "an integer")
    if size < 0 or size > max_file_size:
        raise InvalidRequestError(f"Invalid 'bytes': expected from 0 to {max_file_size}, "
                                  f"got {size}.", param="bytes")
    filename = _field(body, "filename", str, "a string")
    mime_type = _field(body, "mime_type", str, "a string")
    purpose = checked_purpose(_field(body, "purpose", str, "a string"), filename, "filename")
    check_mime_type(purpose, mime_type)
    return NewUpload(filename, purpose, size, mime_type, _file_lifetime(body))


def completion(body: dict[str, Any]) -> Completion:
    part_ids = _field(body, "part_ids", list, "an array")
    if not all(isinstance(part_id, str) for part_id in part_ids):
        raise InvalidRequestError("Invalid type for 'part_ids': expected an array of strings.",
                                  param="part_ids")
    md5 = body.get("md5")
    if md5 is not None and not isinstance(md5, str):
        raise InvalidRequestError("Invalid type for 'md5': expected a string.", param="md5")
    return Completion(part_ids, md5)


def _field(body: dict[str, Any], name: str, kind: type, described: str) -> Any:
    if name not in body:
        raise InvalidRequestError(f"Missing required parameter: '{name}'.", param=name)
    value = body[name]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise InvalidRequestError(f"Invalid type for '{name}': expected {described}, but got "
                                  f"{type(value).__name__} instead.", param=name)
    return value


def _file_lifetime(body: dict[str, Any]) -> int | None:
    expires_after = body.get("expires_after")
    if expires_after is None:
        return None
    if not isinstance(expires_after, dict):
        raise InvalidRequestError("Invalid type for 'expires_after': expected an object.",
                                  param="expires_after")
    return lifetime(expires_after.get("anchor"), expires_after.get("seconds"))
