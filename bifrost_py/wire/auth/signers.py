"""botocore's own SigV4 signers, fed exactly what the client signed.

The canonical request and the string to sign come from botocore's ``S3SigV4Auth`` /
``S3SigV4QueryAuth`` (S3) and ``SigV4Auth`` (the Bedrock control plane), so the server computes
what an unmodified boto3 / aws CLI computed. Two things are ours: the headers signed are exactly
those the client listed in SignedHeaders, and the request botocore reads is a small value rather
than an ``AWSRequest``: inside a loaded server, AWSRequest's email.message headers cost more than
the rest of the canonical request.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth, SigV4Auth  # type: ignore[import-untyped]
from botocore.credentials import Credentials  # type: ignore[import-untyped]

from bifrost_py.wire.auth.credentials import Key
from bifrost_py.wire.auth.sigv4_parts import Scope


class _SignedHeaders(dict[str, str]):
    """Signed headers in the one method botocore's canonical_headers reads besides iteration."""

    def get_all(self, name: str) -> list[str]:
        return [self[name]]


@dataclass
class SignedRequest:
    """What botocore's signers read of a request: method, url, params, the payload line from
    X-Amz-Content-SHA256 (the only header they look up; None for the signer's own default) and,
    in the context, the timestamp and the signed headers."""

    method: str
    path: str
    params: list[tuple[str, str]]
    amz_date: str
    signed_headers: Mapping[str, str]
    payload_hash: str | None
    headers: dict[str, str] = field(init=False)
    context: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        self.headers = {} if self.payload_hash is None else {
            "X-Amz-Content-SHA256": self.payload_hash}
        self.context = {"timestamp": self.amz_date,
                        "signed_headers": _SignedHeaders(self.signed_headers)}

    @property
    def url(self) -> str:
        return "http://bifrost.invalid" + self.path

    def signature(self, signer: Any, key: Key, scope: Scope) -> str:
        """botocore's canonical request and string to sign (``signer`` is untyped: Any), signed
        with the derived key; botocore would derive it again on every request."""
        canonical = signer.canonical_request(self)
        string_to_sign = signer.string_to_sign(self, canonical)
        signing_key = _signing_key(key.secret_access_key, scope.date, scope.region, scope.service)
        return hmac.new(signing_key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


class _SignedHeadersMixin:
    """Sign exactly the headers the client listed in SignedHeaders (botocore would otherwise
    drop its blacklist and add ``host`` from the URL)."""

    def headers_to_sign(self, request: SignedRequest) -> _SignedHeaders:
        signed: _SignedHeaders = request.context["signed_headers"]
        return signed


class _SigV4(_SignedHeadersMixin, SigV4Auth):  # type: ignore[misc]
    pass


class _S3SigV4(_SignedHeadersMixin, S3SigV4Auth):  # type: ignore[misc]
    pass


class _S3SigV4Query(_SignedHeadersMixin, S3SigV4QueryAuth):  # type: ignore[misc]
    pass


@functools.lru_cache(maxsize=1024)
def header_signer(service: str, key: Key, region: str) -> Any:
    """The Authorization-header signer. Signers hold no state of a request, so one serves a
    key's every request in a region."""
    kind = _S3SigV4 if service == "s3" else _SigV4
    return kind(Credentials(key.access_key_id, key.secret_access_key), service, region)


def query_signer(key: Key, region: str, expires: int) -> Any:
    """The presigned-URL signer for S3."""
    return _S3SigV4Query(Credentials(key.access_key_id, key.secret_access_key), "s3", region,
                         expires)


@functools.lru_cache(maxsize=1024)
def _signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """SigV4's key for one day, region and service: the same for every request in its scope."""
    signing_key = ("AWS4" + secret).encode("utf-8")
    for part in (date, region, service, "aws4_request"):
        signing_key = hmac.new(signing_key, part.encode("utf-8"), hashlib.sha256).digest()
    return signing_key
