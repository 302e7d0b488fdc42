"""bench/replicas.py's job sections: the same jobs on one replica and on two, and the time a
surviving replica takes to carry on a job whose replica was SIGKILLed.

Every run gets a fresh PostgreSQL database (dropped afterwards), fresh replicas and a prefix of
its own in the blobs bucket.
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
from collections import defaultdict
from contextlib import nullcontext
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psutil

from bench.jobs_common import cpu_seconds
from bench.replicas_common import (
    BLOBS_PREFIX,
    ENDED,
    JobSettings,
    bedrock,
    check_output,
    config_text,
    create_job,
    database_cpu,
    log_errors,
    pg,
    pid_of,
    start_replicas,
    stop_replicas,
    upload_inputs,
)
from bench.s3_small_postgres import fresh_database
from bench.servers import Server

POLL = 0.2
DB_POLL = 0.05
SETUPS = {"sqlite": 1, "1 replica": 1, "2 replicas": 2}  # setup -> replicas


def settings(args: argparse.Namespace) -> JobSettings:
    return JobSettings(args.latency_ms, args.concurrency, args.max_concurrent_jobs)


def ideal_wall(args: argparse.Namespace, replicas: int) -> float:
    """Waves of jobs (each replica runs max_concurrent_jobs at once) x one job's ideal time."""
    per_job = args.records / args.jobs * args.latency_ms / 1000 / args.concurrency
    return math.ceil(args.jobs / (replicas * args.max_concurrent_jobs)) * per_job


def db_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def jobs_run(args: argparse.Namespace, moto: Server, setup: str) -> dict[str, Any]:
    """`args.jobs` jobs of records/jobs records each, created on the replicas in turn; the wall
    time from the first create to the last job ended, CPU per record, and who ran which job."""
    count = SETUPS[setup]
    per_job = args.records // args.jobs
    database = nullcontext("") if setup == "sqlite" else fresh_database()
    with tempfile.TemporaryDirectory(prefix="bench-replicas-") as tmp, database as url:
        prefix = f"{BLOBS_PREFIX}{db_name(url)}/"
        config = config_text(url, moto.endpoint, prefix, args.lease_seconds, settings(args))
        replicas: list[Server] = []
        try:
            start_replicas([f"replica{i}" for i in range(count)], Path(tmp), config,
                           args.shared_data_dir, replicas)
            keys = upload_inputs(replicas[0].endpoint, per_job, args.jobs)
            clients = [bedrock(r) for r in replicas]
            for client in clients:
                client.list_model_invocation_jobs(maxResults=1)  # open the connections
            procs = [psutil.Process(r.pid) for r in replicas]
            conn = pg(url) if url else None
            owners: dict[str, set[int]] = defaultdict(set)  # job id -> pids that held it
            cpu0 = sum(cpu_seconds(p) for p in procs)
            db0 = database_cpu(db_name(url)) if url else 0.0
            start = time.perf_counter()
            arns = [create_job(clients[k % count], key) for k, key in enumerate(keys)]
            ended: dict[str, dict[str, Any]] = {}
            deadline = time.monotonic() + args.timeout
            while len(ended) < len(arns):
                for arn in arns:
                    if arn not in ended:
                        job = clients[0].get_model_invocation_job(jobIdentifier=arn)
                        if job["status"] in ENDED:
                            ended[arn] = job
                if conn is not None:
                    for job_id, owner in conn.execute(
                            "SELECT job_id, lease_owner FROM jobs WHERE lease_owner IS NOT NULL"):
                        owners[job_id].add(pid_of(owner) or 0)
                dead = [r.name for r in replicas if r.proc.poll() is not None]
                if dead or time.monotonic() > deadline:
                    raise RuntimeError(f"{setup}: {len(ended)} of {len(arns)} jobs ended; "
                                       f"dead replicas: {dead}")
                time.sleep(POLL)
            wall = time.perf_counter() - start
            cpu = sum(cpu_seconds(p) for p in procs) - cpu0
            db_cpu = (database_cpu(db_name(url)) - db0) if url else 0.0
            if conn is not None:
                conn.close()
            problems = [f"{arn} ended {ended[arn]['status']}: {ended[arn].get('message')}"
                        if ended[arn]["status"] != "Completed"
                        else check_output(replicas[0], arn, key, per_job)
                        for arn, key in zip(arns, keys, strict=True)]
            if any(problems):
                for replica in replicas:
                    print(f"{setup} {replica.name} log errors:\n{log_errors(replica)}", flush=True)
        finally:
            stop_replicas(replicas)
    ran = [sum(1 for pids in owners.values() if r.pid in pids) for r in replicas]
    return {"wall": wall, "cpu_ms": cpu / args.records * 1000,
            "db_ms": db_cpu / args.records * 1000, "jobs_per_replica": ran,
            "problems": [p for p in problems if p]}


