"""Job leases, fencing and spools kept in the store, as replicas sharing one database use them.

Two replicas are two sets of leases over one database, each with its own fencing tokens, as two
processes would hold them.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from bifrost_py.config import KeyConfig, load_config
from bifrost_py.domain.jobs import COMPLETED, IN_PROGRESS, SUBMITTED, Job
from bifrost_py.errors import ThrottlingException
from bifrost_py.jobs.runner import Runner
from bifrost_py.ports.leases import LeaseLost
from bifrost_py.store.spools.disk import DiskSpools
from bifrost_py.store.sql.database import Database
from bifrost_py.store.sql.jobs import JobStore
from bifrost_py.store.sql.leases import SqlLeases
from bifrost_py.store.sql.records import StoredSpools
from bifrost_py.store.sql.replicas import SqlReplicas
from bifrost_py.wire.auth.credentials import Caller
from bifrost_py.wire.auth.guard import Guard


class Replica:
    def __init__(self, db: Database, name: str, lease_seconds: float = 30.0) -> None:
        self.fences: dict[str, int] = {}
        self.jobs = JobStore(db, self.fences)
        self.leases = SqlLeases(db, self.fences, name, lease_seconds)
        self.spools = StoredSpools(db, self.fences)


MakeDatabase = Callable[[], Database]


def run(make_database: MakeDatabase, test: Callable[[Database], Awaitable[None]]) -> None:
    """`test` on the test's database, SQLite's or PostgreSQL's (tests/conftest.py)."""
    async def main() -> None:
        db = make_database()
        await db.open()
        try:
            await test(db)
        finally:
            await db.close()

    asyncio.run(main())


def job(job_id: str, provider: str = "local", submitted: float = 0.0) -> Job:
    now = submitted or time.time()
    return Job(job_id, f"arn:aws:bedrock:us-west-2:123456789012:model-invocation-job/{job_id}",
               f"name-{job_id}", provider, "m", "arn:aws:iam::123456789012:role/r", SUBMITTED,
               now, now, {"s3InputDataConfig": {"s3Uri": "s3://b/in.jsonl"}},
               {"s3OutputDataConfig": {"s3Uri": "s3://b/out/"}})


def test_claims_take_the_oldest_unheld_jobs_of_a_provider_up_to_the_limit(
        make_database: MakeDatabase) -> None:
    async def test(db: Database) -> None:
        a, b = Replica(db, "a"), Replica(db, "b")
        for n, provider in enumerate(["local", "local", "openai", "local"]):
            await a.jobs.create(job(f"j{n}", provider, submitted=1000.0 + n), [])
        assert await a.leases.claim("local", 2) == ["j0", "j1"]
        assert await b.leases.claim("local", 5) == ["j3"]
        assert await b.leases.claim("local", 5) == []
        await a.jobs.update("j2", status=COMPLETED)
        assert await b.leases.claim("openai", 5) == []

    run(make_database, test)


def test_a_lapsed_lease_passes_to_another_replica_and_fences_off_the_first(
        make_database: MakeDatabase) -> None:
    async def test(db: Database) -> None:
        a, b = Replica(db, "a", lease_seconds=0.2), Replica(db, "b")
        await a.jobs.create(job("j"), [])
        assert await a.leases.claim("local", 1) == ["j"]
        await a.jobs.update("j", status=IN_PROGRESS)
        assert await b.leases.claim("local", 1) == []
        await asyncio.sleep(0.3)
        assert await b.leases.claim("local", 1) == ["j"]
        assert b.fences["j"] == a.fences["j"] + 1
        with pytest.raises(LeaseLost):
            await a.jobs.update("j", status=COMPLETED)
        assert await a.leases.renew(["j"]) == set()
        assert "j" not in a.fences
        assert await b.leases.renew(["j"]) == {"j"}
        await b.jobs.update("j", status=COMPLETED)
        assert (await b.jobs.get("j")).status == COMPLETED

    run(make_database, test)


