"""The ASGI app mounted on /bedrock: the Bedrock control plane's REST-JSON dialect."""

from __future__ import annotations

import hashlib
import logging
import time
from urllib.parse import parse_qsl, unquote

from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from bifrost_py.errors import (
    AwsError,
    InternalServerException,
    UnknownOperationException,
    ValidationException,
)
from bifrost_py.jobs.control import ControlPlane
from bifrost_py.jobs.routing import Routing
from bifrost_py.wire.asgi import header_dict, mount_path, new_request_id
from bifrost_py.wire.auth.credentials import Caller
from bifrost_py.wire.auth.guard import Guard, permit
from bifrost_py.wire.bedrock.errors import error_response
from bifrost_py.wire.bedrock.request import BedrockRequest
from bifrost_py.wire.bedrock.routes import ROUTES, Handler
from bifrost_py.wire.observe import Observer

log = logging.getLogger("bifrost_py.bedrock")
MAX_BODY = 2**20


class BedrockApp:
    def __init__(self, plane: ControlPlane, routing: Routing, guard: Guard,
                 observer: Observer) -> None:
        self.plane = plane
        self.observer = observer
        self.routing = routing
        self.guard = guard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        request = Request(scope, receive)
        request_id = new_request_id()
        caller: Caller | None = None
        operation = "-"
        try:
            handler, labels = _match(scope)
            operation = handler.__name__
            query = dict(parse_qsl(scope["query_string"].decode("latin-1"),
                                   keep_blank_values=True))
            body = await _body(request)
            headers = header_dict(scope)
            caller = self.guard.caller("bedrock", scope, headers,
                                       hashlib.sha256(body).hexdigest())
            self.guard.throttle(caller, "bedrock")
            provider = self.routing.provider(headers)
            permit(caller, "bedrock", provider)
            req = BedrockRequest(scope["method"], labels, query, request.headers, body,
                                 request_id, provider, caller)
            response = await handler(req, self.plane)
        except AwsError as error:
            response = error_response(error)
        except Exception:
            log.exception("unhandled error in %s %s", scope["method"], scope["path"])
            response = error_response(InternalServerException())
        response.headers["x-amzn-RequestId"] = request_id
        await response(scope, receive, send)
        self.observer.request("bedrock", request_id, caller, operation, response.status_code,
                              started)


def _match(scope: Scope) -> tuple[Handler, dict[str, str]]:
    path = mount_path(scope).decode("latin-1")
    for method, pattern, handler in ROUTES:
        match = pattern.match(path)
        if match and method == scope["method"]:
            # Labels arrive percent-encoded (ARNs as %3A and %2F): match first, then decode.
            return handler, {k: unquote(v) for k, v in match.groupdict().items()}
    raise UnknownOperationException(f"No operation matches {scope['method']} {path}.")


async def _body(request: Request) -> bytes:
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > MAX_BODY:
            raise ValidationException("The request body is too large.")
    return bytes(data)
