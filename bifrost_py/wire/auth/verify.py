"""Request authentication: SigV4 (header and presigned URL) and Bedrock API keys
(``Authorization: Bearer``). Chunk signatures of aws-chunked bodies: chunk_signatures.py.

Pure functions over what the ASGI scope carries; no web framework here. The canonical request is
rebuilt from the raw path, the raw query and only the headers the client says it signed, as
botocore's signers build it (canonical.py, held to botocore's ``SigV4Auth`` / ``S3SigV4Auth`` /
``S3SigV4QueryAuth`` by a differential test), so the server computes exactly what an unmodified
boto3 / aws CLI computed.

The caller passes:

- ``raw_path``: the full path as received (ASGI ``scope["raw_path"]``, including the mount prefix
  such as ``/bedrock/files``), still percent-encoded;
- ``raw_query``: ASGI ``scope["query_string"]``;
- ``headers``: lower-case names; a header sent more than once joined with ``","``;
- ``body_sha256``: the hex SHA-256 of the whole body when it has it (small bodies), else ``None``.
  For a large body with a hex ``x-amz-content-sha256`` the caller hashes while streaming and then
  calls :func:`check_body_sha256`. On ``/bedrock`` (JSON bodies, no ``x-amz-content-sha256``
  from botocore) the body hash is part of the signature, so pass it.
"""

from __future__ import annotations

import calendar
import functools
import hashlib
import hmac
import re
import time
from collections.abc import Mapping
from email.utils import parsedate_tz
from fnmatch import fnmatchcase

from bifrost_py.wire.auth.canonical import (
    canonical_request,
    normalized_path,
    signature,
    string_to_sign,
)
from bifrost_py.wire.auth.credentials import (
    AuthError,
    Caller,
    Key,
    access_denied,
    malformed,
    query_malformed,
    signature_mismatch,
    unknown_key,
)
from bifrost_py.wire.auth.sigv4_parts import (
    ALGORITHM,
    SIGV4_TIMESTAMP,
    Scope,
    canonical_path,
    parse_amz_date,
    parse_authorization,
    parse_credential,
    query_pairs,
)

__all__ = [
    "AuthError",
    "Caller",
    "Key",
    "allowed",
    "authenticate",
    "check_body_sha256",
]

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
MAX_PRESIGN_EXPIRES = 7 * 24 * 3600
# Values of x-amz-content-sha256 that stand for the payload instead of its hash.
PAYLOAD_PLACEHOLDERS = frozenset(
    {
        "UNSIGNED-PAYLOAD",
        "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
    }
)
_HEX64 = re.compile(r"[0-9a-f]{64}")
_SIGNATURE = re.compile(r"[0-9a-f]{64}")
_PRESIGN_PARAMS = (
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
)


# --- public API --------------------------------------------------------------------------------


def authenticate(
    service: str,
    method: str,
    raw_path: bytes,
    raw_query: bytes,
    headers: Mapping[str, str],
    body_sha256: str | None,
    keys: Mapping[str, Key],
    bearer: Mapping[str, Key],
    now: float,
    max_skew: float = 900,
) -> Caller:
    """Who sent this request, or AuthError. ``service`` is ``"s3"`` or ``"bedrock"``."""
    if service not in ("s3", "bedrock"):
        raise ValueError(f"unknown service {service!r}")
    authorization = headers.get("authorization", "")
    query_auth = b"X-Amz-" in raw_query and _has_presign_member(raw_query)
    if authorization and query_auth:
        raise AuthError(
            "InvalidArgument",
            "IncompleteSignatureException",
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, "
            "Signature query string parameter or the Authorization header should be specified",
            400,
        )
    if authorization.startswith(ALGORITHM):
        return _header_auth(
            service, method, raw_path, raw_query, headers, body_sha256, keys, now, max_skew
        )
    if authorization[:7].lower() == "bearer ":
        if service != "bedrock":
            raise AuthError(
                "InvalidArgument",
                "UnrecognizedClientException",
                "Unsupported Authorization Type",
                400,
            )
        return _bearer_auth(authorization[7:].strip(), bearer)
    if authorization:
        if service == "s3":
            raise AuthError(
                "InvalidArgument",
                "IncompleteSignatureException",
                "Unsupported Authorization Type",
                400,
            )
        raise AuthError(
            "InvalidArgument",
            "IncompleteSignatureException",
            f"Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' "
            f"header and the '{ALGORITHM}' algorithm.",
            400,
        )
    if query_auth:
        if service != "s3":
            raise AuthError(
                "AccessDenied",
                "AccessDeniedException",
                "Presigned URLs are only accepted for files.",
            )
        return _query_auth(method, raw_path, raw_query, headers, keys, now, max_skew)
    if service == "s3":
        raise access_denied("Access Denied")
    raise AuthError(
        "AccessDenied", "MissingAuthenticationTokenException", "Missing Authentication Token"
    )


