"""The local provider's batch executor end to end: one Bedrock job of N records through an
openai-compatible backend (tests/fakes/chat.py's FakeChat, in its own process, with a fixed
latency per request).

Reports the wall time from CreateModelInvocationJob to Completed against the ideal
N x latency / concurrency, bifrost's CPU time per record (user + sys, psutil) and its peak RSS.

Run:  .venv/bin/python -m bench.batch_executor [--records 20000] [--latency-ms 20]
      [--concurrency 64]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import psutil

from bench.jobs_common import (
    MODEL_ID,
    ROLE_ARN,
    bedrock_client,
    cpu_seconds,
    s3_client,
    start_bifrost_config,
    start_fake_chat,
    stop_all,
)
from bench.s3_small import py_spy
from bench.servers import REPO, RssSampler, Server

BUCKET = "bench"
INPUT_KEY = "in/records.jsonl"
OUTPUT_PREFIX = "out/"
BACKEND_MODULE = REPO / "bifrost_py" / "providers" / "local" / "openai_compatible.py"
POLL = 0.2
TARGET_RATIO = 1.3
TARGET_CPU_MS = 0.5
TARGET_RSS_MB = 200


def records_jsonl(count: int) -> bytes:
    """`count` Bedrock records with Anthropic Messages modelInput and a short prompt each."""
    return b"".join(orjson.dumps({"recordId": f"r{i:06d}", "modelInput": {
        "anthropic_version": "bedrock-2023-05-31", "max_tokens": 64,
        "messages": [{"role": "user", "content": f"Name the number {i}."}]}}) + b"\n"
        for i in range(count))


def config_text(base_url: str, concurrency: int) -> str:
    return (f'[providers.local]\nbackend = "openai-compatible"\nbase_url = "{base_url}"\n'
            f"concurrency = {concurrency}\n")


def wait_completed(bedrock: object, arn: str, timeout: float, server: Server) -> dict:
    """Poll GetModelInvocationJob every POLL s until the job ends; its last description."""
    deadline = time.monotonic() + timeout
    while True:
        job = bedrock.get_model_invocation_job(jobIdentifier=arn)  # type: ignore[attr-defined]
        if job["status"] in ("Completed", "PartiallyCompleted", "Failed", "Stopped", "Expired"):
            return job
        if server.proc.poll() is not None:
            raise RuntimeError(f"bifrost exited with {server.proc.returncode} during the job")
        if time.monotonic() > deadline:
            raise TimeoutError(f"job still {job['status']} after {timeout:.0f}s "
                               f"({job.get('processedRecordCount')} records processed)")
        time.sleep(POLL)


def create_job(bedrock: object) -> str:
    """CreateModelInvocationJob on s3://BUCKET/INPUT_KEY, output under OUTPUT_PREFIX; its ARN."""
    return bedrock.create_model_invocation_job(  # type: ignore[attr-defined,no-any-return]
        jobName=f"bench-{time.time_ns()}", modelId=MODEL_ID, roleArn=ROLE_ARN,
        inputDataConfig={"s3InputDataConfig": {"s3Uri": f"s3://{BUCKET}/{INPUT_KEY}"}},
        outputDataConfig={"s3OutputDataConfig": {"s3Uri": f"s3://{BUCKET}/{OUTPUT_PREFIX}"}},
    )["jobArn"]


