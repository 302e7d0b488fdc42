"""The OpenAI dialect's files and uploads on each store, assembled as the server assembles it:
parts completing into a file, cancelled and overdue uploads freeing their parts, files paged
newest first and gone to their tenant once deleted."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from bifrost_py.domain.file_uploads import CANCELLED, COMPLETED, LIFETIME
from bifrost_py.errors import InvalidRequestError, NotFoundError
from bifrost_py.jobs.housekeeping import Housekeeping
from bifrost_py.store.blobs.disk import DiskBlobs
from bifrost_py.store.postgres.store import PostgresStore
from bifrost_py.store.sql import file_store
from bifrost_py.store.sql.file_uploads import ENDED_KEPT
from bifrost_py.store.sql.store import SqlStore
from bifrost_py.store.sqlite.store import SqliteStore
from tests.postgres import STORES, fresh_database

Test = Callable[[SqlStore], Awaitable[None]]


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlStore]:
    if request.param == "sqlite":
        yield SqliteStore(tmp_path / "data", DiskBlobs(tmp_path / "data"))
        return
    with fresh_database() as url:
        yield PostgresStore(url, DiskBlobs(tmp_path / "data"))


def run(store: SqlStore, test: Test) -> None:
    async def main() -> None:
        store.local_files(auto_create_buckets=True, max_object_size=2**30)
        store.file_uploads()
        await store.open()
        try:
            await test(store)
        finally:
            await store.close()

    asyncio.run(main())


async def body(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def contents(store: SqlStore, tenant: str, file_id: str) -> bytes:
    files = store.file_store()
    return b"".join([c async for c in files.read(await files.get(tenant, file_id))])


def test_parts_complete_into_a_file_in_the_order_given(store: SqlStore) -> None:
    async def test(store: SqlStore) -> None:
        uploads = store.file_uploads()
        upload = await uploads.create("t", "in.jsonl", "batch", 6, "text/jsonl", None)
        parts = [await uploads.add_part(upload, await store.blobs.write(
            body(data), max_size=100, inline=False)) for data in (b"abc", b"def", b"xyz")]
        assert await uploads.uploaded_bytes(upload.upload_id) == 9
        done, file = await uploads.complete(upload, [parts[1], parts[0]])
        assert done.status == COMPLETED and await contents(store, "t", file.file_id) == b"defabc"
        with pytest.raises(InvalidRequestError):
            await uploads.pending("t", upload.upload_id)
        with pytest.raises(NotFoundError):
            await store.file_store().get("other", file.file_id)

    run(store, test)


def test_a_cancelled_upload_takes_no_more_parts(store: SqlStore) -> None:
    async def test(store: SqlStore) -> None:
        uploads = store.file_uploads()
        upload = await uploads.create("t", "in.jsonl", "batch", 3, "text/jsonl", None)
        await uploads.add_part(upload, await store.blobs.write(body(b"abc"), max_size=100,
                                                               inline=False))
        assert (await uploads.cancel(upload)).status == CANCELLED
        assert await uploads.parts(upload.upload_id) == []
        with pytest.raises(InvalidRequestError):
            await uploads.add_part(upload, await store.blobs.write(body(b"d"), max_size=100,
                                                                   inline=False))

    run(store, test)


def test_files_page_newest_first_and_a_deleted_one_is_gone(store: SqlStore) -> None:
    async def test(store: SqlStore) -> None:
        files = store.file_store()
        made = [await files.write("t", f"f{i}.jsonl", "batch", body(b"x" * i))
                for i in range(1, 4)]
        page = await files.page("t", "batch", None, 10, ascending=False)
        assert {f.file_id for f in page} == {f.file_id for f in made}
        assert [f.created_at for f in page] == sorted((f.created_at for f in page), reverse=True)
        await files.delete("t", made[0].file_id)
        with pytest.raises(NotFoundError):
            await files.get("t", made[0].file_id)
        assert await contents(store, "t", made[2].file_id) == b"xxx"

    run(store, test)


def test_housekeeping_deletes_expired_files_and_forgets_ended_uploads(
        store: SqlStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(file_store, "PURGE_BATCH", 2)  # so one pass takes several batches

    async def test(store: SqlStore) -> None:
        files, uploads = store.file_store(), store.file_uploads()
        now = int(time.time())
        expired = [await files.create("t", f"{n}.jsonl", "batch", [await store.blobs.write(
            body(b"x" * 70_000), max_size=2**20)], expires_at=now - 1) for n in range(5)]
        kept = [await files.create("t", "kept.jsonl", "batch", [await store.blobs.write(
            body(b"kept"), max_size=100)], expires_at=expiry) for expiry in (None, now + 60)]
        ended = await uploads.cancel(await uploads.create("t", "u.jsonl", "batch", 3,
                                                          "text/jsonl", None))
        pending = await uploads.create("t", "p.jsonl", "batch", 3, "text/jsonl", None)
        housekeeping = Housekeeping(files, uploads)
        assert await housekeeping.tidy() == (5, 0)  # the ended upload is kept a day
        assert sorted(f.file_id for f in await files.page("t", None, None, 10, True)) \
            == sorted(f.file_id for f in kept)
        for file in expired:
            assert await store.db.fetchone("SELECT 1 FROM objects WHERE key = ?",
                                           (file.file_id,)) is None
        monkeypatch.setattr(time, "time", lambda: now + ENDED_KEPT + 2 * LIFETIME)
        assert await housekeeping.tidy() == (1, 2)  # kept[1] expired; both uploads ended
        for upload in (ended, pending):
            with pytest.raises(NotFoundError):
                await uploads.pending("t", upload.upload_id)

    run(store, test)
