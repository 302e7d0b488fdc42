"""What signature verification costs a server that is the bottleneck.

bench.s3_small_keys drives both servers with boto3, whose ~2 ms of client CPU per request sets the
pace on a small machine. Here boto3 only signs: each server's PUT / HEAD / GET requests of small
objects are made once by a real boto3 client against that server (so each carries a signature for
that server's Host), recorded on the way out, and then replayed byte for byte over keep-alive
http.client connections, which cost the client ~0.1 ms a request. The server sets the pace.

`keys-off` has no [[keys]] and ignores the signatures; `keys-on` verifies every one, with no
per-key request rate (its default, 1,000 a second, is below what a server that is not waiting
for its client does, so it would measure the rate limit instead). The targets take turns in each
round, phase by phase and in the other order the next round, so that both meet the same load
from the rest of the machine; medians are reported, with the server's CPU per request, and on/off
is the median of each round's ratio. Signatures are valid for 15 minutes, so keep --rounds x --n
small enough to finish in that time.

Run:  .venv/bin/python -m bench.s3_small_keys_raw [--n 2000] [--rounds 5] [--threads 4]
"""

from __future__ import annotations

import http.client
import os
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psutil

from bench.s3_small import BUCKET, PHASES, cpu_seconds, make_client
from bench.s3_small_keys import (
    KEYS_CONFIG,
    TARGET_RATIO,
    TARGETS,
    parse_args,
    start_bifrost_with,
)
from bench.servers import Server

UNLIMITED = """
[server]
requests_per_second_per_key = 0
"""


@dataclass(frozen=True)
class Recorded:
    method: str
    target: str  # path and query, as sent
    headers: dict[str, str]
    body: bytes


def start_both(directory: Path, servers: dict[str, Server]) -> None:
    """`keys-off` and `keys-on` (without a rate limit) into `servers`, which the caller stops."""
    for name in TARGETS:
        work = directory / name
        work.mkdir()
        config = KEYS_CONFIG + UNLIMITED if name == "keys-on" else ""
        servers[name] = start_bifrost_with(name, work, config)


def record(endpoint: str, keys: list[str], body: bytes) -> dict[str, list[Recorded]]:
    """Each phase's requests, made and signed by boto3 against the server at `endpoint`."""
    client = make_client(endpoint, 1)
    sent: list[Recorded] = []

    def keep(request: Any, **_: Any) -> None:
        url = urlsplit(request.url)
        payload = request.body or b""
        if not isinstance(payload, bytes):
            payload = payload.read()
            request.body.seek(0)  # boto3 sends it next
        sent.append(Recorded(request.method, url.path + (f"?{url.query}" if url.query else ""),
                             dict(request.headers.items()), payload))

    client.create_bucket(Bucket=BUCKET)
    client.meta.events.register("before-send", keep)
    calls = {"PUT": lambda k: client.put_object(Bucket=BUCKET, Key=k, Body=body),
             "HEAD": lambda k: client.head_object(Bucket=BUCKET, Key=k),
             "GET": lambda k: client.get_object(Bucket=BUCKET, Key=k)["Body"].read()}
    recorded = {}
    for phase in PHASES:
        sent.clear()
        for key in keys:
            calls[phase](key)
        recorded[phase] = list(sent)
    return recorded


def replay(port: int, requests: list[Recorded], threads: int) -> float:
    """Send `requests` split across `threads` keep-alive connections; the seconds it took."""
    failures: list[str] = []

    def worker(share: list[Recorded]) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        for request in share:
            connection.request(request.method, request.target, request.body or None,
                               request.headers)
            response = connection.getresponse()
            response.read()
            if response.status >= 300:
                failures.append(f"{request.method} {request.target}: {response.status}")
        connection.close()

    workers = [threading.Thread(target=worker, args=(requests[i::threads],))
               for i in range(threads)]
    started = time.perf_counter()
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise SystemExit(f"{len(failures)} requests failed, e.g. {failures[0]}")
    return elapsed


def ratio(rates: dict[str, dict[str, list[float]]], phase: str) -> float:
    """keys on / keys off: the median of the rounds' ratios, each from runs made back to back."""
    pairs = zip(rates["keys-off"][phase], rates["keys-on"][phase], strict=True)
    return statistics.median(on / off for off, on in pairs)


def fmt_table(rates: dict[str, dict[str, list[float]]], cpu: dict[str, dict[str, list[float]]],
              ) -> str:
    lines = ["| phase | keys off ops/s | keys on ops/s | on/off | server CPU µs/op off → on |",
             "|---|---|---|---|---|"]
    for phase in PHASES:
        off, on = (statistics.median(rates[t][phase]) for t in TARGETS)
        cpu_off, cpu_on = (statistics.median(cpu[t][phase]) * 1e6 for t in TARGETS)
        lines.append(f"| {phase} | {off:.0f} | {on:.0f} | {ratio(rates, phase):.2f} | "
                     f"{cpu_off:.0f} → {cpu_on:.0f} (+{cpu_on - cpu_off:.0f}) |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv, __doc__, n=2000, rounds=5, threads=4)

    body = os.urandom(args.size)
    keys = [f"obj/{i:06d}" for i in range(args.n)]
    rates: dict[str, dict[str, list[float]]] = {t: {p: [] for p in PHASES} for t in TARGETS}
    cpu: dict[str, dict[str, list[float]]] = {t: {p: [] for p in PHASES} for t in TARGETS}
    servers: dict[str, Server] = {}
    with tempfile.TemporaryDirectory(prefix="bench-s3-small-keys-raw-") as tmp:
        try:
            start_both(Path(tmp), servers)
            recorded = {name: record(s.endpoint, keys, body) for name, s in servers.items()}
            print(f"n={args.n} per phase, {args.threads} connections, {args.size} B objects, "
                  f"{args.rounds} rounds", flush=True)
            procs = {name: psutil.Process(s.pid) for name, s in servers.items()}
            ports = {name: urlsplit(s.endpoint).port or 80 for name, s in servers.items()}
            for rnd in range(1, args.rounds + 1):
                order = list(TARGETS) if rnd % 2 else list(reversed(TARGETS))
                for phase in PHASES:
                    for name in order:
                        before = cpu_seconds(procs[name])
                        seconds = replay(ports[name], recorded[name][phase], args.threads)
                        rates[name][phase].append(args.n / seconds)
                        cpu[name][phase].append((cpu_seconds(procs[name]) - before) / args.n)
                print(f"round {rnd}: " + ", ".join(
                    f"{p} {rates['keys-off'][p][-1]:.0f} → {rates['keys-on'][p][-1]:.0f}/s"
                    for p in PHASES), flush=True)
        finally:
            for server in servers.values():
                server.stop()
    print()
    print(fmt_table(rates, cpu))
    worst = min(ratio(rates, p) for p in PHASES)
    return 0 if worst >= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
