"""The S3 mount's pass-through: a provider whose files are a real S3 gets every S3 call as it came.

The client signed its request for this server (or not at all); S3 wants the server's own
credentials. So the client's signing headers are dropped, everything else is kept, and the
provider (ports.passthrough.S3Upstream) signs the request again and sends it with the raw path and
query as they came. Bodies stream both ways and S3's answer (status, headers, body; errors
included) reaches the client unchanged.

aws-chunked uploads: unsigned chunks (STREAMING-UNSIGNED-PAYLOAD-TRAILER, what boto3 and the CLI
send) pass through as they are. Signed chunks carry signatures made with the client's key, which
S3 would reject, so they are decoded and the plain payload is sent; a trailing checksum is only
known at the end of the body, so such a body is spooled to a temporary file first and its checksum
sent as a header. With keys, signed chunks are always spooled and their signatures checked first.
"""

from __future__ import annotations

import asyncio
import logging
import re
import tempfile
from collections.abc import AsyncIterator
from typing import IO

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from bifrost_py.errors import AwsError, InvalidRequest, NoSuchBucket
from bifrost_py.ports.passthrough import Relayed, S3Upstream
from bifrost_py.ports.upstream import UpstreamError
from bifrost_py.wire.asgi import RawHeaders, header, mount_path, new_request_id
from bifrost_py.wire.auth.chunk_signatures import ChunkSignatures
from bifrost_py.wire.auth.credentials import AuthError, Caller, tenant_of
from bifrost_py.wire.auth.guard import dialect_error
from bifrost_py.wire.s3.chunked import AwsChunkedDecoder, ChunkedError
from bifrost_py.wire.s3.errors import error_response, upstream_error
from bifrost_py.wire.s3.proxy_tenancy import ProxyTenancy

log = logging.getLogger("bifrost_py.bedrock.s3")

_HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
                         "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"})
# The client's signature for this server, and what only concerns the hop to this server.
_CLIENT_ONLY = frozenset({"authorization", "x-amz-date", "x-amz-security-token",
                          "x-amz-content-sha256", "host", "x-model-provider", "expect"})
# A presigned URL's signature (SigV4 or SigV2) is the query-string form of the same.
_CLIENT_QUERY = frozenset({"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires",
                           "X-Amz-SignedHeaders", "X-Amz-Signature", "X-Amz-Security-Token",
                           "AWSAccessKeyId", "Signature", "Expires"})
_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
_UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_SPOOL_READ = 1 << 20


class _ClientGone(Exception):
    """The client disconnected before its request body was all read."""


class S3Proxy:
    def __init__(self, upstream: S3Upstream, tenancy: ProxyTenancy) -> None:
        self.upstream = upstream
        self.tenancy = tenancy

    async def forward(self, scope: Scope, receive: Receive, send: Send,
                      caller: Caller | None) -> int | None:
        """Pass the request through; `caller` (None on an open server) signed its chunks. The
        status answered, or None when the client left before its request was read."""
        tenant, path = tenant_of(caller), _upstream_path(scope)
        hidden = await self.tenancy.hidden(path, scope, tenant)
        if hidden is not None:
            return await _error(NoSuchBucket(BucketName=hidden), scope, receive, send)
        try:
            answer = await self._send(scope, receive, caller)
        except _ClientGone:
            return None
        except AuthError as failure:  # a chunk signature did not verify: nothing was sent
            return await _error(dialect_error(failure, "s3"), scope, receive, send)
        except ChunkedError as exc:
            return await _error(InvalidRequest(f"Malformed aws-chunked body: {exc}"), scope,
                                receive, send)
        except UpstreamError as failure:  # unreachable, or no credentials to sign with
            return await _error(upstream_error(failure), scope, receive, send)
        await self.tenancy.answered(path, scope, answer.status, tenant)
        if self.tenancy.lists_buckets(path, scope) and answer.status == 200:
            try:
                listed = await self.tenancy.filtered(await _read(answer), tenant)
            except UpstreamError as failure:
                return await _error(upstream_error(failure), scope, receive, send)
            return await _relay(answer, send, listed)
        return await _relay(answer, send)

    async def _send(self, scope: Scope, receive: Receive, caller: Caller | None) -> Relayed:
        raw_headers: RawHeaders = scope["headers"]
        has_body = bool(header(raw_headers, "content-length")
                        or header(raw_headers, "transfer-encoding"))
        headers = _forwarded(raw_headers)
        content_sha256 = header(raw_headers, "x-amz-content-sha256")
        body, payload_hash = await _body(content_sha256, headers, _received(receive), caller)
        raw_query = _forwarded_query(scope.get("query_string", b"").decode("latin-1"))
        return await self.upstream.send(scope["method"], _upstream_path(scope), raw_query,
                                        headers, body if has_body else None, payload_hash)


