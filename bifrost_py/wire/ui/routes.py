"""The dashboard's routes: method, path pattern under the mount, handler, and whether it is
open to anyone (the login form and its assets) or only to a logged-in viewer."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bifrost_py.wire.ui.api import api_job, api_jobs, api_usage
from bifrost_py.wire.ui.pages import (
    download,
    job_page,
    jobs_page,
    login,
    login_form,
    logout,
    static,
)
from bifrost_py.wire.ui.service import Handler

_JOB = r"/jobs/(?P<job_id>[a-z0-9]{12})"


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    public: bool = False

    @property
    def api(self) -> bool:
        """Answered in JSON: refusals and errors are JSON too."""
        return self.handler in (api_jobs, api_job, api_usage)


def _route(method: str, path: str, handler: Handler, public: bool = False) -> Route:
    return Route(method, re.compile(f"^{path}$"), handler, public)


ROUTES = [
    _route("GET", "/?", jobs_page),
    _route("GET", _JOB, job_page),
    _route("GET", _JOB + "/outputs/(?P<name>.+)", download),
    _route("GET", "/api/jobs", api_jobs),
    _route("GET", "/api" + _JOB, api_job),
    _route("GET", "/api/usage", api_usage),
    _route("GET", "/login", login_form, public=True),
    _route("POST", "/login", login, public=True),
    _route("POST", "/logout", logout, public=True),
    _route("GET", r"/static/(?P<name>[a-z]+\.[a-z]+)", static, public=True),
]


def match(method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    for route in ROUTES:
        found = route.pattern.match(path)
        if found and route.method == method:
            return route, found.groupdict()
    return None
