"""Jobs and tags. Every provider's jobs live here; providers only adapt."""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections import OrderedDict
from typing import Any

import orjson

from bifrost_py.domain.job_events import new_event_id
from bifrost_py.domain.jobs import ENDED, STOPPING, Counts, Job, JobFilter, JobTotals, summary
from bifrost_py.domain.tenancy import shown_token, stored_token
from bifrost_py.domain.usage import Usage
from bifrost_py.errors import (
    ConflictException,
    ResourceNotFoundException,
    ServiceQuotaExceededException,
    TooManyTagsException,
    ValidationException,
)
from bifrost_py.store.sql.database import Connection, Database, Dialect
from bifrost_py.store.sql.fences import check_fence
from bifrost_py.store.sql.usage import usage

MAX_TAGS = 200
SUMMARY_CACHE = 20_000
ENDED_SQL = ", ".join(f"'{s}'" for s in sorted(ENDED))


class JobStore:
    def __init__(self, db: Database, fences: dict[str, int] | None = None) -> None:
        self.db = db
        # job id -> fencing token of the jobs whose leases this replica holds (leases.py)
        self.fences = fences if fences is not None else {}
        # job id -> (lastModifiedTime, summary), least recently listed first
        self._summaries: OrderedDict[str, tuple[float, dict[str, Any]]] = OrderedDict()

    async def create(self, job: Job, tags: list[tuple[str, str]], max_in_flight: int = 0) -> Job:
        """Insert `job`; a repeated clientRequestToken returns the job it first created. Names,
        tokens and the limit of jobs in flight (0: none) are per tenant."""
        token = stored_token(job.tenant, job.client_token)

        def insert(conn: Connection) -> Job:
            if token:
                row = conn.execute("SELECT * FROM jobs WHERE client_token = ?",
                                   (token,)).fetchone()
                if row:
                    return job_from_row(row)
            busy = conn.execute(f"SELECT 1 FROM jobs WHERE tenant = ? AND name = ? AND status "
                                f"NOT IN ({ENDED_SQL})", (job.tenant, job.name)).fetchone()
            if busy:
                raise ConflictException(f"A job named {job.name} is already in progress.")
            if max_in_flight:
                _check_in_flight(conn, job.tenant, max_in_flight)
            conn.execute(
                "INSERT INTO jobs (job_id, arn, name, provider, model_id, role_arn, client_token, "
                "status, submit_time, last_modified, input_config, output_config, vpc_config, "
                "timeout_hours, invocation_type, tenant, dialect, extra, events) VALUES (?, ?, "
                "?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (job.job_id, job.arn, job.name, job.provider, job.model_id, job.role_arn,
                 token, job.status, job.submit_time, job.last_modified,
                 json.dumps(job.input_config), json.dumps(job.output_config),
                 json.dumps(job.vpc_config) if job.vpc_config else None, job.timeout_hours,
                 job.invocation_type, job.tenant, job.dialect, json.dumps(job.extra),
                 json.dumps({job.status: job.submit_time})))
            conn.executemany("INSERT INTO tags (arn, key, value) VALUES (?, ?, ?)",
                             [(job.arn, k, v) for k, v in dict(tags).items()])
            return job

        return await self.db.transaction(insert)

    async def get(self, job_id: str) -> Job:
        job = await self.find(job_id)
        if job is None:
            raise ResourceNotFoundException(f"The model invocation job {job_id} was not found.")
        return job

    async def find(self, job_id: str) -> Job | None:
        row = await self.db.fetchone("SELECT * FROM jobs WHERE job_id = ?", (job_id,))
        return job_from_row(row) if row is not None else None

    async def list_summaries(self, where: JobFilter, limit: int, token: str | None,
                             ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of ListModelInvocationJobs' summaries and the next page's token.

        The page is chosen on three columns; summaries of jobs unchanged since they were last
        listed come from a cache, so a page of 1,000 mostly-ended jobs costs little more than
        the index scan.
        """
        clauses, params = _filter_sql(where, self.db.dialect)
        if token:
            after_time, after_id = _parse_token(token)
            op = ">" if where.ascending else "<"
            clauses.append(f"(submit_time, job_id) {op} (?, ?)")
            params += [after_time, after_id]
        order = "ASC" if where.ascending else "DESC"
        sql = (f"SELECT job_id, last_modified, submit_time FROM jobs "
               f"{'WHERE ' + ' AND '.join(clauses) if clauses else ''} "
               f"ORDER BY submit_time {order}, job_id {order} LIMIT ?")
        page = [(r["job_id"], r["last_modified"], r["submit_time"])
                for r in await self.db.fetchall(sql, [*params, limit + 1])]
        await self._refresh([(job_id, modified) for job_id, modified, _ in page[:limit]])
        summaries = [self._summaries[job_id][1] for job_id, _, _ in page[:limit]]
        last = page[limit - 1] if len(page) > limit else None
        return summaries, _token(last[2], last[0]) if last else None

    async def page(self, tenant: str, dialect: str, after: Job | None, limit: int) -> list[Job]:
        clauses = ["tenant = ?", "dialect = ?"]
        params: list[str | float] = [tenant, dialect]
        if after is not None:
            clauses.append("(submit_time, job_id) < (?, ?)")
            params += [after.submit_time, after.job_id]
        rows = await self.db.fetchall(
            f"SELECT * FROM jobs WHERE {' AND '.join(clauses)} "
            "ORDER BY submit_time DESC, job_id DESC LIMIT ?", [*params, limit])
        return [job_from_row(row) for row in rows]

    async def _refresh(self, wanted: list[tuple[str, float]]) -> None:
        stale = [job_id for job_id, modified in wanted
                 if self._summaries.get(job_id, (None,))[0] != modified]
        for start in range(0, len(stale), 500):
            chunk = stale[start:start + 500]
            rows = await self.db.fetchall(
                f"SELECT * FROM jobs WHERE job_id IN ({', '.join('?' * len(chunk))})", chunk)
            for row in rows:
                self._summaries[row["job_id"]] = (row["last_modified"],
                                                  summary(job_from_row(row)))
        for job_id, _ in wanted:
            self._summaries.move_to_end(job_id)
        while len(self._summaries) > SUMMARY_CACHE:
            self._summaries.popitem(last=False)

    async def recent(self, tenant: str | None, limit: int) -> list[Job]:
        where, params = ("WHERE tenant = ?", [tenant]) if tenant is not None else ("", [])
        rows = await self.db.fetchall(f"SELECT * FROM jobs {where} ORDER BY submit_time DESC, "
                                      f"job_id DESC LIMIT ?", [*params, limit])
        return [job_from_row(row) for row in rows]

    async def totals(self) -> list[JobTotals]:
        rows = await self.db.fetchall(
            # Sums cast back to integers: PostgreSQL sums bigints as numerics.
            "SELECT provider, status, count(*) AS jobs, CAST(sum(processed) AS BIGINT) AS "
            "processed, CAST(sum(errors) AS BIGINT) AS errors, CAST(sum(input_tokens) AS BIGINT) "
            "AS input_tokens, CAST(sum(output_tokens) AS BIGINT) AS output_tokens, "
            "coalesce(sum(cost), 0.0) AS cost FROM jobs GROUP BY provider, status")
        return [JobTotals(r["provider"], r["status"], r["jobs"], r["processed"], r["errors"],
                          r["input_tokens"], r["output_tokens"], r["cost"]) for r in rows]

    async def usage(self, tenant: str | None, since: float, slot: float) -> list[Usage]:
        return await usage(self.db, tenant, since, slot)

    async def unfinished(self) -> list[tuple[str, str, bool]]:
        """(job id, provider, stop requested) of every job not yet ended, oldest first: the
        runner asks on every wake-up, so this reads three columns, not whole jobs."""
        rows = await self.db.fetchall(
            f"SELECT job_id, provider, stop_requested FROM jobs WHERE status NOT IN "
            f"({ENDED_SQL}) ORDER BY submit_time")
        return [(r["job_id"], r["provider"], bool(r["stop_requested"])) for r in rows]

    async def update(self, job_id: str, **fields: Any) -> None:
        """Set columns of a job (status, message, end_time, counts, ...) and lastModifiedTime."""
        counts: Counts | None = fields.pop("counts", None)
        if counts is not None:
            fields.update(total=counts.total, processed=counts.processed, success=counts.success,
                          errors=counts.errors, input_tokens=counts.input_tokens,
                          output_tokens=counts.output_tokens)
        for name in ("upstream", "extra"):
            if name in fields:
                fields[name] = json.dumps(fields[name])
        now = time.time()
        fields["last_modified"] = now
        assignments = [f"{name} = ?" for name in fields]
        values = [*fields.values()]
        status = fields.get("status")
        if status is not None:
            assignments.append(self.db.dialect.record_event)
            values += [self.db.dialect.event_key(status), now]

        fence = self.fences.get(job_id)

        def write(conn: Connection) -> None:
            check_fence(conn, job_id, fence)
            if status in ENDED:
                # The end, once, in the same transaction: an outbox a restart cannot lose.
                conn.execute(f"INSERT INTO job_events (event_id, job_id, status, created) SELECT "
                             f"?, job_id, ?, ? FROM jobs WHERE job_id = ? AND status NOT IN "
                             f"({ENDED_SQL})", (new_event_id(), status, now, job_id))
            conn.execute(f"UPDATE jobs SET {', '.join(assignments)} WHERE job_id = ?",
                         [*values, job_id])

        await self.db.transaction(write)

    async def set_cost(self, job_id: str, cost: float) -> None:
        await self.db.transaction(lambda conn: conn.execute(
            "UPDATE jobs SET cost = ? WHERE job_id = ?", (cost, job_id)))

    async def request_stop(self, job_id: str) -> Job:
        def stop(conn: Connection) -> Job:
            row = conn.execute("SELECT * FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
            if row is None:
                raise ResourceNotFoundException(
                    f"The model invocation job {job_id} was not found.")
            job = job_from_row(row)
            if job.ended:
                raise ValidationException(f"The job {job_id} has already ended "
                                          f"(status {job.status}) and cannot be stopped.")
            now = time.time()
            conn.execute(f"UPDATE jobs SET stop_requested = 1, status = 'Stopping', "
                         f"last_modified = ?, {self.db.dialect.record_event} WHERE job_id = ?",
                         (now, self.db.dialect.event_key(STOPPING), now, job_id))
            return job

        return await self.db.transaction(stop)

    # tags

    async def tags(self, arn: str) -> list[tuple[str, str]]:
        rows = await self.db.fetchall("SELECT key, value FROM tags WHERE arn = ? ORDER BY key",
                                      (arn,))
        return [(r["key"], r["value"]) for r in rows]

    async def tag(self, arn: str, tags: list[tuple[str, str]]) -> None:
        def insert(conn: Connection) -> None:
            conn.executemany("INSERT INTO tags (arn, key, value) VALUES (?, ?, ?) "
                             "ON CONFLICT (arn, key) DO UPDATE SET value = excluded.value",
                             [(arn, k, v) for k, v in tags])
            count = conn.execute("SELECT count(*) AS n FROM tags WHERE arn = ?",
                                 (arn,)).fetchone()["n"]
            if count > MAX_TAGS:
                raise TooManyTagsException(resourceName=arn)

        await self.db.transaction(insert)

    async def untag(self, arn: str, keys: list[str]) -> None:
        await self.db.transaction(lambda conn: conn.executemany(
            "DELETE FROM tags WHERE arn = ? AND key = ?", [(arn, k) for k in keys]))


def job_from_row(row: Any) -> Job:
    return Job(
        job_id=row["job_id"], arn=row["arn"], name=row["name"], provider=row["provider"],
        model_id=row["model_id"], role_arn=row["role_arn"], status=row["status"],
        submit_time=row["submit_time"], last_modified=row["last_modified"],
        input_config=orjson.loads(row["input_config"]),
        output_config=orjson.loads(row["output_config"]), timeout_hours=row["timeout_hours"],
        client_token=shown_token(row["client_token"]), message=row["message"],
        end_time=row["end_time"],
        vpc_config=orjson.loads(row["vpc_config"]) if row["vpc_config"] else None,
        invocation_type=row["invocation_type"],
        counts=Counts(row["total"], row["processed"], row["success"], row["errors"],
                      row["input_tokens"], row["output_tokens"]),
        stop_requested=bool(row["stop_requested"]),
        upstream=orjson.loads(row["upstream"]) if row["upstream"] else None,
        tenant=row["tenant"], dialect=row["dialect"],
        extra=orjson.loads(row["extra"]) if row["extra"] else {},
        events=orjson.loads(row["events"]) if row["events"] else {}, cost=row["cost"])


def _check_in_flight(conn: Connection, tenant: str, limit: int) -> None:
    count = conn.execute(f"SELECT count(*) AS n FROM jobs WHERE tenant = ? AND status NOT IN "
                         f"({ENDED_SQL})", (tenant,)).fetchone()["n"]
    if count >= limit:
        raise ServiceQuotaExceededException(
            f"{count} jobs are already submitted or in progress, the most this server allows "
            f"per tenant (server.max_jobs_in_flight_per_tenant = {limit}). Wait for one to end "
            "or stop one.")


def _filter_sql(where: JobFilter, dialect: Dialect) -> tuple[list[str], list[Any]]:
    clauses: list[str] = ["tenant = ?", "dialect = ?"]
    params: list[Any] = [where.tenant, where.dialect]
    if where.status:
        clauses.append("status = ?")
        params.append(where.status)
    if where.name_contains:
        clauses.append(dialect.contains("name"))
        params.append(where.name_contains)
    if where.submitted_after is not None:
        clauses.append("submit_time > ?")
        params.append(where.submitted_after)
    if where.submitted_before is not None:
        clauses.append("submit_time < ?")
        params.append(where.submitted_before)
    return clauses, params


def _token(submit_time: float, job_id: str) -> str:
    raw = json.dumps([submit_time, job_id]).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _parse_token(token: str) -> tuple[float, str]:
    try:
        submit_time, job_id = orjson.loads(base64.urlsafe_b64decode(token.encode()))
        return float(submit_time), str(job_id)
    except (binascii.Error, ValueError, TypeError, OverflowError):
        raise ValidationException("The nextToken is not valid.") from None