def jobs_section(args: argparse.Namespace, moto: Server) -> tuple[list[str], list[str]]:
    """Every setup in each round, the order turned round each time; the report's lines and the
    targets missed."""
    rows: dict[str, list[dict[str, Any]]] = {s: [] for s in args.job_setups}
    for rnd in range(1, args.rounds + 1):
        order = args.job_setups if rnd % 2 else list(reversed(args.job_setups))
        for setup in order:
            row = jobs_run(args, moto, setup)
            rows[setup].append(row)
            print(f"jobs round {rnd} {setup:10s}: wall {row['wall']:.2f} s (ideal "
                  f"{ideal_wall(args, SETUPS[setup]):.2f}), bifrost CPU {row['cpu_ms']:.3f} "
                  f"ms/record, PostgreSQL {row['db_ms']:.3f} ms/record, jobs held per replica "
                  f"{row['jobs_per_replica']}", flush=True)
            for problem in row["problems"]:
                print(f"jobs round {rnd} {setup}: WRONG OUTPUT {problem}", flush=True)
    lines = ["| setup | replicas | wall s (median) | ideal s | wall / ideal | "
             "bifrost CPU ms/record | PostgreSQL CPU ms/record | jobs held per replica | "
             "wrong outputs |", "|---|---|---|---|---|---|---|---|---|"]
    med = {s: {k: statistics.median([r[k] for r in rs]) for k in ("wall", "cpu_ms", "db_ms")}
           for s, rs in rows.items()}
    for setup, rs in rows.items():
        m, ideal = med[setup], ideal_wall(args, SETUPS[setup])
        over = m["wall"] / ideal if ideal else math.inf  # no latency: no ideal
        held = ("-" if setup == "sqlite" else
                " ".join("/".join(str(n) for n in r["jobs_per_replica"]) for r in rs))
        lines.append(f"| {setup} | {SETUPS[setup]} | {m['wall']:.2f} | {ideal:.2f} | "
                     f"{over:.2f} | {m['cpu_ms']:.3f} | {m['db_ms']:.3f} | "
                     f"{held} | {sum(len(r['problems']) for r in rs)} of {len(rs) * args.jobs} |")
    missed = [f"{setup}: {p}" for setup, rs in rows.items() for r in rs for p in r["problems"]]
    if {"1 replica", "2 replicas"} <= rows.keys():
        ratios = [one["wall"] / two["wall"]
                  for one, two in zip(rows["1 replica"], rows["2 replicas"], strict=True)]
        speedup = statistics.median(ratios)
        lines.append("")
        lines.append(f"1 replica wall / 2 replicas wall, median of the rounds' ratios: "
                     f"**{speedup:.2f}** ({', '.join(f'{r:.2f}' for r in ratios)}); "
                     f"target >= {args.target_speedup}")
        if speedup < args.target_speedup:
            missed.append(f"two replicas' speed-up {speedup:.2f} < {args.target_speedup}")
    return lines, missed


