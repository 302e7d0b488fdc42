"""What signature verification costs: the small-object benchmark against bifrost_py with keys off
and with keys on, in the same run.

Two bifrost servers: `keys-off` (no [[keys]], runs open) and `keys-on` (one [[keys]] entry whose
access key is the one bench.servers.CREDENTIALS gives every boto3 client, so the same clients sign
requests the keys-on server verifies). Each does PUT / HEAD / GET of small objects with the
machinery of bench.s3_small, the targets interleaved in rounds (off on off on ...). Reports the
median ops/s per phase and the ratio on/off; the target is on/off >= 0.85 (verification costs
at most 15 % of throughput).

Run:  .venv/bin/python -m bench.s3_small_keys [--n 1000] [--rounds 3] [--threads 8]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from bench.s3_small import (
    BUCKET,
    PHASES,
    Measurements,
    connect,
    fmt_cpu_table,
    fmt_table,
    measure_round,
    stop_all,
)
from bench.servers import CREDENTIALS, RssSampler, Server, _spawn, bifrost_command, free_port

TARGETS = ("keys-off", "keys-on")
TARGET_RATIO = 0.85
KEYS_CONFIG = f"""
[[keys]]
access_key_id = "{CREDENTIALS["AWS_ACCESS_KEY_ID"]}"
secret_access_key = "{CREDENTIALS["AWS_SECRET_ACCESS_KEY"]}"
tenant = "bench"
"""


def start_bifrost_with(name: str, work_dir: Path, config_text: str) -> Server:
    """bifrost_py with a fresh data dir and `config_text` as its config.toml."""
    port = free_port()
    data = work_dir / "bifrost-data"
    data.mkdir(parents=True, exist_ok=True)
    config = work_dir / "config.toml"
    config.write_text(config_text, encoding="utf-8")
    cmd = bifrost_command(["serve", "--config", str(config), "--host", "127.0.0.1",
                           "--port", str(port), "--data-dir", str(data)])
    return _spawn(name, cmd, port, "/bedrock/files", "/health", work_dir)


def start_both(directory: Path, servers: dict[str, Server]) -> None:
    """Start `keys-off` and `keys-on` into `servers` (which the caller stops, even half-filled)."""
    for name in TARGETS:
        work = directory / name
        work.mkdir()
        servers[name] = start_bifrost_with(name, work, KEYS_CONFIG if name == "keys-on" else "")


def fmt_ratio_table(results: dict[str, dict[str, list[float]]]) -> str:
    """ops/s (median) with keys off and on, and on/off per phase, against the target."""
    cols = [*PHASES, "all"]
    med = {t: {p: statistics.median(v) for p, v in r.items()} for t, r in results.items()}
    lines = ["| phase | keys off ops/s | keys on ops/s | on/off | cost | target met |",
             "|---|---|---|---|---|---|"]
    for col in cols:
        off, on = med["keys-off"][col], med["keys-on"][col]
        ratio = on / off
        lines.append(f"| {col} | {off:.0f} | {on:.0f} | {ratio:.2f} | {(1 - ratio) * 100:.1f} % "
                     f"| {'yes' if ratio >= TARGET_RATIO else 'no'} |")
    return "\n".join(lines)


def parse_args(argv: list[str] | None, doc: str | None, n: int, rounds: int,
               threads: int) -> argparse.Namespace:
    """The options both keys on/off benchmarks take, with their own defaults."""
    parser = argparse.ArgumentParser(description=(doc or "").split("\n\n")[0])
    parser.add_argument("--n", type=int, default=n, help=f"ops per phase (default {n})")
    parser.add_argument("--rounds", type=int, default=rounds,
                        help=f"rounds of both (default {rounds})")
    parser.add_argument("--threads", type=int, default=threads,
                        help=f"client threads or connections (default {threads})")
    parser.add_argument("--size", type=int, default=1024, help="object size in bytes (1024)")
    return parser.parse_args(argv)


def compare(args: argparse.Namespace, start: Callable[[Path, dict[str, Server]], None],
            check: Callable[[dict[str, Server]], None] = lambda servers: None,
            ) -> tuple[Measurements, dict[str, int]]:
    """Start the targets into a dict with `start`, `check` them, then measure them in turns:
    the measurements and each target's peak RSS."""
    body = os.urandom(args.size)
    keys = [f"obj/{i:06d}" for i in range(args.n)]
    servers: dict[str, Server] = {}
    samplers: dict[str, RssSampler] = {}
    with tempfile.TemporaryDirectory(prefix="bench-s3-small-") as tmp:
        try:
            start(Path(tmp), servers)
            m = Measurements.for_targets(list(servers))
            for name, server in servers.items():
                samplers[name] = RssSampler(server.pid).__enter__()
            clients = connect(servers, args.threads, body)
            check(servers)
            print(f"n={args.n} per phase, {args.threads} threads, {args.size} B objects, "
                  f"{args.rounds} rounds", flush=True)
            for rnd in range(1, args.rounds + 1):
                for name in servers:
                    measure_round(rnd, name, clients[name], samplers[name].proc, keys, body, m)
        finally:
            stop_all(servers, samplers)
    return m, {n: s.peak for n, s in samplers.items()}


def report(m: Measurements, peaks: dict[str, int], ratios: str, baseline: str) -> None:
    for table in (ratios, fmt_table(m.rates, peaks, baseline),
                  fmt_cpu_table(m.cpu, m.client_cpu, baseline)):
        print()
        print(table)


def refuses_unsigned(servers: dict[str, Server]) -> None:
    """The keys-on server must really refuse what it cannot verify."""
    unsigned = servers["keys-on"].endpoint + f"/{BUCKET}/obj/000000"
    try:
        urllib.request.urlopen(unsigned, timeout=10).read()
        raise SystemExit("keys-on server answered an unsigned GET: keys are not on")
    except urllib.error.HTTPError as refused:
        if refused.code != 403:
            raise SystemExit(f"keys-on server: unsigned GET got {refused.code}") from None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv, __doc__, n=1000, rounds=3, threads=8)
    m, peaks = compare(args, start_both, refuses_unsigned)
    report(m, peaks, fmt_ratio_table(m.rates), "keys-off")
    med_all = {t: statistics.median(m.rates[t]["all"]) for t in TARGETS}
    return 0 if med_all["keys-on"] / med_all["keys-off"] >= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
