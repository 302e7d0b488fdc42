"""aws-chunked chunk signatures: the chain a STREAMING-AWS4-HMAC-SHA256-PAYLOAD body carries,
each chunk signed over the signature before it, starting from the request's own."""

from __future__ import annotations

import hashlib
import hmac

from bifrost_py.wire.auth.credentials import AuthError, Caller, Key, signature_mismatch

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
SIGNED_STREAMING = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
SIGNED_STREAMING_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


class ChunkSignatures:
    """Checks the chain of ``chunk-signature``s of a STREAMING-AWS4-HMAC-SHA256-PAYLOAD(-TRAILER)
    body, in order: every data chunk, then the 0-byte final chunk, then the end of the body
    (:meth:`verify_trailer`). ``scope`` is ``date/region/service/aws4_request`` from the request's
    Credential; ``trailer`` says the body is the -TRAILER form, whose trailers must be signed.

    Chunks are passed as their SHA-256 hex digest, so a caller can hash multi-MiB chunks as they
    stream instead of holding them. Any failure raises ``SignatureDoesNotMatch`` and breaks the
    chain for good."""

    def __init__(self, key: Key, seed_signature: str, amz_date: str, scope: str,
                 trailer: bool = False) -> None:
        parts = scope.split("/")
        if len(parts) != 4 or parts[3] != "aws4_request":
            raise signature_mismatch()
        signing = _hmac(("AWS4" + key.secret_access_key).encode("utf-8"), parts[0])
        for part in parts[1:]:
            signing = _hmac(signing, part)
        self._signing_key = signing
        self._amz_date = amz_date
        self._scope = scope
        self._trailer = trailer
        self._previous = seed_signature
        self._final_seen = False  # the 0-byte chunk was verified: only the trailer may follow
        self._done = False  # broken, or complete: nothing more is accepted

    @classmethod
    def for_caller(cls, caller: Caller, trailer: bool = False) -> ChunkSignatures:
        """The chain for a header-signed request's body."""
        if not caller.seed_signature:
            # A presigned URL signs no seed to chain from, so signed chunks cannot be checked.
            raise AuthError("AccessDenied", "AccessDeniedException",
                            "Signed chunks need a header-signed request.")
        return cls(caller.key, caller.seed_signature, caller.amz_date, caller.scope, trailer)

    @property
    def complete(self) -> bool:
        """Every signature the body must carry was verified."""
        return self._done and self._final_seen

    def _fail(self) -> AuthError:
        self._done = True
        self._final_seen = False  # a broken chain is never complete
        return signature_mismatch()

    def _check(self, string_to_sign: str, signature: str) -> None:
        expected = hmac.new(
            self._signing_key, string_to_sign.encode("utf-8"), hashlib.sha256
        ).hexdigest()
        if self._done or not hmac.compare_digest(expected, signature.strip().lower()):
            raise self._fail()
        self._previous = expected

    def verify(self, chunk_sha256: str, signature: str) -> None:
        """The next chunk, by the hex SHA-256 of its data; the 0-byte final chunk's is
        ``EMPTY_SHA256``. An empty ``signature`` (the chunk carried none) fails."""
        if self._final_seen:
            raise self._fail()  # nothing is chained after the final chunk but the trailer
        string_to_sign = "\n".join(
            (
                "AWS4-HMAC-SHA256-PAYLOAD",
                self._amz_date,
                self._scope,
                self._previous,
                EMPTY_SHA256,
                chunk_sha256,
            )
        )
        self._check(string_to_sign, signature)
        if chunk_sha256 == EMPTY_SHA256:
            # Only the final chunk is empty: aws-chunked framing ends the data at size 0.
            self._final_seen = True
            if not self._trailer:
                self._done = True

    def verify_trailer(self, trailer_lines: bytes, signature: str) -> None:
        """The end of the body: ``trailer_lines`` are the trailing header lines (``name:value``)
        without the ``x-amz-trailer-signature`` line, CRLF or LF line ends, signed as
        ``name:value\\n`` each; ``signature`` is that trailer's value ("" when absent).

        Without -TRAILER the body must end with neither, and then this is a no-op."""
        lines = [line.rstrip(b"\r") for line in trailer_lines.split(b"\n")]
        canonical = b"".join(line + b"\n" for line in lines if line)
        if not self._final_seen:
            raise self._fail()
        if not self._trailer:
            if canonical or signature:
                raise self._fail()  # unsigned trailers on a body that declared none
            return
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
