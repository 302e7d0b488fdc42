"""SigV4's canonical request, string to sign and signature, computed as botocore computes them.

Three signers are reproduced: ``S3SigV4Auth`` (S3, Authorization header), ``S3SigV4QueryAuth``
(S3 presigned URLs) and ``SigV4Auth`` (the Bedrock control plane). They build the canonical
request the same way but for two things: the canonical URI (S3 signs the path as sent; other
services sign it with dot and empty segments removed, percent-encoded once more) and the payload
line, which the caller chooses because it depends on the form. tests/unit/test_sigv4_differential.py
holds these functions to botocore's own signers.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from urllib.parse import quote

from bifrost_py.wire.auth.sigv4_parts import ALGORITHM, Scope

# Query names and values are percent-encoded but for letters, digits and these (RFC 3986
# unreserved); so is a non-S3 path, which also keeps its slashes.
_UNRESERVED = "-_.~"
_PATH_KEEPS = "/~"
_SHA256_BLOCK = 64  # bytes; HMAC pads its key to one block
# Every hash here starts as a copy of a state made once: hashlib.sha256() looks the digest up in
# OpenSSL on each call, which in a busy server costs more than hashing a canonical request.
_SHA256 = hashlib.sha256()


def canonical_request(
    method: str,
    path: str,
    query: Sequence[tuple[str, str]],
    headers: Mapping[str, str],
    names: Sequence[str],
    payload_hash: str,
    *,
    s3: bool,
) -> str:
    """The canonical request of a request whose ``path`` is its percent-encoded path (the
    canonical_path of what was received), ``query`` its decoded (name, value) pairs, ``headers``
    its lower-case names to values (a repeated header's values joined with ``,``) and ``names``
    the SignedHeaders the client listed: sorted, unique, lower-case, each one in ``headers``."""
    return "\n".join(
        (
            method.upper(),
            path if s3 else quote(normalized_path(path), safe=_PATH_KEEPS),
            canonical_query(query),
            canonical_headers(headers, names),
            ";".join(names),
            payload_hash,
        )
    )


def normalized_path(path: str) -> str:
    """The path a non-S3 signer signs: ``.`` and empty segments dropped, each ``..`` dropping the
    segment before it (none at the root); a trailing slash is kept unless nothing is left."""
    if not path:
        return "/"
    kept: list[str] = []
    for segment in path.split("/"):
        if segment == "..":
            if kept:
                kept.pop()
        elif segment and segment != ".":
            kept.append(segment)
    lead = "/" if path.startswith("/") else ""
    trail = "/" if path.endswith("/") and kept else ""
    return lead + "/".join(kept) + trail


def canonical_query(pairs: Sequence[tuple[str, str]]) -> str:
    """``name=value`` pairs, each side percent-encoded from its UTF-8, sorted by encoded name and
    then encoded value (as pairs: ``a`` sorts before ``a-b`` whatever their values)."""
    if not pairs:
        return ""
    encoded = sorted([(quote(name, safe=_UNRESERVED), quote(value, safe=_UNRESERVED))
                      for name, value in pairs])
    return "&".join([f"{name}={value}" for name, value in encoded])


def canonical_headers(headers: Mapping[str, str], names: Sequence[str]) -> str:
    """One ``name:value`` line per signed header, and a newline after the last. A value is
    trimmed and its runs of whitespace made one space; ``str.split`` decides what whitespace is,
    as it does for botocore."""
    lines = [f"{name}:{' '.join(headers[name].split())}" for name in names]
    return "\n".join(lines) + "\n"


def string_to_sign(amz_date: str, scope: str, canonical: str) -> str:
    """``scope`` is ``date/region/service/aws4_request``."""
    digest = _SHA256.copy()
    digest.update(canonical.encode("utf-8"))
    return f"{ALGORITHM}\n{amz_date}\n{scope}\n{digest.hexdigest()}"


def signature(secret: str, scope: Scope, to_sign: str) -> str:
    """The hex HMAC-SHA256 of the string to sign under the scope's derived key."""
    inner, outer = _keyed_sha256(secret, scope.date, scope.region, scope.service)
    inner = inner.copy()
    inner.update(to_sign.encode("utf-8"))
    outer = outer.copy()
    outer.update(inner.digest())
    return outer.hexdigest()


@functools.lru_cache(maxsize=1024)
def _keyed_sha256(secret: str, date: str, region: str,
                  service: str) -> tuple[hashlib._Hash, hashlib._Hash]:
    """HMAC's inner and outer SHA-256 states, already fed the derived key of one day, region
    and service (the same for every request in that scope): a request then costs two hash
    copies, where ``hmac.digest`` would look SHA-256 up in OpenSSL and key it again each time."""
    key = ("AWS4" + secret).encode("utf-8")
    for part in (date, region, service, "aws4_request"):
        key = hmac.digest(key, part.encode("utf-8"), "sha256")
    block = key.ljust(_SHA256_BLOCK, b"\0")  # a derived key is 32 bytes: padded, never hashed
    inner, outer = _SHA256.copy(), _SHA256.copy()
    inner.update(bytes(b ^ 0x36 for b in block))
    outer.update(bytes(b ^ 0x5C for b in block))
    return inner, outer
