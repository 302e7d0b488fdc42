"""What PostgreSQL costs small objects: the small-object benchmark against bifrost_py on SQLite
(the default) and on PostgreSQL ([store] database_url), in the same run.

Two bifrost servers, each with a fresh data dir: `sqlite` (no [store]) and `postgres` (a fresh
database on $BIFROST_BENCH_DATABASE_URL's server, default the local one, dropped afterwards).
Both keep object bytes under their data dir; only the state moves. Each does PUT / HEAD / GET of
small objects with the machinery of bench.s3_small, the targets interleaved in rounds. Reports
the median ops/s per phase and postgres/sqlite; server CPU counts bifrost's process only, not
PostgreSQL's.

Run:  .venv/bin/python -m bench.s3_small_postgres [--n 1000] [--rounds 3] [--threads 8]
"""

from __future__ import annotations

import os
import statistics
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from bench.s3_small import PHASES
from bench.s3_small_keys import compare, parse_args, report, start_bifrost_with
from bench.servers import Server

SERVER_URL = os.environ.get("BIFROST_BENCH_DATABASE_URL",
                            "postgresql://postgres@127.0.0.1:5432/postgres")


@contextmanager
def fresh_database() -> Iterator[str]:
    name = f"bifrost_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(SERVER_URL, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            yield urlunsplit(urlsplit(SERVER_URL)._replace(path=f"/{name}"))
        finally:
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def fmt_ratio_table(results: dict[str, dict[str, list[float]]]) -> str:
    cols = [*PHASES, "all"]
    med = {t: {p: statistics.median(v) for p, v in r.items()} for t, r in results.items()}
    lines = ["| phase | SQLite ops/s | PostgreSQL ops/s | postgres/sqlite |", "|---|---|---|---|"]
    for col in cols:
        lite, pg = med["sqlite"][col], med["postgres"][col]
        lines.append(f"| {col} | {lite:.0f} | {pg:.0f} | {pg / lite:.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv, __doc__, n=1000, rounds=3, threads=8)
    with fresh_database() as url:
        def start(directory: Path, servers: dict[str, Server]) -> None:
            for name, store in (("sqlite", ""),
                                ("postgres", f'[store]\ndatabase_url = "{url}"\n')):
                (directory / name).mkdir()
                servers[name] = start_bifrost_with(name, directory / name, store)

        m, peaks = compare(args, start)
    report(m, peaks, fmt_ratio_table(m.rates), "sqlite")
    return 0


if __name__ == "__main__":
    sys.exit(main())
