"""Signed aws-chunked uploads (STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]) against a server with
keys: every chunk signature is checked, and a forged, broken or cut-off chain stores nothing.

The seed (header) signature comes from botocore's own S3 signer; the chunk chain is computed here
from the AWS SigV4 streaming spec, independently of bifrost_py's verifier. Bodies sent to be
refused stay under 64 KiB, so the server has read them whole when it answers early and closing
the connection cannot reset the answer away.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from bad_input_helpers import Stored, assert_error, crc32_b64
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from keys_helpers import CONFIG, FULL_ID, FULL_SECRET, REGION, s3_client

from bifrost_py.testing import RunningServer

STREAMING = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
CHUNK = 8 * 1024
PAYLOAD = bytes(range(256)) * 160 + b"tail"  # 40964 bytes: five full 8 KiB chunks and a short one
PLACEHOLDER = "0" * 64  # a signature's length, for sizing a body before it can be signed


# --- the client side of the protocol, from the spec -------------------------------------------


class _StreamingSigner(S3SigV4Auth):  # type: ignore[misc]
    """botocore's S3 signer, told the payload is the streaming placeholder (it would hash it)."""

    def __init__(self, content_sha256: str) -> None:
        super().__init__(Credentials(FULL_ID, FULL_SECRET), "s3", REGION)
        self.content_sha256 = content_sha256

    def payload(self, request: AWSRequest) -> str:
        return self.content_sha256


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


class Chain:
    """Each chunk's signature signs the one before it, starting from the seed signature:

        AWS4-HMAC-SHA256-PAYLOAD \\n date \\n scope \\n previous \\n sha256("") \\n sha256(chunk)

    and the trailer's, after the final 0-byte chunk, signs its ``name:value\\n`` lines:

        AWS4-HMAC-SHA256-TRAILER \\n date \\n scope \\n previous \\n sha256(lines)
    """

    def __init__(self, seed: str, amz_date: str, scope: str, secret: str = FULL_SECRET) -> None:
        key = ("AWS4" + secret).encode()
        for part in scope.split("/"):
            key = _hmac(key, part)
        self.key, self.amz_date, self.scope = key, amz_date, scope
        self.seed = self.previous = seed

    def _sign(self, *lines: str) -> str:
        self.previous = _hmac(self.key, "\n".join(lines)).hex()
        return self.previous

    def chunk(self, data: bytes) -> str:
        return self._sign("AWS4-HMAC-SHA256-PAYLOAD", self.amz_date, self.scope, self.previous,
                          EMPTY_SHA256, hashlib.sha256(data).hexdigest())

    def trailer(self, lines: bytes) -> str:
        return self._sign("AWS4-HMAC-SHA256-TRAILER", self.amz_date, self.scope, self.previous,
                          hashlib.sha256(lines).hexdigest())


@dataclass
class Framing:
    """How to frame a payload; the defaults are an honest body."""

    chunk_size: int = CHUNK
    trailer: dict[str, str] | None = None  # -TRAILER: the trailers to send and sign
    final_chunk: bool = True
    # Signs the nth chunk (the final chunk counts) given the chain and the chunk's bytes.
    sign: Callable[[Chain, int, bytes], str] = lambda chain, _, data: chain.chunk(data)
    sign_trailer: Callable[[Chain, bytes], str] = lambda chain, lines: chain.trailer(lines)


def frame(payload: bytes, how: Framing, chain: Chain | None) -> bytes:
    """The aws-chunked body; with no chain, placeholder signatures (the same length)."""
    pieces = [payload[i : i + how.chunk_size] for i in range(0, len(payload), how.chunk_size)]
    if how.final_chunk:
        pieces.append(b"")
    out = bytearray()
    for n, piece in enumerate(pieces):
        signature = how.sign(chain, n, piece) if chain else PLACEHOLDER
        out += b"%x;chunk-signature=%s\r\n" % (len(piece), signature.encode())
        if piece:
            out += piece + b"\r\n"
    if not how.final_chunk:
        return bytes(out)
    if how.trailer is not None:
        lines = b"".join(f"{k}:{v}\n".encode() for k, v in how.trailer.items())
        out += lines.replace(b"\n", b"\r\n")
        signature = how.sign_trailer(chain, lines) if chain else PLACEHOLDER
        out += b"x-amz-trailer-signature:%s\r\n" % signature.encode()
    return bytes(out + b"\r\n")


