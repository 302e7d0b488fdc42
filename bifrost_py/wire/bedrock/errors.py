"""The one place Bedrock control-plane errors become wire responses."""

from __future__ import annotations

import orjson
from starlette.responses import Response

from bifrost_py.errors import AwsError

# Errors of the core that are no Bedrock code, as Bedrock answers the same mistake.
_BEDROCK_CODES = {"UnknownProvider": "ValidationException"}


def error_response(error: AwsError) -> Response:
    # botocore's rest-json parser reads the code from x-amzn-ErrorType and the text from message.
    code = _BEDROCK_CODES.get(error.code, error.code)
    headers = {"x-amzn-ErrorType": code, **error.headers}
    return Response(orjson.dumps({"message": error.message, **error.extra}), error.status,
                    headers, media_type="application/json")
