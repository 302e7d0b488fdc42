"""What the S3 mount and the job engines ask of the object store, and of a provider's own files.

`store/` implements these (SQLite or PostgreSQL, with files on disk or in S3); the S3 mount and
the engines see only these Protocols, so another store can stand behind them without either
changing.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from bifrost_py.domain.multipart import CompletedPart
from bifrost_py.domain.objects import (
    Bucket,
    Conditions,
    Listing,
    NewObject,
    ObjectInfo,
    Part,
    Upload,
)

NO_CONDITIONS = Conditions()


@dataclass
class Blob:
    """A body written but not yet published as (part of) an object."""

    id: str
    size: int
    md5: str
    checksum_algorithm: str | None
    checksum: str | None  # base64 of checksum_algorithm's digest
    tmp_path: Path | None  # where a blob on disk waits to be published; None for others
    data: bytes | None = None  # the body, when small enough to live in its database row


class Blobs(Protocol):
    async def write(self, chunks: AsyncIterable[bytes], *, max_size: int,
                    checksum_algorithm: str | None = None, inline: bool = True) -> Blob:
        """Stream `chunks` into a blob (EntityTooLarge past `max_size`); the caller publishes
        it through Objects.put or Uploads.put_part, or discards it."""

    def discard(self, blob: Blob) -> None: ...


class Objects(Protocol):
    """Buckets and objects. Bucket names are the stored ones, qualified by tenant."""

    async def create_bucket(self, name: str) -> None: ...

    async def head_bucket(self, name: str) -> Bucket: ...

    async def list_buckets(self, tenant: str) -> list[Bucket]: ...

    async def delete_bucket(self, name: str) -> None: ...

    async def bucket_for_write(self, name: str) -> None:
        """NoSuchBucket unless the bucket exists (or may be created on first write)."""

    async def get(self, bucket: str, key: str) -> ObjectInfo: ...

    async def resolve(self, bucket: str, key: str, if_match: str) -> ObjectInfo:
        """The object a request names; where ETags are provider file ids, an If-Match id
        names its file whatever bucket and key the request gives."""

    async def find_by_etag(self, etag: str, tenant: str) -> ObjectInfo | None: ...

    def read(self, obj: ObjectInfo, start: int, end: int) -> AsyncIterator[bytes]:
        """Bytes start..end (inclusive) of the object, a chunk at a time."""

    async def put(self, bucket: str, key: str, blobs: list[Blob], etag: str, new: NewObject,
                  conditions: Conditions = NO_CONDITIONS) -> ObjectInfo:
        """Publish written blobs as the object's content, atomically."""

    async def write(self, bucket: str, key: str, chunks: AsyncIterator[bytes],
                    content_type: str = "binary/octet-stream") -> ObjectInfo:
        """Store a stream the server produced itself (a job's output)."""

    async def delete(self, bucket: str, key: str, conditions: Conditions = NO_CONDITIONS,
                     ) -> None: ...

    async def delete_many(self, bucket: str, keys: list[str]) -> None: ...

    async def list_keys(self, bucket: str, prefix: str = "", delimiter: str = "",
                        after: str = "", max_keys: int = 1000) -> Listing: ...


class Uploads(Protocol):
    """Multipart uploads; completing one publishes its parts as the object."""

    async def create(self, bucket: str, key: str, new: NewObject) -> Upload: ...

    async def get(self, bucket: str, key: str, upload_id: str) -> Upload: ...

    async def put_part(self, upload: Upload, part_number: int, blob: Blob) -> Part: ...

    async def parts(self, upload_id: str, after: int = 0, limit: int = 10_000) -> list[Part]: ...

    async def list_uploads(self, bucket: str, prefix: str, key_marker: str,
                           upload_id_marker: str, limit: int) -> list[Upload]: ...

    async def abort(self, upload: Upload) -> None: ...

    async def complete(self, upload: Upload, requested: list[CompletedPart],
                       conditions: Conditions, full_checksum: str | None = None,
                       max_size: int = 2**63) -> ObjectInfo:
        """Publish the named parts as the object (`full_checksum`: the one the completion
        gave for the whole object, checked)."""

    async def completed(self, bucket: str, key: str, upload_id: str) -> ObjectInfo | None:
        """What an upload completed in the last day made: S3 answers a repeated completion as
        it answered the first."""


class FileMirror(Protocol):
    """A provider's own file storage, kept in step with the objects put through the S3 mount."""

    async def upload(self, name: str, content: bytes | Path, content_type: str) -> str:
        """Upload `content` (bytes, or the file at a path) under `name`; the provider's file id,
        which becomes the object's ETag."""

    async def delete(self, file_id: str) -> None: ...

    async def aclose(self) -> None: ...


@dataclass
class Files:
    """One provider's files as the S3 mount serves them."""

    objects: Objects
    uploads: Uploads
    blobs: Blobs
    max_object_size: int