def test_a_released_job_is_claimed_at_once_and_renewal_keeps_a_lease(
        make_database: MakeDatabase) -> None:
    async def test(db: Database) -> None:
        a, b = Replica(db, "a", lease_seconds=0.3), Replica(db, "b")
        await a.jobs.create(job("j"), [])
        await a.leases.claim("local", 1)
        for _ in range(4):
            await asyncio.sleep(0.1)
            assert await a.leases.renew(["j"]) == {"j"}
        assert await b.leases.claim("local", 1) == []
        await a.leases.release(["j"])
        assert await b.leases.claim("local", 1) == ["j"]

    run(make_database, test)


def test_stored_spools_resume_where_they_stopped_and_keep_input_order(
        make_database: MakeDatabase) -> None:
    async def test(db: Database) -> None:
        a = Replica(db, "a")
        the_job = job("j")
        await a.jobs.create(the_job, [])
        await a.leases.claim("local", 1)
        first, second = await a.spools.open(the_job, 2)
        first.append(3, True, 5, 7, b'{"n": 3}\n')
        first.append(1, False, 0, 0, b'{"n": 1}')
        second.append(1, True, 1, 1, b'{"m": 1}\n')
        await first.close()
        await second.close()
        again, _ = await a.spools.open(the_job, 2)
        assert again.done == {1, 3}
        assert (again.tally.success, again.tally.errors, again.tally.input_tokens) == (1, 1, 5)
        assert b"".join([c async for c in again.outputs()]) == b'{"n": 1}\n{"n": 3}\n'
        assert b"".join([c async for c in again.outputs(ok=True)]) == b'{"n": 3}\n'
        again.append(3, False, 0, 0, b'{"twice": true}')
        await again.flush()
        assert b"".join([c async for c in again.outputs(ok=True)]) == b'{"n": 3}\n'
        again.append(4, True, 0, 0, b'{"n": 4}')
        assert b"".join([c async for c in again.outputs(ok=True)]) == b'{"n": 3}\n{"n": 4}\n', (
            "what was appended is read back before any flush")
        await a.spools.remove(the_job)
        assert (await a.spools.open(the_job, 1))[0].done == set()

    run(make_database, test)


def test_a_replica_that_lost_the_job_writes_none_of_its_answers(
        make_database: MakeDatabase) -> None:
    async def test(db: Database) -> None:
        a, b = Replica(db, "a", lease_seconds=0.1), Replica(db, "b")
        the_job = job("j")
        await a.jobs.create(the_job, [])
        await a.leases.claim("local", 1)
        [stale] = await a.spools.open(the_job, 1)
        stale.append(1, True, 1, 1, b'{"from": "a"}')
        await asyncio.sleep(0.2)
        await b.leases.claim("local", 1)
        with pytest.raises(LeaseLost):
            await stale.flush()
        [fresh] = await b.spools.open(the_job, 1)
        assert fresh.done == set()

    run(make_database, test)


def test_an_answer_whose_flush_was_cancelled_midway_is_still_in_the_outputs(
        make_database: MakeDatabase) -> None:
    """A job's progress reporter is cancelled as the job ends, maybe while it flushes: the
    batch it was writing must still be among the outputs published next."""
    async def test(db: Database) -> None:
        replica = Replica(db, "a")
        the_job = job("j")
        await replica.jobs.create(the_job, [])
        await replica.leases.claim("local", 1)
        [spool] = await replica.spools.open(the_job, 1)
        transaction = db.transaction

        async def slow(work: Callable[[Any], Any]) -> Any:
            def late(conn: Any) -> Any:
                time.sleep(0.3)  # on the database's thread: a write that outlives its caller
                return work(conn)

            return await transaction(late)

        db.transaction = slow  # type: ignore[method-assign]
        spool.append(1, True, 1, 1, b'{"line": 1}')
        flushing = asyncio.create_task(spool.flush())
        await asyncio.sleep(0.05)
        flushing.cancel()
        assert b"".join([chunk async for chunk in spool.outputs()]) == b'{"line": 1}\n'
        assert spool.done == {1}

    run(make_database, test)


