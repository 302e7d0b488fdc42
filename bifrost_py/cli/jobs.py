"""`bifrost-py jobs [ID]`: every tenant's jobs of both dialects with their progress, or one job
in full, read from the store beside a running server (read-only: nothing is migrated, swept or
written)."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

from bifrost_py.assembly import new_store
from bifrost_py.config import Config
from bifrost_py.domain.jobs import Job, job_id_of
from bifrost_py.ports.jobs import JobRepository

BATCH_PREFIX = "batch_"
COLUMNS = ("JOB", "TENANT", "API", "PROVIDER", "MODEL", "STATUS", "RECORDS", "ERRORS",
           "TOKENS IN/OUT", "COST $", "SUBMITTED")


def run(config: Config, args: argparse.Namespace) -> None:
    try:
        print(asyncio.run(_report(config, args)))
    except (OSError, RuntimeError, LookupError) as exc:
        sys.exit(f"bifrost-py: {exc}")


async def _report(config: Config, args: argparse.Namespace) -> str:
    store = new_store(config)
    await store.open_jobs_readonly()
    try:
        if args.job_id:
            return detail(await _find(store.jobs, args.job_id))
        return table(await store.jobs.recent(args.tenant, args.limit))
    finally:
        await store.close()


async def _find(jobs: JobRepository, identifier: str) -> Job:
    job_id = job_id_of(identifier) or identifier.removeprefix(BATCH_PREFIX)
    job = await jobs.find(job_id)
    if job is None:
        raise LookupError(f"no job {identifier}")
    return job


def table(jobs: list[Job]) -> str:
    rows = [COLUMNS] + [_row(job) for job in jobs]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
                     .rstrip() for row in rows)


def detail(job: Job) -> str:
    counts = job.counts
    fields = [("job", job.job_id), ("arn", job.arn), ("name", job.name),
              ("tenant", job.tenant or "-"), ("api", job.dialect), ("provider", job.provider),
              ("model", job.model_id or "-"), ("status", job.status),
              ("progress", _progress(job)), ("errors", str(counts.errors)),
              ("tokens", f"{counts.input_tokens} in, {counts.output_tokens} out"),
              ("cost", _cost(job)), ("input", job.input_uri), ("output", job.output_uri),
              ("message", job.message or "-")]
    fields += [(f"  {status}", _when(at)) for status, at in
               sorted(job.events.items(), key=lambda event: event[1])]
    return "\n".join(f"{name:<10} {value}" for name, value in fields)


def _row(job: Job) -> tuple[str, ...]:
    counts = job.counts
    return (job.job_id, job.tenant or "-", job.dialect, job.provider, job.model_id or "-",
            job.status, _progress(job), str(counts.errors),
            f"{counts.input_tokens}/{counts.output_tokens}", _cost(job), _when(job.submit_time))


def _progress(job: Job) -> str:
    """`processed/total` and a bar of 10, or `processed/?` before the total is known."""
    done, total = job.counts.processed, job.counts.total
    if not total:
        return f"{done}/?"
    filled = min(10, done * 10 // total)
    return f"[{'#' * filled}{'.' * (10 - filled)}] {done}/{total}"


def _cost(job: Job) -> str:
    return "-" if job.cost is None else f"{job.cost:.6f}"


def _when(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at))
