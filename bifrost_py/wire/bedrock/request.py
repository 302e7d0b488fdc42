"""A Bedrock control-plane request as handlers see it, and the JSON answer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from starlette.datastructures import Headers
from starlette.responses import Response

from bifrost_py.wire.auth.credentials import Caller, tenant_of


@dataclass
class BedrockRequest:
    method: str
    labels: dict[str, str]  # path labels, percent-decoded
    query: dict[str, str]
    headers: Headers
    body: bytes
    request_id: str
    provider: str  # from x-model-provider, checked against the configured providers
    caller: Caller | None = None  # the verified key; None when the server runs open

    @property
    def tenant(self) -> str:
        return tenant_of(self.caller)


def json_response(body: dict[str, Any], status: int = 200) -> Response:
    return Response(orjson.dumps(body), status, media_type="application/json")
