"""Bodies and connections: aws-chunked bodies (unsigned with a trailer, signed, truncated, with a
wrong checksum), uploads cut off mid-body, and `Expect: 100-continue`; each stores only the
payload or gets S3's error, and nothing already stored is harmed.

Requests go out raw (httpx, or a socket where HTTP itself must be broken); the server runs open,
so nothing needs signing. Every error case checks the status, the `<Error><Code>`, the request
id, and that a known object put beforehand still reads back byte for byte with its ETag.
"""

from __future__ import annotations

import hashlib
import http.client
import socket
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from bad_input_helpers import *  # noqa: F403 - the fixtures client and stored
from bad_input_helpers import (
    Stored,
    assert_error,
    assert_intact,
    crc32_b64,
    part_numbers,
    start_upload,
)

from bifrost_py.testing import RunningServer

FAKE_SIGNATURE = "a" * 64



# Raw sockets, for what an HTTP client will not send: a cut-off body, a paused Expect.


def connect(server: RunningServer) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=10)


def request_head(server: RunningServer, method: str, path: str, **headers: str) -> bytes:
    lines = [f"{method} /bedrock/files{path} HTTP/1.1", f"Host: 127.0.0.1:{server.port}",
             *(f"{name.replace('_', '-')}: {value}" for name, value in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def read_until_blank_line(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def next_answer(sock: socket.socket, request: bytes) -> bytes:
    """What the server answers to another request on this connection (b"" once it closed)."""
    try:
        sock.sendall(request)
        return sock.recv(4096)
    except ConnectionError:
        return b""


def wait_until(condition: Any, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def aws_chunked(payload: bytes, *, chunk_size: int = 64 * 1024, signed: bool = False,
                trailers: dict[str, str] | None = None, final_chunk: bool = True) -> bytes:
    """Frame payload as aws-chunked: size lines (with fake signatures when signed), data, the
    zero-size chunk, trailers and the closing empty line."""
    ext = f";chunk-signature={FAKE_SIGNATURE}" if signed else ""
    out = bytearray()
    for start in range(0, len(payload), chunk_size):
        piece = payload[start:start + chunk_size]
        out += f"{len(piece):x}{ext}\r\n".encode() + piece + b"\r\n"
    if final_chunk:
        out += f"0{ext}\r\n".encode()
        out += b"".join(f"{k}:{v}\r\n".encode() for k, v in (trailers or {}).items())
        out += b"\r\n"
    return bytes(out)


def chunked_headers(decoded_length: int, *, signed: bool = False,
                    trailer: bool = True) -> dict[str, str]:
    headers = {"Content-Encoding": "aws-chunked",
               "x-amz-decoded-content-length": str(decoded_length),
               "x-amz-content-sha256": ("STREAMING-AWS4-HMAC-SHA256-PAYLOAD" if signed
                                        else "STREAMING-UNSIGNED-PAYLOAD-TRAILER")}
    if trailer:
        headers["x-amz-trailer"] = "x-amz-checksum-crc32"
    return headers

# aws-chunked bodies


PAYLOAD = bytes(range(256)) * 800  # 200 KiB: three full 64 KiB chunks and a short one


def test_unsigned_aws_chunked_body_with_trailer_stores_only_the_payload(
        client: httpx.Client, s3: Any, stored: Stored) -> None:
    body = aws_chunked(PAYLOAD, trailers={"x-amz-checksum-crc32": crc32_b64(PAYLOAD)})
    response = client.put(stored.path, content=body, headers=chunked_headers(len(PAYLOAD)))
    assert response.status_code == 200, response.text
    etag = f'"{hashlib.md5(PAYLOAD, usedforsecurity=False).hexdigest()}"'
    assert response.headers["ETag"] == etag

    head = s3.head_object(Bucket=stored.bucket, Key=stored.key, ChecksumMode="ENABLED")
    assert head["ContentLength"] == len(PAYLOAD)
    assert head["ChecksumCRC32"] == crc32_b64(PAYLOAD)
    assert "aws-chunked" not in head.get("ContentEncoding", "")
    assert s3.get_object(Bucket=stored.bucket, Key=stored.key)["Body"].read() == PAYLOAD


def test_aws_chunked_body_with_a_wrong_trailer_checksum_is_bad_digest_and_keeps_the_old_object(
        client: httpx.Client, s3: Any, stored: Stored) -> None:
    body = aws_chunked(PAYLOAD, trailers={"x-amz-checksum-crc32": crc32_b64(b"other bytes")})
    response = client.put(stored.path, content=body, headers=chunked_headers(len(PAYLOAD)))
    assert_error(response, 400, "BadDigest")
    assert_intact(s3, stored)


def truncated_bodies() -> dict[str, tuple[bytes, int]]:
    """Cut-off aws-chunked bodies (each sent with an honest Content-Length) and the decoded
    length each declares."""
    trailers = {"x-amz-checksum-crc32": crc32_b64(PAYLOAD)}
    whole = aws_chunked(PAYLOAD, trailers=trailers)
    return {
        "declared-longer-than-sent": (whole, len(PAYLOAD) + 100),
        "no-final-chunk": (aws_chunked(PAYLOAD, final_chunk=False), len(PAYLOAD)),
        "cut-inside-chunk-data": (whole[:100_000], len(PAYLOAD)),
        "cut-inside-size-line": (aws_chunked(PAYLOAD, final_chunk=False) + b"1", len(PAYLOAD)),
    }


@pytest.mark.parametrize("case", list(truncated_bodies()))
def test_truncated_aws_chunked_body_is_incomplete_body_and_keeps_the_old_object(
        client: httpx.Client, s3: Any, stored: Stored, case: str) -> None:
    body, declared = truncated_bodies()[case]
    response = client.put(stored.path, content=body, headers=chunked_headers(declared))
    assert_error(response, 400, "IncompleteBody")
    assert_intact(s3, stored)


def test_signed_streaming_body_stores_the_payload_without_the_signatures(
        client: httpx.Client, s3: Any, stored: Stored) -> None:
    body = aws_chunked(PAYLOAD, signed=True)
    headers = {**chunked_headers(len(PAYLOAD), signed=True, trailer=False),
               "x-amz-date": time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()),
               "Authorization": "AWS4-HMAC-SHA256 Credential=AKIABIFROSTTEST00000/20250101/"
                                "us-west-2/s3/aws4_request, SignedHeaders=host;x-amz-date, "
                                f"Signature={FAKE_SIGNATURE}"}
    response = client.put(stored.path, content=body, headers=headers)
    assert response.status_code == 200, response.text
    got = s3.get_object(Bucket=stored.bucket, Key=stored.key)
    assert got["Body"].read() == PAYLOAD
    assert got["ContentLength"] == len(PAYLOAD)


# Cut-off uploads


def cut_off_upload(server: RunningServer, path: str) -> None:
    """Promise a megabyte, send a kilobyte, hang up."""
    with connect(server) as sock:
        sock.sendall(request_head(server, "PUT", path, Content_Length="1000000") + b"x" * 1000)


def tmp_files(server: RunningServer) -> set[str]:
    tmp: Path = server.config.data_path / "tmp"
    return {p.name for p in tmp.iterdir()}


def test_cut_off_put_leaves_the_previous_object_and_no_temp_file(
        bifrost_server: RunningServer, s3: Any, stored: Stored) -> None:
    before = tmp_files(bifrost_server)
    cut_off_upload(bifrost_server, stored.path)
    assert wait_until(lambda: tmp_files(bifrost_server) <= before), tmp_files(bifrost_server)
    head = s3.head_object(Bucket=stored.bucket, Key=stored.key)
    assert (head["ETag"], head["ContentLength"]) == (stored.etag, len(stored.data))
    assert_intact(s3, stored)


def test_cut_off_upload_part_keeps_the_part_already_uploaded(
        bifrost_server: RunningServer, s3: Any, stored: Stored) -> None:
    upload_id = start_upload(s3, stored)
    etag = s3.upload_part(Bucket=stored.bucket, Key=stored.key, UploadId=upload_id,
                          PartNumber=1, Body=b"first version of part one")["ETag"]
    before = tmp_files(bifrost_server)
    cut_off_upload(bifrost_server, f"{stored.path}?partNumber=1&uploadId={upload_id}")
    assert wait_until(lambda: tmp_files(bifrost_server) <= before), tmp_files(bifrost_server)
    assert part_numbers(s3, stored, upload_id) == [(1, etag)]
    assert_intact(s3, stored)



# Expect: 100-continue


def test_expect_100_continue_put_gets_100_before_the_body_then_200(
        bifrost_server: RunningServer, s3: Any, bucket: str) -> None:
    data = b"sent only after 100 Continue\n" * 100
    with connect(bifrost_server) as sock:
        sock.sendall(request_head(bifrost_server, "PUT", f"/{bucket}/continued",
                                  Content_Length=str(len(data)), Expect="100-continue"))
        interim = read_until_blank_line(sock)
        assert interim.startswith(b"HTTP/1.1 100 Continue\r\n"), interim
        sock.sendall(data)
        response = http.client.HTTPResponse(sock, method="PUT")
        response.begin()
        assert response.status == 200, response.read()
        assert response.getheader("x-amz-request-id")
        etag = response.getheader("ETag")
        response.read()
    assert etag == f'"{hashlib.md5(data, usedforsecurity=False).hexdigest()}"'
    assert s3.get_object(Bucket=bucket, Key="continued")["Body"].read() == data


def test_put_refused_before_its_body_closes_the_connection_it_did_not_read(
        bifrost_server: RunningServer, s3: Any, stored: Stored) -> None:
    """A client that sent `Expect: 100-continue` and got a final answer sends no body; had the
    connection stayed open, its next request would be read as the unsent body."""
    with connect(bifrost_server) as sock:
        sock.sendall(request_head(bifrost_server, "PUT", f"/{stored.bucket}/{'k' * 1025}",
                                  Content_Length="4", Expect="100-continue"))
        response = http.client.HTTPResponse(sock, method="PUT")
        response.begin()
        assert response.status == 400
        assert b"<Code>KeyTooLongError</Code>" in response.read()
        assert next_answer(sock, request_head(bifrost_server, "GET", stored.path)) == b"", (
            "the connection stayed open, so the next request was read as the unsent body")
    assert_intact(s3, stored)
