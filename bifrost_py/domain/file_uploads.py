"""The rules of OpenAI's Uploads: a file sent in parts, then completed from the parts it names.

An upload is pending for an hour after it is created; completing, cancelling or outliving it ends
it for good. Everything a request can get wrong here is answered as OpenAI answers it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bifrost_py.errors import AwsError, InvalidRequestError

PENDING = "pending"
COMPLETED = "completed"
CANCELLED = "cancelled"
EXPIRED = "expired"
LIFETIME = 3600  # seconds an upload takes parts before it expires
MAX_PART_BYTES = 64 * 2**20
# The MIME types a purpose accepts; a purpose not named takes any.
_JSON_LINES = frozenset({"application/jsonl", "application/x-jsonlines", "application/x-ndjson"})
MIME_TYPES: dict[str, frozenset[str]] = {
    "batch": frozenset({"application/jsonl"}),
    "fine-tune": _JSON_LINES,
    "vision": frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"}),
}


@dataclass(frozen=True)
class FileUpload:
    upload_id: str
    tenant: str
    filename: str
    purpose: str
    bytes: int
    mime_type: str
    created_at: int
    expires_at: int
    status: str
    file_lifetime: int | None = None  # seconds the finished file lives; None: until deleted
    file_id: str | None = None


@dataclass(frozen=True)
class UploadPart:
    part_id: str
    upload_id: str
    created_at: int
    size: int
    blob: str


def status_at(upload: FileUpload, now: float) -> str:
    """A pending upload past its expires_at is expired, whether or not a sweep has marked it."""
    return EXPIRED if upload.status == PENDING and now >= upload.expires_at else upload.status


def require_pending(upload: FileUpload, now: float) -> None:
    status = status_at(upload, now)
    if status != PENDING:
        raise InvalidRequestError(f"Upload {upload.upload_id} is {status}: only a pending upload "
                                  "takes parts, completes or cancels.")


def check_mime_type(purpose: str, mime_type: str) -> None:
    allowed = MIME_TYPES.get(purpose)
    if allowed is not None and mime_type not in allowed:
        raise InvalidRequestError(f"Invalid mime_type {mime_type!r} for purpose {purpose!r}: "
                                  f"expected one of {sorted(allowed)}.", param="mime_type")


def part_limit(uploaded: int, max_file_size: int) -> int:
    """The most bytes the next part may have, given the bytes the upload's parts hold already."""
    return max(0, min(MAX_PART_BYTES, max_file_size - uploaded))


def part_too_large(uploaded: int, max_file_size: int) -> AwsError:
    """The answer to a part longer than part_limit allowed."""
    if part_limit(uploaded, max_file_size) == MAX_PART_BYTES:
        return InvalidRequestError(f"A part may have at most {MAX_PART_BYTES} bytes.",
                                   param="data")
    return InvalidRequestError(f"The upload's parts together would exceed {max_file_size} "
                               "bytes, the largest file this server keeps.", param="data")


def chosen_parts(upload: FileUpload, part_ids: Sequence[str],
                 stored: Sequence[UploadPart]) -> list[UploadPart]:
    """The upload's parts in the order `part_ids` names them; their sizes must add up to the
    bytes the upload was created with."""
    by_id = {part.part_id: part for part in stored if part.upload_id == upload.upload_id}
    chosen: list[UploadPart] = []
    for part_id in part_ids:
        part = by_id.pop(part_id, None)
        if part is None:
            seen = any(p.part_id == part_id for p in chosen)
            raise InvalidRequestError(
                f"Part {part_id} is named more than once." if seen else
                f"No such part in upload {upload.upload_id}: {part_id}", param="part_ids")
        chosen.append(part)
    total = sum(part.size for part in chosen)
    if total != upload.bytes:
        raise InvalidRequestError(f"The parts hold {total} bytes, but upload "
                                  f"{upload.upload_id} was created with bytes={upload.bytes}.",
                                  param="part_ids")
    return chosen


def check_md5(expected: str, actual: str) -> None:
    if expected.strip().lower() != actual:
        raise InvalidRequestError("The md5 checksum does not match the parts' bytes.",
                                  param="md5")
