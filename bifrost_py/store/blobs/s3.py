"""Object bytes in an S3 bucket (AWS, MinIO, any S3), shared by every replica.

A blob is written straight to its final key, `<prefix>blobs/<id>`, while it is hashed: one PUT
when the body fits in a part, else a multipart upload whose next part is read while the last one
is sent, so memory per upload stays at two parts whatever the size. Publishing is then nothing;
a blob whose row never committed (a crash, a refused precondition) is left for the sweeper.

Several replicas sweep the same prefix, and each may have blobs written but not yet named by a
committed row, so only blobs older than SWEEP_AGE that no row names are deleted; the set of named
blobs is read after the listing, in one snapshot, so a blob is never judged by a stale set.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import random
import time
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Coroutine, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from bifrost_py.errors import AwsError
from bifrost_py.jobs.periodic import Periodic
from bifrost_py.ports.files import Blob
from bifrost_py.store.blobs.hashing import BodyDigests
from bifrost_py.store.blobs.protocol import GRACE_SECONDS, INLINE_MAX, Referenced, Segment
from bifrost_py.store.blobs.s3_client import S3Client
from bifrost_py.store.blobs.segments import spans, spooled, total

log = logging.getLogger("bifrost_py.store")
PART_SIZE = 8 * 1024 * 1024
SWEEP_AGE = 24 * 3600.0
SWEEP_INTERVAL = 3600.0
DELETE_BATCH = 1000  # the most one DeleteObjects takes


def part_size(number: int) -> int:
    """The size part `number` (from 0) is cut at: 8 MiB, growing by 8 MiB every 1000 parts, so
    S3's 10,000 parts reach 430 GiB while small uploads buffer little."""
    return PART_SIZE * (1 + number // 1000)


class S3Blobs:
    def __init__(self, client: S3Client, tmp: Path) -> None:
        self.client = client
        self.tmp = tmp
        self.prefix = client.where.prefix + "blobs/"
        self._tasks: set[asyncio.Task[Any]] = set()
        self._pending: set[str] = set()
        self._referenced: Referenced | None = None
        self._sweeper = _Sweeper(self)

    def key(self, blob_id: str) -> str:
        return self.prefix + blob_id

    async def open(self, referenced: Referenced, *, shared: bool) -> None:
        self.tmp.mkdir(parents=True, exist_ok=True)
        try:
            await self.client.head_bucket()
        except AwsError:
            where = self.client.where
            raise RuntimeError(f"store.blobs: the bucket {where.bucket} at "
                               f"{where.endpoint_url or 'AWS'} cannot be reached or does not "
                               f"exist (the log above says why)") from None
        self._referenced = referenced
        self._sweeper.start()

    async def close(self) -> None:
        await self._sweeper.stop()
        self.delete(self._pending)
        self._pending.clear()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.client.aclose()

    async def write(self, chunks: AsyncIterable[bytes], *, max_size: int,
                    checksum_algorithm: str | None = None, inline: bool = True) -> Blob:
        digests = BodyDigests(max_size, checksum_algorithm)
        blob_id = uuid.uuid4().hex
        upload = _Multipart(self.client, self.key(blob_id))
        pieces: list[bytes] = []
        held = 0
        try:
            async for chunk in chunks:
                digests.add(chunk)
                pieces.append(chunk)
                held += len(chunk)
                if held > part_size(upload.parts):  # a body of exactly one part is one PUT
                    await upload.send(pieces)
                    pieces, held = [], 0
            if inline and not upload.parts and digests.size <= INLINE_MAX:
                return digests.blob(blob_id, data=b"".join(pieces))
            if upload.parts:
                await upload.finish(pieces)
            else:
                await self.client.put(self.key(blob_id), pieces, digests.md5())
        except BaseException:
            self._spawn(upload.abort())
            raise
        return digests.blob(blob_id)

    def publish(self, blob: Blob) -> None:
        """Nothing to do: a blob is written at its final key."""

    def discard(self, blob: Blob) -> None:
        if blob.data is None:
            self.delete([blob.id])

    def delete(self, blob_ids: Iterable[str]) -> None:
        keys = [self.key(blob_id) for blob_id in blob_ids]
        for start in range(0, len(keys), DELETE_BATCH):
            self._spawn(self._delete(keys[start:start + DELETE_BATCH]))

    def delete_later(self, blob_ids: Sequence[str]) -> None:
        if blob_ids:
            self._pending.update(blob_ids)
            asyncio.get_running_loop().call_later(GRACE_SECONDS, self._reap, tuple(blob_ids))

    def _reap(self, blob_ids: tuple[str, ...]) -> None:
        self.delete([b for b in blob_ids if b in self._pending])
        self._pending.difference_update(blob_ids)

    async def read(self, segments: Sequence[Segment], start: int, end: int,
                   ) -> AsyncIterator[bytes]:
        for blob_id, first, last in spans(segments, start, end):
            async for chunk in self.client.get(self.key(blob_id), first, last):
                yield chunk

    @asynccontextmanager
    async def as_file(self, segments: Sequence[Segment]) -> AsyncIterator[Path]:
        async with spooled(self.read(segments, 0, total(segments) - 1), self.tmp) as path:
            yield path

    async def md5(self, segments: Sequence[Segment]) -> str:
        md5 = hashlib.md5(usedforsecurity=False)
        async for chunk in self.read(segments, 0, total(segments) - 1):
            md5.update(chunk)
        return md5.hexdigest()

    async def sweep(self) -> tuple[int, int]:
        """Delete old blobs no row names and abort old multipart uploads: (blobs, uploads)."""
        assert self._referenced is not None
        cutoff = time.time() - SWEEP_AGE
        old = [item.key async for item in self.client.listing(self.prefix)
               if item.modified < cutoff]
        named = {self.key(blob_id) for blob_id in await self._referenced()} if old else set()
        unnamed = [key for key in old if key not in named]
        for start in range(0, len(unnamed), DELETE_BATCH):
            await self.client.delete(unnamed[start:start + DELETE_BATCH])
        aborted = 0
        async for upload in self.client.pending_uploads(self.prefix):
            if upload.initiated < cutoff:
                await self.client.abort_upload(upload.key, upload.upload_id)
                aborted += 1
        return len(unnamed), aborted

    async def _delete(self, keys: list[str]) -> None:
        try:
            await self.client.delete(keys)
        except AwsError:
            log.warning("%d blobs could not be deleted now; the sweeper will", len(keys))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


class _Sweeper(Periodic):
    name = "bifrost-blob-sweeper"
    failing = "sweeping the blob bucket failed"

    def __init__(self, blobs: S3Blobs) -> None:
        # Replicas started together do not sweep at the same moment.
        super().__init__(SWEEP_INTERVAL, log, first_delay=random.uniform(0, 60))
        self.blobs = blobs

    async def tick(self) -> None:
        blobs, uploads = await self.blobs.sweep()
        if blobs or uploads:
            log.info("swept %d unreferenced blobs and %d abandoned uploads from the blob "
                     "bucket", blobs, uploads)


class _Multipart:
    """One blob's multipart upload, started with its first part; the next part is read while
    the last is sent."""

    def __init__(self, client: S3Client, key: str) -> None:
        self.client = client
        self.key = key
        self.parts = 0
        self._upload_id: str | None = None
        self._etags: list[asyncio.Task[str]] = []

    async def send(self, body: list[bytes]) -> None:
        if self._upload_id is None:
            self._upload_id = await self.client.start_upload(self.key)
        if self._etags:
            await self._etags[-1]  # at most one part in flight: memory stays at two parts
        self.parts += 1
        self._etags.append(asyncio.create_task(
            self.client.upload_part(self.key, self._upload_id, self.parts, body)))

    async def finish(self, last: list[bytes]) -> None:
        if last:
            await self.send(last)
        assert self._upload_id is not None
        etags = [await etag for etag in self._etags]
        await self.client.complete_upload(self.key, self._upload_id, etags)
        self._upload_id = None

    async def abort(self) -> None:
        for etag in self._etags:
            etag.cancel()
        await asyncio.gather(*self._etags, return_exceptions=True)
        if self._upload_id is not None:
            with contextlib.suppress(AwsError):
                await self.client.abort_upload(self.key, self._upload_id)
