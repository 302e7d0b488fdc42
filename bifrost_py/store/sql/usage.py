"""Usage over time, summed by the database: one row per slot, provider and tenant."""

from __future__ import annotations

from typing import Any

from bifrost_py.domain.usage import Usage
from bifrost_py.store.sql.database import Database

# A job counts in the slot where it ended or, while it runs, where it last moved: the work it
# has done so far lands where it was done, not where the job was submitted.
_WHEN = "coalesce(end_time, last_modified)"


async def usage(db: Database, tenant: str | None, since: float, slot: float) -> list[Usage]:
    where = f"{_WHEN} >= ?"
    params: list[Any] = [since]
    if tenant is not None:
        where += " AND tenant = ?"
        params.append(tenant)
    rows = await db.fetchall(
        f"SELECT {db.dialect.whole(f'({_WHEN} - ?) / ?')} AS slot, provider, tenant, "
        "count(*) AS jobs, CAST(sum(processed) AS BIGINT) AS records, "
        "CAST(sum(errors) AS BIGINT) AS errors, CAST(sum(input_tokens) AS BIGINT) AS "
        "input_tokens, CAST(sum(output_tokens) AS BIGINT) AS output_tokens, "
        "coalesce(sum(cost), 0) AS cost FROM jobs "
        f"WHERE {where} GROUP BY slot, provider, tenant ORDER BY slot, provider, tenant",
        [since, slot, *params])
    return [_usage(row, since, slot) for row in rows]


def _usage(row: Any, since: float, slot: float) -> Usage:
    return Usage(since + row["slot"] * slot, row["provider"], row["tenant"], row["jobs"],
                 row["records"], row["errors"], row["input_tokens"], row["output_tokens"],
                 row["cost"])