def check_body_sha256(service: str, headers: Mapping[str, str], body_sha256: str) -> None:
    """Raise if a hex ``x-amz-content-sha256`` does not match the body actually received."""
    declared = headers.get("x-amz-content-sha256")
    if declared is None or declared in PAYLOAD_PLACEHOLDERS:
        return
    if not hmac.compare_digest(declared.lower(), body_sha256.lower()):
        if service == "s3":
            raise AuthError(
                "XAmzContentSHA256Mismatch",
                "InvalidSignatureException",
                "The provided 'x-amz-content-sha256' header does not match what was computed.",
                400,
            )
        raise signature_mismatch()


def allowed(caller: Caller, provider: str, model_id: str | None) -> bool:
    """May this caller use ``provider`` (and ``model_id``, when the operation names one)?"""
    key = caller.key
    if key.providers and provider not in key.providers:
        return False
    if model_id is None or not key.models:
        return True
    return any(fnmatchcase(model_id, pattern) for pattern in key.models)


def _has_presign_member(raw_query: bytes) -> bool:
    names = {part.partition(b"=")[0] for part in raw_query.split(b"&")}
    return not names.isdisjoint((b"X-Amz-Algorithm", b"X-Amz-Credential", b"X-Amz-Signature"))


# --- the three mechanisms ----------------------------------------------------------------------


def _bearer_auth(token: str, bearer: Mapping[str, Key]) -> Caller:
    key = bearer.get(token) if token else None
    if (
        key is None
        or not key.bearer_token
        or not hmac.compare_digest(key.bearer_token.encode(), token.encode())
    ):
        raise AuthError(
            "InvalidArgument",
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        )
    return Caller(key)


def _skew_error(service: str, amz_date: str, now: float, max_skew: float) -> AuthError:
    if service == "s3":
        return AuthError(
            "RequestTimeTooSkewed",
            "InvalidSignatureException",
            "The difference between the request time and the current time is too large.",
        )
    minutes = f"{max_skew / 60:g} min."
    stamp = time.strftime(SIGV4_TIMESTAMP, time.gmtime(now))
    if parse_amz_date(amz_date) < now:
        limit = time.strftime(SIGV4_TIMESTAMP, time.gmtime(now - max_skew))
        message = f"Signature expired: {amz_date} is now earlier than {limit} ({stamp} - {minutes})"
    else:
        limit = time.strftime(SIGV4_TIMESTAMP, time.gmtime(now + max_skew))
        message = (
            f"Signature not yet current: {amz_date} is still later than {limit} "
            f"({stamp} + {minutes})"
        )
    return AuthError("RequestTimeTooSkewed", "InvalidSignatureException", message)


@functools.lru_cache(maxsize=4096)
def _signed_scope(service: str, credential: str, signed_list: str) -> tuple[Scope, tuple[str, ...]]:
    """The Credential and SignedHeaders of an Authorization header, checked: a client sends the
    same ones all day, so each pair is read once."""
    scope = parse_credential(
        credential,
        malformed("The authorization header is malformed; the Credential is mal-formed."),
    )
    if scope.service != service:
        raise malformed(
            f"The authorization header is malformed; incorrect service '{scope.service}'. "
            f"This endpoint belongs to '{service}'."
        )
    names = tuple(signed_list.split(";"))
    if list(names) != sorted(set(names)) or any(n != n.strip().lower() or not n for n in names):
        raise malformed("The authorization header is malformed; SignedHeaders is mal-formed.")
    if "host" not in names:
        raise malformed("The authorization header is malformed; 'Host' must be a signed header.")
    return scope, names


