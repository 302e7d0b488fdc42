"""Run bifrost (`bifrost_py.cli`) under cProfile; write the stats when it stops (SIGTERM, SIGINT).

The timer is the main thread's CPU time (time.thread_time), not wall time: on a shared 2-core
box that also runs the load generator, wall time charges every syscall that wakes the client
with the time the server then spends descheduled. Only the main thread (the event loop) is
profiled; aiosqlite's worker threads are not.

uvicorn re-raises the signal it caught once it has shut down; with the default handler that
would kill the process before cProfile could write, so this installs one that exits cleanly.

Run:  .venv/bin/python -m bench.profile_bifrost OUT.prof serve --port 8080 --data-dir DIR
"""

from __future__ import annotations

import cProfile
import signal
import sys
import time
from types import FrameType

from bifrost_py.cli import main as bifrost_main


class Stopped(Exception):
    """Raised by the signal handler that uvicorn hands the signal back to."""


def _stop(signum: int, frame: FrameType | None) -> None:
    raise Stopped(signum)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if not args:
        sys.exit("usage: python -m bench.profile_bifrost OUT.prof BIFROST-ARGS...")
    out, rest = args[0], args[1:]
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    profiler = cProfile.Profile(time.thread_time)
    try:
        profiler.runcall(bifrost_main, rest)
    except Stopped:
        pass
    finally:
        profiler.dump_stats(out)


if __name__ == "__main__":
    main()
