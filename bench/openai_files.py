"""Large upload through both dialects: `client.files.create` of one file (default 1 GiB, named
upload.jsonl, purpose batch) to `/v1` against `aws s3 cp` of the same file to `/bedrock/files`,
alternating on one bifrost server.

Each `aws s3 cp` starts a new process, so a trivial `aws s3 ls` is timed right before it and the
speed is also given with that start-up subtracted. The verdict uses the stricter ratio (the one
with the start-up subtracted): files.create speed >= 0.8 x aws s3 cp. bifrost's peak RSS (process
and children, sampled every 50 ms) must stay < 150 MB during both. Stored sizes are checked
(`files.retrieve(...).bytes`, `head_object` ContentLength) and each upload is deleted after.
The script exits 1 if a target is missed.

Run:  python -m bench.openai_files [--size-mib 1024] [--rounds 3]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import openai

from bench.jobs_common import s3_client
from bench.s3_large import aws, make_file
from bench.servers import RssSampler, Server, mib, start_bifrost

BUCKET = "bench"
NAME = "upload.jsonl"  # the Files API checks only the name (.jsonl for purpose batch) at upload
TARGET_RATIO = 0.8
TARGET_RSS_MB = 150


def upload_v1(bifrost: Server, src: Path, size: int, timeout: float) -> tuple[float, int]:
    """files.create of `src` to /v1; seconds and the server's peak RSS (bytes). Checks the
    stored size, then deletes the file."""
    sdk = openai.OpenAI(base_url=bifrost.endpoint.removesuffix("/bedrock/files") + "/v1",
                        api_key="bench", max_retries=0, timeout=timeout)
    sdk.files.list(limit=1)  # open the connection
    # A file object, not a path: the SDK reads a path into memory, httpx streams a file object.
    with src.open("rb") as body, RssSampler(bifrost.pid) as rss:
        start = time.perf_counter()
        file = sdk.files.create(file=(NAME, body), purpose="batch")
        seconds = time.perf_counter() - start
    stored = sdk.files.retrieve(file.id).bytes
    if stored != size:
        raise AssertionError(f"/v1 stored {stored} bytes, uploaded {size}")
    sdk.files.delete(file.id)
    return seconds, rss.peak


def upload_s3(bifrost: Server, src: Path, size: int, timeout: float,
              ) -> tuple[float, float, int]:
    """`aws s3 cp` of `src` to /bedrock/files; seconds, the CLI's start-up (a trivial `aws s3 ls`
    timed just before) and the server's peak RSS. Checks the stored size, then deletes it."""
    startup = aws(bifrost.endpoint, ["s3", "ls", f"s3://{BUCKET}"], src.parent, 60)
    with RssSampler(bifrost.pid) as rss:
        seconds = aws(bifrost.endpoint, ["s3", "cp", "--no-progress", str(src),
                                         f"s3://{BUCKET}/{NAME}"], src.parent, timeout)
    s3 = s3_client(bifrost.endpoint)
    stored = s3.head_object(Bucket=BUCKET, Key=NAME)["ContentLength"]
    if stored != size:
        raise AssertionError(f"/bedrock/files stored {stored} bytes, uploaded {size}")
    s3.delete_object(Bucket=BUCKET, Key=NAME)
    return seconds, startup, rss.peak


def run_round(bifrost: Server, src: Path, size: int, timeout: float, v1_first: bool,
              ) -> dict[str, Any]:
    """Both uploads, in the given order; their figures and ratios."""
    got: dict[str, Any] = {"first": "/v1" if v1_first else "aws"}
    for step in ("v1", "aws") if v1_first else ("aws", "v1"):
        if step == "v1":
            got["v1_s"], got["v1_rss"] = upload_v1(bifrost, src, size, timeout)
        else:
            got["aws_s"], got["startup_s"], got["aws_rss"] = upload_s3(bifrost, src, size,
                                                                       timeout)
    got["ratio"] = got["aws_s"] / got["v1_s"]
    got["ratio_strict"] = (got["aws_s"] - got["startup_s"]) / got["v1_s"]
    return got


