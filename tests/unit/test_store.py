"""The store without HTTP, on SQLite and on PostgreSQL: objects, listings, multipart, crash
leftovers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from bifrost_py.domain.multipart import CompletedPart, new_upload_id
from bifrost_py.domain.objects import Conditions, NewObject
from bifrost_py.errors import (
    EntityTooLarge,
    EntityTooSmall,
    InvalidPart,
    InvalidPartOrder,
    NoSuchBucket,
    NoSuchKey,
    PreconditionFailed,
)
from bifrost_py.ports.files import NO_CONDITIONS
from bifrost_py.store.blobs.disk import DiskBlobs
from bifrost_py.store.blobs.protocol import INLINE_MAX
from bifrost_py.store.sql.database import Database
from bifrost_py.store.sql.multipart import Uploads
from bifrost_py.store.sql.objects import ObjectStore

Test = Callable[[ObjectStore], Awaitable[None]]
MakeDatabase = Callable[[], Database]
Run = Callable[..., None]


@pytest.fixture
def run(make_database: MakeDatabase, tmp_path: Path) -> Run:
    """run(test, auto_create=True): `test` on an ObjectStore over the test's database."""
    return lambda test, auto_create=True: asyncio.run(_main(make_database, tmp_path, test,
                                                            auto_create))


async def _main(make_database: MakeDatabase, tmp_path: Path, test: Test,
                auto_create: bool) -> None:
    db = make_database()
    blobs = DiskBlobs(tmp_path)
    await db.open()
    await blobs.open(nothing_referenced, shared=False)
    try:
        await test(ObjectStore(db, blobs, auto_create))
    finally:
        blobs.flush()
        await db.close()


async def nothing_referenced() -> set[str]:
    return set()


async def body(*chunks: bytes) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


async def put(store: ObjectStore, key: str, data: bytes, bucket: str = "bkt",
              conditions: Conditions = NO_CONDITIONS, inline: bool = False) -> str:
    await store.bucket_for_write(bucket)
    blob = await store.blobs.write(body(data), max_size=2**30, inline=inline)
    obj = await store.put(bucket, key, [blob], f'"{blob.md5}"', NewObject(), conditions)
    return obj.etag


async def read(store: ObjectStore, key: str, bucket: str = "bkt") -> bytes:
    obj = await store.get(bucket, key)
    return b"".join([c async for c in store.read(obj, 0, obj.size - 1)])


def blob_files(root: Path) -> list[Path]:
    return [p for p in (root / "blobs").rglob("*") if p.is_file()]


def test_overwrite_keeps_one_blob_once_old_readers_are_done(run: Run, tmp_path: Path) -> None:
    async def test(store: ObjectStore) -> None:
        await put(store, "k", b"one")
        await put(store, "k", b"two")
        assert await read(store, "k") == b"two"
        store.blobs.flush()
        assert len(blob_files(tmp_path)) == 1

    run(test)


def test_a_body_over_the_limit_leaves_no_file_and_the_old_object(run: Run, tmp_path: Path) -> None:
    async def test(store: ObjectStore) -> None:
        await put(store, "k", b"old")
        with pytest.raises(EntityTooLarge):
            await store.blobs.write(body(b"x" * 10, b"y" * 10), max_size=15)
        assert await read(store, "k") == b"old"
        assert list((tmp_path / "tmp").iterdir()) == []

    run(test)


def test_a_failed_precondition_unpublishes_the_new_blob(run: Run, tmp_path: Path) -> None:
    async def test(store: ObjectStore) -> None:
        await put(store, "k", b"old")
        with pytest.raises(PreconditionFailed):
            await put(store, "k", b"new", conditions=Conditions(if_none_match="*"))
        assert await read(store, "k") == b"old"
        assert len(blob_files(tmp_path)) == 1

    run(test)


def test_strict_buckets_refuse_writes_into_missing_ones(run: Run) -> None:
    async def test(store: ObjectStore) -> None:
        with pytest.raises(NoSuchBucket):
            await store.bucket_for_write("missing")

    run(test, auto_create=False)


