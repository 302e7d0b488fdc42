"""Replicas (SPEC section 8): bifrost on PostgreSQL + S3 blobs (moto) against the SQLite default,
one replica against two, and the takeover of a SIGKILLed replica's job.

Sections, all in one run by default (`--sections small,jobs,takeover`):

- small: PUT / GET of small objects (4 KiB and 256 KiB) through one replica on PostgreSQL + S3
  blobs and one on SQLite + local files, side by side in each round; ratios of median ops/s.
- jobs: 20,000 records as 4 jobs of 5,000 on the local provider's echo backend (a fixed latency
  per record), on one replica and on two sharing PostgreSQL + S3 (one job is one replica's, by
  its lease, so the work is split into jobs); ratio of wall times. The same jobs on one SQLite
  replica are the reference.
- takeover: two replicas, a short job lease; the lease holder of a running job is SIGKILLed and
  the time until the survivor carries the job on and ends it is measured against the lease.

Exits 1 if the jobs speed-up or the takeover time misses its target.

Run:  PYTHONPATH=. .venv/bin/python -m bench.replicas [--rounds 3] [--sections small,jobs]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

import psutil

from bench.jobs_common import cpu_seconds
from bench.replicas_common import (
    BLOBS_PREFIX,
    BUCKET,
    blob_count,
    config_text,
    database_cpu,
    start_blobs,
    start_replica,
    stop_replicas,
)
from bench.replicas_jobs import SETUPS, db_name, jobs_section, takeover_section
from bench.s3_small import make_client, run_phase, warm_up
from bench.s3_small_postgres import fresh_database
from bench.servers import Server

SMALL_TARGETS = ("sqlite", "pg+s3")
SMALL_PHASES = ("PUT", "GET")
Key = tuple[int, str, str]  # object size, phase, target


def parse_objects(text: str) -> list[tuple[int, int]]:
    """"4096x2000,262144x500" -> [(4096, 2000), (262144, 500)]: size in bytes x requests."""
    pairs = [part.split("x") for part in text.split(",") if part.strip()]
    return [(int(size), int(n)) for size, n in pairs]


def small_section(args: argparse.Namespace, moto: Server) -> tuple[list[str], list[str]]:
    """Each round: for each object size, each target's PUTs then GETs over the same keys."""
    objects = parse_objects(args.objects)
    results: dict[Key, list[tuple[float, float, float, float]]] = defaultdict(list)
    with tempfile.TemporaryDirectory(prefix="bench-replicas-small-") as tmp, \
            fresh_database() as url:
        database = db_name(url)
        configs = {"sqlite": config_text("", "", "", args.lease_seconds),
                   "pg+s3": config_text(url, moto.endpoint, f"{BLOBS_PREFIX}{database}/",
                                        args.lease_seconds)}
        servers: list[Server] = []
        try:
            for name in SMALL_TARGETS:
                servers.append(start_replica(name, Path(tmp), configs[name],
                                             Path(tmp) / f"data-{name}"))
            clients: dict[str, list[Any]] = {}
            for server in servers:
                clients[server.name] = [make_client(server.endpoint + "/bedrock/files",
                                                    args.threads) for _ in range(args.threads)]
                clients[server.name][0].create_bucket(Bucket=BUCKET)
                warm_up(clients[server.name], os.urandom(objects[0][0]))
            procs = {s.name: psutil.Process(s.pid) for s in servers}
            moto_proc = psutil.Process(moto.pid)
            for rnd in range(1, args.rounds + 1):
                order = SMALL_TARGETS if rnd % 2 else tuple(reversed(SMALL_TARGETS))
                for size, n in objects:
                    body = os.urandom(size)
                    keys = [f"s{size}/{i:06d}" for i in range(n)]
                    for name in order:
                        for phase in SMALL_PHASES:
                            db0, moto0 = database_cpu(database), cpu_seconds(moto_proc)
                            rate, server_us, _ = run_phase(phase, clients[name], keys, body,
                                                           procs[name])
                            db_us = (database_cpu(database) - db0) / n * 1e6
                            moto_us = (cpu_seconds(moto_proc) - moto0) / n * 1e6
                            results[(size, phase, name)].append((rate, server_us, db_us,
                                                                 moto_us))
                            print(f"small round {rnd} {size:>7d} B {name:6s} {phase:3s} "
                                  f"{rate:7.0f}/s  bifrost {server_us:5.0f} us/op  PostgreSQL "
                                  f"{db_us:5.0f} us/op  moto {moto_us:5.0f} us/op", flush=True)
        finally:
            stop_replicas(servers)
    return small_table(results, objects), []


