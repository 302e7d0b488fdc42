"""The blob store contract, on both blob stores: files under the data directory and an S3 bucket
(moto's server, spoken to over HTTP as real S3 would be)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from bifrost_py.aws.sigv4 import ServerCredentials
from bifrost_py.domain.checksums import Checksum
from bifrost_py.errors import EntityTooLarge, ServiceUnavailable
from bifrost_py.store.blobs import s3, s3_client
from bifrost_py.store.blobs.disk import DiskBlobs
from bifrost_py.store.blobs.protocol import INLINE_MAX, BlobStore
from bifrost_py.store.blobs.s3_client import BucketLocation, S3Client
from tests.moto_s3 import BUCKET, blob_endpoint, bucket_client, new_prefix, stored_keys

MiB = 1024 * 1024


class Kind:
    """One blob store under test, and a way to see what it holds."""

    def __init__(self, name: str, tmp_path: Path, endpoint: str = "") -> None:
        self.name = name
        self.root = tmp_path
        self.prefix = new_prefix()
        self.endpoint = endpoint

    def make(self) -> BlobStore:
        if self.name == "disk":
            return DiskBlobs(self.root)
        return s3.S3Blobs(S3Client(location(self.prefix, self.endpoint or blob_endpoint())),
                          self.root / "tmp")

    def stored(self) -> list[str]:
        if self.name == "disk":
            return sorted(p.name for p in (self.root / "blobs").rglob("*") if p.is_file())
        return sorted(key.rsplit("/", 1)[1] for key in stored_keys(self.prefix))

    def pending_uploads(self) -> list[Any]:
        if self.name == "disk":
            return []
        answer = bucket_client().list_multipart_uploads(Bucket=BUCKET, Prefix=self.prefix)
        return list(answer.get("Uploads", []))


def location(prefix: str, endpoint: str) -> BucketLocation:
    credentials = ServerCredentials("testing", "testing", owner="blobs", where="test")
    return BucketLocation(BUCKET, prefix, endpoint, "us-east-1", credentials)


@pytest.fixture(params=["disk", "s3"])
def kind(request: pytest.FixtureRequest, tmp_path: Path) -> Kind:
    return Kind(request.param, tmp_path)


Test = Callable[[BlobStore], Awaitable[None]]


def run(kind: Kind, test: Test, referenced: set[str] | None = None) -> None:
    async def main() -> None:
        async def named() -> set[str]:
            return referenced or set()

        blobs = kind.make()
        await blobs.open(named, shared=True)
        try:
            await test(blobs)
        finally:
            await blobs.close()

    asyncio.run(main())


async def chunks(data: bytes, size: int = 256 * 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start:start + size]


async def read_all(blobs: BlobStore, segments: list[tuple[str, int]], start: int,
                   end: int) -> bytes:
    return b"".join([chunk async for chunk in blobs.read(segments, start, end)])


def test_small_bodies_stay_inline_and_large_ones_are_stored(kind: Kind) -> None:
    small, large = os.urandom(100), os.urandom(INLINE_MAX + 1)

    async def test(blobs: BlobStore) -> None:
        tiny = await blobs.write(chunks(small), max_size=MiB)
        assert tiny.data == small and kind.stored() == []
        big = await blobs.write(chunks(large), max_size=MiB)
        blobs.publish(big)
        assert big.data is None and kind.stored() == [big.id]
        assert big.md5 == hashlib.md5(large, usedforsecurity=False).hexdigest()
        assert await read_all(blobs, [(big.id, big.size)], 0, big.size - 1) == large

    run(kind, test)


def test_ranges_read_across_segments(kind: Kind) -> None:
    parts = [os.urandom(70_000), os.urandom(1), os.urandom(90_000)]
    whole = b"".join(parts)

    async def test(blobs: BlobStore) -> None:
        written = [await blobs.write(chunks(p), max_size=MiB, inline=False) for p in parts]
        for blob in written:
            blobs.publish(blob)
        segments = [(b.id, b.size) for b in written]
        for start, end in [(0, len(whole) - 1), (69_999, 70_001), (5, 5), (70_000, 70_000),
                           (100_000, len(whole) - 1)]:
            assert await read_all(blobs, segments, start, end) == whole[start:end + 1]
        assert await blobs.md5(segments) == hashlib.md5(whole, usedforsecurity=False).hexdigest()
        async with blobs.as_file(segments) as path:
            assert path.read_bytes() == whole

    run(kind, test)


def test_a_body_of_many_parts_streams_through_with_its_checksum(kind: Kind) -> None:
    data = os.urandom(2 * s3.PART_SIZE + 12345)
    crc = Checksum("CRC32")
    crc.update(data)

    async def test(blobs: BlobStore) -> None:
        blob = await blobs.write(chunks(data, MiB), max_size=len(data),
                                 checksum_algorithm="CRC32")
        blobs.publish(blob)
        assert blob.size == len(data) and blob.checksum == crc.b64()
        assert zlib.crc32(await read_all(blobs, [(blob.id, blob.size)], 0, blob.size - 1)) \
            == zlib.crc32(data)
        assert kind.pending_uploads() == []

    run(kind, test)


def test_a_body_over_the_limit_or_cut_off_leaves_nothing(kind: Kind) -> None:
    data = os.urandom(2 * s3.PART_SIZE + 1)

    async def cut_off() -> AsyncIterator[bytes]:
        async for chunk in chunks(data[:-1], MiB):
            yield chunk
        raise ConnectionResetError("the client went away")

    async def test(blobs: BlobStore) -> None:
        with pytest.raises(EntityTooLarge):
            await blobs.write(chunks(data, MiB), max_size=len(data) - 1)
        with pytest.raises(ConnectionResetError):
            await blobs.write(cut_off(), max_size=len(data))

    run(kind, test)
    assert kind.stored() == [] and kind.pending_uploads() == []


def test_discarded_deleted_and_retired_blobs_are_gone_after_close(kind: Kind) -> None:
    kept: list[str] = []

    async def test(blobs: BlobStore) -> None:
        written = [await blobs.write(chunks(os.urandom(10)), max_size=100, inline=False)
                   for _ in range(4)]
        blobs.discard(written[0])  # refused before publishing: a precondition, a bad checksum
        for blob in written[1:]:
            blobs.publish(blob)
        blobs.delete([written[1].id])
        blobs.delete_later([written[2].id])
        kept.append(written[3].id)

    run(kind, test)
    assert kind.stored() == kept


def test_the_s3_sweep_spares_named_and_young_blobs(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    kind = Kind("s3", tmp_path)
    named: set[str] = set()

    async def test(blobs: BlobStore) -> None:
        assert isinstance(blobs, s3.S3Blobs)
        written = [await blobs.write(chunks(os.urandom(10)), max_size=100, inline=False)
                   for _ in range(3)]
        named.add(written[0].id)
        assert await blobs.sweep() == (0, 0)  # all of it younger than a day
        # Started after the first pass: moto dates every upload in 2010, so it is always old.
        await blobs.client.start_upload(blobs.key("abandoned"))
        monkeypatch.setattr(s3, "SWEEP_AGE", -60.0)  # now every blob is old too
        assert await blobs.sweep() == (2, 1)

    run(kind, test, named)
    assert kind.stored() == sorted(named) and kind.pending_uploads() == []


def test_an_unreachable_bucket_is_service_unavailable(tmp_path: Path) -> None:
    kind = Kind("s3", tmp_path, endpoint="http://127.0.0.1:9")

    async def test() -> None:
        blobs = kind.make()
        with pytest.raises(ServiceUnavailable):
            await blobs.write(chunks(os.urandom(INLINE_MAX + 1)), max_size=MiB)
        with pytest.raises(RuntimeError, match=r"store\.blobs: the bucket bifrost-blobs at http"):
            await blobs.open(lambda: asyncio.sleep(0, set()), shared=True)
        await blobs.close()

    asyncio.run(test())



class Flaky(httpx.AsyncBaseTransport):
    """The way to the bucket, answering the first `failures` requests of `method` with `status`
    (S3's 500 InternalError and 503 SlowDown ask a client to try again)."""

    def __init__(self, method: str, failures: int, status: int) -> None:
        self.method, self.failures, self.status = method, failures, status
        self.real = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == self.method and self.failures:
            self.failures -= 1
            await request.aread()
            return httpx.Response(self.status, content=b"<Error><Code>SlowDown</Code></Error>")
        return await self.real.handle_async_request(request)


def test_the_bucket_is_asked_again_when_it_says_to_retry(tmp_path: Path) -> None:
    data = os.urandom(s3.PART_SIZE + 5)
    puts, gets = Flaky("PUT", 3, 503), Flaky("GET", 3, 500)

    async def test() -> None:
        for flaky in (puts, gets):
            blobs = s3.S3Blobs(S3Client(location(new_prefix(), blob_endpoint()), flaky),
                               tmp_path)
            await blobs.open(lambda: asyncio.sleep(0, set()), shared=True)
            blob = await blobs.write(chunks(data, MiB), max_size=len(data))
            assert await read_all(blobs, [(blob.id, blob.size)], 0, blob.size - 1) == data
            await blobs.close()
        assert puts.failures == gets.failures == 0
        blobs = s3.S3Blobs(S3Client(location(new_prefix(), blob_endpoint()),
                                    Flaky("PUT", s3_client.RETRIES + 1, 500)), tmp_path)
        with pytest.raises(ServiceUnavailable):
            await blobs.write(chunks(data[:INLINE_MAX + 1]), max_size=len(data))
        await blobs.close()

    asyncio.run(test())


class Watching(httpx.AsyncBaseTransport):
    """The way to the bucket, noting for each PUT whether its Content-MD5 is its body's."""

    def __init__(self) -> None:
        self.real = httpx.AsyncHTTPTransport()
        self.puts: list[bool] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "PUT":
            md5 = base64.b64encode(hashlib.md5(await request.aread()).digest()).decode()
            self.puts.append(request.headers.get("content-md5") == md5)
        return await self.real.handle_async_request(request)


def test_every_body_sent_carries_its_md5_for_the_bucket_to_check(tmp_path: Path) -> None:
    watching = Watching()

    async def test() -> None:
        blobs = s3.S3Blobs(S3Client(location(new_prefix(), blob_endpoint()), watching), tmp_path)
        for size in (INLINE_MAX + 1, 2 * s3.PART_SIZE + 1):
            blob = await blobs.write(chunks(os.urandom(size), MiB), max_size=size)
            assert blob.size == size
        await blobs.close()

    asyncio.run(test())
    assert watching.puts == [True] * 3  # one PUT, then two parts of 9 MiB and 7 MiB
