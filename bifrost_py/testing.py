"""Run a real server on a free loopback port, in a thread, for tests and benchmarks."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import uvicorn

from bifrost_py.app import create_app
from bifrost_py.config import Config, load_config


class RunningServer:
    """`with RunningServer(data_dir) as server:` serves on `server.url` until the block ends."""

    def __init__(self, data_dir: str | Path, config_path: str | Path | None = None,
                 **server_settings: Any) -> None:
        self.config: Config = load_config(config_path, {"data_dir": str(data_dir),
                                                        "host": "127.0.0.1",
                                                        **server_settings})
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._server = uvicorn.Server(uvicorn.Config(
            create_app(self.config), log_level="warning", access_log=False, lifespan="on"))
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]},
                                        daemon=True, name=f"bifrost-{self.port}")

    @property
    def s3_url(self) -> str:
        return f"{self.url}/bedrock/files"

    @property
    def bedrock_url(self) -> str:
        return f"{self.url}/bedrock"

    def start(self) -> RunningServer:
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the bifrost_py server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=30)
        self._sock.close()

    def __enter__(self) -> RunningServer:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
