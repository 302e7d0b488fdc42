"""What the GCS and Vertex AI fakes share: a server on a loopback port with `/token` beside the
API, a lifecycle for `with`, the `fail_requests` knob, and reading and writing JSON bodies."""

from __future__ import annotations

import json
from types import TracebackType
from typing import Any, Self

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bifrost_py.testing import ServerThread
from tests.fakes.google_auth_fake import TokenIssuer

Json = dict[str, Any]


class GoogleServed:
    """Serves `POST /token` from `issuer` and every other path with `handle`."""

    def __init__(self, issuer: TokenIssuer, handle: Route) -> None:
        self.issuer = issuer
        app = Starlette(routes=[Route("/token", issuer.token_endpoint, methods=["POST"]),
                                handle])
        self._server = ServerThread(app)
        self.url = self._server.url
        self._fail_left, self._fail_status = 0, 500

    def fail_requests(self, n: int, status: int) -> None:
        """The next n requests (other than to /token) answer `status` in the API's error
        format."""
        self._fail_left, self._fail_status = n, status

    def _failure(self) -> int | None:
        """The status the current request must fail with, if `fail_requests` asked for one."""
        if self._fail_left <= 0:
            return None
        self._fail_left -= 1
        return self._fail_status

    def start(self) -> Self:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def json_answer(value: Json) -> Response:
    return Response(json.dumps(value).encode(), 200, media_type="application/json")


async def json_object(request: Request) -> Json:
    """The request body as a JSON object, an empty body as {}; ValueError for anything else."""
    body = json.loads(await request.body() or b"{}")
    if not isinstance(body, dict):
        raise ValueError("not a JSON object")
    return body
