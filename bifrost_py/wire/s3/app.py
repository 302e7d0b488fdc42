"""The ASGI app mounted on /bedrock/files: every request ends in a response with a request id."""

from __future__ import annotations

import logging
import time

from starlette.requests import Request
from starlette.types import Message, Receive, Scope, Send

from bifrost_py.config import Config
from bifrost_py.errors import AwsError, InternalError
from bifrost_py.jobs.routing import Routing
from bifrost_py.ports.files import Files
from bifrost_py.ports.upstream import UpstreamError
from bifrost_py.wire.asgi import header_dict, new_request_id
from bifrost_py.wire.auth.credentials import Caller
from bifrost_py.wire.auth.guard import Guard, permit
from bifrost_py.wire.observe import Observer
from bifrost_py.wire.s3.errors import error_response, upstream_error
from bifrost_py.wire.s3.features import check_features
from bifrost_py.wire.s3.proxy import S3Proxy
from bifrost_py.wire.s3.request import S3Request, parse_request
from bifrost_py.wire.s3.routes import route

log = logging.getLogger("bifrost_py.s3")


class S3App:
    def __init__(self, config: Config, files: dict[str, Files], routing: Routing, guard: Guard,
                 proxies: dict[str, S3Proxy], observer: Observer) -> None:
        self.guard = guard
        self.observer = observer
        self.routing = routing
        self.files = files
        self.proxies = proxies  # providers whose files are a real S3: passed through as they are
        self.region = config.server.region
        self.account_id = config.server.account_id

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        body = _BodyState(receive)
        request = Request(scope, body.receive)
        request_id = new_request_id()
        req: S3Request | None = None
        caller: Caller | None = None
        operation = "-"
        try:
            headers = header_dict(scope)
            caller = self.guard.caller("s3", scope, headers)
            self.guard.throttle(caller, "s3")
            provider = self.routing.provider(headers)
            permit(caller, "s3", provider)
            if provider in self.proxies:
                status = await self.proxies[provider].forward(scope, receive, send, caller)
                return self.observer.request("s3", request_id, caller, "proxy", status, started)
            req = parse_request(request, headers, self.region, self.account_id, request_id)
            req.caller = caller
            check_features(headers, self.account_id)
            handler = route(req)
            operation = handler.__name__
            response = await handler(req, self.files[provider])
        except AwsError as error:
            response = error_response(error, scope["method"], req.resource if req else "",
                                      request_id)
        except UpstreamError as failure:
            response = error_response(upstream_error(failure), scope["method"],
                                      req.resource if req else "", request_id)
        except Exception:
            log.exception("unhandled error in %s %s", scope["method"], scope["path"])
            response = error_response(InternalError(), scope["method"],
                                      req.resource if req else "", request_id)
        response.headers["x-amz-request-id"] = request_id
        response.headers["x-amz-id-2"] = request_id
        if not body.finished and _has_body(request):
            # Answered without reading the body (a client that sent Expect: 100-continue never
            # sends it): close, or the unread body would be taken for the next request.
            response.headers["Connection"] = "close"
        await response(scope, body.receive, send)
        self.observer.request("s3", request_id, caller, operation, response.status_code, started)


class _BodyState:
    """Wraps `receive` to know whether the request body was read to its end."""

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self.finished = False

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.request" and not message.get("more_body", False):
            self.finished = True
        return message


def _has_body(request: Request) -> bool:
    headers = request.headers
    return headers.get("content-length", "0") != "0" or "transfer-encoding" in headers
