"""The same batch through both dialects: N chat requests on provider `local` (the fake
openai-compatible chat server, fixed latency per request) sent through `/v1` with the openai SDK
and through `/bedrock` with boto3, alternating, each job on fresh servers.

/v1:       files.create -> batches.create -> poll batches.retrieve -> files.content
/bedrock:  put_object -> CreateModelInvocationJob -> poll GetModelInvocationJob -> get_object .out

Wall time runs from the start of the upload to the last byte of the output. Also reports
bifrost's CPU time per record (user + sys, psutil) and its peak RSS over the same span, and
checks every output. The target is /v1 wall <= 1.1 x /bedrock wall (median of the rounds'
ratios); the script exits 1 if it is missed.

Run:  python -m bench.openai_batch [--rounds 3] [--records 20000] [--latency-ms 20]
      [--concurrency 64] [--py-spy DIR]
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import openai
import orjson
import psutil

from bench.batch_executor import (
    BUCKET,
    INPUT_KEY,
    OUTPUT_PREFIX,
    POLL,
    add_job_arguments,
    create_job,
    job_servers,
    records_jsonl,
    wait_completed,
)
from bench.jobs_common import MODEL_ID, bedrock_client, cpu_seconds, s3_client
from bench.s3_small import py_spy
from bench.servers import RssSampler, Server

TARGET_RATIO = 1.1
ENDED = frozenset({"completed", "failed", "expired", "cancelled"})
CHAT: Final = "/v1/chat/completions"
Dialect = Callable[[Server, int, float], dict[str, float]]


def prompt(i: int) -> str:
    """The prompt of request i, the same in both dialects (batch_executor.records_jsonl's)."""
    return f"Name the number {i}."


def requests_jsonl(count: int) -> bytes:
    """`count` OpenAI batch lines asking what `records_jsonl` asks, with the same max_tokens."""
    return b"".join(orjson.dumps({"custom_id": f"r{i:06d}", "method": "POST", "url": CHAT,
                                  "body": {"model": MODEL_ID, "max_tokens": 64, "messages": [
                                      {"role": "user", "content": prompt(i)}]}}) + b"\n"
                    for i in range(count))


def expected_answers(count: int) -> dict[str, str]:
    """id -> the fake backend's answer (it echoes the last user message)."""
    return {f"r{i:06d}": f"echo: {prompt(i)}" for i in range(count)}


def check_answers(pairs: list[tuple[str, str]], count: int) -> None:
    """Every id exactly once, each with its own answer."""
    if len(pairs) != count:
        raise AssertionError(f"output has {len(pairs)} lines, expected {count}")
    got = dict(pairs)
    if len(got) != count:
        raise AssertionError(f"{count - len(got)} ids appear more than once in the output")
    if got != expected_answers(count):
        wrong = [k for k, v in expected_answers(count).items() if got.get(k) != v]
        raise AssertionError(f"{len(wrong)} ids missing or wrongly answered, e.g. {wrong[:3]}")


def phases(start: float, uploaded: float, ended: float, end: float, out_bytes: int,
           ) -> dict[str, float]:
    """Seconds of upload, run (create to the poll that sees the end) and download, their sum
    (the wall time) and the output's size in MB."""
    return {"upload": uploaded - start, "run": ended - uploaded, "download": end - ended,
            "wall": end - start, "out_mb": out_bytes / 1e6}


def openai_client(bifrost: Server) -> openai.OpenAI:
    base = bifrost.endpoint.removesuffix("/bedrock") + "/v1"
    return openai.OpenAI(base_url=base, api_key="bench", max_retries=0, timeout=300,
                         default_headers={"x-model-provider": "local"})


def run_v1(bifrost: Server, count: int, timeout: float) -> dict[str, float]:
    """Upload, create, poll, download through /v1; the seconds of each phase and the output's
    MB (checked)."""
    sdk = openai_client(bifrost)
    body = requests_jsonl(count)
    sdk.batches.list(limit=1)  # open the connection
    start = time.perf_counter()
    file = sdk.files.create(file=("requests.jsonl", io.BytesIO(body)), purpose="batch")
    uploaded = time.perf_counter()
    batch = sdk.batches.create(input_file_id=file.id, endpoint=CHAT, completion_window="24h")
    deadline = time.monotonic() + timeout
    while (batch := sdk.batches.retrieve(batch.id)).status not in ENDED:
        if time.monotonic() > deadline:
            raise TimeoutError(f"batch still {batch.status} after {timeout:.0f}s")
        time.sleep(POLL)
    if batch.status != "completed" or not batch.output_file_id:
        raise AssertionError(f"batch ended {batch.status}: {batch.errors}")
    ended = time.perf_counter()
    out = sdk.files.content(batch.output_file_id).content
    end = time.perf_counter()
    counts = batch.request_counts
    if counts is None or (counts.total, counts.completed, counts.failed) != (count, count, 0):
        raise AssertionError(f"request_counts {counts}, expected {count} completed, 0 failed")
    if batch.error_file_id:
        raise AssertionError(f"batch has an error file {batch.error_file_id}")
    lines = [json.loads(line) for line in out.splitlines()]
    if any(line["error"] is not None or line["response"]["status_code"] != 200
           for line in lines):
        raise AssertionError("some output lines are errors")
    check_answers([(line["custom_id"],
                    line["response"]["body"]["choices"][0]["message"]["content"])
                   for line in lines], count)
    return phases(start, uploaded, ended, end, len(out))


def run_bedrock(bifrost: Server, count: int, timeout: float) -> dict[str, float]:
    """Upload, create, poll, download through /bedrock; the seconds of each phase and the
    output's MB (checked, with the manifest)."""
    s3 = s3_client(bifrost.endpoint + "/files")
    bedrock = bedrock_client(bifrost.endpoint)
    body = records_jsonl(count)
    s3.list_objects_v2(Bucket=BUCKET, MaxKeys=1)  # open the connections
    bedrock.list_model_invocation_jobs(maxResults=1)
    start = time.perf_counter()
    s3.put_object(Bucket=BUCKET, Key=INPUT_KEY, Body=body)
    uploaded = time.perf_counter()
    arn = create_job(bedrock)
    job = wait_completed(bedrock, arn, timeout, bifrost)
    if job["status"] != "Completed":
        raise AssertionError(f"job ended {job['status']}: {job.get('message')}")
    ended = time.perf_counter()
    base = f"{OUTPUT_PREFIX}{arn.rsplit('/', 1)[-1]}/"
    out = s3.get_object(Bucket=BUCKET,
                        Key=f"{base}{INPUT_KEY.rsplit('/', 1)[-1]}.out")["Body"].read()
    end = time.perf_counter()
    manifest = json.loads(s3.get_object(Bucket=BUCKET,
                                        Key=f"{base}manifest.json.out")["Body"].read())
    want = {"totalRecordCount": count, "processedRecordCount": count,
            "successRecordCount": count, "errorRecordCount": 0}
    if {k: manifest.get(k) for k in want} != want:
        raise AssertionError(f"manifest {manifest}, expected {want}")
    lines = [json.loads(line) for line in out.splitlines()]
    if any("error" in line or "modelOutput" not in line for line in lines):
        raise AssertionError("some output records are errors")
    check_answers([(line["recordId"], line["modelOutput"]["content"][0]["text"])
                   for line in lines], count)
    return phases(start, uploaded, ended, end, len(out))


DIALECTS: dict[str, Dialect] = {"/v1": run_v1, "/bedrock": run_bedrock}


def measure(name: str, args: argparse.Namespace, profile: Path | None) -> dict[str, float]:
    """One job through dialect `name` on fresh servers: wall s, server CPU ms/record, peak MB.
    With `profile`, py-spy records bifrost during the job into that file."""
    with tempfile.TemporaryDirectory(prefix="bench-openai-batch-") as tmp, job_servers(
            Path(tmp), args.latency_ms, args.concurrency) as (_, bifrost):
        proc = psutil.Process(bifrost.pid)
        with RssSampler(bifrost.pid) as rss, py_spy(bifrost.pid, profile,
                                                    args.py_spy_args.split()):
            cpu0 = cpu_seconds(proc)
            got = DIALECTS[name](bifrost, args.records, args.timeout)
            cpu = cpu_seconds(proc) - cpu0
    # The sampler also covers the client's connect and input build just before the timed span.
    return {**got, "cpu_ms": cpu / args.records * 1000, "peak_mb": rss.peak / 1e6}


def fmt_table(rows: list[dict[str, Any]]) -> str:
    """Per round and median: both wall times, their ratio, CPU and RSS per dialect."""
    keys = ["v1_wall", "bedrock_wall", "ratio", "v1_cpu_ms", "bedrock_cpu_ms", "v1_peak_mb",
            "bedrock_peak_mb"]
    med = {k: statistics.median(r[k] for r in rows) for k in keys}
    lines = ["| round | first | /v1 wall s | /bedrock wall s | /v1 ÷ /bedrock | "
             "/v1 server CPU ms/record | /bedrock server CPU ms/record | /v1 peak RSS MB | "
             "/bedrock peak RSS MB |", "|---" * 9 + "|"]
    for label, r in [*((str(i), r) for i, r in enumerate(rows, 1)), ("median", med)]:
        lines.append(f"| {label} | {r.get('first', '')} | {r['v1_wall']:.2f} | "
                     f"{r['bedrock_wall']:.2f} | {r['ratio']:.3f} | {r['v1_cpu_ms']:.3f} | "
                     f"{r['bedrock_cpu_ms']:.3f} | {r['v1_peak_mb']:.0f} | "
                     f"{r['bedrock_peak_mb']:.0f} |")
    return "\n".join(lines)


def fmt_phases(runs: dict[str, list[dict[str, float]]]) -> str:
    """Median seconds of each phase per dialect."""
    keys = ["upload", "run", "download", "wall"]
    lines = ["| dialect (medians) | upload s | run s | download s | wall s |", "|---" * 5 + "|"]
    for name, got in runs.items():
        lines.append(f"| {name} | " + " | ".join(
            f"{statistics.median(g[k] for g in got):.2f}" for k in keys) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds of both dialects, alternating which goes first (3)")
    add_job_arguments(parser)
    parser.add_argument("--py-spy", type=Path, default=None, metavar="DIR",
                        help="record bifrost with py-spy during each job, into DIR/v1-ROUND.txt "
                             "and DIR/bedrock-ROUND.txt; slows bifrost, so its figures are not "
                             "comparable")
    parser.add_argument("--py-spy-args", default="--gil",
                        help="extra py-spy record flags with --py-spy (default --gil)")
    args = parser.parse_args(argv)
    ideal = args.records * args.latency_ms / 1000 / args.concurrency
    print(f"{args.records} requests, fake latency {args.latency_ms:g} ms, concurrency "
          f"{args.concurrency}, ideal {ideal:.2f} s", flush=True)
    rows: list[dict[str, Any]] = []
    by_phase: dict[str, list[dict[str, float]]] = {}
    for rnd in range(1, args.rounds + 1):
        # Alternate the order so neither dialect always meets the box's load first.
        order = ["/v1", "/bedrock"] if rnd % 2 else ["/bedrock", "/v1"]
        got = {}
        for name in order:
            profile = (args.py_spy / f"{name.strip('/')}-{rnd}.txt" if args.py_spy
                       else None)
            got[name] = measure(name, args, profile)
            print(f"round {rnd} {name:9s} wall {got[name]['wall']:.2f} s (upload "
                  f"{got[name]['upload']:.2f}, run {got[name]['run']:.2f}, download "
                  f"{got[name]['download']:.2f}), server CPU "
                  f"{got[name]['cpu_ms']:.3f} ms/record, peak RSS {got[name]['peak_mb']:.0f} "
                  f"MB, output {got[name]['out_mb']:.1f} MB ({args.records} answers checked)",
                  flush=True)
        v1, bedrock = got["/v1"], got["/bedrock"]
        for name in DIALECTS:
            by_phase.setdefault(name, []).append(got[name])
        rows.append({"first": order[0], "v1_wall": v1["wall"], "bedrock_wall": bedrock["wall"],
                     "ratio": v1["wall"] / bedrock["wall"], "v1_cpu_ms": v1["cpu_ms"],
                     "bedrock_cpu_ms": bedrock["cpu_ms"], "v1_peak_mb": v1["peak_mb"],
                     "bedrock_peak_mb": bedrock["peak_mb"]})
    print()
    print(fmt_table(rows))
    print()
    print(fmt_phases(by_phase))
    ratio = float(statistics.median(r["ratio"] for r in rows))
    met = ratio <= TARGET_RATIO
    print(f"\n/v1 wall / /bedrock wall (median of rounds) {ratio:.3f}  target <= {TARGET_RATIO}  "
          f"{'met' if met else 'MISSED'}")
    if not met:
        sys.exit(1)


if __name__ == "__main__":
    main()
