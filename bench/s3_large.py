"""Large-object S3 transfer: the real aws CLI against bifrost_py and against moto_server.

Makes one random file (default 1 GiB), then for each server (started fresh each round) times
`aws s3 cp FILE s3://bench/big` and `aws s3 cp s3://bench/big FILE2`, checks FILE2's sha256,
and samples the server process tree's RSS every 50 ms during each transfer.

Run:  .venv/bin/python -m bench.s3_large [--size-mib 1024] [--rounds 1]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.servers import CREDENTIALS, RssSampler, Server, mib, start_bifrost, start_moto, tree_rss

CHUNK = 8 * 2**20
FALLBACK_MIB = 512
Starter = Callable[[Path], Server]
TARGETS: dict[str, Starter] = {"bifrost": start_bifrost, "moto": start_moto}


class TransferFailed(RuntimeError):
    """An aws CLI transfer failed, timed out, or brought back different bytes."""


@dataclass
class Run:
    target: str
    size_mib: int
    up_s: float
    down_s: float
    idle_rss: int
    up_rss: int
    down_rss: int
    life_rss: int


def make_file(path: Path, size_mib: int) -> str:
    digest = hashlib.sha256()
    with path.open("wb") as f:
        for _ in range(size_mib * 2**20 // CHUNK):
            chunk = os.urandom(CHUNK)
            digest.update(chunk)
            f.write(chunk)
        rest = size_mib * 2**20 % CHUNK
        if rest:
            chunk = os.urandom(rest)
            digest.update(chunk)
            f.write(chunk)
    return digest.hexdigest()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def aws(endpoint: str, args: list[str], cwd: Path, timeout: float) -> float:
    """Run `aws --endpoint-url ENDPOINT ARGS`; returns seconds taken."""
    env = {**os.environ, **CREDENTIALS, "AWS_CONFIG_FILE": os.devnull,
           "AWS_SHARED_CREDENTIALS_FILE": os.devnull}
    cmd = [sys.executable, "-m", "awscli", "--endpoint-url", endpoint, *args]
    start = time.perf_counter()
    try:
        result = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True,
                                timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        raise TransferFailed(f"aws {' '.join(args)} timed out after {timeout:.0f}s") from exc
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise TransferFailed(f"aws {' '.join(args)} exited {result.returncode}:\n"
                             f"{result.stdout[-1500:]}\n{result.stderr[-1500:]}")
    return elapsed


def run_target(target: str, src: Path, src_sha: str, size_mib: int, tmp: Path,
               timeout: float) -> Run:
    work = Path(tempfile.mkdtemp(prefix=f"{target}-", dir=tmp))
    dst = tmp / "download.bin"
    server = TARGETS[target](work)
    try:
        with RssSampler(server.pid) as life:
            idle = tree_rss(life.proc)
            aws(server.endpoint, ["s3", "mb", "s3://bench"], tmp, 60)
            with RssSampler(server.pid) as up_rss:
                up = aws(server.endpoint, ["s3", "cp", "--no-progress", str(src),
                                           "s3://bench/big"], tmp, timeout)
            with RssSampler(server.pid) as down_rss:
                down = aws(server.endpoint, ["s3", "cp", "--no-progress", "s3://bench/big",
                                             str(dst)], tmp, timeout)
            if server.proc.poll() is not None:
                raise TransferFailed(f"{target} exited during the transfers")
        got = sha256_of(dst)
        if got != src_sha:
            raise TransferFailed(f"{target}: downloaded sha256 {got} != uploaded {src_sha}")
        return Run(target, size_mib, up, down, idle, up_rss.peak, down_rss.peak, life.peak)
    finally:
        server.stop()
        dst.unlink(missing_ok=True)
        shutil.rmtree(work, ignore_errors=True)


def run_all(size_mib: int, rounds: int, targets: list[str], timeout: float) -> list[Run]:
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="bench-s3-large-") as tmp_name:
        tmp = Path(tmp_name)
        src = tmp / "upload.bin"
        t0 = time.perf_counter()
        src_sha = make_file(src, size_mib)
        print(f"made {size_mib} MiB random file in {time.perf_counter() - t0:.1f}s "
              f"(sha256 {src_sha[:16]}...)", flush=True)
        for rnd in range(1, rounds + 1):
            for target in targets:
                try:
                    run = run_target(target, src, src_sha, size_mib, tmp, timeout)
                except TransferFailed as exc:
                    raise TransferFailed(f"{target} at {size_mib} MiB: {exc}") from exc
                runs.append(run)
                print(f"round {rnd} {target:8s} up {run.up_s:6.1f}s  down {run.down_s:6.1f}s  "
                      f"peak RSS up {mib(run.up_rss):6.0f} MiB  down {mib(run.down_rss):6.0f} "
                      f"MiB  life {mib(run.life_rss):6.0f} MiB", flush=True)
    return runs


def fmt_table(runs: list[Run], baseline: str) -> str:
    by: dict[str, list[Run]] = {}
    for run in runs:
        by.setdefault(run.target, []).append(run)
    med = {t: (statistics.median(r.up_s for r in rs), statistics.median(r.down_s for r in rs))
           for t, rs in by.items()}
    base = med.get(baseline)
    lines = ["| target | size MiB | upload s | upload MiB/s | upload speed x moto | download s | "
             "download MiB/s | download speed x moto | idle RSS MiB | peak RSS upload MiB | "
             "peak RSS download MiB | peak RSS whole run MiB |",
             "|---" * 12 + "|"]
    for target, rs in by.items():
        up, down = med[target]
        size = rs[0].size_mib
        r_up = f"{base[0] / up:.2f}" if base else "-"
        r_down = f"{base[1] / down:.2f}" if base else "-"
        lines.append(
            f"| {target} | {size} | {up:.1f} | {size / up:.0f} | {r_up} | {down:.1f} | "
            f"{size / down:.0f} | {r_down} | {mib(max(r.idle_rss for r in rs)):.0f} | "
            f"{mib(max(r.up_rss for r in rs)):.0f} | {mib(max(r.down_rss for r in rs)):.0f} | "
            f"{mib(max(r.life_rss for r in rs)):.0f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024, help="file size (default 1024)")
    parser.add_argument("--rounds", type=int, default=1, help="rounds of all targets (default 1)")
    parser.add_argument("--targets", default="bifrost,moto",
                        help="comma-separated subset of bifrost,moto")
    parser.add_argument("--timeout", type=float, default=900,
                        help="seconds allowed per aws cp (default 900)")
    args = parser.parse_args(argv)
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    for target in targets:
        if target not in TARGETS:
            parser.error(f"unknown target {target!r}")
    free = shutil.disk_usage(tempfile.gettempdir()).free
    if free < 4 * args.size_mib * 2**20:
        sys.exit(f"need {4 * args.size_mib} MiB free in {tempfile.gettempdir()}, "
                 f"have {mib(free):.0f}")
    try:
        runs = run_all(args.size_mib, args.rounds, targets, args.timeout)
    except TransferFailed as exc:
        if not str(exc).startswith("moto") or args.size_mib <= FALLBACK_MIB:
            raise
        print(f"\nmoto could not take {args.size_mib} MiB ({exc}); "
              f"falling back to {FALLBACK_MIB} MiB for both servers\n", flush=True)
        runs = run_all(FALLBACK_MIB, args.rounds, targets, args.timeout)
    print()
    print(fmt_table(runs, "moto" if "moto" in targets else targets[0]))


if __name__ == "__main__":
    main()
