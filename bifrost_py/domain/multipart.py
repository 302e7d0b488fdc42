"""S3's rules for multipart uploads that need no I/O: part sizes, counts, order and the ETag."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from bifrost_py.domain.objects import Part
from bifrost_py.errors import EntityTooSmall, InvalidPart, InvalidPartOrder, MalformedXML

MIN_PART_SIZE = 5 * 2**20
MAX_PARTS = 10_000


@dataclass(frozen=True)
class CompletedPart:
    """One <Part> of a CompleteMultipartUpload request."""

    part_number: int
    etag: str
    checksum: str | None = None


def chosen_parts(requested: list[CompletedPart], stored: dict[int, Part]) -> list[Part]:
    """The stored parts a completion names, in order; S3's error for the first one that is
    missing, out of order, or too small to be followed by another."""
    if not requested:
        raise MalformedXML()
    numbers = [r.part_number for r in requested]
    if numbers != sorted(numbers) or len(set(numbers)) != len(numbers):
        raise InvalidPartOrder()
    chosen: list[Part] = []
    for wanted in requested:
        part = stored.get(wanted.part_number)
        if part is None or part.etag.strip('"') != wanted.etag.strip('"'):
            raise InvalidPart(PartNumber=str(wanted.part_number), ETag=wanted.etag)
        chosen.append(part)
    for part in chosen[:-1]:
        if part.size < MIN_PART_SIZE:
            raise EntityTooSmall(ProposedSize=str(part.size), MinSizeAllowed=str(MIN_PART_SIZE),
                                 PartNumber=str(part.part_number), ETag=part.etag)
    return chosen


def multipart_etag(part_md5s: list[str]) -> str:
    digest = hashlib.md5(b"".join(bytes.fromhex(m) for m in part_md5s), usedforsecurity=False)
    return f'"{digest.hexdigest()}-{len(part_md5s)}"'