def signed_request(server: RunningServer, method: str, path: str, payload: bytes, how: Framing,
                   tamper: Callable[[bytes], bytes] = lambda body: body) -> httpx.Response:
    """Sign the headers with botocore, chain the chunks from that signature, and send."""
    headers = {"Content-Encoding": "aws-chunked",
               "Content-Length": str(len(frame(payload, how, None))),
               "x-amz-decoded-content-length": str(len(payload))}
    if how.trailer is not None:
        headers["x-amz-trailer"] = ",".join(how.trailer)
    request = AWSRequest(method, f"{server.s3_url}{path}", headers=headers)
    _StreamingSigner(STREAMING_TRAILER if how.trailer is not None else STREAMING).add_auth(request)
    authorization = request.headers["Authorization"]
    credential = re.search(r"Credential=[^/]+/([^,]+)", authorization)
    signature = re.search(r"Signature=([0-9a-f]{64})", authorization)
    assert credential and signature, authorization
    chain = Chain(signature[1], request.headers["X-Amz-Date"], credential[1])
    body = tamper(frame(payload, how, chain))
    assert len(body) == int(headers["Content-Length"])  # tampering keeps the signed length
    prepared = request.prepare()
    return httpx.request(method, prepared.url, headers=dict(prepared.headers.items()),
                         content=body, timeout=30)


def put(server: RunningServer, bucket: str, key: str, payload: bytes = PAYLOAD,
        how: Framing | None = None, **kwargs: Any) -> httpx.Response:
    return signed_request(server, "PUT", f"/{bucket}/{key}", payload, how or Framing(), **kwargs)


# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server with keys_helpers.py's keys, so every request is SigV4-verified."""
    directory = tmp_path_factory.mktemp("signed-chunks")
    config = directory / "config.toml"
    config.write_text(CONFIG, encoding="utf-8")
    with RunningServer(directory / "data", config) as running:
        yield running


@pytest.fixture(scope="module")
def s3(server: RunningServer) -> Any:
    return s3_client(server)


@pytest.fixture
def stored(s3: Any) -> Stored:
    """An object already under the key each test uploads to: a refused upload leaves it as is."""
    bucket = f"chunks-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    data = b"the previous object\n" * 50
    etag = s3.put_object(Bucket=bucket, Key="obj", Body=data)["ETag"]
    return Stored(bucket, "obj", data, etag)


def assert_intact(s3: Any, stored: Stored) -> None:
    got = s3.get_object(Bucket=stored.bucket, Key=stored.key)
    assert got["Body"].read() == stored.data
    assert got["ETag"] == stored.etag


def data_offset(body: bytes, n: int, at: int = 0) -> int:
    """The body offset of payload byte `at` of data chunk `n`, found by walking the framing."""
    pos = 0
    for _ in range(n):
        line_end = body.index(b"\r\n", pos)
        pos = line_end + 2 + int(body[pos:line_end].split(b";")[0], 16) + 2
    return body.index(b"\r\n", pos) + 2 + at


def flip_data(n: int, at: int = 100) -> Callable[[bytes], bytes]:
    """Change payload byte `at` of data chunk `n`."""

    def tamper(body: bytes) -> bytes:
        out = bytearray(body)
        out[data_offset(body, n, at)] ^= 0x01
        return bytes(out)

    return tamper


def other_hex_digit(offset: int) -> Callable[[bytes], bytes]:
    """Change the hex digit of a signature at `offset` (negative: from the end) to another."""

    def tamper(body: bytes) -> bytes:
        out = bytearray(body)
        assert chr(out[offset]) in "0123456789abcdef"
        out[offset] = ord("1") if out[offset] == ord("0") else ord("0")
        return bytes(out)

    return tamper


# --- honest uploads ----------------------------------------------------------------------------


def test_signed_multi_chunk_upload_is_stored_byte_identical(server: RunningServer,
                                                            s3: Any, stored: Stored) -> None:
    response = put(server, stored.bucket, stored.key)
    assert response.status_code == 200, response.text
    expected_etag = f'"{hashlib.md5(PAYLOAD, usedforsecurity=False).hexdigest()}"'
    assert response.headers["ETag"] == expected_etag
    got = s3.get_object(Bucket=stored.bucket, Key=stored.key)
    assert got["Body"].read() == PAYLOAD
    assert got["ContentLength"] == len(PAYLOAD)
    assert got["ETag"] == expected_etag


