"""S3's rules for multipart uploads that need no I/O: part sizes, counts, order and the ETag."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from bifrost_py.domain.objects import Part, Upload
from bifrost_py.errors import (
    EntityTooLarge,
    EntityTooSmall,
    InvalidPart,
    InvalidPartOrder,
    InvalidRequest,
    MalformedXML,
)

MIN_PART_SIZE = 5 * 2**20
MAX_PARTS = 10_000


@dataclass(frozen=True)
class CompletedPart:
    """One <Part> of a CompleteMultipartUpload request."""

    part_number: int
    etag: str
    checksum: str | None = None


def new_upload_id() -> str:
    """64 URL-safe random characters, never starting with '-': the aws CLI (argparse) reads
    `--upload-id -abc...` as an option with no value, so one id in 64 would be unusable there."""
    while (upload_id := secrets.token_urlsafe(48)).startswith("-"):
        pass
    return upload_id


def chosen_parts(upload: Upload, requested: list[CompletedPart], stored: dict[int, Part],
                 max_size: int) -> list[Part]:
    """The stored parts a completion names, in order; S3's error for the first one that is
    missing, out of order, unlike its checksum, or too small to be followed by another, or for
    an object larger than `max_size`."""
    if not requested:
        raise MalformedXML()
    numbers = [r.part_number for r in requested]
    if numbers != sorted(numbers) or len(set(numbers)) != len(numbers):
        raise InvalidPartOrder()
    chosen = [_chosen(upload, wanted, stored.get(wanted.part_number)) for wanted in requested]
    for part in chosen[:-1]:
        if part.size < MIN_PART_SIZE:
            raise EntityTooSmall(ProposedSize=str(part.size), MinSizeAllowed=str(MIN_PART_SIZE),
                                 PartNumber=str(part.part_number), ETag=part.etag)
    size = sum(part.size for part in chosen)
    if size > max_size:
        raise EntityTooLarge(ProposedSize=str(size), MaxSizeAllowed=str(max_size))
    return chosen


def _chosen(upload: Upload, wanted: CompletedPart, part: Part | None) -> Part:
    if part is None or part.etag.strip('"') != wanted.etag.strip('"'):
        raise InvalidPart(PartNumber=str(wanted.part_number), ETag=wanted.etag)
    if wanted.checksum is None:
        if part.checksum and upload.checksum_type == "COMPOSITE":
            # A composite checksum is made of the parts' own: the completion must name them.
            raise InvalidRequest(
                f"The upload was created using a {(upload.checksum_algorithm or '').lower()} "
                "checksum. The complete request must include the checksum for each part. It "
                f"was missing for part {wanted.part_number} in the request.")
    elif wanted.checksum != part.checksum:
        raise InvalidPart(PartNumber=str(wanted.part_number), ETag=wanted.etag)
    return part


def multipart_etag(part_md5s: list[str]) -> str:
    digest = hashlib.md5(b"".join(bytes.fromhex(m) for m in part_md5s), usedforsecurity=False)
    return f'"{digest.hexdigest()}-{len(part_md5s)}"'
