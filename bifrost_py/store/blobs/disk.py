"""Object bytes on disk, under the data directory.

A body is streamed into `tmp/` while it is hashed; only a complete, verified blob is renamed into
`blobs/` (atomic on POSIX), and only then does a database row point at it. A cut-off upload leaves
at most a temp file, which the next start-up removes, and never touches the previous object.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import time
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import BinaryIO

from bifrost_py.ports.files import Blob
from bifrost_py.store.blobs.hashing import BodyDigests
from bifrost_py.store.blobs.protocol import (
    GRACE_SECONDS,
    INLINE_MAX,
    READ_CHUNK,
    Referenced,
    Segment,
)
from bifrost_py.store.blobs.segments import spans, spooled, total

log = logging.getLogger("bifrost_py.store")
# On a shared store, another server may have renamed a blob into place and not yet committed the
# row naming it: only blobs older than this are that server's leftovers.
SHARED_SWEEP_AGE = 24 * 3600.0


class DiskBlobs:
    def __init__(self, root: Path, fsync: bool = False) -> None:
        self.dir = root / "blobs"
        self.tmp = root / "tmp"
        self.fsync = fsync
        self._pending: set[str] = set()
        self._subdirs: set[str] = set()

    async def open(self, referenced: Referenced, *, shared: bool) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.tmp.mkdir(parents=True, exist_ok=True)
        if not shared:
            for leftover in self.tmp.iterdir():
                leftover.unlink(missing_ok=True)
        self._subdirs = {p.name for p in self.dir.iterdir()}
        swept = self.sweep(await referenced(), SHARED_SWEEP_AGE if shared else 0.0)
        if swept:
            log.info("removed %d unreferenced blobs left by an earlier crash", swept)

    async def close(self) -> None:
        self.flush()

    def path(self, blob_id: str) -> Path:
        return self.dir / blob_id[:2] / blob_id

    async def write(self, chunks: AsyncIterable[bytes], *, max_size: int,
                    checksum_algorithm: str | None = None, inline: bool = True) -> Blob:
        """Stream `chunks` into a blob; the caller publishes or discards the result.

        A body of at most INLINE_MAX bytes stays in memory and is stored in its database row:
        creating a file per small object costs more than everything else a PUT does.
        """
        digests = BodyDigests(max_size, checksum_algorithm)
        buffer = bytearray()
        file: BinaryIO | None = None
        blob_id = uuid.uuid4().hex
        tmp_path = self.tmp / blob_id
        try:
            async for chunk in chunks:
                digests.add(chunk)
                if file is None and (not inline or digests.size > INLINE_MAX):
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
        if file is None:
            return digests.blob(blob_id, data=bytes(buffer))
        return digests.blob(blob_id, tmp_path=tmp_path)

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
        for blob_id, first, last in spans(segments, start, end):
            with open(self.path(blob_id), "rb") as f:
                f.seek(first)
                remaining = last - first + 1
                while remaining:
                    chunk = f.read(min(READ_CHUNK, remaining))
                    if not chunk:
                        raise OSError(f"blob {blob_id} is shorter than recorded")
                    remaining -= len(chunk)
                    yield chunk

    @asynccontextmanager
    async def as_file(self, segments: Sequence[Segment]) -> AsyncIterator[Path]:
        if len(segments) == 1:
            yield self.path(segments[0][0])
            return
        async with spooled(self.read(segments, 0, total(segments) - 1), self.tmp) as path:
            yield path

    async def md5(self, segments: Sequence[Segment]) -> str:
        paths = [self.path(blob_id) for blob_id, _ in segments]

        def digest() -> str:
            md5 = hashlib.md5(usedforsecurity=False)
            for path in paths:
                with open(path, "rb") as f:
                    while chunk := f.read(READ_CHUNK):
                        md5.update(chunk)
            return md5.hexdigest()

        return await asyncio.to_thread(digest)

    def sweep(self, referenced: set[str], older_than: float = 0.0) -> int:
        """Remove blobs no row points at (left by a crash between rename and commit) that are
        more than `older_than` seconds old."""
        removed = 0
        cutoff = time.time() - older_than
        for sub in self.dir.iterdir():
            for path in sub.iterdir():
                if path.name not in referenced and (
                        not older_than or path.stat().st_mtime < cutoff):
                    path.unlink(missing_ok=True)
                    removed += 1
        return removed
