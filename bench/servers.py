"""Start and stop the servers the benchmarks compare, and sample a server's memory.

Every server runs as a subprocess on a free loopback port and is stopped (SIGTERM, then SIGKILL)
by `Server.stop`, which the benchmarks call from `finally` blocks.

bifrost runs as `python -m bifrost_py` with the repository root as its working directory
(`bifrost_command`), never through the venv's `bifrost-py` script: `-m` puts the working
directory first on sys.path, so the server is this checkout's code even when the venv's
editable install points at another one.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "AKIABENCH00000000000",
               "AWS_SECRET_ACCESS_KEY": "bench-secret",
               "AWS_DEFAULT_REGION": "us-east-1"}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """One server process: its name, the S3 endpoint to give clients, and the process."""

    name: str
    endpoint: str
    health_url: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    _log: object = field(repr=False, default=None)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode} at start-up; "
                                   f"log:\n{self.log_path.read_text(errors='replace')[-2000:]}")
            try:
                with urllib.request.urlopen(self.health_url, timeout=2) as response:
                    response.read()
                return
            except urllib.error.HTTPError:
                return  # it answered: it is up
            except OSError:
                time.sleep(0.1)
        raise TimeoutError(f"{self.name} did not answer {self.health_url} in {timeout:.0f}s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(STOP_TIMEOUT)
        close = getattr(self._log, "close", None)
        if close is not None:
            close()


def _spawn(name: str, cmd: list[str], port: int, endpoint_path: str, health_path: str,
           log_dir: Path) -> Server:
    log_path = log_dir / f"{name}.log"
    log = log_path.open("wb")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            cwd=REPO, env=env)
    base = f"http://127.0.0.1:{port}"
    server = Server(name, base + endpoint_path, base + health_path, proc, log_path, log)
    try:
        server.wait_ready()
    except BaseException:
        server.stop()
        raise
    return server


def bifrost_command(args: list[str], cprofile: Path | None = None) -> list[str]:
    """`python -m bifrost_py ARGS` (run from REPO, so this checkout is imported); with
    `cprofile`, the same under `bench.profile_bifrost` writing its stats there."""
    if cprofile:
        return [sys.executable, "-m", "bench.profile_bifrost", str(cprofile), *args]
    return [sys.executable, "-m", "bifrost_py", *args]


def start_bifrost(work_dir: Path, cprofile: Path | None = None) -> Server:
    """bifrost_py with a fresh data dir; with `cprofile`, under cProfile writing stats there."""
    port = free_port()
    data = work_dir / "bifrost-data"
    data.mkdir(parents=True, exist_ok=True)
    args = ["serve", "--host", "127.0.0.1", "--port", str(port), "--data-dir", str(data)]
    return _spawn("bifrost", bifrost_command(args, cprofile), port, "/bedrock/files", "/health",
                  work_dir)


def start_moto(work_dir: Path) -> Server:
    port = free_port()
    cmd = [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)]
    return _spawn("moto", cmd, port, "", "/moto-api/", work_dir)


def start_null(work_dir: Path) -> Server:
    """The do-nothing ASGI app under the same uvicorn settings as bifrost (httptools, uvloop)."""
    port = free_port()
    cmd = [sys.executable, "-m", "uvicorn", "bench.null_app:app", "--host", "127.0.0.1",
           "--port", str(port), "--no-access-log", "--no-server-header", "--http", "httptools",
           "--loop", "uvloop", "--log-level", "warning"]
    return _spawn("null", cmd, port, "", "/health", work_dir)


def tree_rss(proc: psutil.Process) -> int:
    """RSS of a process and all its children, in bytes (0 for any that have gone)."""
    total = 0
    try:
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0
    for p in procs:
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return total


class RssSampler:
    """Samples a process tree's RSS every `interval` seconds in a thread; `peak` is the max."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.proc = psutil.Process(pid)
        self.interval = interval
        self.peak = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"rss-{pid}")

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_rss(self.proc))
            self.samples += 1
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self.peak = max(self.peak, tree_rss(self.proc))


def mib(n: float) -> float:
    return n / 2**20
