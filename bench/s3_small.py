"""Small-object S3 throughput: bifrost_py vs moto_server vs a do-nothing ASGI app (the ceiling).

For each target, 8 client threads (each with its own boto3 client) do N PUTs of 1 KiB objects,
then N HEADs, then N GETs over the same keys. Targets are interleaved in rounds (A B C A B C ...)
and the median ops/s per phase is reported, with the ratio to moto.

Run:  .venv/bin/python -m bench.s3_small [--n 2000] [--rounds 3] [--threads 8]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import psutil
from botocore.config import Config

from bench.servers import (
    CREDENTIALS,
    RssSampler,
    Server,
    mib,
    start_bifrost,
    start_moto,
    start_null,
)

BUCKET = "bench"
PHASES = ("PUT", "HEAD", "GET")
PHASE_TIMEOUT = 300.0

Starter = Callable[[Path], Server]
TARGETS: dict[str, Starter] = {"bifrost": start_bifrost, "moto": start_moto, "null": start_null}


def make_client(endpoint: str, pool: int) -> Any:
    session = boto3.session.Session(
        aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        region_name=CREDENTIALS["AWS_DEFAULT_REGION"])
    config = Config(max_pool_connections=pool, retries={"total_max_attempts": 1},
                    connect_timeout=10, read_timeout=60, s3={"addressing_style": "path"})
    return session.client("s3", endpoint_url=endpoint, config=config)


def cpu_seconds(proc: psutil.Process) -> float:
    """User + system CPU time of a process and its children so far."""
    times = proc.cpu_times()
    total = times.user + times.system
    for child in proc.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            child_times = child.cpu_times()
            total += child_times.user + child_times.system
    return total


def run_phase(phase: str, clients: list[Any], keys: list[str], body: bytes,
              server: psutil.Process) -> tuple[float, float, float]:
    """Do one op per key, the keys split across the clients' threads.

    Returns (ops/s, server CPU microseconds per op, client CPU microseconds per op).
    """
    threads = len(clients)
    barrier = threading.Barrier(threads + 1)

    def worker(index: int) -> int:
        client = clients[index]
        mine = keys[index::threads]
        barrier.wait(30)
        for key in mine:
            if phase == "PUT":
                client.put_object(Bucket=BUCKET, Key=key, Body=body)
            elif phase == "HEAD":
                client.head_object(Bucket=BUCKET, Key=key)
            else:
                data = client.get_object(Bucket=BUCKET, Key=key)["Body"].read()
                if len(data) != len(body):
                    raise AssertionError(f"GET {key}: {len(data)} bytes, expected {len(body)}")
        return len(mine)

    with ThreadPoolExecutor(threads, thread_name_prefix=f"bench-{phase}") as pool:
        futures = [pool.submit(worker, i) for i in range(threads)]
        cpu0, client0 = cpu_seconds(server), time.process_time()
        barrier.wait(30)
        start = time.perf_counter()
        done = sum(f.result(timeout=PHASE_TIMEOUT) for f in futures)
        elapsed = time.perf_counter() - start
        cpu, client = cpu_seconds(server) - cpu0, time.process_time() - client0
    return done / elapsed, cpu / done * 1e6, client / done * 1e6


@contextlib.contextmanager
def py_spy(pid: int, out: Path | None, extra: list[str]) -> Iterator[None]:
    """Record `pid` with py-spy (raw collapsed stacks, per thread) while the block runs."""
    if out is None:
        yield
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(pid), "-o",
           str(out), "-f", "raw", "--threads", "--rate", "200", "--duration", "600", *extra]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.0)  # let it attach
        yield
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def warm_up(clients: list[Any], body: bytes) -> None:
    """Open each client's connection and settle its endpoint resolution before timing."""
    for i, client in enumerate(clients):
        client.put_object(Bucket=BUCKET, Key=f"warm/{i}", Body=body)
        client.head_object(Bucket=BUCKET, Key=f"warm/{i}")
        client.get_object(Bucket=BUCKET, Key=f"warm/{i}")["Body"].read()


def fmt_cpu_table(cpu: dict[str, dict[str, list[float]]],
                  client_cpu: dict[str, dict[str, list[float]]], baseline: str) -> str:
    """Server CPU per op (user+sys, median), its ratio to the baseline, and the client's."""
    med = {t: {p: statistics.median(v) for p, v in r.items()} for t, r in cpu.items()}
    cmed = {t: {p: statistics.median(v) for p, v in r.items()} for t, r in client_cpu.items()}
    lines = ["| target | " + " | ".join(f"{p} server CPU us/op" for p in PHASES)
             + " | " + " | ".join(f"{p} server CPU/op vs {baseline}" for p in PHASES)
             + " | " + " | ".join(f"{p} client CPU us/op" for p in PHASES) + " |",
             "|---" * (3 * len(PHASES) + 1) + "|"]
    for target, row in med.items():
        base = med.get(baseline)
        ratios = [f"{row[p] / base[p]:.2f}" if base else "-" for p in PHASES]
        lines.append(f"| {target} | " + " | ".join(f"{row[p]:.0f}" for p in PHASES) + " | "
                     + " | ".join(ratios) + " | "
                     + " | ".join(f"{cmed[target][p]:.0f}" for p in PHASES) + " |")
    return "\n".join(lines)


