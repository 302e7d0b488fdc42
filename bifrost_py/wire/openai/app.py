"""The ASGI app mounted on /v1 (and /openai/v1): OpenAI's Files, Uploads and Batches."""

from __future__ import annotations

import logging
import time
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from bifrost_py.errors import AwsError, InternalError, NotFoundError
from bifrost_py.jobs.routing import Routing
from bifrost_py.wire.asgi import header_dict, mount_path, new_request_id
from bifrost_py.wire.auth.credentials import Caller
from bifrost_py.wire.auth.guard import Guard, permit
from bifrost_py.wire.observe import Observer
from bifrost_py.wire.openai.errors import error_response
from bifrost_py.wire.openai.request import OpenAIRequest
from bifrost_py.wire.openai.routes import ROUTES, Handler
from bifrost_py.wire.openai.service import V1

log = logging.getLogger("bifrost_py.openai")


class OpenAIApp:
    def __init__(self, v1: V1, routing: Routing, guard: Guard, observer: Observer) -> None:
        self.v1 = v1
        self.observer = observer
        self.routing = routing
        self.guard = guard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        request_id = new_request_id()
        caller: Caller | None = None
        operation = "-"
        try:
            handler, labels = _match(scope)
            operation = handler.__name__
            headers = header_dict(scope)
            caller = self.guard.api_key(headers)
            self.guard.throttle(caller, "openai")
            provider = self.routing.provider(headers)
            permit(caller, "openai", provider)
            query = dict(parse_qsl(scope["query_string"].decode("latin-1"),
                                   keep_blank_values=True))
            req = OpenAIRequest(Request(scope, receive), labels, query, provider, request_id,
                                caller)
            response = await handler(req, self.v1)
        except AwsError as error:
            response = error_response(error)
        except Exception:
            log.exception("unhandled error in %s %s", scope["method"], scope["path"])
            response = error_response(InternalError("The server had an error while processing "
                                                    "your request."))
        response.headers["x-request-id"] = request_id
        await response(scope, receive, send)
        self.observer.request("openai", request_id, caller, operation, response.status_code,
                              started)


def _match(scope: Scope) -> tuple[Handler, dict[str, str]]:
    path = mount_path(scope).decode("latin-1")
    for method, pattern, handler in ROUTES:
        match = pattern.match(path)
        if match and method == scope["method"]:
            return handler, match.groupdict()
    raise NotFoundError(f"Invalid URL ({scope['method']} /v1{path})")
