"""Run tests/fakes/chat.py's FakeChat as a process of its own until SIGTERM or SIGINT.

The benchmarks run it apart from bifrost so that its CPU time is not counted as the server's.
It keeps no request bodies, and writes its port to --port-file once it is serving.

Run:  .venv/bin/python -m bench.fake_chat --latency-ms 20 --port-file PORT
"""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path
from types import FrameType

from tests.fakes.chat import FakeChat


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--port-file", type=Path, required=True)
    args = parser.parse_args(argv)
    done = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    with FakeChat(latency_ms=args.latency_ms, keep_bodies=False) as fake:
        tmp = args.port_file.with_suffix(".tmp")
        tmp.write_text(str(fake.port))
        tmp.replace(args.port_file)
        while not done.wait(1.0):
            pass


if __name__ == "__main__":
    main()