class Recorder:
    """An executor that works on a job until told to stop, noting which replica ran it."""

    def __init__(self, name: str, log: list[str]) -> None:
        self.name = name
        self.log = log

    async def run(self, job: Job, stop: asyncio.Event) -> None:
        self.log.append(self.name)
        await asyncio.Event().wait()


async def refused(*args: object) -> set[str]:
    raise ConnectionError("the database is unreachable")


async def unanswered(*args: object) -> set[str]:
    """A call waiting for a connection to a database that does not answer, as a pool waits."""
    await asyncio.Event().wait()
    raise AssertionError("unreachable")


@pytest.mark.parametrize("cut_off", [refused, unanswered])
def test_a_runner_cut_off_from_the_store_stops_its_job_before_another_takes_it(
        make_database: MakeDatabase, cut_off: Callable[..., Awaitable[set[str]]]) -> None:
    async def test(db: Database) -> None:
        log: list[str] = []
        a, b = Replica(db, "a", lease_seconds=0.9), Replica(db, "b", lease_seconds=0.9)
        await a.jobs.create(job("j"), [])
        first = Runner(a.jobs, a.leases, {"local": Recorder("a", log)}, {}, 0.9, 0.05)
        second = Runner(b.jobs, b.leases, {"local": Recorder("b", log)}, {}, 0.9, 0.05)
        first.start()
        await asyncio.sleep(0.3)
        second.start()
        await asyncio.sleep(1.5)
        assert log == ["a"], "a live replica keeps its job"

        a.leases.renew = a.leases.claim = cut_off  # type: ignore[assignment, method-assign]
        overlap = False
        for _ in range(60):
            await asyncio.sleep(0.05)
            overlap = overlap or ("j" in first._running and "j" in second._running)
        assert log == ["a", "b"]
        assert not overlap, "never both at once"
        assert "j" not in first._running
        await first.stop()
        await second.stop()

    run(make_database, test)


def test_heartbeats_count_the_live_replicas(make_database: MakeDatabase) -> None:
    async def test(db: Database) -> None:
        replicas = SqlReplicas(db)
        assert await replicas.beat("a", ttl=0.3) == 1
        assert await replicas.beat("b", ttl=0.3) == 2
        await asyncio.sleep(0.4)
        assert await replicas.beat("b", ttl=0.3) == 1, "a fell silent"
        assert await replicas.beat("a", ttl=0.3) == 2
        await replicas.leave("a")
        assert await replicas.beat("b", ttl=0.3) == 1

    run(make_database, test)


def test_each_replica_admits_its_share_of_a_keys_rate() -> None:
    config = load_config(overrides={"requests_per_second_per_key": 10.0}, env={})
    config = dataclasses.replace(config, keys=[KeyConfig("AKIAEXAMPLEEXAMPLE01", "s", "t")])
    guard = Guard(config)
    caller = Caller(guard.keys["AKIAEXAMPLEEXAMPLE01"])

    def admitted() -> int:
        guard._buckets.clear()
        count = 0
        with contextlib.suppress(ThrottlingException):
            for _ in range(100):
                guard.throttle(caller, "bedrock")
                count += 1
        return count

    assert admitted() == 20, "bursts of twice the rate"
    guard.share_among(4)
    assert admitted() == 5


@pytest.mark.parametrize("kind", ["disk", "stored"])
def test_the_order_requests_went_upstream_in_is_kept_until_the_job_is_removed(
        make_database: MakeDatabase, tmp_path: Path, kind: str) -> None:
    async def test(db: Database) -> None:
        a = Replica(db, "a")
        spools = a.spools if kind == "stored" else DiskSpools(tmp_path / "jobs")
        the_job = job("j")
        await a.jobs.create(the_job, [])
        assert await spools.read_order(the_job) == []
        ids = ["line-0-1", 'odd "id"\nwith a newline', "é"]
        await spools.write_order(the_job, ids)
        assert await spools.read_order(the_job) == ids
        await spools.remove(the_job)
        assert await spools.read_order(the_job) == []

    run(make_database, test)
