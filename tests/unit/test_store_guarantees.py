"""What every store keeps, with several servers sharing its database (on SQLite, several
connections to one file): limits of jobs in flight, idempotent creates, names per tenant,
atomic replacement, a deleted bucket gone everywhere, byte-ordered keys, statuses recorded once."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from bifrost_py.domain.jobs import COMPLETED, IN_PROGRESS, SUBMITTED, Job, new_job_id
from bifrost_py.domain.objects import NewObject
from bifrost_py.errors import ConflictException, ServiceQuotaExceededException
from bifrost_py.store.blobs.disk import DiskBlobs
from bifrost_py.store.postgres.migrations import MIGRATIONS
from bifrost_py.store.sql.bucket_owners import BucketOwners
from bifrost_py.store.sql.database import Database
from bifrost_py.store.sql.jobs import JobStore
from bifrost_py.store.sql.objects import ObjectStore

MakeDatabase = Callable[[], Database]
T = TypeVar("T")
SERVERS = 4


def on_servers(make_database: MakeDatabase, test: Callable[[list[Database]], Awaitable[T]],
               together: bool = False) -> T:
    """Run `test` with SERVERS open handles on the test's database, as servers sharing it;
    opened one after another, or `together`."""
    async def main() -> T:
        databases = [make_database() for _ in range(SERVERS)]
        try:
            if together:
                await asyncio.gather(*(db.open() for db in databases))
            for db in databases:
                if not db.is_open:
                    await db.open()
            return await test(databases)
        finally:
            for db in databases:
                await db.close()

    return asyncio.run(main())


def new_job(name: str, tenant: str = "t", token: str | None = None) -> Job:
    job_id = new_job_id()
    now = time.time()
    return Job(job_id, f"arn:aws:bedrock:us-east-1:000000000000:model-invocation-job/{job_id}",
               name, "local", "model", "role", SUBMITTED, now, now, {}, {}, client_token=token,
               tenant=tenant)


async def settled(calls: list[Awaitable[T]]) -> list[T | BaseException]:
    return await asyncio.gather(*calls, return_exceptions=True)


def test_concurrent_creates_never_pass_the_limit_of_jobs_in_flight(
        make_database: MakeDatabase) -> None:
    async def test(databases: list[Database]) -> list[Any]:
        stores = [JobStore(db) for db in databases]
        return await settled([stores[i % SERVERS].create(new_job(f"job-{i}"), [],
                                                         max_in_flight=3) for i in range(12)])

    results = on_servers(make_database, test)
    created = [r for r in results if isinstance(r, Job)]
    refused = [r for r in results if isinstance(r, ServiceQuotaExceededException)]
    assert len(created) == 3 and len(refused) == 9, results


def test_one_client_token_creates_one_job_however_many_servers_repeat_it(
        make_database: MakeDatabase) -> None:
    async def test(databases: list[Database]) -> tuple[list[Any], int]:
        stores = [JobStore(db) for db in databases]
        results = await settled([stores[i % SERVERS].create(new_job("same", token="tok"), [])
                                 for i in range(8)])
        return results, len(await stores[0].recent("t", 100))

    results, stored = on_servers(make_database, test)
    assert {r.job_id for r in results if isinstance(r, Job)} == {results[0].job_id}, results
    assert stored == 1


def test_a_name_in_progress_is_one_tenants_and_taken_once(make_database: MakeDatabase) -> None:
    async def test(databases: list[Database]) -> list[Any]:
        stores = [JobStore(db) for db in databases]
        await stores[0].create(new_job("shared", tenant="other"), [])
        return await settled([store.create(new_job("shared"), []) for store in stores])

    results = on_servers(make_database, test)
    assert sum(isinstance(r, Job) for r in results) == 1
    assert sum(isinstance(r, ConflictException) for r in results) == SERVERS - 1, results


def test_a_status_is_recorded_when_first_had_and_totals_are_integers(
        make_database: MakeDatabase) -> None:
    async def test(databases: list[Database]) -> tuple[Job, list[Any]]:
        jobs = JobStore(databases[0])
        job = await jobs.create(new_job("events"), [])
        await jobs.update(job.job_id, status=IN_PROGRESS)
        first = (await jobs.get(job.job_id)).events[IN_PROGRESS]
        await jobs.update(job.job_id, status=IN_PROGRESS, processed=2, input_tokens=7)
        await jobs.update(job.job_id, status=COMPLETED, end_time=time.time())
        done = await jobs.get(job.job_id)
        assert done.events[IN_PROGRESS] == first and set(done.events) == {
            SUBMITTED, IN_PROGRESS, COMPLETED}
        return done, await jobs.totals()

    done, totals = on_servers(make_database, test)
    assert [(t.jobs, t.processed, t.input_tokens) for t in totals] == [(1, 2, 7)]
    assert all(isinstance(n, int) for t in totals for n in (t.processed, t.errors))
    assert done.counts.processed == 2


async def body(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def nothing_referenced() -> set[str]:
    return set()


def test_a_reader_sees_an_object_whole_before_or_after_a_replacement(
        make_database: MakeDatabase, tmp_path: Path) -> None:
    async def test(databases: list[Database]) -> set[str]:
        blobs = DiskBlobs(tmp_path)
        await blobs.open(nothing_referenced, shared=False)
        stores = [ObjectStore(db, blobs, auto_create_buckets=True) for db in databases]
        await stores[0].bucket_for_write("bkt")
        seen: set[str] = set()

        async def write(n: int) -> None:
            store = stores[n % SERVERS]
            data = bytes([n]) * (n * 1000 + 1)
            blob = await blobs.write(body(data), max_size=2**20, inline=n % 2 == 0)
            await store.put("bkt", "k", [blob], f'"{blob.md5}"', NewObject())

        async def read(n: int) -> None:
            store = stores[n % SERVERS]
            for _ in range(10):
                obj = await store.get("bkt", "k")
                data = b"".join([c async for c in store.read(obj, 0, obj.size - 1)])
                assert obj.etag == f'"{hashlib.md5(data, usedforsecurity=False).hexdigest()}"'
                seen.add(obj.etag)

        await write(0)
        await asyncio.gather(*(write(n) for n in range(1, 20)), *(read(n) for n in range(8)))
        blobs.flush()
        return seen

    assert len(on_servers(make_database, test)) >= 1


def test_keys_list_in_utf8_byte_order(make_database: MakeDatabase, tmp_path: Path) -> None:
    keys = ["a", "B", "ab", "a/b", "a b", "é", "z", "~", "\u00ff", "\u4e2d", "\U0001f600", "Z1"]

    async def test(databases: list[Database]) -> list[str]:
        store = ObjectStore(databases[0], DiskBlobs(tmp_path), auto_create_buckets=True)
        await store.blobs.open(nothing_referenced, shared=False)
        await store.bucket_for_write("bkt")
        for key in keys:
            blob = await store.blobs.write(body(b"x"), max_size=10)
            await store.put("bkt", key, [blob], f'"{blob.md5}"', NewObject())
        return [o.key for o in (await store.list_keys("bkt")).objects]

    assert on_servers(make_database, test) == sorted(keys, key=lambda k: k.encode())


async def here_and_there(databases: list[Database], tmp_path: Path,
                         auto_create: bool) -> tuple[ObjectStore, ObjectStore]:
    """Two servers' object stores on one database, sharing their blobs as replicas share S3."""
    blobs = DiskBlobs(tmp_path)
    await blobs.open(nothing_referenced, shared=True)
    here, there = (ObjectStore(db, blobs, auto_create_buckets=auto_create)
                   for db in databases[:2])
    return here, there


