"""`bifrost-py serve`: flags override config.toml, which overrides the defaults."""

from __future__ import annotations

import argparse
import logging
import signal
import sys

import uvicorn

from bifrost_py.app import create_app
from bifrost_py.config import Config, ConfigError, load_config


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    try:
        config = load_config(args.config, {"host": args.host, "port": args.port,
                                           "data_dir": args.data_dir})
    except ConfigError as exc:
        sys.exit(f"bifrost-py: {exc}")
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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bifrost-py")
    commands = parser.add_subparsers(dest="command", required=True)
    serve_cmd = commands.add_parser("serve", help="run the server")
    serve_cmd.add_argument("--config", help="path to config.toml")
    serve_cmd.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve_cmd.add_argument("--port", type=int, help="port to listen on (default 8080)")
    serve_cmd.add_argument("--data-dir", help="where objects and state live (default ./data)")
    return parser
