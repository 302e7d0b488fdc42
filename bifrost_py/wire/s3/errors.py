"""The one place S3 errors become wire responses."""

from __future__ import annotations

from starlette.responses import Response

from bifrost_py.domain.tenancy import shown_bucket
from bifrost_py.errors import AccessDenied, AwsError, InvalidRequest, ServiceUnavailable
from bifrost_py.ports.upstream import UpstreamAuth, UpstreamError, UpstreamRefused
from bifrost_py.wire.s3.xml import render

# HEAD answers and 304 carry no body (botocore reads the code from the status alone). A 412 to
# any other method has its XML body, as S3 sends it, so clients see PreconditionFailed.
_NO_BODY_STATUSES = {304}
# Errors of the core that are no S3 code, as S3 answers the same mistake.
_S3_CODES = {"UnknownProvider": "InvalidArgument"}


def error_response(error: AwsError, method: str, resource: str, request_id: str) -> Response:
    headers = dict(error.headers)
    if method == "HEAD" or error.status in _NO_BODY_STATUSES:
        return Response(status_code=error.status, headers=headers)
    # The store names buckets by their tenant-qualified names; the caller knows its own.
    extra = {k: shown_bucket(v) if k == "BucketName" else v for k, v in error.extra.items()}
    code = _S3_CODES.get(error.code, error.code)
    body = render("Error", {"Code": code, "Message": error.message, **extra,
                            "Resource": error.resource or resource, "RequestId": request_id},
                  namespace=False)
    return Response(body, error.status, headers, media_type="application/xml")


def upstream_error(failure: UpstreamError) -> AwsError:
    """A provider's failure as S3 answers it: never a 500 of ours."""
    if isinstance(failure, UpstreamAuth):
        return AccessDenied(f"The {failure.provider} provider rejected this server's "
                            f"credentials: {failure.message}")
    if isinstance(failure, UpstreamRefused):
        return InvalidRequest(f"The {failure.provider} provider refused the request: "
                              f"{failure.message}")
    return ServiceUnavailable(f"The {failure.provider} provider is unavailable: "
                              f"{failure.message}")