async def put_k(store: ObjectStore, data: bytes) -> None:
    await store.put("bkt", "k", [await store.blobs.write(body(data), max_size=10)], '"e"',
                    NewObject())


async def delete_bucket(store: ObjectStore) -> None:
    await store.delete("bkt", "k")
    await store.delete_bucket("bkt")


def test_a_bucket_another_server_deleted_is_no_such_bucket_for_reads_and_writes(
        make_database: MakeDatabase, tmp_path: Path) -> None:
    async def test(databases: list[Database]) -> list[str]:
        here, there = await here_and_there(databases, tmp_path, auto_create=False)
        await here.create_bucket("bkt")
        await put_k(here, b"x")
        await delete_bucket(there)

        async def put() -> None:
            await here.bucket_for_write("bkt")
            await put_k(here, b"y")

        # One after another: the second put comes after the first has forgotten the name.
        return [type((await settled([call]))[0]).__name__ for call in (
            here.get("bkt", "k"), here.list_keys("bkt"), put(), put())]

    assert on_servers(make_database, test) == ["NoSuchBucket"] * 4


def test_a_first_write_creates_again_a_bucket_another_server_deleted(
        make_database: MakeDatabase, tmp_path: Path) -> None:
    async def test(databases: list[Database]) -> list[bytes]:
        here, there = await here_and_there(databases, tmp_path, auto_create=True)
        await here.bucket_for_write("bkt")
        await put_k(here, b"x")
        await delete_bucket(there)
        await here.bucket_for_write("bkt")  # answered from the cache: the bucket is gone
        await put_k(here, b"y")
        obj = await there.get("bkt", "k")
        return [b"".join([c async for c in there.read(obj, 0, obj.size - 1)])]

    assert on_servers(make_database, test) == [b"y"]


@pytest.mark.parametrize("make_database", ["postgres"], indirect=True)
def test_servers_starting_together_apply_each_migration_once(
        make_database: MakeDatabase) -> None:
    async def test(databases: list[Database]) -> Any:
        return await databases[0].fetchall("SELECT version FROM schema_migrations")

    rows = on_servers(make_database, test, together=True)
    assert sorted(r["version"] for r in rows) == list(range(1, len(MIGRATIONS) + 1))


def test_a_bucket_one_server_claims_is_hidden_from_other_tenants_on_every_server(
        make_database: MakeDatabase) -> None:
    async def test(databases: list[Database]) -> list[bool]:
        first, second = (BucketOwners(db, shared=True) for db in databases[:2])
        await first.open()
        await second.open()
        await first.claim("made-here", "t1")
        seen = [await second.visible("made-here", "t2"), await second.visible("made-here", "t1"),
                await second.visible("the-operators", "t2")]
        await second.release("made-here")
        return [*seen, await first.visible("made-here", "t2")]

    assert on_servers(make_database, test) == [False, True, True, True]
