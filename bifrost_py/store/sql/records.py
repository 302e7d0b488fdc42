"""Spools in the database, for replicas sharing one store: whichever replica holds a job's lease
can carry on with it where the last one stopped.

Answers are buffered in memory and written in batches (`flush`), each batch in a transaction that
first checks the job's fencing token, so a replica that lost the job writes nothing more; a batch
that fails stays pending, and one whose caller was cancelled is waited for by the next; a record
answered twice (by a replica that lost its lease mid-batch and the one that took over) keeps the
first answer, by its primary key.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from bifrost_py.domain.jobs import Job
from bifrost_py.ports.spools import Spool, Tally
from bifrost_py.store.sql.database import Connection, Database
from bifrost_py.store.sql.fences import check_fence

PAGE = 1000
Row = tuple[str, int, int, int, int, int, bytes]


class StoredSpool:
    def __init__(self, db: Database, fences: dict[str, int], job_id: str, index: int) -> None:
        self.db = db
        self.fences = fences
        self.job_id = job_id
        self.index = index
        self.done: set[int] = set()
        self.tally = Tally()
        self._pending: list[Row] = []
        self._writing: asyncio.Task[None] | None = None

    async def load(self) -> None:
        rows = await self.db.fetchall(
            "SELECT line_no, ok, input_tokens, output_tokens FROM job_records "
            "WHERE job_id = ? AND input_index = ?", (self.job_id, self.index))
        for row in rows:
            self.done.add(row["line_no"])
            self.tally.add(bool(row["ok"]), row["input_tokens"], row["output_tokens"])

    def append(self, line_no: int, ok: bool, input_tokens: int, output_tokens: int,
               output: bytes) -> None:
        self._pending.append((self.job_id, self.index, line_no, int(ok), input_tokens,
                              output_tokens, output.rstrip(b"\n")))
        self.done.add(line_no)
        self.tally.add(ok, input_tokens, output_tokens)

    async def flush(self) -> None:
        if self._writing is not None:
            # A write whose caller was cancelled (a job's reporter is, as the job ends) goes on
            # in the database's thread: it lands before anything after it reads or writes.
            await asyncio.wait([self._writing])
            self._writing = None
        if not self._pending:
            return
        rows, self._pending = self._pending, []
        self._writing = asyncio.create_task(self._write(rows))
        await asyncio.shield(self._writing)
        self._writing = None

    async def _write(self, rows: list[Row]) -> None:
        fence = self.fences.get(self.job_id)

        def write(conn: Connection) -> None:
            check_fence(conn, self.job_id, fence)
            conn.executemany(
                "INSERT INTO job_records (job_id, input_index, line_no, ok, input_tokens, "
                "output_tokens, output) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                rows)

        try:
            await self.db.transaction(write)
        except BaseException:
            # Counted as done already: written by the next flush, or that flush fails too.
            self._pending[:0] = rows
            raise

    async def outputs(self, ok: bool | None = None) -> AsyncIterator[bytes]:
        """In input order, a page of lines at a time; what was appended but not yet flushed
        is written first."""
        await self.flush()
        where = "" if ok is None else f" AND ok = {int(ok)}"
        after = 0
        while True:
            rows = list(await self.db.fetchall(
                f"SELECT line_no, output FROM job_records WHERE job_id = ? AND input_index = ? "
                f"AND line_no > ?{where} ORDER BY line_no LIMIT {PAGE}",
                (self.job_id, self.index, after)))
            if not rows:
                return
            after = rows[-1]["line_no"]
            yield b"".join(bytes(row["output"]) + b"\n" for row in rows)

    async def close(self) -> None:
        await self.flush()


class StoredSpools:
    def __init__(self, db: Database, fences: dict[str, int]) -> None:
        self.db = db
        self.fences = fences

    async def open(self, job: Job, count: int) -> list[Spool]:
        spools = [StoredSpool(self.db, self.fences, job.job_id, index) for index in range(count)]
        for spool in spools:
            await spool.load()
        return list(spools)

    async def write_order(self, job: Job, custom_ids: list[str]) -> None:
        fence = self.fences.get(job.job_id)

        def write(conn: Connection) -> None:
            check_fence(conn, job.job_id, fence)
            conn.execute("DELETE FROM job_sent WHERE job_id = ?", (job.job_id,))
            conn.executemany("INSERT INTO job_sent (job_id, position, custom_id) VALUES "
                             "(?, ?, ?)", [(job.job_id, n, i) for n, i in enumerate(custom_ids)])

        await self.db.transaction(write)

    async def read_order(self, job: Job) -> list[str]:
        rows = await self.db.fetchall("SELECT custom_id FROM job_sent WHERE job_id = ? "
                                      "ORDER BY position", (job.job_id,))
        return [row["custom_id"] for row in rows]

    async def remove(self, job: Job) -> None:
        def remove(conn: Connection) -> None:
            conn.execute("DELETE FROM job_records WHERE job_id = ?", (job.job_id,))
            conn.execute("DELETE FROM job_sent WHERE job_id = ?", (job.job_id,))

        await self.db.transaction(remove)