def verify(s3: object, job_id: str, records: int) -> tuple[int, dict]:
    """The output object's line count and the manifest."""
    base = f"{OUTPUT_PREFIX}{job_id}/"
    out = s3.get_object(Bucket=BUCKET,  # type: ignore[attr-defined]
                        Key=f"{base}{INPUT_KEY.rsplit('/', 1)[-1]}.out")["Body"].read()
    manifest = json.loads(s3.get_object(  # type: ignore[attr-defined]
        Bucket=BUCKET, Key=f"{base}manifest.json.out")["Body"].read())
    lines = out.splitlines()
    ids = {json.loads(line)["recordId"] for line in lines[:: max(1, records // 100)]}
    if any(not i.startswith("r") for i in ids):
        raise AssertionError(f"unexpected recordIds in the output: {sorted(ids)[:5]}")
    return len(lines), manifest


def backend_version() -> str:
    """Which openai_compatible.py the server runs: its HTTP client and a hash of the file.

    The module is being reworked while these benchmarks are made; each round says which
    version it measured.
    """
    source = BACKEND_MODULE.read_bytes()
    client = next((name for marker, name in (
        (b"class AiohttpTransport", "aiohttp"), (b"class Http11Pool", "own HTTP/1.1 pool"),
        (b"httpx.AsyncClient(", "httpx")) if marker in source), "?")
    return f"{client}, sha256 {hashlib.sha256(source).hexdigest()[:12]}"


@contextlib.contextmanager
def job_servers(work_dir: Path, latency_ms: float, concurrency: int,
                cprofile: Path | None = None) -> Iterator[tuple[Server, Server]]:
    """The fake chat server and bifrost on it (local provider, openai-compatible backend), with
    bucket BUCKET; stops both on the way out, first printing the log of one that died."""
    servers: list[Server] = []
    try:
        fake = start_fake_chat(work_dir, latency_ms)
        servers.append(fake)
        bifrost = start_bifrost_config(work_dir, config_text(fake.endpoint, concurrency),
                                       cprofile)
        servers.append(bifrost)
        s3_client(bifrost.endpoint + "/files").create_bucket(Bucket=BUCKET)
        yield fake, bifrost
    finally:
        stop_all(servers)


def run_once(args: argparse.Namespace, body: bytes) -> dict[str, float]:
    """One job on fresh servers; its figures. Raises if the job or its output is wrong."""
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp, job_servers(
            Path(tmp), args.latency_ms, args.concurrency,
            args.cprofile.resolve() if args.cprofile else None) as (fake, bifrost):
        s3 = s3_client(bifrost.endpoint + "/files")
        bedrock = bedrock_client(bifrost.endpoint)
        s3.put_object(Bucket=BUCKET, Key=INPUT_KEY, Body=body)
        bedrock.list_model_invocation_jobs(maxResults=1)  # open the connection
        server_proc = psutil.Process(bifrost.pid)
        fake_proc = psutil.Process(fake.pid)
        idle_rss = server_proc.memory_info().rss
        version = backend_version()
        with RssSampler(bifrost.pid) as rss, py_spy(bifrost.pid, args.py_spy,
                                                    args.py_spy_args.split()):
            cpu0, fake_cpu0, client0 = (cpu_seconds(server_proc), cpu_seconds(fake_proc),
                                        time.process_time())
            start = time.perf_counter()
            arn = create_job(bedrock)
            job = wait_completed(bedrock, arn, args.timeout, bifrost)
            wall = time.perf_counter() - start
            cpu = cpu_seconds(server_proc) - cpu0
            fake_cpu = cpu_seconds(fake_proc) - fake_cpu0
            client_cpu = time.process_time() - client0
        if job["status"] != "Completed":
            raise AssertionError(f"job ended {job['status']}: {job.get('message')}")
        lines, manifest = verify(s3, arn.rsplit("/", 1)[-1], args.records)
    if backend_version() != version:
        print(f"warning: openai_compatible.py changed during the round (was {version})")
    if lines != args.records or manifest.get("successRecordCount") != args.records:
        raise AssertionError(f"output has {lines} lines, manifest {manifest}; expected "
                             f"{args.records} of each")
    n = args.records
    return {"wall": wall, "server": (job["endTime"] - job["submitTime"]).total_seconds(),
            "cpu_ms": cpu / n * 1000, "peak_mb": rss.peak / 1e6, "idle_mb": idle_rss / 1e6,
            "fake_ms": fake_cpu / n * 1000, "client_ms": client_cpu / n * 1000,
            "lines": lines, "success": manifest["successRecordCount"], "backend": version}


def add_job_arguments(parser: argparse.ArgumentParser) -> None:
    """--records, --latency-ms, --concurrency and --timeout: the job and its backend."""
    parser.add_argument("--records", type=int, default=20000, help="records in the job (20000)")
    parser.add_argument("--latency-ms", type=float, default=20.0,
                        help="the fake backend's latency per request (20)")
    parser.add_argument("--concurrency", type=int, default=64,
                        help="[providers.local] concurrency (64)")
    parser.add_argument("--timeout", type=float, default=600.0,
                        help="seconds to wait for the job to end (600)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_job_arguments(parser)
    parser.add_argument("--rounds", type=int, default=1,
                        help="jobs, each on fresh servers; the last row is the median (1)")
    parser.add_argument("--py-spy", type=Path, default=None, metavar="FILE",
                        help="attach py-spy (raw collapsed stacks) to bifrost during the job; "
                             "slows bifrost, so its figures are not comparable")
    parser.add_argument("--py-spy-args", default="--gil",
                        help="extra py-spy record flags with --py-spy (default --gil)")
    parser.add_argument("--cprofile", type=Path, default=None,
                        help="run bifrost under bench.profile_bifrost, stats written here")
    args = parser.parse_args(argv)

    body = records_jsonl(args.records)
    ideal = args.records * args.latency_ms / 1000 / args.concurrency
    print(f"{args.records} records ({len(body) / 1e6:.1f} MB), fake latency "
          f"{args.latency_ms:g} ms, concurrency {args.concurrency}, ideal {ideal:.2f} s",
          flush=True)
    rows = []
    for rnd in range(1, args.rounds + 1):
        row = run_once(args, body)
        rows.append(row)
        print(f"round {rnd}: wall {row['wall']:.2f} s, server CPU {row['cpu_ms']:.3f} ms/record, "
              f"peak RSS {row['peak_mb']:.0f} MB; output {row['lines']} lines, manifest "
              f"successRecordCount {row['success']} (checked); backend {row['backend']}",
              flush=True)
    med = {k: statistics.median(r[k] for r in rows) for k in rows[0] if k != "backend"}
    print()
    print("| round | wall s | ideal s | wall / ideal | endTime - submitTime s | "
          "server CPU ms/record | peak RSS MB | idle RSS MB | fake CPU ms/record | "
          "client CPU ms/record |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for label, r in [*((str(i), r) for i, r in enumerate(rows, 1)),
                     *([("median", med)] if len(rows) > 1 else [])]:
        print(f"| {label} | {r['wall']:.2f} | {ideal:.2f} | {r['wall'] / ideal:.2f} | "
              f"{r['server']:.2f} | {r['cpu_ms']:.3f} | {r['peak_mb']:.0f} | "
              f"{r['idle_mb']:.0f} | {r['fake_ms']:.3f} | {r['client_ms']:.3f} |")
    print()
    ratio = med["wall"] / ideal
    for name, value, target, ok in (
            ("wall / ideal", f"{ratio:.2f}", f"<= {TARGET_RATIO}", ratio <= TARGET_RATIO),
            ("server CPU ms/record", f"{med['cpu_ms']:.3f}", f"< {TARGET_CPU_MS}",
             med["cpu_ms"] < TARGET_CPU_MS),
            ("peak RSS MB", f"{med['peak_mb']:.0f}", f"< {TARGET_RSS_MB}",
             med["peak_mb"] < TARGET_RSS_MB)):
        print(f"{name:22s} {value:>8s}  target {target:8s} {'met' if ok else 'MISSED'}")


if __name__ == "__main__":
    main()
