"""The ASGI app mounted on /ui: a read-only dashboard of jobs, behind a session cookie."""

from __future__ import annotations

import logging
import time

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.types import Receive, Scope, Send

from bifrost_py.errors import AwsError, InternalError, NotFoundError
from bifrost_py.wire.asgi import new_request_id
from bifrost_py.wire.observe import Observer
from bifrost_py.wire.ui.routes import Route, match
from bifrost_py.wire.ui.service import UI, UIRequest
from bifrost_py.wire.ui.session import COOKIE
from bifrost_py.wire.ui.viewer import OPEN_VIEWER, Viewer

log = logging.getLogger("bifrost_py.ui")

# Scripts, styles and requests only from the dashboard itself; no frames, no inline script.
HEADERS = {
    "content-security-policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
                               "img-src 'self'; connect-src 'self'; form-action 'self'; "
                               "base-uri 'none'; frame-ancestors 'none'",
    "x-content-type-options": "nosniff", "referrer-policy": "no-referrer",
    "x-frame-options": "DENY", "cache-control": "no-store",
}


class UIApp:
    def __init__(self, ui: UI, observer: Observer) -> None:
        self.ui = ui
        self.observer = observer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started, request_id = time.perf_counter(), new_request_id()
        request = Request(scope, receive)
        base: str = scope.get("root_path", "")
        found = match(scope["method"], scope["path"].removeprefix(base))
        viewer = self._viewer(request)
        operation = found[0].handler.__name__ if found else "-"
        try:
            response = await self._answer(request, found, viewer, base)
        except AwsError as error:
            response = _error(found, request, error, self.ui, viewer, base)
        except Exception:
            log.exception("unhandled error in %s %s", scope["method"], scope["path"])
            response = _error(found, request, InternalError(), self.ui, viewer, base)
        response.headers.update(HEADERS)
        response.headers["x-request-id"] = request_id
        await response(scope, receive, send)
        self.observer.request("ui", request_id, viewer.caller if viewer else None, operation,
                              response.status_code, started)

    async def _answer(self, request: Request, found: tuple[Route, dict[str, str]] | None,
                      viewer: Viewer | None, base: str) -> Response:
        if found is None:
            raise NotFoundError("There is no such page.")
        route, labels = found
        if viewer is None and not route.public:
            if route.api:
                return JSONResponse({"error": f"log in at {base}/login"}, 401)
            return RedirectResponse(f"{base}/login", 303)
        return await route.handler(UIRequest(request, labels, viewer, base), self.ui)

    def _viewer(self, request: Request) -> Viewer | None:
        if self.ui.identities.open:
            return OPEN_VIEWER
        who = self.ui.sessions.read(request.cookies.get(COOKIE, ""), time.time())
        return self.ui.identities.viewer(who) if who else None


def _error(found: tuple[Route, dict[str, str]] | None, request: Request, error: AwsError,
           ui: UI, viewer: Viewer | None, base: str) -> Response:
    if found is not None and found[0].api:
        return JSONResponse({"error": error.message}, error.status)
    return UIRequest(request, {}, viewer, base).page(ui, "error.html", error.status,
                                                    message=error.message)
