"""Bedrock control-plane latency with many jobs: GetModelInvocationJob and
ListModelInvocationJobs against a server holding 10,000 jobs.

The jobs are created through the API (boto3, 16 threads) on a tiny input and run by the echo
backend; once every job has ended, one client thread times Get (random jobs, by ARN) and List
(maxResults=1000, the first page, and paging through every page with nextToken). The same calls
are timed with plain http.client, and against bench/canned_app.py (canned bodies captured from
bifrost), to split the latency into boto3's share and the server's.

Run:  .venv/bin/python -m bench.control_plane [--jobs 10000] [--gets 500] [--lists 100]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import random
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import psutil

from bench.jobs_common import (
    MODEL_ID,
    ROLE_ARN,
    bedrock_client,
    cpu_seconds,
    percentile,
    s3_client,
    start_bifrost_config,
    stop_all,
)
from bench.s3_small import py_spy
from bench.servers import RssSampler, Server, _spawn, free_port

BUCKET = "bench"
INPUT_KEY = "in/tiny.jsonl"
RUNNING = ("Submitted", "Validating", "Scheduled", "InProgress", "Stopping")
TARGET_P50_MS = 20.0
TINY = (b'{"recordId": "r0", "modelInput": {"anthropic_version": "bedrock-2023-05-31", '
        b'"max_tokens": 16, "messages": [{"role": "user", "content": "Hi."}]}}\n')


def start_canned(work_dir: Path, get_body: bytes, list_body: bytes) -> Server:
    """bench/canned_app.py under uvicorn with the null app's settings, answering these bodies."""
    canned = work_dir / "canned"
    canned.mkdir()
    (canned / "get.json").write_bytes(get_body)
    (canned / "list.json").write_bytes(list_body)
    port = free_port()
    cmd = [sys.executable, "-m", "uvicorn", "bench.canned_app:app", "--host", "127.0.0.1",
           "--port", str(port), "--no-access-log", "--no-server-header", "--http", "httptools",
           "--loop", "uvloop", "--log-level", "warning"]
    os.environ["BENCH_CANNED_DIR"] = str(canned)  # _spawn passes os.environ on
    try:
        return _spawn("canned", cmd, port, "/bedrock", "/health", work_dir)
    finally:
        del os.environ["BENCH_CANNED_DIR"]


class RawClient:
    """The same requests over one keep-alive http.client connection: no SDK in the way."""

    def __init__(self, endpoint: str) -> None:
        parts = urlsplit(endpoint)
        self.prefix = parts.path
        self.conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port,
                                               timeout=60)

    def get(self, path: str) -> bytes:
        try:
            self.conn.request("GET", self.prefix + path)
            response = self.conn.getresponse()
        except (http.client.RemoteDisconnected, ConnectionError):
            # uvicorn closes a connection idle for 5 s (it happens only while py-spy stops).
            self.conn.close()
            self.conn.request("GET", self.prefix + path)
            response = self.conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"GET {path}: {response.status} {body[:200]!r}")
        return body

    def get_job(self, arn: str) -> bytes:
        return self.get("/model-invocation-job/" + quote(arn, safe=""))

    def list_jobs(self, token: str | None) -> bytes:
        query = {"maxResults": "1000", **({"nextToken": token} if token else {})}
        return self.get("/model-invocation-jobs?" + urlencode(query))

    def close(self) -> None:
        self.conn.close()


def create_jobs(endpoint: str, count: int, threads: int, timeout: float,
                ) -> tuple[list[str], list[float], float]:
    """`count` jobs through CreateModelInvocationJob from `threads` threads, each with its own
    boto3 client. Their ARNs, each call's latency (s), and the elapsed time (s)."""
    clients = [bedrock_client(endpoint) for _ in range(threads)]
    for client in clients:
        client.list_model_invocation_jobs(maxResults=1)  # open the connection
    barrier = threading.Barrier(threads + 1)

    def worker(index: int) -> tuple[list[str], list[float]]:
        client, arns, times = clients[index], [], []
        barrier.wait(30)
        for number in range(index, count, threads):
            start = time.perf_counter()
            arns.append(client.create_model_invocation_job(
                jobName=f"cp-{number:06d}", modelId=MODEL_ID, roleArn=ROLE_ARN,
                inputDataConfig={"s3InputDataConfig": {"s3Uri": f"s3://{BUCKET}/{INPUT_KEY}"}},
                outputDataConfig={"s3OutputDataConfig": {"s3Uri": f"s3://{BUCKET}/out/"}},
            )["jobArn"])
            times.append(time.perf_counter() - start)
        return arns, times

    with ThreadPoolExecutor(threads, thread_name_prefix="create") as pool:
        futures = [pool.submit(worker, i) for i in range(threads)]
        barrier.wait(30)
        start = time.perf_counter()
        results = [f.result(timeout=timeout) for f in futures]
        elapsed = time.perf_counter() - start
    return ([a for arns, _ in results for a in arns],
            [t for _, times in results for t in times], elapsed)