def test_listing_pages_through_common_prefixes_without_loss_or_repeats(run: Run) -> None:
    keys = sorted([f"d{i:02d}/f{j}" for i in range(12) for j in range(3)]
                  + [f"top{i}" for i in range(5)] + ["d05", "é/x", "z"])

    async def test(store: ObjectStore) -> None:
        for key in keys:
            await put(store, key, b"x")
        seen: list[str] = []
        after = ""
        while True:
            page = await store.list_keys("bkt", delimiter="/", after=after, max_keys=4)
            seen += [o.key for o in page.objects] + page.prefixes
            if not page.truncated:
                break
            after = page.last_key or ""
        expected = {k.split("/")[0] + "/" if "/" in k else k for k in keys}
        assert sorted(seen) == sorted(expected) and len(seen) == len(expected)

    run(test)


def test_listing_with_a_prefix_stops_at_its_end(run: Run) -> None:
    async def test(store: ObjectStore) -> None:
        for key in ["a/1", "a/2", "ab", "b"]:
            await put(store, key, b"x")
        page = await store.list_keys("bkt", prefix="a/")
        assert [o.key for o in page.objects] == ["a/1", "a/2"] and not page.truncated

    run(test)


def test_multipart_completion_rules(run: Run, tmp_path: Path) -> None:
    async def test(store: ObjectStore) -> None:
        uploads = Uploads(store)
        await store.bucket_for_write("bkt")
        upload = await uploads.create("bkt", "k", NewObject())
        small = await uploads.put_part(upload, 1, await store.blobs.write(
            body(b"a"), max_size=2**30, inline=False))
        last = await uploads.put_part(upload, 2, await store.blobs.write(
            body(b"b"), max_size=2**30, inline=False))
        with pytest.raises(EntityTooSmall):
            await uploads.complete(upload, [CompletedPart(1, small.etag),
                                            CompletedPart(2, last.etag)], Conditions())
        with pytest.raises(InvalidPartOrder):
            await uploads.complete(upload, [CompletedPart(2, last.etag),
                                            CompletedPart(1, small.etag)], Conditions())
        with pytest.raises(InvalidPart):
            await uploads.complete(upload, [CompletedPart(1, '"0"')], Conditions())
        obj = await uploads.complete(upload, [CompletedPart(2, last.etag)], Conditions())
        assert obj.etag.endswith('-1"') and await read(store, "k") == b"b"
        store.blobs.flush()
        assert len(blob_files(tmp_path)) == 1

    run(test)


def test_sweep_removes_blobs_no_row_points_at(run: Run) -> None:
    async def test(store: ObjectStore) -> None:
        await put(store, "k", b"kept")
        orphan = await store.blobs.write(body(b"orphan"), max_size=100, inline=False)
        store.blobs.publish(orphan)
        kept = (await store.get("bkt", "k")).blobs[0][0]
        assert store.blobs.sweep({kept}) == 1
        assert await read(store, "k") == b"kept"
        with pytest.raises(NoSuchKey):
            await store.get("bkt", "gone")

    run(test)


def test_small_bodies_live_in_their_row_and_large_ones_in_files(run: Run, tmp_path: Path) -> None:
    big = b"x" * (INLINE_MAX + 1)

    async def test(store: ObjectStore) -> None:
        await put(store, "small", b"tiny", inline=True)
        await put(store, "big", big, inline=True)
        assert await read(store, "small") == b"tiny" and await read(store, "big") == big
        assert len(blob_files(tmp_path)) == 1
        listed = (await store.list_keys("bkt")).objects
        assert [b"".join([c async for c in store.read(o, 0, o.size - 1)]) for o in listed] == [
            big, b"tiny"]

    run(test)


def test_no_upload_id_starts_with_a_dash() -> None:
    """The aws CLI would take `--upload-id -...` for an option; without the rule one id in 64
    starts so, which 5,000 ids would show all but certainly (1 - (63/64)**5000)."""
    assert not [i for i in (new_upload_id() for _ in range(5000)) if i.startswith("-")]
