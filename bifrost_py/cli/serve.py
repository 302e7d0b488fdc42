"""`bifrost-py serve`: the server under uvicorn until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import logging
import signal

import uvicorn

from bifrost_py.app import create_app
from bifrost_py.config import Config


def run(config: Config, args: argparse.Namespace) -> None:
    serve(config)


def serve(config: Config) -> None:
    level = config.server.log_level.upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # httpx logs every upstream request at INFO; the server logs what matters about them itself.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLevelName(level)))
    # uvicorn handles SIGTERM and SIGINT: it stops accepting, lets requests in flight finish,
    # then runs the lifespan shutdown that closes the store. Afterwards it re-raises the signal
    # to the handler it found; a no-op one lets a clean shutdown exit with status 0.
    signal.signal(signal.SIGTERM, lambda *_: None)
    uvicorn.run(create_app(config), host=config.server.host, port=config.server.port,
                log_level=level.lower(), access_log=False, timeout_graceful_shutdown=30,
                server_header=False)