def wait_all_ended(client: Any, timeout: float, server: Server) -> float:
    """Poll until no job is in a running status; the seconds it took."""
    start = time.perf_counter()
    while True:
        running = [s for s in RUNNING if client.list_model_invocation_jobs(
            statusEquals=s, maxResults=1)["invocationJobSummaries"]]
        if not running:
            return time.perf_counter() - start
        if server.proc.poll() is not None:
            raise RuntimeError(f"bifrost exited with {server.proc.returncode}")
        if time.perf_counter() - start > timeout:
            raise TimeoutError(f"jobs still {running} after {timeout:.0f}s")
        time.sleep(0.5)


Around = Callable[[str], contextlib.AbstractContextManager[None]]


def no_profile(kind: str) -> contextlib.AbstractContextManager[None]:
    return contextlib.nullcontext()


def timed(calls: int, call: Callable[[int], object]) -> list[float]:
    """Milliseconds of each of `calls` calls of `call(i)`."""
    times = []
    for i in range(calls):
        start = time.perf_counter()
        call(i)
        times.append((time.perf_counter() - start) * 1000)
    return times


def paging(list_page: Callable[[str | None], str | None]) -> Callable[[int], object]:
    """A call that fetches the next page each time, back to the first after the last."""
    state: dict[str, str | None] = {"token": None}

    def call(_: int) -> None:
        state["token"] = list_page(state["token"])

    return call


def boto3_calls(client: Any, arns: list[str], gets: int, lists: int, seed: int,
                around: Around = no_profile) -> dict[str, list[float]]:
    rng = random.Random(seed)
    picks = [rng.choice(arns) for _ in range(gets)]
    client.get_model_invocation_job(jobIdentifier=picks[0])  # warm up
    client.list_model_invocation_jobs(maxResults=1000)

    def page(token: str | None) -> str | None:
        kwargs = {"nextToken": token} if token else {}
        return client.list_model_invocation_jobs(maxResults=1000, **kwargs).get("nextToken")

    with around("get"):
        get = timed(gets, lambda i: client.get_model_invocation_job(jobIdentifier=picks[i]))
    with around("list"):
        first = timed(lists, lambda i: client.list_model_invocation_jobs(maxResults=1000))
    with around("list-paged"):
        paged = timed(lists, paging(page))
    return {"get": get, "list": first, "list paged": paged}


def raw_calls(raw: RawClient, arns: list[str], gets: int, lists: int, seed: int,
              around: Around = no_profile) -> dict[str, list[float]]:
    rng = random.Random(seed)
    picks = [rng.choice(arns) for _ in range(gets)]
    raw.get_job(picks[0])
    raw.list_jobs(None)

    def page(token: str | None) -> str | None:
        token = json.loads(raw.list_jobs(token)).get("nextToken")
        return str(token) if token else None

    with around("get"):
        get = timed(gets, lambda i: raw.get_job(picks[i]))
    with around("list"):
        first = timed(lists, lambda i: raw.list_jobs(None))
    with around("list-paged"):
        paged = timed(lists, paging(page))
    return {"get": get, "list": first, "list paged": paged}


def check_listing(client: Any, jobs: int) -> int:
    """Page through every job with maxResults=1000; the number of pages. Checks the count."""
    seen, pages, token = 0, 0, None
    while True:
        kwargs: dict[str, str] = {"nextToken": token} if token else {}
        page = client.list_model_invocation_jobs(maxResults=1000, **kwargs)
        seen += len(page["invocationJobSummaries"])
        pages += 1
        token = page.get("nextToken")
        if not token:
            break
    if seen != jobs:
        raise AssertionError(f"listing returned {seen} jobs, expected {jobs}")
    return pages


