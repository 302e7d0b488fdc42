"""An S3 request as the handlers see it: bucket, key, query and headers, decoded once."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote

from starlette.requests import Request

from bifrost_py.domain.objects import Conditions
from bifrost_py.domain.tenancy import reserved, stored_bucket
from bifrost_py.errors import InvalidURI, NoSuchBucket
from bifrost_py.wire.asgi import mount_path
from bifrost_py.wire.auth.credentials import Caller, tenant_of


@dataclass
class S3Request:
    request: Request
    method: str
    bucket: str
    key: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names; a dict: Starlette's Headers scans per lookup
    region: str
    account_id: str
    request_id: str
    caller: Caller | None = None  # the verified key; None when the server runs open

    @property
    def tenant(self) -> str:
        return tenant_of(self.caller)

    @property
    def store_bucket(self) -> str:
        """The bucket's name in the store: qualified by the caller's tenant. The server's own
        buckets are not there for S3 clients."""
        return s3_bucket(self.tenant, self.bucket)

    @property
    def resource(self) -> str:
        return f"/{self.bucket}/{self.key}" if self.key else f"/{self.bucket}"

    def conditions(self) -> Conditions:
        h = self.headers
        return Conditions(h.get("if-match", ""), h.get("if-none-match", ""),
                          h.get("if-modified-since", ""), h.get("if-unmodified-since", ""))


def s3_bucket(tenant: str, bucket: str) -> str:
    """The stored name of a bucket an S3 request names: NoSuchBucket for the server's own."""
    if reserved(bucket):
        raise NoSuchBucket(BucketName=bucket)
    return stored_bucket(tenant, bucket)


def parse_request(request: Request, headers: dict[str, str], region: str, account_id: str,
                  request_id: str) -> S3Request:
    """Split the raw path: keys are single percent-encoded with `/` kept, so decode with
    `unquote` (never `unquote_plus`) and never normalise `//`, `.` or `..`."""
    scope = request.scope
    raw = mount_path(scope)
    try:
        path = unquote(raw.decode("ascii"), errors="strict")
        query = dict(parse_qsl(scope["query_string"].decode("ascii"), keep_blank_values=True,
                               errors="strict"))
    except UnicodeError as exc:
        raise InvalidURI() from exc
    bucket, _, key = path.lstrip("/").partition("/") if path.startswith("/") else ("", "", "")
    return S3Request(request, scope["method"], bucket, key, query, headers, region, account_id,
                     request_id)