def fmt_table(rows: list[dict[str, Any]], size_mib: int) -> str:
    keys = ["v1_s", "aws_s", "startup_s", "ratio", "ratio_strict", "v1_rss", "aws_rss"]
    med = {k: statistics.median(r[k] for r in rows) for k in keys}
    med["v1_rss"] = max(r["v1_rss"] for r in rows)
    med["aws_rss"] = max(r["aws_rss"] for r in rows)
    lines = ["| round | first | files.create s | MiB/s | aws s3 cp s | MiB/s | aws start-up s | "
             "MiB/s without start-up | speed x aws | speed x aws without start-up | "
             "peak RSS /v1 MB | peak RSS aws MB |", "|---" * 12 + "|"]
    for label, r in [*((str(i), r) for i, r in enumerate(rows, 1)), ("median (RSS: max)", med)]:
        lines.append(
            f"| {label} | {r.get('first', '')} | {r['v1_s']:.2f} | {size_mib / r['v1_s']:.0f} | "
            f"{r['aws_s']:.2f} | {size_mib / r['aws_s']:.0f} | {r['startup_s']:.2f} | "
            f"{size_mib / (r['aws_s'] - r['startup_s']):.0f} | {r['ratio']:.2f} | "
            f"{r['ratio_strict']:.2f} | {r['v1_rss'] / 1e6:.0f} | {r['aws_rss'] / 1e6:.0f} |")
    return "\n".join(lines)


def verdict(rows: list[dict[str, Any]]) -> bool:
    """Print each target against its result; whether all were met."""
    strict = statistics.median(r["ratio_strict"] for r in rows)
    loose = statistics.median(r["ratio"] for r in rows)
    peak = max(max(r["v1_rss"], r["aws_rss"]) for r in rows) / 1e6
    print(f"\nfiles.create speed x aws s3 cp: {loose:.2f} as timed, {strict:.2f} with the CLI's "
          f"start-up subtracted (the verdict uses the stricter, {min(strict, loose):.2f})")
    checks = [("speed ratio", f"{min(strict, loose):.2f}", f">= {TARGET_RATIO}",
               min(strict, loose) >= TARGET_RATIO),
              ("peak RSS MB", f"{peak:.0f}", f"< {TARGET_RSS_MB}", peak < TARGET_RSS_MB)]
    for name, value, target, ok in checks:
        print(f"{name:12s} {value:>6s}  target {target:7s} {'met' if ok else 'MISSED'}")
    return all(ok for *_, ok in checks)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024, help="file size (1024)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds of both uploads, alternating which goes first (3)")
    parser.add_argument("--timeout", type=float, default=900,
                        help="seconds allowed per upload (900)")
    args = parser.parse_args(argv)
    size = args.size_mib * 2**20
    # The source file plus one stored copy, with room to spare.
    free = shutil.disk_usage(tempfile.gettempdir()).free
    if free < 3 * size:
        sys.exit(f"need {3 * args.size_mib} MiB free in {tempfile.gettempdir()}, "
                 f"have {mib(free):.0f}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-openai-files-") as tmp_name:
        tmp = Path(tmp_name)
        src = tmp / NAME
        make_file(src, args.size_mib)
        bifrost = start_bifrost(tmp / "server")
        try:
            aws(bifrost.endpoint, ["s3", "mb", f"s3://{BUCKET}"], tmp, 60)
            for rnd in range(1, args.rounds + 1):
                row = run_round(bifrost, src, size, args.timeout, v1_first=rnd % 2 == 1)
                rows.append(row)
                print(f"round {rnd}: files.create {row['v1_s']:.2f} s, aws s3 cp "
                      f"{row['aws_s']:.2f} s (start-up {row['startup_s']:.2f} s), peak RSS "
                      f"{row['v1_rss'] / 1e6:.0f} / {row['aws_rss'] / 1e6:.0f} MB; "
                      f"sizes checked", flush=True)
        finally:
            bifrost.stop()
    print()
    print(fmt_table(rows, args.size_mib))
    if not verdict(rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
