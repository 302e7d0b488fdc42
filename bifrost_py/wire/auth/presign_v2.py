"""Presigned S3 URLs in the older query form (AWSAccessKeyId, Signature, Expires).

boto3's `generate_presigned_url` for S3 still produces this form against a custom endpoint unless
the client is configured for s3v4, so URLs users already make must work. Verified with botocore's
own HmacV1 signer over the path and query exactly as received.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from urllib.parse import unquote, urlsplit

from botocore.auth import HmacV1QueryAuth  # type: ignore[import-untyped]
from botocore.awsrequest import HTTPHeaders  # type: ignore[import-untyped]
from botocore.credentials import Credentials  # type: ignore[import-untyped]

from bifrost_py.domain.digits import decimal
from bifrost_py.wire.auth.credentials import AuthError, Caller, Key

_AUTH_PARAMS = ("AWSAccessKeyId", "Signature", "Expires")


def is_presigned_v2(raw_query: bytes) -> bool:
    names = {part.split(b"=", 1)[0] for part in raw_query.split(b"&")}
    return b"AWSAccessKeyId" in names and b"Signature" in names


def verify_presigned_v2(method: str, path_in_mount: bytes, raw_query: bytes,
                        headers: Mapping[str, str], keys: Mapping[str, Key],
                        now: float) -> Caller:
    parts = [part.split("=", 1) for part in raw_query.decode("latin-1").split("&") if part]
    auth = {name: unquote(value[0]) if value else "" for name, *value in parts
            if name in _AUTH_PARAMS}
    key = keys.get(auth.get("AWSAccessKeyId", ""))
    if key is None:
        raise AuthError("InvalidAccessKeyId", "UnrecognizedClientException",
                        "The AWS Access Key Id you provided does not exist in our records.")
    expires = auth.get("Expires", "")
    if not decimal(expires):
        raise AuthError("AccessDenied", "AccessDeniedException",
                        "Query-string authentication requires the Signature, Expires and "
                        "AWSAccessKeyId parameters")
    if now > int(expires):
        raise AuthError("AccessDenied", "AccessDeniedException", "Request has expired")
    rest = "&".join("=".join(part) for part in parts if part[0] not in _AUTH_PARAMS)
    # Unlike SigV4, this form signs the path from the bucket on, without the endpoint's own
    # path (the /bedrock/files mount).
    path = path_in_mount.decode("latin-1")
    split = urlsplit("http://bifrost.invalid" + path + (f"?{rest}" if rest else ""))
    signed = HTTPHeaders()
    for name, value in headers.items():
        if name in ("content-md5", "content-type") or name.startswith("x-amz-"):
            signed[name] = value
    signer = _Signer(Credentials(key.access_key_id, key.secret_access_key), expires)
    expected = signer.get_signature(method.upper(), split, signed)
    if not hmac.compare_digest(expected, auth.get("Signature", "")):
        raise AuthError("SignatureDoesNotMatch", "InvalidSignatureException",
                        "The request signature we calculated does not match the signature you "
                        "provided. Check your key and signing method.")
    return Caller(key)


class _Signer(HmacV1QueryAuth):  # type: ignore[misc]
    """botocore's query signer, at the expiry the URL carries rather than now + a duration."""

    def __init__(self, credentials: Credentials, expires_at: str) -> None:
        super().__init__(credentials)
        self._expires_at = expires_at

    def _get_date(self) -> str:
        return self._expires_at