def row(label: str, ms: list[float]) -> str:
    return (f"| {label} | {len(ms)} | {percentile(ms, 50):.2f} | {percentile(ms, 90):.2f} | "
            f"{percentile(ms, 99):.2f} |")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=10000, help="jobs to create (10000)")
    parser.add_argument("--threads", type=int, default=16, help="threads creating jobs (16)")
    parser.add_argument("--gets", type=int, default=500, help="Get calls timed (500)")
    parser.add_argument("--lists", type=int, default=100, help="List calls timed, each way (100)")
    parser.add_argument("--max-concurrent-jobs", type=int, default=64,
                        help="[providers.local] max_concurrent_jobs (64; 0: the server's "
                             "default, 4, with which 10,000 jobs drain in O(N^2), too slowly)")
    parser.add_argument("--timeout", type=float, default=1200.0,
                        help="seconds for creating the jobs, and again for them to end (1200)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--py-spy", type=Path, default=None, metavar="PREFIX",
                        help="attach py-spy to bifrost while Get and List are timed, writing "
                             "PREFIX-{boto3,http}-{get,list,list-paged}.txt (raw collapsed "
                             "stacks); slows bifrost, so its figures are not comparable")
    parser.add_argument("--py-spy-args", default="--gil",
                        help="extra py-spy record flags with --py-spy (default --gil)")
    args = parser.parse_args(argv)

    # 10,000 jobs are created faster than they end: no limit on jobs in flight.
    config = "[server]\nmax_jobs_in_flight_per_tenant = 0\n[providers.local]\n" + (
        f"max_concurrent_jobs = {args.max_concurrent_jobs}\n" if args.max_concurrent_jobs else "")
    servers: list[Server] = []
    with tempfile.TemporaryDirectory(prefix="bench-control-") as tmp:
        try:
            bifrost = start_bifrost_config(Path(tmp), config)
            servers.append(bifrost)
            server_proc = psutil.Process(bifrost.pid)
            s3 = s3_client(bifrost.endpoint + "/files")
            s3.create_bucket(Bucket=BUCKET)
            s3.put_object(Bucket=BUCKET, Key=INPUT_KEY, Body=TINY)
            with RssSampler(bifrost.pid) as rss:
                cpu0 = cpu_seconds(server_proc)
                arns, create_s, create_elapsed = create_jobs(
                    bifrost.endpoint, args.jobs, args.threads, args.timeout)
                create_cpu = cpu_seconds(server_proc) - cpu0
                print(f"created {len(arns)} jobs from {args.threads} threads in "
                      f"{create_elapsed:.1f} s ({len(arns) / create_elapsed:.0f}/s; Create "
                      f"p50 {percentile([t * 1000 for t in create_s], 50):.1f} ms, p99 "
                      f"{percentile([t * 1000 for t in create_s], 99):.1f} ms; server CPU "
                      f"{create_cpu / len(arns) * 1000:.2f} ms/job, jobs running meanwhile)",
                      flush=True)
                client = bedrock_client(bifrost.endpoint)
                drain = wait_all_ended(client, args.timeout, bifrost)
                print(f"all jobs ended {drain:.1f} s after the last Create", flush=True)
                statuses = {s: len(client.list_model_invocation_jobs(
                    statusEquals=s, maxResults=1000)["invocationJobSummaries"])
                    for s in ("Failed", "Stopped", "Expired", "PartiallyCompleted")}
                if any(statuses.values()):
                    print(f"warning: jobs that did not complete: {statuses}", flush=True)
                pages = check_listing(client, args.jobs)
                raw = RawClient(bifrost.endpoint)
                get_body = raw.get_job(arns[0])
                list_body = raw.list_jobs(None)
                print(f"{pages} pages of 1000; Get body {len(get_body)} B, List body "
                      f"{len(list_body)} B", flush=True)
                def profiled(client_name: str) -> Around:
                    return lambda kind: py_spy(
                        bifrost.pid, Path(f"{args.py_spy}-{client_name}-{kind}.txt")
                        if args.py_spy else None, args.py_spy_args.split())

                cpu1 = cpu_seconds(server_proc)
                results = {f"boto3 → bifrost {k}": v for k, v in boto3_calls(
                    client, arns, args.gets, args.lists, args.seed, profiled("boto3")).items()}
                boto3_cpu = cpu_seconds(server_proc) - cpu1
                raw.close()
                raw = RawClient(bifrost.endpoint)  # uvicorn closes connections idle for 5 s
                results.update({f"http.client → bifrost {k}": v for k, v in raw_calls(
                    raw, arns, args.gets, args.lists, args.seed, profiled("http")).items()})
                raw.close()
            canned = start_canned(Path(tmp), get_body, list_body)
            servers.append(canned)
            results.update({f"boto3 → canned {k}": v for k, v in boto3_calls(
                bedrock_client(canned.endpoint), arns, args.gets, args.lists,
                args.seed).items()})
            raw = RawClient(canned.endpoint)
            results.update({f"http.client → canned {k}": v for k, v in raw_calls(
                raw, arns, args.gets, args.lists, args.seed).items()})
            raw.close()
        finally:
            stop_all(servers)

    calls = 2 * args.lists + args.gets
    print(f"bifrost peak RSS {rss.peak / 1e6:.0f} MB; server CPU during the boto3 Get/List "
          f"calls {boto3_cpu / calls * 1000:.2f} ms/call (all kinds together)")
    print()
    print("| client → server, call | calls | p50 ms | p90 ms | p99 ms |")
    print("|---|---|---|---|---|")
    for label, ms in results.items():
        print(row(label, ms))
    print()
    print("Estimates from the medians:")
    for kind in ("get", "list", "list paged"):
        med = {k: percentile(v, 50) for k, v in results.items() if k.endswith(f" {kind}")
               and not (kind == "list" and k.endswith("paged"))}
        boto3_cost = med[f"boto3 → canned {kind}"] - med[f"http.client → canned {kind}"]
        server_cost = med[f"http.client → bifrost {kind}"] - med[f"http.client → canned {kind}"]
        p50 = med[f"boto3 → bifrost {kind}"]
        verdict = "met" if p50 < TARGET_P50_MS else "MISSED"
        print(f"  {kind:10s} boto3 → bifrost p50 {p50:6.2f} ms ({verdict}: < {TARGET_P50_MS:g});"
              f" boto3's own share ≈ {boto3_cost:6.2f} ms; bifrost's work ≈ "
              f"{server_cost:6.2f} ms")


if __name__ == "__main__":
    main()
