"""The ASGI app mounted on /bedrock/files: every request ends in a response with a request id."""

from __future__ import annotations

import logging
from collections.abc import Callable

from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from bifrost_py.errors import AwsError, InternalError
from bifrost_py.providers.local import LocalFiles
from bifrost_py.wire.s3.errors import error_response
from bifrost_py.wire.s3.request import S3Request, new_request_id, parse_request
from bifrost_py.wire.s3.routes import route

log = logging.getLogger("bifrost_py.s3")
FilesFor = Callable[[Request], LocalFiles]


class S3App:
    def __init__(self, files_for: FilesFor, region: str, account_id: str) -> None:
        self.files_for = files_for
        self.region = region
        self.account_id = account_id

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        request_id = new_request_id()
        req: S3Request | None = None
        try:
            req = parse_request(request, self.region, self.account_id, request_id)
            response = await route(req)(req, self.files_for(request))
        except AwsError as error:
            response = error_response(error, scope["method"], req.resource if req else "",
                                      request_id)
        except Exception:
            log.exception("unhandled error in %s %s", scope["method"], scope["path"])
            response = error_response(InternalError(), scope["method"],
                                      req.resource if req else "", request_id)
        response.headers["x-amz-request-id"] = request_id
        response.headers["x-amz-id-2"] = request_id
        await response(scope, receive, send)
