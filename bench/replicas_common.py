"""What bench/replicas.py's sections share: moto as the blob store, a replica's config.toml,
starting replicas, the database's own CPU, and Bedrock jobs on the local provider.

moto runs as `moto_server` in a process of its own (`servers.start_moto`, the same threaded
werkzeug server `ThreadedMotoServer` wraps) rather than in a thread of the benchmark: in the
benchmark's process it would share one GIL with the boto3 load generator, and its CPU would be
counted as the client's.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import orjson
import psutil
import psycopg
from botocore.config import Config

from bench.batch_executor import records_jsonl
from bench.jobs_common import MODEL_ID, ROLE_ARN, bedrock_client, s3_client
from bench.servers import Server, _spawn, bifrost_command, free_port, start_moto

BLOBS_BUCKET = "bifrost-blobs"
BLOBS_PREFIX = "bench/"
BUCKET = "bench"  # the bucket clients use inside bifrost
OUTPUT_PREFIX = "out/"
ENDED = ("Completed", "PartiallyCompleted", "Failed", "Stopped", "Expired")


def moto_s3(endpoint: str) -> Any:
    config = Config(retries={"total_max_attempts": 1}, s3={"addressing_style": "path"})
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing",
                        config=config)


def start_blobs(work_dir: Path) -> Server:
    """moto_server with the bucket replicas keep their bytes in."""
    server = start_moto(work_dir)
    try:
        moto_s3(server.endpoint).create_bucket(Bucket=BLOBS_BUCKET)
    except BaseException:
        server.stop()
        raise
    return server


def blob_count(moto: Server, prefix: str = BLOBS_PREFIX) -> tuple[int, int]:
    """Objects and bytes under `prefix` in the blobs bucket: proof the replicas used it."""
    count = size = 0
    for page in moto_s3(moto.endpoint).get_paginator("list_objects_v2").paginate(
            Bucket=BLOBS_BUCKET, Prefix=prefix):
        for obj in page.get("Contents", []):
            count += 1
            size += obj["Size"]
    return count, size


@dataclass(frozen=True)
class JobSettings:
    """[providers.local] with the echo backend: a fixed latency per record and `concurrency`
    records in flight per job, `max_concurrent_jobs` jobs per replica."""

    latency_ms: float = 50.0
    concurrency: int = 32
    max_concurrent_jobs: int = 2


def config_text(database_url: str, moto: str, prefix: str, lease_seconds: float,
                jobs: JobSettings | None = None) -> str:
    """A replica's config.toml: SQLite and local files when `database_url` is empty."""
    text = f"[server]\njob_lease_seconds = {lease_seconds}\n"
    if jobs is not None:
        text += (f'[providers.local]\nbackend = "echo"\nlatency_ms = {jobs.latency_ms}\n'
                 f"concurrency = {jobs.concurrency}\n"
                 f"max_concurrent_jobs = {jobs.max_concurrent_jobs}\n")
    if database_url:
        text += (f'[store]\ndatabase_url = "{database_url}"\n'
                 f'blobs = "s3://{BLOBS_BUCKET}/{prefix}"\nblobs_endpoint_url = "{moto}"\n'
                 'blobs_region = "us-east-1"\nblobs_access_key_id = "testing"\n'
                 'blobs_secret_access_key = "testing"\n')
    return text


def start_replica(name: str, work_dir: Path, config: str, data_dir: Path) -> Server:
    """bifrost with `config` and `data_dir`; `endpoint` is its base URL."""
    port = free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    path = work_dir / f"{name}.toml"
    path.write_text(config, encoding="utf-8")
    args = ["serve", "--config", str(path), "--host", "127.0.0.1", "--port", str(port),
            "--data-dir", str(data_dir)]
    return _spawn(name, bifrost_command(args), port, "", "/health", work_dir)


def start_replicas(names: list[str], work_dir: Path, config: str, shared_data_dir: bool,
                   into: list[Server]) -> None:
    """Start one replica per name into `into` (which the caller stops, even half-filled).

    Each has a data dir of its own unless `shared_data_dir`: a server without the S3 blob store
    keeps bytes on its own disk, where another replica cannot read them.
    """
    for name in names:
        data = work_dir / ("data" if shared_data_dir else f"data-{name}")
        into.append(start_replica(name, work_dir, config, data))


