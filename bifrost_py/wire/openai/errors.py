"""The one place errors become the OpenAI dialect's answers: `{"error": {message, type, param,
code}}` with the HTTP status, whatever part of the server raised them."""

from __future__ import annotations

import orjson
from starlette.responses import Response

from bifrost_py.errors import AwsError

# The error `type` OpenAI gives each status; the errors of the OpenAI dialect carry their own.
_TYPES = {400: "invalid_request_error", 401: "invalid_request_error", 403: "permission_error",
          404: "invalid_request_error", 409: "invalid_request_error", 413: "invalid_request_error",
          429: "rate_limit_error", 501: "invalid_request_error"}
_OPENAI_TYPES = frozenset({"invalid_request_error", "permission_error", "rate_limit_error",
                           "server_error"})


def error_response(error: AwsError) -> Response:
    kind = error.code if error.code in _OPENAI_TYPES else _TYPES.get(error.status,
                                                                      "server_error")
    body = {"error": {"message": error.message, "type": kind,
                      "param": error.extra.get("param"), "code": error.extra.get("code")}}
    return Response(orjson.dumps(body), error.status, error.headers,
                    media_type="application/json")
