"""Request authentication: SigV4 (header and presigned URL), aws-chunked chunk signatures and
Bedrock API keys (``Authorization: Bearer``).

Pure functions over what the ASGI scope carries; no web framework here. The canonical request
and the signature are computed by botocore's own signer classes (``SigV4Auth`` for the Bedrock
control plane, ``S3SigV4Auth`` / ``S3SigV4QueryAuth`` for S3), fed with a request rebuilt from
the raw path, the raw query and only the headers the client says it signed, so the server computes
exactly what an unmodified boto3 / aws CLI computed.

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
import hashlib
import hmac
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_tz
from fnmatch import fnmatchcase
from typing import Any
from urllib.parse import quote, unquote_to_bytes

from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth, SigV4Auth  # type: ignore[import-untyped]
from botocore.awsrequest import AWSRequest, HTTPHeaders  # type: ignore[import-untyped]
from botocore.credentials import Credentials  # type: ignore[import-untyped]
from botocore.utils import normalize_url_path  # type: ignore[import-untyped]

__all__ = [
    "AuthError",
    "Caller",
    "ChunkSignatures",
    "Key",
    "allowed",
    "authenticate",
    "check_body_sha256",
]

ALGORITHM = "AWS4-HMAC-SHA256"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
SIGV4_TIMESTAMP = "%Y%m%dT%H%M%SZ"
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
_AMZ_DATE = re.compile(r"\d{8}T\d{6}Z")
_PRESIGN_PARAMS = (
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
)
# Bytes a path may carry unencoded without changing how urlsplit or the server reads it.
_PATH_SAFE = "/~-._!$&'()*+,;=:@%"


@dataclass(frozen=True)
class Key:
    access_key_id: str
    secret_access_key: str
    tenant: str
    providers: tuple[str, ...] = ()  # empty: all
    models: tuple[str, ...] = ()  # shell-style globs on model ids; empty: all
    bearer_token: str = ""

    def __repr__(self) -> str:  # never print a secret
        return f"Key(access_key_id={self.access_key_id!r}, tenant={self.tenant!r})"


@dataclass(frozen=True)
class Caller:
    key: Key
    # For a header-signed request (empty otherwise): what ChunkSignatures needs to check an
    # aws-chunked STREAMING-AWS4-HMAC-SHA256-PAYLOAD body. See chunk_signatures().
    seed_signature: str = ""
    amz_date: str = ""
    scope: str = ""

    def chunk_signatures(self) -> ChunkSignatures:
        if not self.seed_signature:
            raise AuthError(
                "AccessDenied",
                "AccessDeniedException",
                "Signed chunks need a header-signed request.",
            )
        return ChunkSignatures(self.key, self.seed_signature, self.amz_date, self.scope)


class AuthError(Exception):
    """An authentication failure, with the code each mount's dialect answers and its status."""

    def __init__(self, code_s3: str, code_bedrock: str, message: str, status: int = 403) -> None:
        super().__init__(message)
        self.code_s3 = code_s3
        self.code_bedrock = code_bedrock
        self.message = message
        self.status = status

    def __repr__(self) -> str:
        return f"AuthError({self.code_s3!r}, {self.code_bedrock!r}, {self.message!r})"


# --- errors, one place -------------------------------------------------------------------------


def _signature_mismatch() -> AuthError:
    return AuthError(
        "SignatureDoesNotMatch",
        "InvalidSignatureException",
        "The request signature we calculated does not match the signature you provided. "
        "Check your key and signing method.",
    )


def _unknown_key() -> AuthError:
    return AuthError(
        "InvalidAccessKeyId",
        "UnrecognizedClientException",
        "The AWS Access Key Id you provided does not exist in our records.",
    )


def _malformed(message: str) -> AuthError:
    return AuthError("AuthorizationHeaderMalformed", "IncompleteSignatureException", message, 400)


def _query_malformed(message: str) -> AuthError:
    return AuthError(
        "AuthorizationQueryParametersError", "IncompleteSignatureException", message, 400
    )


def _access_denied(message: str) -> AuthError:
    return AuthError("AccessDenied", "AccessDeniedException", message)


# --- signers: botocore's, told exactly which headers were signed -------------------------------