def stop_replicas(replicas: list[Server], killed: Collection[int] = ()) -> None:
    """Stop them, showing the log tail of any that died other than those in `killed`."""
    for server in reversed(replicas):
        code = server.proc.poll()
        if code not in (None, 0) and server.pid not in killed:
            print(f"{server.name} died (exit {code}); log tail:\n"
                  f"{server.log_path.read_text(errors='replace')[-3000:]}", flush=True)
        server.stop()


def log_errors(server: Server, limit: int = 3000) -> str:
    """The WARNING and ERROR lines of a replica's log (and what follows them, such as a
    traceback), the per-request access log left out: what to show when a job goes wrong."""
    keep, lines = False, []
    for line in server.log_path.read_text(errors="replace").splitlines():
        if " WARNING " in line or " ERROR " in line:
            keep = "no [[keys]] configured" not in line
        elif " INFO " in line or line.startswith("INFO:"):
            keep = False
        if keep:
            lines.append(line)
    return "\n".join(lines)[-limit:]


def database_cpu(database: str) -> float:
    """CPU seconds so far of the PostgreSQL backends serving `database` (its name is in their
    process titles), so other users of the same PostgreSQL server are not counted."""
    total = 0.0
    for proc in psutil.process_iter(["name", "cmdline"]):
        with contextlib.suppress(psutil.Error):
            if proc.info["name"] == "postgres" and database in " ".join(proc.info["cmdline"]):
                times = proc.cpu_times()
                total += times.user + times.system
    return total


def pg(url: str) -> psycopg.Connection[Any]:
    return psycopg.connect(url, autocommit=True)


def pid_of(owner: str | None) -> int | None:
    """The process id in a lease owner, which is "host:pid" unless replica_id is set."""
    return int(owner.rsplit(":", 1)[1]) if owner else None


def upload_inputs(endpoint: str, records: int, count: int) -> list[str]:
    """`count` input objects of `records` records each in bifrost's bucket; their keys."""
    s3 = s3_client(endpoint + "/bedrock/files")
    s3.create_bucket(Bucket=BUCKET)
    body = records_jsonl(records)
    keys = [f"in/job-{k}.jsonl" for k in range(count)]
    for key in keys:
        s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    return keys


def create_job(bedrock: Any, input_key: str) -> str:
    return bedrock.create_model_invocation_job(  # type: ignore[no-any-return]
        jobName=f"bench-{time.time_ns()}", modelId=MODEL_ID, roleArn=ROLE_ARN,
        inputDataConfig={"s3InputDataConfig": {"s3Uri": f"s3://{BUCKET}/{input_key}"}},
        outputDataConfig={"s3OutputDataConfig": {"s3Uri": f"s3://{BUCKET}/{OUTPUT_PREFIX}"}},
    )["jobArn"]


def bedrock(server: Server) -> Any:
    return bedrock_client(server.endpoint + "/bedrock")


def check_output(server: Server, arn: str, input_key: str, records: int) -> str | None:
    """What is wrong with the job's output, None if it holds every input record exactly once
    and its manifest agrees: the "no record lost, none doubled" check. A wrong output is
    reported, not raised, so that the run goes on and its figures are kept."""
    s3 = s3_client(server.endpoint + "/bedrock/files")
    base = f"{OUTPUT_PREFIX}{arn.rsplit('/', 1)[-1]}/"
    out = s3.get_object(Bucket=BUCKET, Key=base + input_key.rsplit("/", 1)[-1] + ".out")
    ids = [orjson.loads(line)["recordId"] for line in out["Body"].read().splitlines()]
    expected = [f"r{i:06d}" for i in range(records)]
    manifest = orjson.loads(s3.get_object(Bucket=BUCKET, Key=base + "manifest.json.out")
                            ["Body"].read())
    if sorted(ids) != expected:
        missing, doubled = len(set(expected) - set(ids)), len(ids) - len(set(ids))
        return (f"{arn}: {len(ids)} output lines for {records} records, {missing} missing, "
                f"{doubled} doubled; manifest says {manifest.get('successRecordCount')} "
                "succeeded")
    if manifest.get("successRecordCount") != records:
        return f"{arn}: manifest {manifest}"
    return None
