"""aws-chunked chunk signatures: the chain a STREAMING-AWS4-HMAC-SHA256-PAYLOAD body carries,
each chunk signed over the signature before it, starting from the request's own."""

from __future__ import annotations

import hashlib
import hmac

from bifrost_py.wire.credentials import AuthError, Caller, Key, signature_mismatch

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


class ChunkSignatures:
    """Checks the chain of ``chunk-signature``s of a STREAMING-AWS4-HMAC-SHA256-PAYLOAD(-TRAILER)
    body, in order: every data chunk, then the 0-byte final chunk, then (if any) the trailer.
    ``scope`` is ``date/region/service/aws4_request`` from the request's Credential."""

    def __init__(self, key: Key, seed_signature: str, amz_date: str, scope: str) -> None:
        parts = scope.split("/")
        if len(parts) != 4 or parts[3] != "aws4_request":
            raise signature_mismatch()
        signing = _hmac(("AWS4" + key.secret_access_key).encode("utf-8"), parts[0])
        for part in parts[1:]:
            signing = _hmac(signing, part)
        self._signing_key = signing
        self._amz_date = amz_date
        self._scope = scope
        self._previous = seed_signature
        self._done = False

    @classmethod
    def for_caller(cls, caller: Caller) -> ChunkSignatures:
        """The chain for a header-signed request's body."""
        if not caller.seed_signature:
            raise AuthError("AccessDenied", "AccessDeniedException",
                            "Signed chunks need a header-signed request.")
        return cls(caller.key, caller.seed_signature, caller.amz_date, caller.scope)

    def _check(self, string_to_sign: str, signature: str) -> None:
        expected = hmac.new(
            self._signing_key, string_to_sign.encode("utf-8"), hashlib.sha256
        ).hexdigest()
        if self._done or not hmac.compare_digest(expected, signature.strip().lower()):
            self._done = True  # a broken chain stays broken
            raise signature_mismatch()
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