async def _body(content_sha256: str, headers: dict[str, str], received: AsyncIterator[bytes],
                caller: Caller | None) -> tuple[AsyncIterator[bytes], str]:
    """The body to send and the payload hash to sign it with; `headers` adjusted to match."""
    if content_sha256 == _UNSIGNED_TRAILER:
        return received, content_sha256  # unsigned framing: S3 takes it exactly as it came
    if content_sha256.startswith("STREAMING-"):  # chunks signed with the client's key
        trailer = content_sha256.endswith("-TRAILER")
        verifier = ChunkSignatures.for_caller(caller, trailer) if caller is not None else None
        decoder = AwsChunkedDecoder(verifier=verifier)
        _as_plain(headers)
        if not trailer and verifier is None:
            return _decoded(received, decoder), _UNSIGNED_PAYLOAD
        # Spooled: the trailer is only known at the end, and with keys every chunk signature
        # is checked before a byte goes to S3.
        spool = await _spool(_decoded(received, decoder))
        headers.update({name: value for name, value in decoder.trailers.items()
                        if name != "x-amz-trailer-signature"})
        return _unspooled(spool), _UNSIGNED_PAYLOAD
    if _SHA256_HEX.fullmatch(content_sha256):
        return received, content_sha256  # the body's real hash: S3 still checks it
    return received, _UNSIGNED_PAYLOAD


def _as_plain(headers: dict[str, str]) -> None:
    """Headers of an aws-chunked request for its decoded payload."""
    encodings = [e.strip() for e in headers.pop("content-encoding", "").split(",")
                 if e.strip() and e.strip().lower() != "aws-chunked"]
    if encodings:
        headers["content-encoding"] = ", ".join(encodings)
    headers.pop("x-amz-trailer", None)
    decoded_length = headers.pop("x-amz-decoded-content-length", None)
    headers.pop("content-length", None)
    if decoded_length is not None:
        headers["content-length"] = decoded_length


async def _received(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _ClientGone()
        if message.get("body"):
            yield message["body"]
        if not message.get("more_body", False):
            return


async def _decoded(received: AsyncIterator[bytes],
                   decoder: AwsChunkedDecoder) -> AsyncIterator[bytes]:
    async for piece in received:
        data = decoder.feed(piece)
        if data:
            yield data
    decoder.finish()


async def _spool(pieces: AsyncIterator[bytes]) -> IO[bytes]:
    spool = tempfile.TemporaryFile()  # noqa: SIM115 - outlives this call; _unspooled closes it
    try:
        async for piece in pieces:
            await asyncio.to_thread(spool.write, piece)
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return spool


async def _unspooled(spool: IO[bytes]) -> AsyncIterator[bytes]:
    try:
        while piece := await asyncio.to_thread(spool.read, _SPOOL_READ):
            yield piece
    finally:
        spool.close()


async def _read(answer: Relayed) -> bytes:
    try:
        return await answer.read()
    finally:
        await answer.aclose()


async def _relay(answer: Relayed, send: Send, body: bytes | None = None) -> int:
    """S3's answer, streamed back with its status and headers (hop-by-hop ones aside); or,
    given `body`, with that body instead."""
    try:
        headers = [(name, value) for name, value in answer.headers
                   if name.decode("latin-1").lower() not in _HOP_BY_HOP
                   and (body is None or name.lower() != b"content-length")]
        if body is not None:
            headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": answer.status,
                    "headers": headers})
        chunks = answer.chunks() if body is None else _one(body)
        async for chunk in chunks:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    except UpstreamError as failure:
        # Too late for an error answer: the connection closes and the client sees a short body.
        log.warning("S3 answer cut short: %s", failure.message)
    finally:
        await answer.aclose()
    return answer.status


async def _one(body: bytes) -> AsyncIterator[bytes]:
    yield body


async def _error(error: AwsError, scope: Scope, receive: Receive, send: Send) -> int:
    request_id = new_request_id()
    response: Response = error_response(error, scope["method"], _upstream_path(scope),
                                        request_id)
    response.headers["x-amz-request-id"] = request_id
    # The body may be partly unread: it must not be taken for the next request.
    response.headers["connection"] = "close"
    await response(scope, receive, send)
    return error.status


def _upstream_path(scope: Scope) -> str:
    """The raw path after the mount, still percent-encoded as the client sent it."""
    return mount_path(scope).decode("latin-1") or "/"


def _forwarded_query(raw_query: str) -> str:
    """The raw query, as it came, without a presigned URL's signing members."""
    return "&".join(member for member in raw_query.split("&")
                    if member and member.partition("=")[0] not in _CLIENT_QUERY)


def _forwarded(raw_headers: RawHeaders) -> dict[str, str]:
    """The client's headers S3 should see, by lower-case name (repeats joined with commas)."""
    connection = {token.strip().lower()
                  for token in header(raw_headers, "connection").split(",")}
    headers: dict[str, str] = {}
    for raw_name, raw_value in raw_headers:
        name = raw_name.decode("latin-1").lower()
        if name in _HOP_BY_HOP or name in _CLIENT_ONLY or name in connection:
            continue
        value = raw_value.decode("latin-1")
        headers[name] = f"{headers[name]},{value}" if name in headers else value
    return headers
