"""`python -m bifrost_py serve` as a separate process, which a test can kill like any other."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import IO

import httpx
from bedrock_helpers import wait_for

from bifrost_py.testing import Mounts


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ServerProcess(Mounts):
    """`python -m bifrost_py serve` in a subprocess, on a free port and a given data dir."""

    def __init__(self, config: Path, data_dir: Path, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log: IO[bytes] = log.open("ab")
        self.log_path = log
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bifrost_py", "serve", "--config", str(config),
             "--port", str(self.port), "--data-dir", str(data_dir)],
            stdout=self._log, stderr=subprocess.STDOUT)
        try:
            wait_for(self._healthy, bool, timeout=20, interval=0.05, what="server start")
        except BaseException:
            self.close()  # a server that never became healthy must not outlive its test
            raise

    def _healthy(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"the server exited with {self.process.returncode}:\n"
                                 f"{self.log_path.read_text(errors='replace')}")
        try:
            return httpx.get(f"{self.url}/health", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    def signal(self, number: int, timeout: float = 10) -> int:
        """Send `number` and wait for the process to exit; its exit code."""
        os.kill(self.process.pid, number)
        return self.process.wait(timeout=timeout)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self._log.close()
