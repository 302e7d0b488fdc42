"""Jobs and usage as the dashboard shows them: plain values for the templates and the JSON API
alike, so a row the page renders and a row the script updates say the same."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from bifrost_py.domain.costs import Price, cost, price_of
from bifrost_py.domain.jobs import OPENAI, Job
from bifrost_py.domain.timefmt import iso
from bifrost_py.domain.usage import Usage

OPEN_TENANT = "(open)"  # how the open server's tenant "" is named in charts


def job_row(job: Job, prices: Mapping[str, Price], base: str) -> dict[str, Any]:
    c = job.counts
    spent, estimated = job_cost(job, prices)
    shown_id = f"batch_{job.job_id}" if job.dialect == OPENAI else job.job_id
    return {
        "id": job.job_id, "name": job.name, "tenant": job.tenant, "dialect": job.dialect,
        "shown_id": shown_id, "id_note": "" if shown_id == job.name else shown_id,
        "provider": job.provider, "model": job.model_id, "status": job.status,
        "ended": job.ended, "message": job.message, "total": c.total,
        "processed": c.processed, "success": c.success, "errors": c.errors,
        "input_tokens": c.input_tokens, "output_tokens": c.output_tokens,
        "cost": spent, "cost_estimated": estimated, "submitted": iso(job.submit_time),
        "ended_at": iso(job.end_time) if job.end_time else None,
        "success_pct": _percent(c.success, c.total), "error_pct": _percent(c.errors, c.total),
        "url": f"{base}/jobs/{job.job_id}",
        "progress_text": _progress(job), "tokens_text": f"{c.input_tokens:,} / {c.output_tokens:,}",
        "cost_text": _money(spent, estimated), "submitted_text": when(job.submit_time),
    }


def blank_row() -> dict[str, Any]:
    """A row of no job: what the page's script fills in for a job that appears later."""
    fields = ("id", "name", "shown_id", "id_note", "tenant", "dialect", "provider", "model",
              "status", "url", "progress_text", "tokens_text", "cost_text", "submitted_text")
    return {**dict.fromkeys(fields, ""), "success_pct": 0, "error_pct": 0}


def job_cost(job: Job, prices: Mapping[str, Price]) -> tuple[float | None, bool]:
    """The job's cost and whether it is an estimate: the stored cost once it has ended, before
    that its token counts so far at the configured price; None without a price."""
    if job.cost is not None:
        return job.cost, False
    price = price_of(job.model_id, prices)
    if price is None:
        return None, False
    return cost(job.counts.input_tokens, job.counts.output_tokens, price), not job.ended


def usage_view(rows: list[Usage], since: float, slot: float, slots: int,
               by_tenant: bool) -> dict[str, Any]:
    """Series per provider (and per tenant, for a viewer of every tenant), one point a slot."""
    view: dict[str, Any] = {"since": since, "slot": slot,
                            "starts": [iso(since + i * slot) for i in range(slots)],
                            "providers": _series(rows, lambda u: u.provider, since, slot, slots)}
    if by_tenant:
        view["tenants"] = _series(rows, lambda u: u.tenant or OPEN_TENANT, since, slot, slots)
    return view


def _series(rows: list[Usage], name_of: Any, since: float, slot: float,
            slots: int) -> list[dict[str, Any]]:
    series: dict[str, dict[str, list[float]]] = {}
    for row in rows:
        points = series.setdefault(name_of(row), {m: [0] * slots for m in _MEASURES})
        index = min(slots - 1, max(0, round((row.start - since) / slot)))
        for measure, value in _measures(row).items():
            points[measure][index] += value
    return [{"name": name, **points} for name, points in sorted(series.items())]


_MEASURES = ("jobs", "records", "errors", "input_tokens", "output_tokens", "tokens", "cost")


def _measures(row: Usage) -> dict[str, float]:
    return {"jobs": row.jobs, "records": row.records, "errors": row.errors,
            "input_tokens": row.input_tokens, "output_tokens": row.output_tokens,
            "tokens": row.input_tokens + row.output_tokens, "cost": row.cost}


def _progress(job: Job) -> str:
    c = job.counts
    done = f"{c.processed:,} / {c.total:,}" if c.total is not None else f"{c.processed:,} / ?"
    return f"{done}, {c.errors:,} failed" if c.errors else done


def _money(dollars: float | None, estimated: bool) -> str:
    if dollars is None:
        return "-"
    # Cents show to four places; a job of a few requests costs millionths.
    shown = f"{dollars:,.4f}" if dollars >= 0.01 or dollars == 0 else f"{dollars:.6f}"
    return f"{'~' if estimated else ''}${shown}"


def when(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(at))


def _percent(part: int, total: int | None) -> float:
    return round(min(100.0, 100.0 * part / total), 2) if total else 0.0
