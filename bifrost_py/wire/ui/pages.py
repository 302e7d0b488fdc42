"""The dashboard's HTML pages: login, the jobs list, a job's detail and its downloads."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, quote

from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response, StreamingResponse

from bifrost_py.errors import InvalidRequestError, NotFoundError
from bifrost_py.wire.streams import primed
from bifrost_py.wire.ui.service import HERE, UI, UIRequest
from bifrost_py.wire.ui.session import COOKIE
from bifrost_py.wire.ui.views import blank_row, job_row

LIST_LIMIT = 100
MAX_LOGIN_BODY = 4096
STATIC = {"ui.css": "text/css", "ui.js": "text/javascript", "chart.js": "text/javascript"}


async def login_form(req: UIRequest, ui: UI) -> Response:
    if ui.identities.open:
        return RedirectResponse(f"{req.base}/", 303)
    return req.page(ui, "login.html", error=None)


async def login(req: UIRequest, ui: UI) -> Response:
    who = ui.identities.who(await _token(req.request))
    if who is None:
        return req.page(ui, "login.html", 401, error="That is neither a key's bearer token "
                        "nor the server's metrics token.")
    response = RedirectResponse(f"{req.base}/", 303)
    _session_cookie(response, req, ui.sessions.issue(who, time.time()), ui.sessions.lifetime)
    return response


async def logout(req: UIRequest, ui: UI) -> Response:
    response = RedirectResponse(f"{req.base}/login", 303)
    _session_cookie(response, req, "", 0)
    return response


async def jobs_page(req: UIRequest, ui: UI) -> Response:
    jobs = await ui.jobs.recent(req.seen_by.tenant, LIST_LIMIT)
    return req.page(ui, "jobs.html", jobs=[job_row(job, ui.prices, req.base) for job in jobs],
                    blank=blank_row(), all_tenants=req.seen_by.tenant is None)


async def job_page(req: UIRequest, ui: UI) -> Response:
    job = await ui.job(req.seen_by, req.labels["job_id"])
    outputs = await ui.outputs.of(job)
    return req.page(ui, "job.html", job=job_row(job, ui.prices, req.base), detail=job,
                    outputs=outputs, errors=await ui.outputs.errors(job, outputs),
                    batch_errors=job.extra.get("errors") or [])


async def download(req: UIRequest, ui: UI) -> Response:
    """One of the job's outputs, streamed from the store."""
    job = await ui.job(req.seen_by, req.labels["job_id"])
    output = next((o for o in await ui.outputs.of(job) if o.name == req.labels["name"]), None)
    if output is None:
        raise NotFoundError(f"The job {job.job_id} has no output {req.labels['name']}.")
    filename = quote(output.label.rsplit("/", 1)[-1])
    headers = {"content-length": str(output.size),
               "content-disposition": f"attachment; filename*=UTF-8''{filename}"}
    return StreamingResponse(await primed(output.read()), media_type="application/octet-stream",
                             headers=headers)


async def static(req: UIRequest, ui: UI) -> Response:
    name = req.labels["name"]
    if name not in STATIC:
        raise NotFoundError(f"No file {name}.")
    return FileResponse(HERE / "static" / name, media_type=STATIC[name])


async def _token(request: Request) -> str:
    """The login form's token; read to a bound, as anyone may post it."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_LOGIN_BODY:
            raise InvalidRequestError("A login form holds a token and no more.")
    return parse_qs(body.decode("utf-8", "replace")).get("token", [""])[0].strip()


def _session_cookie(response: Response, req: UIRequest, value: str, max_age: int) -> None:
    """Only the dashboard's own pages get it, never from another site, never to scripts."""
    response.set_cookie(COOKIE, value, max_age, path=req.base or "/",
                        secure=req.request.url.scheme == "https", httponly=True,
                        samesite="strict")
