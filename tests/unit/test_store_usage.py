"""Usage in the job store: jobs summed per slot, provider and tenant, each job in the slot where
it ended (or, while it runs, last moved), and one tenant's usage holds only its own jobs."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bifrost_py.domain.jobs import COMPLETED, IN_PROGRESS, Counts, Job, job_arn
from bifrost_py.domain.usage import Usage
from bifrost_py.store.sql.jobs import JobStore
from bifrost_py.store.sqlite.db import Database

SINCE = 1_800_000_000.0
HOUR = 3600.0


def job(job_id: str, tenant: str, provider: str) -> Job:
    return Job(job_id=job_id, arn=job_arn("us-west-2", "123456789012", job_id), name=job_id,
               provider=provider, model_id="m", role_arn="", status=IN_PROGRESS,
               submit_time=SINCE - HOUR, last_modified=SINCE - HOUR,
               input_config={"s3InputDataConfig": {"s3Uri": "s3://b/in.jsonl"}},
               output_config={"s3OutputDataConfig": {"s3Uri": "s3://b/out/"}}, tenant=tenant)


async def usage_of(path: Path, tenant: str | None) -> list[Usage]:
    db = Database(path / "db.sqlite3")
    await db.open()
    jobs = JobStore(db)
    ended = [("jobaaaaaaaa1", "alpha", "local", SINCE + 10, 0.5),
             ("jobaaaaaaaa2", "alpha", "local", SINCE + 20, None),
             ("jobaaaaaaaa3", "alpha", "openai", SINCE + HOUR + 5, 1.0),
             ("jobbbbbbbbb1", "beta", "local", SINCE + 2 * HOUR - 1, 2.0),
             ("jobold000001", "alpha", "local", SINCE - 1, 4.0)]  # before the window
    try:
        for job_id, owner, provider, end, cost in ended:
            await jobs.create(job(job_id, owner, provider), [])
            await jobs.update(job_id, status=COMPLETED, end_time=end,
                              counts=Counts(10, 10, 9, 1, 100, 50))
            if cost is not None:
                await jobs.set_cost(job_id, cost)
        return await jobs.usage(tenant, SINCE, HOUR)
    finally:
        await db.close()


def test_usage_sums_each_slot_provider_and_tenant(tmp_path: Path) -> None:
    rows = asyncio.run(usage_of(tmp_path, None))
    assert rows == [
        Usage(SINCE, "local", "alpha", 2, 20, 2, 200, 100, 0.5),
        Usage(SINCE + HOUR, "local", "beta", 1, 10, 1, 100, 50, 2.0),
        Usage(SINCE + HOUR, "openai", "alpha", 1, 10, 1, 100, 50, 1.0),
    ]


def test_a_tenants_usage_holds_only_its_own_jobs(tmp_path: Path) -> None:
    rows = asyncio.run(usage_of(tmp_path, "beta"))
    assert rows == [Usage(SINCE + HOUR, "local", "beta", 1, 10, 1, 100, 50, 2.0)]
