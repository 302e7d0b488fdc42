"""What the Bedrock batch benchmarks share: bifrost with a config.toml, the fake chat server in its
own process, boto3 clients, CPU time and latency percentiles.

Servers are started with `servers._spawn`, so they are stopped the same way (SIGTERM, then
SIGKILL) from the benchmarks' `finally` blocks.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import boto3
import psutil
from botocore.config import Config

from bench.servers import (
    CREDENTIALS,
    REPO,
    START_TIMEOUT,
    Server,
    _spawn,
    bifrost_command,
    free_port,
)

REGION = "us-west-2"  # bifrost's default region: the one its job ARNs name
ROLE_ARN = "arn:aws:iam::123456789012:role/Bench"
MODEL_ID = "anthropic.claude-3-haiku-20240307-v1:0"


def start_bifrost_config(work_dir: Path, config_text: str, cprofile: Path | None = None,
                         ) -> Server:
    """bifrost_py with a fresh data dir and `config_text` as its config.toml."""
    port = free_port()
    data = work_dir / "bifrost-data"
    data.mkdir(parents=True, exist_ok=True)
    config = work_dir / "config.toml"
    config.write_text(config_text, encoding="utf-8")
    args = ["serve", "--config", str(config), "--host", "127.0.0.1", "--port", str(port),
            "--data-dir", str(data)]
    return _spawn("bifrost", bifrost_command(args, cprofile), port, "/bedrock", "/health",
                  work_dir)


def start_fake_chat(work_dir: Path, latency_ms: float) -> Server:
    """tests/fakes/chat.py's FakeChat in a process of its own (bench/fake_chat.py).

    FakeChat picks its own port, so the child writes it to a file; `endpoint` is the base URL
    to give an openai-compatible backend (…/v1).
    """
    port_file = work_dir / "fake-chat.port"
    log_path = work_dir / "fake-chat.log"
    log = log_path.open("wb")
    cmd = [sys.executable, "-m", "bench.fake_chat", "--latency-ms", str(latency_ms),
           "--port-file", str(port_file)]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            cwd=REPO, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    server = Server("fake-chat", "", "", proc, log_path, log)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not (port_file.exists() and port_file.read_text().strip()):
            if proc.poll() is not None:
                raise RuntimeError(f"fake chat exited with {proc.returncode}; log:\n"
                                   f"{log_path.read_text(errors='replace')[-2000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError("fake chat did not start")
            time.sleep(0.05)
        base = f"http://127.0.0.1:{int(port_file.read_text())}"
        server.endpoint, server.health_url = base + "/v1", base + "/health"  # 404: it is up
        server.wait_ready()
    except BaseException:
        server.stop()
        raise
    return server


def stop_all(servers: list[Server]) -> None:
    """Stop `servers`, last started first, printing the log tail of any that died."""
    for server in reversed(servers):
        if server.proc.poll() is not None and server.proc.returncode != 0:
            print(f"{server.name} died (exit {server.proc.returncode}); log tail:\n"
                  f"{server.log_path.read_text(errors='replace')[-3000:]}", flush=True)
        server.stop()


def session() -> boto3.session.Session:
    return boto3.session.Session(aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
                                 aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
                                 region_name=REGION)


def bedrock_client(endpoint: str, pool: int = 10) -> Any:
    """A boto3 `bedrock` client on `endpoint` (…/bedrock); no retries, so errors show."""
    config = Config(max_pool_connections=pool, retries={"total_max_attempts": 1},
                    connect_timeout=10, read_timeout=60)
    return session().client("bedrock", endpoint_url=endpoint, config=config)


def s3_client(endpoint: str) -> Any:
    config = Config(retries={"total_max_attempts": 1}, connect_timeout=10, read_timeout=300,
                    s3={"addressing_style": "path"})
    return session().client("s3", endpoint_url=endpoint, config=config)


def cpu_seconds(proc: psutil.Process) -> float:
    """User + system CPU time of a process and its children so far."""
    times = proc.cpu_times()
    total = times.user + times.system
    for child in proc.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            child_times = child.cpu_times()
            total += child_times.user + child_times.system
    return total


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100), linear between the closest ranks."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)
