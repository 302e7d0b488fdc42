"""`bifrost-py`: serve, check-config, jobs. Flags override config.toml, which overrides the
defaults."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from bifrost_py.cli import check, jobs, serve
from bifrost_py.config import Config, ConfigError, load_config


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    try:
        config = load_config(args.config, {"host": getattr(args, "host", None),
                                           "port": getattr(args, "port", None),
                                           "data_dir": args.data_dir})
    except ConfigError as exc:
        sys.exit(f"bifrost-py: {exc}")
    args.run(config, args)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bifrost-py")
    commands = parser.add_subparsers(dest="command", required=True)
    serving = _command(commands, "serve", "run the server", serve.run)
    serving.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serving.add_argument("--port", type=int, help="port to listen on (default 8080)")
    _command(commands, "check-config", "validate a config file and say what each provider "
             "will use", check.run)
    listing = _command(commands, "jobs", "list jobs, or show one, with their progress",
                       jobs.run)
    listing.add_argument("job_id", nargs="?", help="a job id, ARN or batch id: show that job")
    listing.add_argument("--tenant", help="only this tenant's jobs")
    listing.add_argument("--limit", type=int, default=50, help="at most this many (50)")
    return parser


def _command(commands: argparse._SubParsersAction[argparse.ArgumentParser], name: str,
             summary: str, run: Callable[[Config, argparse.Namespace], None],
             ) -> argparse.ArgumentParser:
    command = commands.add_parser(name, help=summary, description=summary)
    command.add_argument("--config", help="path to config.toml")
    command.add_argument("--data-dir", help="where objects and state live (default ./data)")
    command.set_defaults(run=run)
    return command