def fmt_table(results: dict[str, dict[str, list[float]]], peaks: dict[str, int],
              baseline: str) -> str:
    cols = [*PHASES, "all"]
    med = {t: {p: statistics.median(v) for p, v in r.items()} for t, r in results.items()}
    lines = ["| target | " + " | ".join(f"{c} ops/s" for c in cols)
             + " | " + " | ".join(f"{c} x{baseline}" for c in cols) + " | peak RSS MiB |",
             "|---" * (2 * len(cols) + 2) + "|"]
    for target, row in med.items():
        base = med.get(baseline)
        ratios = [f"{row[c] / base[c]:.2f}" if base else "-" for c in cols]
        lines.append(f"| {target} | " + " | ".join(f"{row[c]:.0f}" for c in cols) + " | "
                     + " | ".join(ratios) + f" | {mib(peaks.get(target, 0)):.0f} |")
    return "\n".join(lines)


Series = dict[str, dict[str, list[float]]]  # target -> phase -> one figure per round


@dataclass
class Measurements:
    """Per target and phase: ops/s, server CPU µs/op and client CPU µs/op, one value a round."""

    rates: Series
    cpu: Series
    client_cpu: Series

    @classmethod
    def for_targets(cls, names: list[str]) -> Measurements:
        return cls({n: {p: [] for p in (*PHASES, "all")} for n in names},
                   {n: {p: [] for p in PHASES} for n in names},
                   {n: {p: [] for p in PHASES} for n in names})


def measure_round(rnd: int, name: str, clients: list[Any], proc: Any, keys: list[str],
                  body: bytes, m: Measurements,
                  spy: Callable[[str], AbstractContextManager[object]] = lambda _: nullcontext(),
                  ) -> None:
    """One round of every phase against one target; prints the round's rates."""
    rates: dict[str, float] = {}
    for phase in PHASES:
        with spy(phase):
            rate, server_us, client_us = run_phase(phase, clients, keys, body, proc)
        rates[phase] = rate
        m.cpu[name][phase].append(server_us)
        m.client_cpu[name][phase].append(client_us)
    rates["all"] = len(PHASES) / sum(1 / r for r in rates.values())
    for phase, rate in rates.items():
        m.rates[name][phase].append(rate)
    print(f"round {rnd} {name:8s} " + "  ".join(
        f"{p} {r:7.0f}/s" for p, r in rates.items()), flush=True)


def connect(servers: dict[str, Server], threads: int, body: bytes) -> dict[str, list[Any]]:
    """`threads` clients per server, the bench bucket created and every client warmed up."""
    clients = {}
    for name, server in servers.items():
        clients[name] = [make_client(server.endpoint, max(8, threads)) for _ in range(threads)]
        clients[name][0].create_bucket(Bucket=BUCKET)
        warm_up(clients[name], body)
    return clients


def stop_all(servers: dict[str, Server], samplers: dict[str, RssSampler]) -> None:
    for sampler in samplers.values():
        sampler.__exit__()
    for server in servers.values():
        if server.proc.poll() is not None:
            print(f"{server.name} died (exit {server.proc.returncode}); log tail:\n"
                  f"{server.log_path.read_text(errors='replace')[-3000:]}", flush=True)
        server.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="ops per phase (default 2000)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of all targets (default 3)")
    parser.add_argument("--threads", type=int, default=8, help="client threads (default 8)")
    parser.add_argument("--size", type=int, default=1024, help="object size in bytes (1024)")
    parser.add_argument("--targets", default="bifrost,moto,null",
                        help="comma-separated subset of bifrost,moto,null")
    parser.add_argument("--py-spy-args", default="--gil",
                        help="extra py-spy record flags with --profile-dir (default --gil: "
                             "sample only the thread holding the GIL, i.e. Python CPU time)")
    parser.add_argument("--cprofile", type=Path, default=None,
                        help="run bifrost under cProfile and write its stats here at exit")
    parser.add_argument("--profile-dir", type=Path, default=None,
                        help="attach py-spy to bifrost during each phase and write "
                             "DIR/bifrost-PHASE-roundN.txt (raw collapsed stacks); "
                             "slows bifrost, so its figures are not comparable")
    args = parser.parse_args(argv)
    names = [t.strip() for t in args.targets.split(",") if t.strip()]
    for name in names:
        if name not in TARGETS:
            parser.error(f"unknown target {name!r}")

    body = os.urandom(args.size)
    keys = [f"obj/{i:06d}" for i in range(args.n)]
    servers: dict[str, Server] = {}
    samplers: dict[str, RssSampler] = {}
    m = Measurements.for_targets(names)
    with tempfile.TemporaryDirectory(prefix="bench-s3-small-") as tmp:
        try:
            for name in names:
                work = Path(tmp) / name
                work.mkdir()
                if name == "bifrost" and args.cprofile:
                    servers[name] = start_bifrost(work, cprofile=args.cprofile.resolve())
                else:
                    servers[name] = TARGETS[name](work)
                samplers[name] = RssSampler(servers[name].pid).__enter__()
            clients = connect(servers, args.threads, body)
            print(f"n={args.n} per phase, {args.threads} threads, {args.size} B objects, "
                  f"{args.rounds} rounds; targets: {', '.join(names)}", flush=True)
            for rnd in range(1, args.rounds + 1):
                for name in names:
                    def spy(phase: str, name: str = name, rnd: int = rnd,
                            ) -> AbstractContextManager[object]:
                        out = (args.profile_dir / f"{name}-{phase}-round{rnd}.txt"
                               if args.profile_dir and name == "bifrost" else None)
                        return py_spy(servers[name].pid, out, args.py_spy_args.split())

                    measure_round(rnd, name, clients[name], samplers[name].proc, keys, body,
                                  m, spy)
        finally:
            stop_all(servers, samplers)
    peaks = {n: s.peak for n, s in samplers.items()}
    print()
    baseline = "moto" if "moto" in names else names[0]
    print(fmt_table(m.rates, peaks, baseline))
    print()
    print(fmt_cpu_table(m.cpu, m.client_cpu, baseline))


if __name__ == "__main__":
    main()
