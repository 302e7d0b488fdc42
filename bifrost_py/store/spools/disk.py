"""Spools on disk: one append-only file per input file, for a store one server has to itself.

Each line is `<input line number> <ok> <input tokens> <output tokens> <output JSON>`. The line is
written in one call, so after a crash the file holds whole lines plus at most one cut-off line,
which `open` drops; the line numbers say which records are done, so a resumed job processes
every record exactly once. When the job ends the spool becomes the output object, its prefixes
stripped.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import orjson

from bifrost_py.domain.jobs import Job
from bifrost_py.ports.spools import Spool, Tally

_READ = 256 * 1024


@dataclass
class DiskSpool:
    path: Path
    done: set[int] = field(default_factory=set)
    tally: Tally = field(default_factory=Tally)
    # Unbuffered: each record reaches the file in one write, whole, as soon as it is done.
    _file: BinaryIO | None = None

    @classmethod
    def open(cls, path: Path) -> DiskSpool:
        """Open (or resume) the spool at `path`, dropping a line cut off by a crash."""
        spool = cls(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
        with open(path, "rb+") as f:
            good = 0
            for line in f:
                if not line.endswith(b"\n"):
                    break
                number, ok, tokens_in, tokens_out, _ = line.split(b" ", 4)
                spool.done.add(int(number))
                spool.tally.add(ok == b"1", int(tokens_in), int(tokens_out))
                good += len(line)
            f.truncate(good)
        spool._file = open(path, "ab", buffering=0)  # noqa: SIM115 - closed by close()
        return spool

    def append(self, line_no: int, ok: bool, input_tokens: int, output_tokens: int,
               output: bytes) -> None:
        assert self._file is not None, "spool is closed"
        record = b"%d %d %d %d " % (line_no, ok, input_tokens, output_tokens) + output
        self._file.write(record if record.endswith(b"\n") else record + b"\n")
        self.done.add(line_no)
        self.tally.add(ok, input_tokens, output_tokens)

    async def outputs(self, ok: bool | None = None) -> AsyncIterator[bytes]:
        """The output lines without their prefixes, a chunk at a time; only the successes or
        only the failures when `ok` says which."""
        flag = None if ok is None else b"1" if ok else b"0"
        with open(self.path, "rb") as f:
            rest = b""
            while chunk := f.read(_READ):
                lines = (rest + chunk).split(b"\n")
                rest = lines.pop()
                fields = (line.split(b" ", 4) for line in lines)
                yield b"".join(f[4] + b"\n" for f in fields if flag is None or f[1] == flag)

    async def flush(self) -> None:
        """Nothing to do: each line reached the file whole when it was appended."""

    async def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class DiskSpools:
    """`{work_dir}/{job id}/{input index}.spool`, and `sent.jsonl` beside them."""

    def __init__(self, work_dir: Path) -> None:
        self.work_dir = work_dir

    async def open(self, job: Job, count: int) -> list[Spool]:
        return [DiskSpool.open(self.work_dir / job.job_id / f"{index}.spool")
                for index in range(count)]

    async def write_order(self, job: Job, custom_ids: list[str]) -> None:
        self._order(job).parent.mkdir(parents=True, exist_ok=True)
        self._order(job).write_bytes(b"".join(orjson.dumps(i) + b"\n" for i in custom_ids))

    async def read_order(self, job: Job) -> list[str]:
        path = self._order(job)
        if not path.exists():
            return []
        with open(path, "rb") as f:
            return [orjson.loads(line) for line in f if line.strip()]

    async def remove(self, job: Job) -> None:
        directory = self.work_dir / job.job_id
        for path in [*directory.glob("*.spool"), self._order(job)]:
            path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            directory.rmdir()

    def _order(self, job: Job) -> Path:
        return self.work_dir / job.job_id / "sent.jsonl"