def takeover_round(args: argparse.Namespace, moto: Server, rnd: int) -> dict[str, float]:
    """Two replicas, one job; SIGKILL the lease holder once `kill_at` of the records are done.
    Seconds from the kill to the survivor's claim, its first stored record, the first rise of
    processedRecordCount and the job's end; the output is checked for every record once."""
    with tempfile.TemporaryDirectory(prefix="bench-takeover-") as tmp, \
            fresh_database() as url, pg(url) as conn:
        config = config_text(url, moto.endpoint, f"{BLOBS_PREFIX}{db_name(url)}/",
                             args.lease_seconds, settings(args))
        replicas: list[Server] = []
        killed: set[int] = set()
        try:
            start_replicas(["a", "b"], Path(tmp), config, args.shared_data_dir, replicas)
            [key] = upload_inputs(replicas[0].endpoint, args.takeover_records, 1)
            # The replica given the job claims it at once; alternate which one that is.
            arn = create_job(bedrock(replicas[rnd % 2]), key)
            job_id = arn.rsplit("/", 1)[-1]

            def row() -> tuple[Any, ...]:
                found = conn.execute(
                    "SELECT lease_owner, lease_expires, status, processed, (SELECT count(*) "
                    "FROM job_records WHERE job_id = %s) FROM jobs WHERE job_id = %s",
                    (job_id, job_id)).fetchone()
                assert found is not None
                return tuple(found)

            deadline = time.monotonic() + args.timeout
            while True:
                owner, expires, status, processed, _ = row()
                if status == "InProgress" and processed >= args.kill_at * args.takeover_records:
                    break
                if time.monotonic() > deadline or status in ENDED:
                    raise RuntimeError(f"takeover: the job never reached the kill point: {row()}")
                time.sleep(DB_POLL)
            victim = next(r for r in replicas if r.pid == pid_of(owner))
            survivor = next(r for r in replicas if r is not victim)
            left = expires - time.time()
            killed_at = time.monotonic()
            victim.proc.kill()
            victim.proc.wait(10)
            killed.add(victim.pid)
            _, _, _, processed0, stored0 = row()
            marks: dict[str, float] = {}
            while "done" not in marks:
                owner, _, status, processed, stored = row()
                now = time.monotonic() - killed_at
                if pid_of(owner) == survivor.pid:
                    marks.setdefault("claim", now)
                if stored > stored0:
                    marks.setdefault("record", now)
                if processed > processed0:
                    marks.setdefault("progress", now)
                if status in ENDED:
                    marks["done"] = now
                    if status != "Completed":
                        raise AssertionError(f"takeover: the job ended {status}")
                if now > args.timeout or survivor.proc.poll() is not None:
                    raise RuntimeError(f"takeover: not done {now:.0f} s after the kill: {row()}")
                time.sleep(DB_POLL)
            problem = check_output(survivor, arn, key, args.takeover_records)
            if problem:
                print(f"takeover survivor's log errors:\n{log_errors(survivor)}", flush=True)
        finally:
            stop_replicas(replicas, killed)
    rest = (args.takeover_records - stored0) * args.latency_ms / 1000 / args.concurrency
    return {"left": left, "processed": processed0, "stored": stored0, "rest": rest,
            "problem": problem, **marks}


def takeover_section(args: argparse.Namespace, moto: Server) -> tuple[list[str], list[str]]:
    rows = []
    for rnd in range(1, args.takeover_rounds + 1):
        row = takeover_round(args, moto, rnd)
        rows.append(row)
        print(f"takeover round {rnd}: killed at {row['processed']:.0f} records with "
              f"{row['left']:.2f} s of lease left; claim {row['claim']:.2f} s, first record "
              f"{row['record']:.2f} s, processedRecordCount rises {row['progress']:.2f} s, "
              f"completed {row['done']:.2f} s after the kill; output: "
              f"{row['problem'] or 'every record exactly once'}", flush=True)
    keys = ("left", "claim", "record", "progress", "done", "rest")
    lines = ["| round | processed / stored at kill | lease left at kill s | claimed s | "
             "first record s | processedRecordCount rises s | completed s | ideal for the rest "
             "s |", "|---|---|---|---|---|---|---|---|"]
    med = {k: statistics.median([r[k] for r in rows]) for k in (*keys, "processed", "stored")}
    for label, r in [*((str(i), r) for i, r in enumerate(rows, 1)), ("median", med)]:
        lines.append(f"| {label} | {r['processed']:.0f} / {r['stored']:.0f} | " + " | ".join(
            f"{r[k]:.2f}" for k in keys) + " |")
    progress = statistics.median([r["progress"] for r in rows])
    limit = args.lease_seconds + args.takeover_slack
    lines.append("")
    lines.append(f"kill -> processedRecordCount rises, median {progress:.2f} s against "
                 f"job_lease_seconds = {args.lease_seconds:g} ({progress / args.lease_seconds:.2f}"
                 f" leases); target <= lease + {args.takeover_slack:g} s = {limit:g} s")
    missed = [f"takeover: {r['problem']}" for r in rows if r["problem"]]
    if progress > limit:
        missed.append(f"takeover {progress:.2f} s > {limit:g} s")
    return lines, missed

