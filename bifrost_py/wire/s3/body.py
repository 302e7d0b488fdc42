"""Request bodies of PutObject and UploadPart: framing, size limits and integrity checks.

The body is streamed straight into a blob while MD5 and the requested checksum are computed; it
is verified before the blob is published, so a bad or cut-off body never replaces anything. A
signed aws-chunked body (STREAMING-AWS4-HMAC-SHA256-PAYLOAD) from a verified caller has every
chunk signature checked as it arrives; a failure aborts the write, discarding the temp blob.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import ClientDisconnect

from bifrost_py.domain.checksums import Checksum, header_name, requested_algorithm
from bifrost_py.domain.digits import decimal
from bifrost_py.errors import (
    BadDigest,
    EntityTooLarge,
    IncompleteBody,
    InvalidArgument,
    InvalidDigest,
    InvalidRequest,
    MalformedTrailerError,
    MaxMessageLengthExceeded,
    MissingContentLength,
)
from bifrost_py.ports.files import Blob, Blobs
from bifrost_py.wire.auth.chunk_signatures import (
    SIGNED_STREAMING,
    SIGNED_STREAMING_TRAILER,
    ChunkSignatures,
)
from bifrost_py.wire.auth.credentials import AuthError
from bifrost_py.wire.auth.guard import dialect_error, verify_body
from bifrost_py.wire.auth.verify import PAYLOAD_PLACEHOLDERS
from bifrost_py.wire.s3.chunked import AwsChunkedDecoder, ChunkedError
from bifrost_py.wire.s3.request import S3Request


async def receive(req: S3Request, blobs: Blobs, max_size: int, inline: bool = True) -> Blob:
    """Stream the request body into a temp blob, verified; the caller publishes it."""
    headers = req.headers
    declared = _declared_length(req)
    if declared > max_size:
        raise EntityTooLarge(ProposedSize=str(declared), MaxSizeAllowed=str(max_size))
    try:
        wanted = requested_algorithm(headers)
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from exc
    decoder = _decoder(req)
    raw, sha256 = _signed_body(req)
    stream = _decoded(raw, decoder) if decoder else raw
    blob = await blobs.write(stream, max_size=max_size,
                             checksum_algorithm=wanted[0] if wanted else None, inline=inline)
    try:
        if blob.size != declared:
            raise IncompleteBody()
        _check_trailers(req, decoder)
        if sha256 is not None:
            verify_body(req.caller, "s3", req.headers, sha256.hexdigest())
        _verify(req, blob.md5, wanted, blob.checksum, decoder)
    except BaseException:
        blobs.discard(blob)
        raise
    return blob


def _declared_length(req: S3Request) -> int:
    headers = req.headers
    value = headers.get("x-amz-decoded-content-length") if _is_chunked(req) else None
    value = value or headers.get("content-length")
    if value is None:
        raise MissingContentLength()
    if not decimal(value):
        raise InvalidArgument("Content-Length must be a non-negative integer.")
    return int(value)


def _decoder(req: S3Request) -> AwsChunkedDecoder | None:
    """The aws-chunked decoder for this body (None if it is not chunked), checking the chunk
    signatures when the server verifies callers and the body says it is signed."""
    if not _is_chunked(req):
        return None
    sha = req.headers.get("x-amz-content-sha256", "")
    # An open server has no keys to check with, so it ignores signatures as it always has.
    if req.caller is None or sha not in (SIGNED_STREAMING, SIGNED_STREAMING_TRAILER):
        return AwsChunkedDecoder()
    try:
        chain = ChunkSignatures.for_caller(req.caller, trailer=sha == SIGNED_STREAMING_TRAILER)
    except AuthError as failure:
        raise dialect_error(failure, "s3") from None
    return AwsChunkedDecoder(verifier=chain)


def _is_chunked(req: S3Request) -> bool:
    """The body is aws-chunked framed: its x-amz-content-sha256 says so. Content-Encoding
    aws-chunked alone only names a coding to leave out of the stored Content-Encoding."""
    return req.headers.get("x-amz-content-sha256", "").startswith("STREAMING-")


def _check_trailers(req: S3Request, decoder: AwsChunkedDecoder | None) -> None:
    """Every trailer x-amz-trailer declares arrived, and only in a framed body."""
    declared = [t.strip().lower() for t in req.headers.get("x-amz-trailer", "").split(",")
                if t.strip()]
    if not declared:
        return
    received = decoder.trailers if decoder is not None else {}
    missing = next((t for t in declared if t not in received), None)
    if missing is not None:
        raise MalformedTrailerError(TrailerHeader=missing)


def _signed_body(req: S3Request) -> tuple[AsyncIterator[bytes], Any]:
    """The body as sent, and a hash of it when the caller signed its SHA-256 (a hex
    x-amz-content-sha256, framing included when aws-chunked): checked after the body."""
    declared = req.headers.get("x-amz-content-sha256")
    if req.caller is None or declared is None or declared in PAYLOAD_PLACEHOLDERS:
        return _plain(req), None
    sha256 = hashlib.sha256()
    return _hashed(_plain(req), sha256), sha256


async def _hashed(chunks: AsyncIterator[bytes], sha256: Any) -> AsyncIterator[bytes]:
    async for chunk in chunks:
        sha256.update(chunk)
        yield chunk


async def _plain(req: S3Request) -> AsyncIterator[bytes]:
    try:
        async for chunk in req.request.stream():
            if chunk:
                yield chunk
    except ClientDisconnect as exc:
        raise IncompleteBody() from exc


async def _decoded(raw: AsyncIterator[bytes], decoder: AwsChunkedDecoder,
                   ) -> AsyncIterator[bytes]:
    try:
        async for chunk in raw:
            payload = decoder.feed(chunk)
            if payload:
                yield payload
        decoder.finish()
    except ChunkedError as exc:
        raise IncompleteBody(f"The aws-chunked body is malformed: {exc}") from exc
    except AuthError as failure:  # a chunk or trailer signature did not verify
        raise dialect_error(failure, "s3") from None


def _verify(req: S3Request, md5: str, wanted: tuple[str, str] | None, checksum: str | None,
            decoder: AwsChunkedDecoder | None) -> None:
    content_md5 = req.headers.get("content-md5")
    if content_md5 is not None:
        try:
            expected = base64.b64decode(content_md5, validate=True)
        except ValueError:  # binascii.Error, or a value that is not ASCII at all
            raise InvalidDigest() from None
        if len(expected) != 16:
            raise InvalidDigest()
        if expected.hex() != md5:
            raise BadDigest("The Content-MD5 you specified did not match what we received.")
    if wanted is None:
        return
    algorithm, expected_b64 = wanted
    if not expected_b64 and decoder is not None:
        expected_b64 = decoder.trailers.get(header_name(algorithm), "")
    if expected_b64 and expected_b64 != checksum:
        raise BadDigest(f"The {algorithm} you specified did not match the calculated checksum.")


async def receive_small(req: S3Request, limit: int, body_checksums: bool = True) -> bytes:
    """A small body (an XML document) in memory, with the same framing and integrity checks;
    `body_checksums` False where the x-amz-checksum-* headers describe something else."""
    try:
        wanted = requested_algorithm(req.headers) if body_checksums else None
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from exc
    decoder = _decoder(req)
    raw, sha256 = _signed_body(req)
    data = bytearray()
    async for chunk in _decoded(raw, decoder) if decoder else raw:
        data += chunk
        if len(data) > limit:
            raise MaxMessageLengthExceeded()
    _check_trailers(req, decoder)
    checksum = Checksum(wanted[0]) if wanted else None
    if checksum:
        checksum.update(bytes(data))
    if sha256 is not None:
        verify_body(req.caller, "s3", req.headers, sha256.hexdigest())
    md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
    _verify(req, md5, wanted, checksum.b64() if checksum else None, decoder)
    return bytes(data)
