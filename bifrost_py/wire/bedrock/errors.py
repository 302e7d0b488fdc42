"""The one place Bedrock control-plane errors become wire responses."""

from __future__ import annotations

import orjson
from starlette.responses import Response

from bifrost_py.errors import AwsError


def error_response(error: AwsError) -> Response:
    # botocore's rest-json parser reads the code from x-amzn-ErrorType and the text from message.
    headers = {"x-amzn-ErrorType": error.code, **error.headers}
    return Response(orjson.dumps({"message": error.message, **error.extra}), error.status,
                    headers, media_type="application/json")
