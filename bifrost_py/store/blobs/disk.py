"""Object bytes on disk.

A blob is named by a random id, never by anything from a request, so no key can steer a path.
A body is streamed into `tmp/` while it is hashed; only a complete, verified blob is renamed into
`blobs/` (atomic on POSIX), and only then does a database row point at it. A cut-off upload leaves
at most a temp file, which the next start-up removes, and never touches the previous object.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Sequence
from pathlib import Path
from typing import BinaryIO

from bifrost_py.domain.checksums import Checksum
from bifrost_py.errors import EntityTooLarge
from bifrost_py.ports.files import Blob

READ_CHUNK = 256 * 1024
INLINE_MAX = 64 * 1024
GRACE_SECONDS = 30.0
Segment = tuple[str, int]  # (blob id, size): an object is one or more blobs in order


class BlobStore:
    def __init__(self, root: Path, fsync: bool = False) -> None:
        self.dir = root / "blobs"
        self.tmp = root / "tmp"
        self.fsync = fsync
        self._pending: set[str] = set()
        self._subdirs: set[str] = set()

    def open(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.tmp.mkdir(parents=True, exist_ok=True)
        for leftover in self.tmp.iterdir():
            leftover.unlink(missing_ok=True)
        self._subdirs = {p.name for p in self.dir.iterdir()}

    def path(self, blob_id: str) -> Path:
        return self.dir / blob_id[:2] / blob_id

    async def write(self, chunks: AsyncIterable[bytes], *, max_size: int,
                    checksum_algorithm: str | None = None, inline: bool = True) -> Blob:
        """Stream `chunks` into a blob; the caller publishes or discards the result.

        A body of at most INLINE_MAX bytes stays in memory and is stored in its database row:
        creating a file per small object costs more than everything else a PUT does.
        """
        md5 = hashlib.md5(usedforsecurity=False)
        checksum = Checksum(checksum_algorithm) if checksum_algorithm else None
        buffer = bytearray()
        file: BinaryIO | None = None
        blob_id = uuid.uuid4().hex
        tmp_path = self.tmp / blob_id
        size = 0
        try:
            async for chunk in chunks:
                size += len(chunk)
                if size > max_size:
                    raise EntityTooLarge(MaxSizeAllowed=str(max_size))
                md5.update(chunk)
                if checksum:
                    checksum.update(chunk)
                if file is None and (not inline or size > INLINE_MAX):
                    file = open(tmp_path, "wb")  # noqa: SIM115 - closed below
                    file.write(buffer)
                    buffer.clear()
                if file is None:
                    buffer += chunk
                else:
                    file.write(chunk)
            if file is None and not inline:
                file = open(tmp_path, "wb")  # noqa: SIM115 - closed below
            if file is not None:
                await self._close(file)
        except BaseException:
            if file is not None:
                file.close()
                tmp_path.unlink(missing_ok=True)
            raise
        digest = checksum.b64() if checksum else None
        if file is None:
            return Blob(blob_id, size, md5.hexdigest(), checksum_algorithm, digest, None,
                        bytes(buffer))
        return Blob(blob_id, size, md5.hexdigest(), checksum_algorithm, digest, tmp_path)

    async def _close(self, file: BinaryIO) -> None:
        if self.fsync:
            file.flush()
            await asyncio.to_thread(os.fsync, file.fileno())
        file.close()

    def publish(self, blob: Blob) -> None:
        if blob.tmp_path is None:
            return
        sub = blob.id[:2]
        if sub not in self._subdirs:
            (self.dir / sub).mkdir(exist_ok=True)
            self._subdirs.add(sub)
        os.replace(blob.tmp_path, self.dir / sub / blob.id)

    def discard(self, blob: Blob) -> None:
        if blob.tmp_path is not None:
            blob.tmp_path.unlink(missing_ok=True)

    def delete(self, blob_ids: Iterable[str]) -> None:
        for blob_id in blob_ids:
            self.path(blob_id).unlink(missing_ok=True)

    def delete_later(self, blob_ids: Sequence[str]) -> None:
        """Delete replaced blobs after a grace period: a GET that read the old row a moment
        before the replacing commit can still stream them."""
        if blob_ids:
            self._pending.update(blob_ids)
            asyncio.get_running_loop().call_later(GRACE_SECONDS, self._reap, tuple(blob_ids))

    def flush(self) -> None:
        """Delete everything still waiting out its grace period (at shutdown)."""
        self.delete(self._pending)
        self._pending.clear()

    def _reap(self, blob_ids: tuple[str, ...]) -> None:
        self.delete(b for b in blob_ids if b in self._pending)
        self._pending.difference_update(blob_ids)

    async def read(self, segments: Sequence[Segment], start: int, end: int,
                   ) -> AsyncIterator[bytes]:
        """Yield bytes start..end (inclusive) of the concatenated segments, a chunk at a time."""
        offset = 0
        for blob_id, size in segments:
            first, last = max(start, offset), min(end, offset + size - 1)
            if first <= last:
                with open(self.path(blob_id), "rb") as f:
                    f.seek(first - offset)
                    remaining = last - first + 1
                    while remaining:
                        chunk = f.read(min(READ_CHUNK, remaining))
                        if not chunk:
                            raise OSError(f"blob {blob_id} is shorter than recorded")
                        remaining -= len(chunk)
                        yield chunk
            offset += size
            if offset > end:
                return

    def sweep(self, referenced: set[str]) -> int:
        """Remove blobs no row points at (left by a crash between rename and commit)."""
        removed = 0
        for sub in self.dir.iterdir():
            for path in sub.iterdir():
                if path.name not in referenced:
                    path.unlink(missing_ok=True)
                    removed += 1
        return removed
