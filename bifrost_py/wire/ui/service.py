"""What the dashboard's handlers are given: the jobs, their outputs, sessions and templates."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from bifrost_py.config import Config
from bifrost_py.domain.costs import Price
from bifrost_py.domain.jobs import Job
from bifrost_py.errors import NotFoundError
from bifrost_py.ports.file_store import FileStore
from bifrost_py.ports.files import Objects
from bifrost_py.ports.jobs import JobRepository
from bifrost_py.wire.auth.guard import Guard
from bifrost_py.wire.ui.outputs import Outputs
from bifrost_py.wire.ui.session import Sessions
from bifrost_py.wire.ui.viewer import Identities, Viewer
from bifrost_py.wire.ui.views import when

HERE = Path(__file__).parent


@dataclass(frozen=True)
class UI:
    jobs: JobRepository
    outputs: Outputs
    identities: Identities
    sessions: Sessions
    prices: Mapping[str, Price]
    templates: Jinja2Templates

    async def job(self, viewer: Viewer, job_id: str) -> Job:
        """The job, if the viewer may see it: another tenant's is as missing as no job."""
        job = await self.jobs.find(job_id)
        if job is None or not viewer.may_see(job):
            raise NotFoundError(f"There is no job {job_id}.")
        return job


@dataclass(frozen=True)
class UIRequest:
    request: Request
    labels: dict[str, str]
    viewer: Viewer | None  # None only on the pages anyone may open (the login form)
    base: str  # where the dashboard is mounted: every link starts here

    @property
    def seen_by(self) -> Viewer:
        assert self.viewer is not None, "asked on a page behind the login"
        return self.viewer

    def page(self, ui: UI, template: str, status: int = 200, **context: Any) -> Response:
        return ui.templates.TemplateResponse(
            self.request, template, {"base": self.base, "viewer": self.viewer, **context},
            status_code=status)


Handler = Callable[[UIRequest, UI], Awaitable[Response]]


def templates() -> Jinja2Templates:
    """Every value is escaped, whatever the template's name; an unknown name is an error."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"),
                             autoescape=True, undefined=jinja2.StrictUndefined)
    env.filters["num"] = lambda n: "-" if n is None else f"{n:,}"
    env.filters["when"] = when
    return Jinja2Templates(env=env)


def dashboard(config: Config, jobs: JobRepository, guard: Guard, files: FileStore,
              objects: Mapping[str, Objects]) -> UI:
    identities = Identities(guard, config.server.metrics_token)
    return UI(jobs, Outputs(objects, files), identities, Sessions(identities.secret()),
              config.prices, templates())