def test_large_chunks_and_an_empty_payload(server: RunningServer, s3: Any,
                                           stored: Stored) -> None:
    big = hashlib.sha256(b"seed").digest() * (3 * 2**20 // 32) + b"end"  # 3 MiB + 3 bytes
    response = put(server, stored.bucket, "big", big, Framing(chunk_size=2**20))
    assert response.status_code == 200, response.text
    assert s3.get_object(Bucket=stored.bucket, Key="big")["Body"].read() == big
    response = put(server, stored.bucket, "empty", b"")
    assert response.status_code == 200, response.text
    assert s3.get_object(Bucket=stored.bucket, Key="empty")["Body"].read() == b""


def test_signed_trailer_upload_is_stored_with_its_checksum(server: RunningServer,
                                                           s3: Any, stored: Stored) -> None:
    how = Framing(trailer={"x-amz-checksum-crc32": crc32_b64(PAYLOAD)})
    response = put(server, stored.bucket, stored.key, how=how)
    assert response.status_code == 200, response.text
    head = s3.head_object(Bucket=stored.bucket, Key=stored.key, ChecksumMode="ENABLED")
    assert head["ChecksumCRC32"] == crc32_b64(PAYLOAD)
    assert s3.get_object(Bucket=stored.bucket, Key=stored.key)["Body"].read() == PAYLOAD


# --- forged or broken chains -------------------------------------------------------------------


def _bad_sign(bad: int, how: Callable[[Chain, bytes], str]) -> Callable[[Chain, int, bytes], str]:
    """Sign chunk `bad` with `how`, every other one honestly."""
    return lambda chain, n, data: how(chain, data) if n == bad else chain.chunk(data)


def _wrong_signature(chain: Chain, data: bytes) -> str:
    chain.chunk(data)  # keep the chain going, as a client signing something else would
    return hashlib.sha256(b"not the signature").hexdigest()


def _restarted_chain(chain: Chain, data: bytes) -> str:
    # Signed as though it were the first chunk: a real signature, chained from the wrong one.
    return Chain(chain.seed, chain.amz_date, chain.scope).chunk(data)


REFUSED: dict[str, tuple[Framing, Callable[[bytes], bytes]]] = {
    "tampered-first-chunk-byte": (Framing(), flip_data(0)),
    "tampered-last-chunk-byte": (Framing(), flip_data(5, at=3)),
    "wrong-first-chunk-signature": (Framing(sign=_bad_sign(0, _wrong_signature)), lambda b: b),
    "wrong-final-chunk-signature": (Framing(sign=_bad_sign(6, _wrong_signature)), lambda b: b),
    "valid-then-broken-chain": (Framing(sign=_bad_sign(3, _restarted_chain)), lambda b: b),
    "signature-of-another-key": (
        Framing(sign=lambda chain, n, data: Chain(chain.previous, chain.amz_date, chain.scope,
                                                  "other secret").chunk(data)),
        lambda b: b),
    "tampered-signature-hex": (Framing(), other_hex_digit(len(b"2000;chunk-signature=") + 5)),
}


def test_missing_chunk_signature_is_signature_does_not_match(
        server: RunningServer, s3: Any, stored: Stored) -> None:
    signature_of_chunk_two = re.compile(rb"2000;chunk-signature=[0-9a-f]{64}")

    def drop(body: bytes) -> bytes:
        # Drop chunk 2's signature and pad the body's end so the signed length still holds:
        # the padding is never reached, the missing signature stops the body first.
        at = [m.start() for m in signature_of_chunk_two.finditer(body)][2]
        stripped = body[:at] + b"2000" + body[at + len(b"2000;chunk-signature=") + 64:]
        return stripped + b" " * (len(body) - len(stripped))

    response = put(server, stored.bucket, stored.key, tamper=drop)
    assert_error(response, 403, "SignatureDoesNotMatch")
    assert_intact(s3, stored)


def test_missing_final_chunk_is_incomplete_body(server: RunningServer, s3: Any,
                                                stored: Stored) -> None:
    response = put(server, stored.bucket, stored.key, how=Framing(final_chunk=False))
    assert_error(response, 400, "IncompleteBody")
    assert_intact(s3, stored)


TRAILER_REFUSED: dict[str, tuple[Framing, Callable[[bytes], bytes]]] = {
    # The trailer's value changed after it was signed.
    "tampered-trailer": (Framing(trailer={"x-amz-checksum-crc32": crc32_b64(PAYLOAD)}),
                         lambda body: body.replace(crc32_b64(PAYLOAD).encode(),
                                                   crc32_b64(b"other").encode())),
    "wrong-trailer-signature": (
        Framing(trailer={"x-amz-checksum-crc32": crc32_b64(PAYLOAD)},
                sign_trailer=lambda chain, lines: chain.trailer(lines + b"x:y\n")),
        lambda b: b),
    "tampered-trailer-signature": (Framing(trailer={"x-amz-checksum-crc32": crc32_b64(PAYLOAD)}),
                                   other_hex_digit(-10)),
}


@pytest.mark.parametrize("case", [*REFUSED, *TRAILER_REFUSED])
def test_forged_chunks_and_trailers_are_signature_does_not_match(
        server: RunningServer, s3: Any, stored: Stored, case: str) -> None:
    how, tamper = {**REFUSED, **TRAILER_REFUSED}[case]
    response = put(server, stored.bucket, stored.key, how=how, tamper=tamper)
    assert_error(response, 403, "SignatureDoesNotMatch")
    assert_intact(s3, stored)


def test_signed_trailer_with_a_wrong_checksum_is_bad_digest(server: RunningServer,
                                                            s3: Any, stored: Stored) -> None:
    # Signed honestly, but the checksum the client signed is not the payload's.
    how = Framing(trailer={"x-amz-checksum-crc32": crc32_b64(b"other")})
    response = put(server, stored.bucket, stored.key, how=how)
    assert_error(response, 400, "BadDigest")
    assert_intact(s3, stored)


# --- other ways in -------------------------------------------------------------------------------


def test_signed_chunks_on_a_presigned_url_are_access_denied(server: RunningServer,
                                                            s3: Any, stored: Stored) -> None:
    # A presigned URL has no seed signature to chain the chunks from.
    # SigV4 query auth: SigV2 would sign the x-amz-* headers below and refuse them first.
    signer = s3_client(server, signature_version="s3v4")
    url = signer.generate_presigned_url("put_object", Params={"Bucket": stored.bucket,
                                                              "Key": stored.key})
    body = frame(PAYLOAD, Framing(), None)
    response = httpx.put(url, content=body, timeout=30, headers={
        "Content-Encoding": "aws-chunked", "x-amz-content-sha256": STREAMING,
        "x-amz-decoded-content-length": str(len(PAYLOAD))})
    assert_error(response, 403, "AccessDenied")
    assert_intact(s3, stored)


def test_signed_chunks_on_delete_objects(server: RunningServer, s3: Any,
                                         stored: Stored) -> None:
    document = (f"<Delete><Object><Key>{stored.key}</Key></Object></Delete>").encode()
    path = f"/{stored.bucket}?delete"
    forged = signed_request(server, "POST", path, document, Framing(chunk_size=16),
                            tamper=flip_data(1, at=0))
    assert_error(forged, 403, "SignatureDoesNotMatch")
    assert_intact(s3, stored)
    honest = signed_request(server, "POST", path, document, Framing(chunk_size=16))
    assert honest.status_code == 200, honest.text
    assert s3.list_objects_v2(Bucket=stored.bucket).get("KeyCount") == 0



@pytest.mark.parametrize("tampered", [False, True])
def test_content_encoding_aws_chunked_under_a_hex_payload_hash_is_no_framing(
        server: RunningServer, s3: Any, stored: Stored, tampered: bool) -> None:
    """Only a STREAMING-* x-amz-content-sha256 makes a body aws-chunked framed: under the hash
    of the body itself, Content-Encoding: aws-chunked names a coding to leave out of the
    stored Content-Encoding, and the body is stored as it came, checked against that hash."""
    framed = b"%x\r\n%s\r\n0\r\n\r\n" % (len(PAYLOAD), PAYLOAD)
    request = AWSRequest("PUT", f"{server.s3_url}/{stored.bucket}/{stored.key}", data=framed,
                         headers={"Content-Encoding": "aws-chunked",
                                  "x-amz-decoded-content-length": str(len(PAYLOAD))})
    S3SigV4Auth(Credentials(FULL_ID, FULL_SECRET), "s3", REGION).add_auth(request)
    assert request.headers["x-amz-content-sha256"] == hashlib.sha256(framed).hexdigest()
    prepared = request.prepare()
    sent = framed.replace(PAYLOAD[:4], b"XXXX", 1) if tampered else framed
    response = httpx.request("PUT", prepared.url, headers=dict(prepared.headers.items()),
                             content=sent, timeout=30)
    if tampered:
        assert_error(response, 400, "XAmzContentSHA256Mismatch")
        assert_intact(s3, stored)
    else:
        assert response.status_code == 200, response.text
        got = s3.get_object(Bucket=stored.bucket, Key=stored.key)
        assert got["Body"].read() == framed and "ContentEncoding" not in got
