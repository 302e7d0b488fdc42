"""An OpenAI-dialect request as its handlers see it, and the JSON answer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from bifrost_py.errors import InvalidRequestError
from bifrost_py.wire.auth.credentials import Caller, tenant_of

MAX_JSON_BODY = 2**20


@dataclass
class OpenAIRequest:
    request: Request
    labels: dict[str, str]  # path labels (a file, batch or upload id)
    query: dict[str, str]
    provider: str  # from x-model-provider, checked against the configured providers
    request_id: str
    caller: Caller | None = None  # None when the server runs open

    @property
    def tenant(self) -> str:
        return tenant_of(self.caller)

    async def json(self) -> dict[str, Any]:
        """The JSON object body; invalid_request_error when it is not one."""
        data = bytearray()
        async for chunk in self.request.stream():
            data += chunk
            if len(data) > MAX_JSON_BODY:
                raise InvalidRequestError("The request body is too large.")
        try:
            value = orjson.loads(data) if data.strip() else {}
        except orjson.JSONDecodeError:
            raise InvalidRequestError("We could not parse the JSON body of your request.") \
                from None
        if not isinstance(value, dict):
            raise InvalidRequestError("The request body must be a JSON object.")
        return value


def json_response(body: dict[str, Any], status: int = 200) -> Response:
    return Response(orjson.dumps(body), status, media_type="application/json")
