"""The JSON the dashboard's scripts poll: jobs with their progress, and usage over time."""

from __future__ import annotations

import math
import time

from starlette.responses import JSONResponse, Response

from bifrost_py.errors import InvalidRequestError
from bifrost_py.wire.ui.service import UI, UIRequest
from bifrost_py.wire.ui.views import job_row, usage_view

MAX_JOBS = 500
# window -> (seconds a slot, slots): hourly for a day, quarter-days for a week, daily for a month
WINDOWS = {"24h": (3600, 24), "7d": (6 * 3600, 28), "30d": (86400, 30)}


async def api_jobs(req: UIRequest, ui: UI) -> Response:
    limit = _limit(req.request.query_params.get("limit", "100"))
    jobs = await ui.jobs.recent(req.seen_by.tenant, limit)
    return JSONResponse({"jobs": [job_row(job, ui.prices, req.base) for job in jobs]})


async def api_job(req: UIRequest, ui: UI) -> Response:
    job = await ui.job(req.seen_by, req.labels["job_id"])
    return JSONResponse(job_row(job, ui.prices, req.base))


async def api_usage(req: UIRequest, ui: UI) -> Response:
    window = req.request.query_params.get("window", "24h")
    if window not in WINDOWS:
        raise InvalidRequestError(f"window is one of {', '.join(WINDOWS)}.")
    slot, slots = WINDOWS[window]
    since = (math.floor(time.time() / slot) + 1 - slots) * slot  # slots start on the hour
    rows = await ui.jobs.usage(req.seen_by.tenant, since, slot)
    return JSONResponse({"window": window, **usage_view(rows, since, slot, slots,
                                                        req.seen_by.tenant is None)})


def _limit(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= MAX_JOBS:
        raise InvalidRequestError(f"limit is a whole number from 1 to {MAX_JOBS}.")
    return int(value)
