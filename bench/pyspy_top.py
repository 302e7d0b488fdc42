"""Summarise py-spy raw (collapsed) profiles: top functions by self and inclusive samples.

Reads files written by `py-spy record -f raw --threads` (e.g. by `s3_small --profile-dir`).
Samples of an aiosqlite worker thread blocked on its queue are idle and left out.

Run:  .venv/bin/python -m bench.pyspy_top /tmp/prof/bifrost-PUT-*.txt [--top 25]
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

IDLE_LEAVES = ("_connection_worker_thread (aiosqlite/core.py:59)",)
_THREAD = re.compile(r"^thread \(\d+\): ")


def load(paths: list[Path]) -> Counter[tuple[str, ...]]:
    stacks: Counter[tuple[str, ...]] = Counter()
    for path in paths:
        for line in path.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if not stack or not count.isdigit():
                continue
            frames = stack.split(";")
            frames[0] = _THREAD.sub("", frames[0])
            if frames[-1] in IDLE_LEAVES:
                continue
            stacks[tuple(frames)] += int(count)
    return stacks


def summarise(stacks: Counter[tuple[str, ...]], top: int) -> str:
    total = sum(stacks.values())
    threads: Counter[str] = Counter()
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for frames, count in stacks.items():
        threads[frames[0]] += count
        own[frames[-1]] += count
        for frame in set(frames[1:]):
            inclusive[frame] += count
    out = [f"{total} busy samples"]
    out += [f"  thread {name}: {n / total:6.1%}" for name, n in threads.most_common()]
    out += ["", f"top {top} by self time (the function itself, not its callees):"]
    out += [f"  {n / total:6.1%}  {frame}" for frame, n in own.most_common(top)]
    out += ["", f"top {top} by inclusive time (bifrost_py, starlette and aiosqlite frames):"]
    ours = [(f, n) for f, n in inclusive.most_common()
            if any(s in f for s in ("bifrost_py/", "starlette/", "aiosqlite/"))]
    out += [f"  {n / total:6.1%}  {frame}" for frame, n in ours[:top]]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args(argv)
    print(summarise(load(args.files), args.top))


if __name__ == "__main__":
    main()
