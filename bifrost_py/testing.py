"""Run a real server on a loopback port, in a thread, for tests and benchmarks."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import uvicorn
from starlette.types import ASGIApp

from bifrost_py.app import create_app
from bifrost_py.config import Config, load_config


class ServerThread:
    """Any ASGI app under uvicorn in a thread on a loopback port. `stop()` makes the port refuse
    connections and `start()` serves again on the same port, so a test can take a server away
    and bring it back."""

    def __init__(self, app: ASGIApp, port: int = 0, lifespan: str = "off",
                 **uvicorn_options: Any) -> None:
        self.app = app
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.options = {"log_level": "warning", "access_log": False, "lifespan": lifespan,
                        **uvicorn_options}
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None

    def start(self) -> ServerThread:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", self.port))
        self._server = uvicorn.Server(uvicorn.Config(self.app, **self.options))
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]},
                                        daemon=True, name=f"server-{self.port}")
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"the server on port {self.port} did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is None or self._thread is None or self._sock is None:
            return
        self._server.should_exit = True
        self._thread.join(timeout=30)
        self._sock.close()
        self._server = self._thread = self._sock = None

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


class Mounts:
    """The URLs of a bifrost_py served at `url`, one per mount, as clients are given them."""

    url: str

    @property
    def s3_url(self) -> str:
        return f"{self.url}/bedrock/files"

    @property
    def bedrock_url(self) -> str:
        return f"{self.url}/bedrock"

    @property
    def openai_url(self) -> str:
        """The OpenAI SDK's base_url."""
        return f"{self.url}/v1"


class RunningServer(ServerThread, Mounts):
    """`with RunningServer(data_dir) as server:` serves bifrost_py on `server.url`."""

    def __init__(self, data_dir: str | Path, config_path: str | Path | None = None,
                 **server_settings: Any) -> None:
        self.config: Config = load_config(config_path, {"data_dir": str(data_dir),
                                                        "host": "127.0.0.1",
                                                        **server_settings})
        super().__init__(create_app(self.config), lifespan="on")

    def __enter__(self) -> RunningServer:
        self.start()
        return self


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