def _header_auth(
    service: str,
    method: str,
    raw_path: bytes,
    raw_query: bytes,
    headers: Mapping[str, str],
    body_sha256: str | None,
    keys: Mapping[str, Key],
    now: float,
    max_skew: float,
) -> Caller:
    credential, signed_list, provided = parse_authorization(headers["authorization"])
    scope, names = _signed_scope(service, credential, signed_list)
    for name in names:
        if name not in headers:
            raise signature_mismatch()
    if service == "s3":
        for name in headers:
            if name.startswith("x-amz-") and name not in names and name != "x-amz-date":
                raise access_denied(
                    "There were headers present in the request which were not signed")
    if not _SIGNATURE.fullmatch(provided):
        raise signature_mismatch()

    key = keys.get(scope.access_key_id)
    if key is None:
        raise unknown_key()

    amz_date = headers.get("x-amz-date")
    try:
        if amz_date is not None:
            stamp = parse_amz_date(amz_date)
        else:
            parsed = parsedate_tz(headers.get("date", ""))
            if parsed is None:
                raise ValueError("no date")
            stamp = float(calendar.timegm(parsed[:9]) - (parsed[9] or 0))
            amz_date = time.strftime(SIGV4_TIMESTAMP, time.gmtime(stamp))
    except (ValueError, OverflowError):
        raise AuthError(
            "AccessDenied",
            "IncompleteSignatureException",
            "AWS authentication requires a valid Date or x-amz-date header",
            403 if service == "s3" else 400,
        ) from None
    if scope.date != amz_date[:8]:
        raise malformed(
            "The authorization header is malformed; Invalid credential date. "
            "Date is not the same as X-Amz-Date."
        )
    if abs(now - stamp) > max_skew:
        raise _skew_error(service, amz_date, now, max_skew)

    declared = headers.get("x-amz-content-sha256")
    if (
        declared is not None
        and declared not in PAYLOAD_PLACEHOLDERS
        and not _HEX64.fullmatch(declared)
    ):
        raise AuthError(
            "InvalidArgument",
            "InvalidSignatureException",
            "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, "
            "STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER or "
            "a valid sha256 value.",
            400,
        )
    if declared is None:
        if service == "s3":
            raise AuthError(
                "InvalidRequest",
                "IncompleteSignatureException",
                "Missing required header for this request: x-amz-content-sha256",
                400,
            )
        if body_sha256 is None:
            # The payload hash is in the signature and we were not given the body's.
            raise signature_mismatch()
        payload_hash = body_sha256
    else:
        payload_hash = declared

    path = canonical_path(raw_path)
    s3 = service == "s3"
    # botocore removes dot segments and empty segments from what it signs for every service but
    # S3; a path it would change is one whose signature would not bind what the router sees.
    if not s3 and normalized_path(path) != path:
        raise signature_mismatch()
    canonical = canonical_request(method, path, query_pairs(raw_query), headers, names,
                                  payload_hash, s3=s3)
    expected = signature(key.secret_access_key, scope,
                         string_to_sign(amz_date, scope.text, canonical))
    if not hmac.compare_digest(expected, provided):
        raise signature_mismatch()
    if body_sha256 is not None:
        check_body_sha256(service, headers, body_sha256)
    return Caller(key, seed_signature=provided, amz_date=amz_date, scope=scope.text)


def _query_auth(
    method: str,
    raw_path: bytes,
    raw_query: bytes,
    headers: Mapping[str, str],
    keys: Mapping[str, Key],
    now: float,
    max_skew: float,
) -> Caller:
    pairs = query_pairs(raw_query)
    auth: dict[str, str] = {}
    for name, value in pairs:
        if name in _PRESIGN_PARAMS:
            if name in auth:
                raise query_malformed(f"Duplicate query parameter {name}.")
            auth[name] = value
    missing = [name for name in _PRESIGN_PARAMS if name not in auth]
    if missing:
        raise query_malformed(
            "Query-string authentication version 4 requires the X-Amz-Algorithm, "
            "X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, "
            "and X-Amz-Expires parameters."
        )
    if auth["X-Amz-Algorithm"] != ALGORITHM:
        raise query_malformed('X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"')
    malformed = query_malformed("Error parsing the X-Amz-Credential parameter.")
    scope = parse_credential(auth["X-Amz-Credential"], malformed)
    if scope.service != "s3":
        raise malformed
    amz_date = auth["X-Amz-Date"]
    try:
        stamp = parse_amz_date(amz_date)
        expires = int(auth["X-Amz-Expires"])
    except (ValueError, OverflowError):
        raise query_malformed("X-Amz-Date or X-Amz-Expires is malformed.") from None
    if not 0 < expires <= MAX_PRESIGN_EXPIRES:
        raise query_malformed("X-Amz-Expires must be less than a week (in seconds) that is 604800")
    if scope.date != amz_date[:8]:
        raise malformed
    names = tuple(auth["X-Amz-SignedHeaders"].split(";"))
    if (
        list(names) != sorted(set(names))
        or "host" not in names
        or any(n != n.strip().lower() or not n for n in names)
    ):
        raise query_malformed("X-Amz-SignedHeaders is malformed; 'host' must be signed.")
    if any(n not in headers for n in names):
        raise signature_mismatch()
    provided = auth["X-Amz-Signature"]
    if not _SIGNATURE.fullmatch(provided):
        raise signature_mismatch()

    key = keys.get(scope.access_key_id)
    if key is None:
        raise unknown_key()
    if stamp - now > max_skew:
        raise access_denied("Request is not valid yet")
    if now > stamp + expires:
        raise access_denied("Request has expired")

    # A presigned URL's payload line is UNSIGNED-PAYLOAD unless the client signed a hash.
    payload_hash = (headers["x-amz-content-sha256"] if "x-amz-content-sha256" in names
                    else "UNSIGNED-PAYLOAD")
    # The signature is not part of what it signs.
    unsigned = [(n, v) for n, v in pairs if n != "X-Amz-Signature"]
    canonical = canonical_request(method, canonical_path(raw_path), unsigned, headers, names,
                                  payload_hash, s3=True)
    expected = signature(key.secret_access_key, scope,
                         string_to_sign(amz_date, scope.text, canonical))
    if not hmac.compare_digest(expected, provided):
        raise signature_mismatch()
    return Caller(key)
