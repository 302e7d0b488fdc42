"""What the store asks of wherever object bytes live: files under the data directory
(`disk.BlobStore`) or an S3 bucket (`s3.S3Blobs`).

A blob is named by a random id, never by anything from a request. Bodies of at most INLINE_MAX
bytes stay in memory and go into their database row instead. A written blob is published before
the row that points at it commits; what no row points at is swept (`open`), and what a replaced
object held is deleted after a grace period, so a read that began before the replace can finish.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Protocol

from bifrost_py.ports.files import Blob

INLINE_MAX = 64 * 1024
READ_CHUNK = 256 * 1024
GRACE_SECONDS = 30.0
Segment = tuple[str, int]  # (blob id, size): an object is one or more blobs in order
Referenced = Callable[[], Awaitable[set[str]]]


class BlobStore(Protocol):
    async def open(self, referenced: Referenced, *, shared: bool) -> None:
        """Start; sweep the blobs `referenced()` does not name. A `shared` store's other users
        may be writing blobs their rows do not name yet, so only old ones are swept."""

    async def close(self) -> None:
        """Delete what waits out its grace period; finish deletions under way."""

    async def write(self, chunks: AsyncIterable[bytes], *, max_size: int,
                    checksum_algorithm: str | None = None, inline: bool = True) -> Blob: ...

    def publish(self, blob: Blob) -> None:
        """Make a written blob readable under its id (before the row naming it commits)."""

    def discard(self, blob: Blob) -> None: ...

    def delete(self, blob_ids: Iterable[str]) -> None: ...

    def delete_later(self, blob_ids: Sequence[str]) -> None: ...

    def read(self, segments: Sequence[Segment], start: int, end: int) -> AsyncIterator[bytes]:
        """Bytes start..end (inclusive) of the concatenated segments, a chunk at a time."""

    def as_file(self, segments: Sequence[Segment]) -> AbstractAsyncContextManager[Path]:
        """The concatenated segments as a local file, for a client library that uploads one."""

    async def md5(self, segments: Sequence[Segment]) -> str: ...
