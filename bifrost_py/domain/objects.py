"""Buckets, objects and uploads as plain values, and the S3 rules that need no I/O."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime

from bifrost_py.errors import (
    InvalidArgument,
    InvalidBucketName,
    KeyTooLongError,
    NoSuchKey,
    NotModified,
    PreconditionFailed,
)

MAX_KEY_BYTES = 1024
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


@dataclass(frozen=True)
class Bucket:
    name: str
    created: float


@dataclass(frozen=True)
class ObjectInfo:
    bucket: str
    key: str
    size: int
    etag: str  # quoted, as on the wire
    modified: float
    content_type: str
    headers: dict[str, str] = field(default_factory=dict)  # stored standard headers
    metadata: dict[str, str] = field(default_factory=dict)  # x-amz-meta-* without the prefix
    checksum_algorithm: str | None = None
    checksum: str | None = None
    checksum_type: str | None = None
    blobs: tuple[tuple[str, int], ...] = ()
    parts_count: int | None = None
    data: bytes | None = None  # the content itself, for small objects stored in their row


@dataclass(frozen=True)
class Upload:
    upload_id: str
    bucket: str
    key: str
    initiated: float
    content_type: str = "binary/octet-stream"
    headers: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)
    checksum_algorithm: str | None = None
    checksum_type: str | None = None


@dataclass(frozen=True)
class Part:
    part_number: int
    size: int
    etag: str
    modified: float
    checksum: str | None
    blob: str


@dataclass(frozen=True)
class NewObject:
    """What a write stores besides the bytes."""

    content_type: str = "binary/octet-stream"
    headers: dict[str, str] | None = None
    metadata: dict[str, str] | None = None
    checksum_algorithm: str | None = None
    checksum: str | None = None
    checksum_type: str | None = None


@dataclass(frozen=True)
class Listing:
    """One page of a key listing."""

    objects: list[ObjectInfo]
    prefixes: list[str]
    truncated: bool
    last_key: str | None  # the greatest key or prefix on this page: where the next page starts


@dataclass(frozen=True)
class Conditions:
    """The conditional headers of a request; empty strings mean absent."""

    if_match: str = ""
    if_none_match: str = ""
    if_modified_since: str = ""
    if_unmodified_since: str = ""


def validate_bucket_name(name: str) -> None:
    """S3's naming rules; botocore lets invalid names through, so the server checks."""
    if (not _BUCKET.match(name) or ".." in name or ".-" in name or "-." in name
            or name.startswith("xn--") or name.endswith("-s3alias") or _is_ip(name)):
        raise InvalidBucketName(BucketName=name)


def validate_key(key: str) -> None:
    if not key:
        raise InvalidArgument("Object key must not be empty.")
    if len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        raise KeyTooLongError(Size=str(len(key.encode("utf-8", "surrogatepass"))),
                              MaxSizeAllowed=str(MAX_KEY_BYTES))


def etag_matches(header: str, etag: str) -> bool:
    """An If-Match / If-None-Match list against an ETag; quotes optional, `*` matches any."""
    wanted = etag.strip('"')
    for candidate in header.split(","):
        candidate = candidate.strip()
        if candidate.startswith("W/"):
            candidate = candidate[2:]
        if candidate == "*" or candidate.strip('"') == wanted:
            return True
    return False


def check_read(conditions: Conditions, obj: ObjectInfo) -> None:
    """GET/HEAD preconditions in RFC 7232 order, as S3 evaluates them."""
    modified = int(obj.modified)
    if conditions.if_match:
        if not etag_matches(conditions.if_match, obj.etag):
            raise PreconditionFailed(Condition="If-Match")
    elif conditions.if_unmodified_since:
        since = _http_date(conditions.if_unmodified_since)
        if since is not None and modified > since:
            raise PreconditionFailed(Condition="If-Unmodified-Since")
    if conditions.if_none_match:
        if etag_matches(conditions.if_none_match, obj.etag):
            raise NotModified(headers={"ETag": obj.etag})
    elif conditions.if_modified_since:
        since = _http_date(conditions.if_modified_since)
        if since is not None and modified <= since:
            raise NotModified(headers={"ETag": obj.etag})


def check_copy_source(conditions: Conditions, source: ObjectInfo) -> None:
    """A copy's x-amz-copy-source-if-* preconditions: as on a read, but a copy that would read
    as "not modified" fails its precondition (412), as S3 answers it."""
    try:
        check_read(conditions, source)
    except NotModified:
        failed = "If-None-Match" if conditions.if_none_match else "If-Modified-Since"
        raise PreconditionFailed(Condition=f"x-amz-copy-source-{failed}") from None


def check_write(conditions: Conditions, existing: ObjectInfo | None) -> None:
    """PUT / CompleteMultipartUpload / DELETE preconditions, checked inside the write."""
    if conditions.if_none_match:
        if conditions.if_none_match.strip() != "*":
            raise InvalidArgument("If-None-Match only accepts '*' on writes.",
                                  ArgumentName="If-None-Match")
        if existing is not None:
            raise PreconditionFailed(Condition="If-None-Match")
    if conditions.if_match:
        if existing is None:
            raise NoSuchKey()
        if not etag_matches(conditions.if_match, existing.etag):
            raise PreconditionFailed(Condition="If-Match")


def _http_date(value: str) -> int | None:
    try:
        return int(parsedate_to_datetime(value).timestamp())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _is_ip(name: str) -> bool:
    try:
        ipaddress.IPv4Address(name)
    except ValueError:
        return False
    return True
