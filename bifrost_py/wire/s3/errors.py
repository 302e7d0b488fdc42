"""The one place S3 errors become wire responses."""

from __future__ import annotations

from starlette.responses import Response

from bifrost_py.domain.tenancy import shown_bucket
from bifrost_py.errors import AwsError
from bifrost_py.wire.s3.xml import render

# HEAD answers and 304 carry no body (botocore reads the code from the status alone). A 412 to
# any other method has its XML body, as S3 sends it, so clients see PreconditionFailed.
_NO_BODY_STATUSES = {304}


def error_response(error: AwsError, method: str, resource: str, request_id: str) -> Response:
    headers = dict(error.headers)
    if method == "HEAD" or error.status in _NO_BODY_STATUSES:
        return Response(status_code=error.status, headers=headers)
    # The store names buckets by their tenant-qualified names; the caller knows its own.
    extra = {k: shown_bucket(v) if k == "BucketName" else v for k, v in error.extra.items()}
    body = render("Error", {"Code": error.code, "Message": error.message, **extra,
                            "Resource": error.resource or resource, "RequestId": request_id},
                  namespace=False)
    return Response(body, error.status, headers, media_type="application/xml")