class _SignedHeadersMixin:
    """Sign exactly the headers the client listed in SignedHeaders (botocore would otherwise
    drop its blacklist and add ``host`` from the URL)."""

    signed_names: tuple[str, ...] = ()

    def headers_to_sign(self, request: AWSRequest) -> HTTPHeaders:
        header_map = HTTPHeaders()
        for name in self.signed_names:
            header_map[name] = request.headers[name]
        return header_map


class _SigV4(_SignedHeadersMixin, SigV4Auth):  # type: ignore[misc]
    pass


class _S3SigV4(_SignedHeadersMixin, S3SigV4Auth):  # type: ignore[misc]
    pass


class _S3SigV4Query(_SignedHeadersMixin, S3SigV4QueryAuth):  # type: ignore[misc]
    pass


def _signature(
    signer: Any, request: AWSRequest
) -> str:  # botocore is untyped: Any keeps mypy honest here
    canonical = signer.canonical_request(request)
    string_to_sign = signer.string_to_sign(request, canonical)
    return str(signer.signature(string_to_sign, request))


# --- parsing -----------------------------------------------------------------------------------


def _query_pairs(raw_query: bytes) -> list[tuple[str, str]]:
    """Decoded (name, value) pairs in order; ``+`` is not a space (S3 clients encode it)."""
    pairs = []
    for part in raw_query.split(b"&"):
        if not part:
            continue
        name, _, value = part.partition(b"=")
        try:
            pairs.append(
                (
                    unquote_to_bytes(name).decode("utf-8"),
                    unquote_to_bytes(value).decode("utf-8"),
                )
            )
        except UnicodeDecodeError:
            raise _signature_mismatch() from None
    return pairs


def _canonical_path(raw_path: bytes) -> str:
    """The raw path as a str urlsplit reads back unchanged: bytes outside the path-safe set
    (non-ASCII, ``#``, ``?``, spaces...) are percent-encoded, which changes nothing for a server
    that unquotes the path, and keeps ``/a#b`` from signing as ``/a``."""
    text = raw_path.decode("latin-1")
    if all(c.isascii() and (c.isalnum() or c in _PATH_SAFE) for c in text):
        return text or "/"
    return quote(raw_path, safe=_PATH_SAFE) or "/"


def _parse_amz_date(value: str) -> float:
    if not _AMZ_DATE.fullmatch(value):
        raise ValueError(value)
    return float(calendar.timegm(time.strptime(value, SIGV4_TIMESTAMP)))


def _parse_authorization(value: str) -> tuple[str, str, tuple[str, ...], str]:
    """``AWS4-HMAC-SHA256 Credential=.., SignedHeaders=.., Signature=..`` → its three parts."""
    rest = value[len(ALGORITHM) :]
    if not rest[:1].isspace():
        raise _malformed("Unsupported Authorization Type")
    fields: dict[str, str] = {}
    for item in rest.split(","):
        name, sep, val = item.strip().partition("=")
        if not sep or name in fields:
            raise _malformed("The authorization header is malformed.")
        fields[name] = val.strip()
    try:
        credential = fields["Credential"]
        signed = fields["SignedHeaders"]
        signature = fields["Signature"]
    except KeyError:
        raise _malformed("The authorization header is malformed.") from None
    names = tuple(signed.split(";"))
    return credential, signed, names, signature


@dataclass(frozen=True)
class _Scope:
    access_key_id: str
    date: str
    region: str
    service: str

    @property
    def text(self) -> str:
        return f"{self.date}/{self.region}/{self.service}/aws4_request"


def _parse_credential(credential: str, malformed: AuthError) -> _Scope:
    parts = credential.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request" or not all(parts[:4]):
        raise malformed
    return _Scope(*parts[:4])


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
    query_names = {part.partition(b"=")[0] for part in raw_query.split(b"&")}
    query_auth = not query_names.isdisjoint(
        (b"X-Amz-Algorithm", b"X-Amz-Credential", b"X-Amz-Signature")
    )
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
        raise _access_denied("Access Denied")
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
        raise _signature_mismatch()