def small_table(results: dict[Key, list[tuple[float, float, float, float]]],
                objects: list[tuple[int, int]]) -> list[str]:
    """Medians per size and phase, and PG+S3 / SQLite of the median ops/s."""
    lines = ["| object | phase | SQLite ops/s | PG+S3 ops/s | PG+S3 / SQLite | SQLite MiB/s | "
             "PG+S3 MiB/s | bifrost CPU us/op SQLite -> PG+S3 | PostgreSQL CPU us/op | "
             "moto CPU us/op |", "|---|---|---|---|---|---|---|---|---|---|"]
    for size, _ in objects:
        for phase in SMALL_PHASES:
            lite, both = (
                [statistics.median(column) for column in zip(*results[(size, phase, t)],
                                                             strict=True)]
                for t in SMALL_TARGETS)
            lines.append(
                f"| {size // 1024} KiB | {phase} | {lite[0]:.0f} | {both[0]:.0f} | "
                f"{both[0] / lite[0]:.2f} | {lite[0] * size / 2**20:.1f} | "
                f"{both[0] * size / 2**20:.1f} | {lite[1]:.0f} -> {both[1]:.0f} | "
                f"{both[2]:.0f} | {both[3]:.0f} |")
    return lines


SECTIONS = {"small": small_section, "jobs": jobs_section, "takeover": takeover_section}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    add = parser.add_argument
    add("--sections", default="small,jobs,takeover", help="comma-separated, run in this order")
    add("--rounds", type=int, default=3, help="rounds of the small and jobs sections (3)")
    add("--lease-seconds", type=float, default=5.0, help="[server] job_lease_seconds (5)")
    add("--shared-data-dir", action="store_true",
        help="give the replicas of a run one data dir, for a server without the S3 blob store")
    small = parser.add_argument_group("small")
    small.add_argument("--objects", default="4096x2000,262144x500",
                       help="SIZExREQUESTS per object size (4096x2000,262144x500)")
    small.add_argument("--threads", type=int, default=4, help="boto3 client threads (4)")
    jobs = parser.add_argument_group("jobs and takeover")
    jobs.add_argument("--records", type=int, default=20000, help="records in all (20000)")
    jobs.add_argument("--jobs", type=int, default=4, help="jobs the records are split into (4)")
    jobs.add_argument("--job-setups", default=",".join(SETUPS),
                      help=f"comma-separated subset of {', '.join(SETUPS)}")
    jobs.add_argument("--latency-ms", type=float, default=50.0,
                      help="the echo backend's latency per record (50)")
    jobs.add_argument("--concurrency", type=int, default=32,
                      help="records in flight per job (32)")
    jobs.add_argument("--max-concurrent-jobs", type=int, default=2,
                      help="jobs each replica runs at once (2)")
    jobs.add_argument("--target-speedup", type=float, default=1.5,
                      help="1 replica wall / 2 replicas wall must reach this (1.5)")
    jobs.add_argument("--takeover-rounds", type=int, default=5, help="takeover rounds (5)")
    jobs.add_argument("--takeover-records", type=int, default=10000,
                      help="records in the takeover job (10000)")
    jobs.add_argument("--kill-at", type=float, default=0.3,
                      help="share of the records processed when the holder is killed (0.3)")
    jobs.add_argument("--takeover-slack", type=float, default=2.0,
                      help="seconds beyond the lease the takeover may take (2: the runner "
                           "looks for jobs every second, progress is stored every 0.5 s)")
    jobs.add_argument("--timeout", type=float, default=600.0, help="per job run (600)")
    args = parser.parse_args(argv)
    args.job_setups = [s.strip() for s in args.job_setups.split(",") if s.strip()]
    for setup in args.job_setups:
        if setup not in SETUPS:
            parser.error(f"unknown job setup {setup!r}")
    for section in args.sections.split(","):
        if section not in SECTIONS:
            parser.error(f"unknown section {section!r}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print(f"lease {args.lease_seconds:g} s; echo backend {args.latency_ms:g} ms per record, "
          f"concurrency {args.concurrency}, {args.max_concurrent_jobs} jobs per replica; "
          f"{'one shared data dir' if args.shared_data_dir else 'a data dir per replica'}",
          flush=True)
    reports: list[tuple[str, list[str]]] = []
    missed: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-replicas-moto-") as tmp:
        moto = start_blobs(Path(tmp))
        try:
            for section in args.sections.split(","):
                lines, misses = SECTIONS[section](args, moto)
                reports.append((section, lines))
                missed += misses
            blobs, size = blob_count(moto)
        finally:
            moto.stop()
    for section, lines in reports:
        print(f"\n### {section}\n")
        print("\n".join(lines))
    print(f"\nmoto's bucket {BLOBS_PREFIX!r}: {blobs} objects, {size / 2**20:.1f} MiB "
          f"(none would mean the replicas kept their bytes on their own disks)")
    for miss in missed:
        print(f"MISSED: {miss}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