def allowed(caller: Caller, provider: str, model_id: str | None) -> bool:
    """May this caller use ``provider`` (and ``model_id``, when the operation names one)?"""
    key = caller.key
    if key.providers and provider not in key.providers:
        return False
    if model_id is None or not key.models:
        return True
    return any(fnmatchcase(model_id, pattern) for pattern in key.models)


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
    if _parse_amz_date(amz_date) < now:
        limit = time.strftime(SIGV4_TIMESTAMP, time.gmtime(now - max_skew))
        message = f"Signature expired: {amz_date} is now earlier than {limit} ({stamp} - {minutes})"
    else:
        limit = time.strftime(SIGV4_TIMESTAMP, time.gmtime(now + max_skew))
        message = (
            f"Signature not yet current: {amz_date} is still later than {limit} "
            f"({stamp} + {minutes})"
        )
    return AuthError("RequestTimeTooSkewed", "InvalidSignatureException", message)


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
    credential, _, names, signature = _parse_authorization(headers["authorization"])
    scope = _parse_credential(
        credential,
        _malformed("The authorization header is malformed; the Credential is mal-formed."),
    )
    if scope.service != service:
        raise _malformed(
            f"The authorization header is malformed; incorrect service '{scope.service}'. "
            f"This endpoint belongs to '{service}'."
        )
    if list(names) != sorted(set(names)) or any(n != n.strip().lower() or not n for n in names):
        raise _malformed("The authorization header is malformed; SignedHeaders is mal-formed.")
    if "host" not in names:
        raise _malformed("The authorization header is malformed; 'Host' must be a signed header.")
    missing = [n for n in names if n not in headers]
    if missing:
        raise _signature_mismatch()
    unsigned_amz = [
        n for n in headers if n.startswith("x-amz-") and n not in names and n != "x-amz-date"
    ]
    if unsigned_amz and service == "s3":
        raise _access_denied("There were headers present in the request which were not signed")
    if not _SIGNATURE.fullmatch(signature):
        raise _signature_mismatch()

    key = keys.get(scope.access_key_id)
    if key is None:
        raise _unknown_key()

    amz_date = headers.get("x-amz-date")
    try:
        if amz_date is not None:
            stamp = _parse_amz_date(amz_date)
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
        raise _malformed(
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
            raise _signature_mismatch()
        payload_hash = body_sha256
    else:
        payload_hash = declared

    signer: Any
    if service == "s3":
        signer = _S3SigV4(Credentials(key.access_key_id, key.secret_access_key), "s3", scope.region)
        path = _canonical_path(raw_path)
    else:
        signer = _SigV4(
            Credentials(key.access_key_id, key.secret_access_key), service, scope.region
        )
        path = _canonical_path(raw_path)
        # botocore removes dot segments and empty segments from what it signs; a path it would
        # change is one whose signature would not bind what the router sees.
        if normalize_url_path(path) != path:
            raise _signature_mismatch()
    signer.signed_names = names
    request_headers = {n: headers[n] for n in names}
    # The payload line of the canonical request: botocore reads it from this header.
    if "x-amz-content-sha256" not in request_headers:
        request_headers["X-Amz-Content-SHA256"] = payload_hash
    request = AWSRequest(
        method=method.upper(),
        url="http://bifrost.invalid" + path,
        headers=request_headers,
        params=_query_pairs(raw_query),
    )
    request.context["timestamp"] = amz_date
    expected = _signature(signer, request)
    if not hmac.compare_digest(expected, signature):
        raise _signature_mismatch()
    if body_sha256 is not None:
        check_body_sha256(service, headers, body_sha256)
    return Caller(key, seed_signature=signature, amz_date=amz_date, scope=scope.text)


def _query_auth(
    method: str,
    raw_path: bytes,
    raw_query: bytes,
    headers: Mapping[str, str],
    keys: Mapping[str, Key],
    now: float,
    max_skew: float,
) -> Caller:
    pairs = _query_pairs(raw_query)
    auth: dict[str, str] = {}
    for name, value in pairs:
        if name in _PRESIGN_PARAMS:
            if name in auth:
                raise _query_malformed(f"Duplicate query parameter {name}.")
            auth[name] = value
    missing = [name for name in _PRESIGN_PARAMS if name not in auth]
    if missing:
        raise _query_malformed(
            "Query-string authentication version 4 requires the X-Amz-Algorithm, "
            "X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, "
            "and X-Amz-Expires parameters."
        )
    if auth["X-Amz-Algorithm"] != ALGORITHM:
        raise _query_malformed('X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"')
    malformed = _query_malformed("Error parsing the X-Amz-Credential parameter.")
    scope = _parse_credential(auth["X-Amz-Credential"], malformed)
    if scope.service != "s3":
        raise malformed
    amz_date = auth["X-Amz-Date"]
    try:
        stamp = _parse_amz_date(amz_date)
        expires = int(auth["X-Amz-Expires"])
    except (ValueError, OverflowError):
        raise _query_malformed("X-Amz-Date or X-Amz-Expires is malformed.") from None
    if not 0 < expires <= MAX_PRESIGN_EXPIRES:
        raise _query_malformed("X-Amz-Expires must be less than a week (in seconds) that is 604800")
    if scope.date != amz_date[:8]:
        raise malformed
    names = tuple(auth["X-Amz-SignedHeaders"].split(";"))
    if (
        list(names) != sorted(set(names))
        or "host" not in names
        or any(n != n.strip().lower() or not n for n in names)
    ):
        raise _query_malformed("X-Amz-SignedHeaders is malformed; 'host' must be signed.")
    if any(n not in headers for n in names):
        raise _signature_mismatch()
    signature = auth["X-Amz-Signature"]
    if not _SIGNATURE.fullmatch(signature):
        raise _signature_mismatch()

    key = keys.get(scope.access_key_id)
    if key is None:
        raise _unknown_key()
    if stamp - now > max_skew:
        raise _access_denied("Request is not valid yet")
    if now > stamp + expires:
        raise _access_denied("Request has expired")

    signer: Any = _S3SigV4Query(
        Credentials(key.access_key_id, key.secret_access_key), "s3", scope.region, expires
    )
    signer.signed_names = names
    request = AWSRequest(
        method=method.upper(),
        url="http://bifrost.invalid" + _canonical_path(raw_path),
        headers={n: headers[n] for n in names},
        params=[(n, v) for n, v in pairs if n != "X-Amz-Signature"],
    )
    request.context["timestamp"] = amz_date
    expected = _signature(signer, request)
    if not hmac.compare_digest(expected, signature):
        raise _signature_mismatch()
    return Caller(key)


# --- aws-chunked -------------------------------------------------------------------------------


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


class ChunkSignatures:
    """Checks the chain of ``chunk-signature``s of a STREAMING-AWS4-HMAC-SHA256-PAYLOAD(-TRAILER)
    body, in order: every data chunk, then the 0-byte final chunk, then (if any) the trailer.
    ``scope`` is ``date/region/service/aws4_request`` from the request's Credential."""

    def __init__(self, key: Key, seed_signature: str, amz_date: str, scope: str) -> None:
        parts = scope.split("/")
        if len(parts) != 4 or parts[3] != "aws4_request":
            raise _signature_mismatch()
        signing = _hmac(("AWS4" + key.secret_access_key).encode("utf-8"), parts[0])
        for part in parts[1:]:
            signing = _hmac(signing, part)
        self._signing_key = signing
        self._amz_date = amz_date
        self._scope = scope
        self._previous = seed_signature
        self._done = False

    def _check(self, string_to_sign: str, signature: str) -> None:
        expected = hmac.new(
            self._signing_key, string_to_sign.encode("utf-8"), hashlib.sha256
        ).hexdigest()
        if self._done or not hmac.compare_digest(expected, signature.strip().lower()):
            self._done = True  # a broken chain stays broken
            raise _signature_mismatch()
        self._previous = expected

    def verify(self, chunk: bytes, signature: str) -> None:
        string_to_sign = "\n".join(
            (
                "AWS4-HMAC-SHA256-PAYLOAD",
                self._amz_date,
                self._scope,
                self._previous,
                EMPTY_SHA256,
                hashlib.sha256(chunk).hexdigest(),
            )
        )
        self._check(string_to_sign, signature)

    def verify_trailer(self, trailer_lines: bytes, signature: str) -> None:
        """``trailer_lines``: the trailing header lines (``name:value``) without the
        ``x-amz-trailer-signature`` line; CRLF or LF line ends. Signed as ``name:value\\n`` each."""
        lines = [line.rstrip(b"\r") for line in trailer_lines.split(b"\n")]
        canonical = b"".join(line + b"\n" for line in lines if line)
        string_to_sign = "\n".join(
            (
                "AWS4-HMAC-SHA256-TRAILER",
                self._amz_date,
                self._scope,
                self._previous,
                hashlib.sha256(canonical).hexdigest(),
            )
        )
        self._check(string_to_sign, signature)
        self._done = True  # nothing follows the trailer
