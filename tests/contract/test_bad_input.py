"""Hostile and malformed requests: each gets S3's error, and nothing already stored is harmed.

Requests go out raw (httpx, or a socket where HTTP itself must be broken); the server runs open,
so nothing needs signing. Every error case checks the status, the `<Error><Code>`, the request
id, and that a known object put beforehand still reads back byte for byte with its ETag.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import socket
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_from_bytes
from xml.etree import ElementTree

import boto3
import httpx
import pytest
from botocore.exceptions import ClientError
from hypothesis import given, settings
from hypothesis import strategies as st

from bifrost_py.testing import RunningServer

MIB = 2**20
FAKE_SIGNATURE = "a" * 64


@dataclass(frozen=True)
class Stored:
    """An object put before the bad request, to be found unharmed after it."""

    bucket: str
    key: str
    data: bytes
    etag: str

    @property
    def path(self) -> str:
        return f"/{self.bucket}/{quote(self.key)}"


# helpers


@pytest.fixture
def stored(s3: Any, bucket: str) -> Stored:
    data = b"precious bytes, do not lose\n" * 64
    etag = s3.put_object(Bucket=bucket, Key="precious/object.bin", Body=data)["ETag"]
    return Stored(bucket, "precious/object.bin", data, etag)


@pytest.fixture
def client(bifrost_server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=bifrost_server.s3_url, timeout=30) as c:
        yield c


def assert_error(response: httpx.Response, status: int, code: str) -> ElementTree.Element:
    """An S3 XML error with this status and code, carrying the request id in header and body."""
    assert response.status_code == status, response.text
    request_id = response.headers.get("x-amz-request-id")
    assert request_id
    root = ElementTree.fromstring(response.content)
    assert root.tag == "Error", response.text
    assert root.findtext("Code") == code, response.text
    assert root.findtext("RequestId") == request_id
    return root


def assert_intact(s3: Any, stored: Stored) -> None:
    got = s3.get_object(Bucket=stored.bucket, Key=stored.key)
    assert got["Body"].read() == stored.data
    assert got["ETag"] == stored.etag
    listed = s3.list_objects_v2(Bucket=stored.bucket, Prefix=stored.key)["Contents"]
    assert [(o["Key"], o["Size"], o["ETag"]) for o in listed] == [
        (stored.key, len(stored.data), stored.etag)]


def md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()


def crc32_b64(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def bucket_names(s3: Any) -> set[str]:
    return {b["Name"] for b in s3.list_buckets()["Buckets"]}


def start_upload(s3: Any, stored: Stored) -> str:
    upload_id: str = s3.create_multipart_upload(Bucket=stored.bucket,
                                                Key=stored.key)["UploadId"]
    return upload_id


def part_numbers(s3: Any, stored: Stored, upload_id: str) -> list[tuple[int, str]]:
    parts = s3.list_parts(Bucket=stored.bucket, Key=stored.key, UploadId=upload_id)
    return [(p["PartNumber"], p["ETag"]) for p in parts.get("Parts", [])]


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


# Malformed XML


BROKEN_XML = {
    "truncated": b"<Delete><Object><Key>precious/object.bin</Key></Object>",
    "not-xml": b"this is not xml at all",
    "mismatched-tags": b"<Delete><Object><Key>precious/object.bin</Object></Key></Delete>",
    "binary": bytes(range(256)),
}


@pytest.mark.parametrize("payload", [*BROKEN_XML.values(),
                                     b"<NotDelete><Object><Key>x</Key></Object></NotDelete>",
                                     b"<Delete><Object><VersionId>1</VersionId></Object></Delete>",
                                     b"<Delete></Delete>", b""],
                         ids=[*BROKEN_XML, "wrong-root", "object-without-key", "no-objects",
                              "empty"])
def test_delete_objects_with_malformed_xml_is_malformed_xml_and_deletes_nothing(
        client: httpx.Client, s3: Any, stored: Stored, payload: bytes) -> None:
    response = client.post(f"/{stored.bucket}", params={"delete": ""}, content=payload,
                           headers={"Content-MD5": md5_b64(payload)})
    assert_error(response, 400, "MalformedXML")
    assert_intact(s3, stored)


@pytest.mark.parametrize("payload", [
    *BROKEN_XML.values(),
    b"<Other><Part><PartNumber>1</PartNumber><ETag>x</ETag></Part></Other>",
    b"<CompleteMultipartUpload><Part><PartNumber>one</PartNumber><ETag>\"e\"</ETag></Part>"
    b"</CompleteMultipartUpload>",
], ids=[*BROKEN_XML, "wrong-root", "part-number-not-a-number"])
def test_complete_multipart_with_malformed_xml_is_malformed_xml_and_keeps_the_upload(
        client: httpx.Client, s3: Any, stored: Stored, payload: bytes) -> None:
    upload_id = start_upload(s3, stored)
    etag = s3.upload_part(Bucket=stored.bucket, Key=stored.key, UploadId=upload_id,
                          PartNumber=1, Body=b"only part")["ETag"]

    response = client.post(stored.path, params={"uploadId": upload_id}, content=payload)
    assert_error(response, 400, "MalformedXML")
    assert_intact(s3, stored)
    assert part_numbers(s3, stored, upload_id) == [(1, etag)]


@pytest.mark.parametrize("payload", [
    *BROKEN_XML.values(),
    b"<CreateBucketConfiguration><LocationConstraint>us-west-2</LocationConstraint>",
], ids=[*BROKEN_XML, "unclosed-root"])
def test_create_bucket_with_malformed_xml_is_malformed_xml_and_creates_nothing(
        client: httpx.Client, s3: Any, bucket: str, payload: bytes) -> None:
    name = f"{bucket}-xml"
    response = client.put(f"/{name}", content=payload)
    assert_error(response, 400, "MalformedXML")
    assert name not in bucket_names(s3)


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<Delete><Object><Key>&lol9;</Key></Object></Delete>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE Delete [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<Delete><Object><Key>&xxe;</Key></Object></Delete>"""


@pytest.mark.parametrize("payload", [BILLION_LAUGHS, EXTERNAL_ENTITY],
                         ids=["billion-laughs", "external-entity"])
def test_entity_expansion_in_delete_objects_is_refused_quickly_and_server_stays_healthy(
        client: httpx.Client, s3: Any, stored: Stored, bifrost_server: RunningServer,
        payload: bytes) -> None:
    started = time.monotonic()
    response = client.post(f"/{stored.bucket}", params={"delete": ""}, content=payload,
                           headers={"Content-MD5": md5_b64(payload)})
    assert time.monotonic() - started < 5
    assert_error(response, 400, "MalformedXML")
    assert b"root:" not in response.content
    assert httpx.get(f"{bifrost_server.url}/health").status_code == 200
    assert_intact(s3, stored)


# Names and keys


BAD_BUCKET_NAMES = ["ab", "a" * 64, "UpperCase", "under_score", "-leading-dash",
                    "trailing-dash-", "double..dot", "dot-.dash", "dash.-dot", "192.168.5.4",
                    "xn--punycode", "name-s3alias", "sp ace", ".leading-dot"]


@pytest.mark.parametrize("name", BAD_BUCKET_NAMES)
def test_create_bucket_with_an_invalid_name_is_invalid_bucket_name(
        client: httpx.Client, s3: Any, name: str) -> None:
    response = client.put(f"/{quote(name)}")
    assert_error(response, 400, "InvalidBucketName")
    assert name not in bucket_names(s3)


def test_boto3_create_bucket_with_an_invalid_name_is_invalid_bucket_name(s3: Any) -> None:
    with pytest.raises(ClientError) as caught:
        s3.create_bucket(Bucket="Invalid_Bucket_Name")
    assert caught.value.response["Error"]["Code"] == "InvalidBucketName"
    assert "Invalid_Bucket_Name" not in bucket_names(s3)


def test_put_object_never_auto_creates_a_bucket_with_an_invalid_name(
        client: httpx.Client, s3: Any) -> None:
    response = client.put("/Invalid_Bucket/key", content=b"data")
    assert_error(response, 400, "InvalidBucketName")
    assert "Invalid_Bucket" not in bucket_names(s3)


@pytest.mark.parametrize("key", ["k" * 1025, "é" * 513], ids=["1025-ascii", "1026-utf8-bytes"])
def test_put_of_a_key_over_1024_bytes_is_key_too_long(
        client: httpx.Client, s3: Any, stored: Stored, key: str) -> None:
    response = client.put(f"/{stored.bucket}/{quote(key)}", content=b"data")
    assert_error(response, 400, "KeyTooLongError")
    assert_intact(s3, stored)
    assert s3.list_objects_v2(Bucket=stored.bucket)["KeyCount"] == 1


def test_boto3_put_of_a_key_over_1024_bytes_is_key_too_long_and_1024_is_fine(
        s3: Any, stored: Stored) -> None:
    with pytest.raises(ClientError) as caught:
        s3.put_object(Bucket=stored.bucket, Key="x" * 1025, Body=b"data")
    assert caught.value.response["Error"]["Code"] == "KeyTooLongError"
    s3.put_object(Bucket=stored.bucket, Key="x" * 1024, Body=b"data")
    assert s3.get_object(Bucket=stored.bucket, Key="x" * 1024)["Body"].read() == b"data"
    assert_intact(s3, stored)


# Range


@pytest.mark.parametrize("header", ["bytes=-0", "bytes=99999999999999999999999-",
                                    "bytes=100000-"],
                         ids=["empty-suffix", "huge-start", "start-past-end"])
def test_unsatisfiable_range_is_416_invalid_range(
        client: httpx.Client, s3: Any, stored: Stored, header: str) -> None:
    response = client.get(stored.path, headers={"Range": header})
    assert_error(response, 416, "InvalidRange")
    assert_intact(s3, stored)


@pytest.mark.parametrize("header", ["bytes=5-2", "bytes=abc", "bytes=0-1,3-4", "items=0-5",
                                    "bytes=--1", "bytes=" + "9" * 5000],
                         ids=["reversed", "garbage", "several-ranges", "other-unit",
                              "double-dash", "very-long"])
def test_range_s3_cannot_parse_is_ignored_and_serves_the_whole_object(
        client: httpx.Client, s3: Any, stored: Stored, header: str) -> None:
    response = client.get(stored.path, headers={"Range": header})
    assert response.status_code == 200, response.text
    assert response.headers.get("x-amz-request-id")
    assert "content-range" not in response.headers
    assert response.content == stored.data
    assert_intact(s3, stored)


# UploadPart part numbers


@pytest.mark.parametrize("number", ["0", "10001", "-1", "abc", "", "1.5",
                                    "99999999999999999999"])
def test_upload_part_with_a_part_number_outside_1_to_10000_is_invalid_argument(
        client: httpx.Client, s3: Any, stored: Stored, number: str) -> None:
    upload_id = start_upload(s3, stored)
    response = client.put(stored.path, params={"partNumber": number, "uploadId": upload_id},
                          content=b"part data")
    assert_error(response, 400, "InvalidArgument")
    assert part_numbers(s3, stored, upload_id) == []
    assert_intact(s3, stored)


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


# Outside the subset


@pytest.mark.parametrize(("method", "where", "query"), [
    ("GET", "bucket", "acl"),
    ("PUT", "bucket", "versioning"),
    ("DELETE", "bucket", "policy"),
    ("GET", "object", "tagging"),
    ("PUT", "object", "acl"),
    ("DELETE", "object", "tagging"),
    ("POST", "object", "restore"),
])
def test_unknown_subresource_is_not_implemented_and_changes_nothing(
        client: httpx.Client, s3: Any, stored: Stored, method: str, where: str,
        query: str) -> None:
    path = stored.path if where == "object" else f"/{stored.bucket}"
    content = b"<Tagging><TagSet/></Tagging>" if method in ("PUT", "POST") else None
    response = client.request(method, f"{path}?{query}", content=content)
    assert_error(response, 501, "NotImplemented")
    assert_intact(s3, stored)


def test_post_to_an_object_without_a_query_is_method_not_allowed(
        client: httpx.Client, s3: Any, stored: Stored) -> None:
    response = client.post(stored.path, content=b"data")
    assert_error(response, 405, "MethodNotAllowed")
    assert_intact(s3, stored)


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_unknown_provider_header_is_refused_naming_it_and_the_configured_ones(
        client: httpx.Client, s3: Any, stored: Stored, method: str) -> None:
    content = b"replacement" if method == "PUT" else None
    response = client.request(method, stored.path, content=content,
                              headers={"x-model-provider": "nosuch"})
    error = assert_error(response, 400, "InvalidArgument")
    message = error.findtext("Message") or ""
    assert "nosuch" in message
    assert "local" in message
    assert_intact(s3, stored)


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/{bucket}/%ff%fe"), ("PUT", "/{bucket}/%ff%fe"), ("DELETE", "/{bucket}/%ff%fe"),
    ("HEAD", "/{bucket}/%c3"), ("PUT", "/%ff%fe"),
])
def test_percent_escapes_that_are_not_utf8_are_invalid_uri(
        client: httpx.Client, s3: Any, stored: Stored, method: str, path: str) -> None:
    response = client.request(method, path.format(bucket=stored.bucket),
                              content=b"x" if method == "PUT" else None)
    if method == "HEAD":
        assert response.status_code == 400
        assert response.headers.get("x-amz-request-id")
    else:
        assert_error(response, 400, "InvalidURI")
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


# Fuzz


segment = st.one_of(st.text(max_size=12).map(lambda t: quote(t, safe="")),
                    st.binary(max_size=12).map(lambda b: quote_from_bytes(b, safe="")),
                    st.sampled_from(["", ".", "..", "%", "%zz", "%2F", "a%20b", "~", "+"]))
paths = st.tuples(st.just("fuzz-bucket") | st.sampled_from(["Fuzz", "%ff"]) | segment,
                  st.lists(segment, max_size=4)).map(lambda t: "/".join(["", t[0], *t[1]]))
query_names = st.sampled_from(["delete", "uploads", "uploadId", "partNumber", "list-type",
                               "max-keys", "continuation-token", "prefix", "acl", "location",
                               "encoding-type", "x-id"]) | st.text(max_size=8)
query_values = st.one_of(st.text(max_size=12).map(lambda v: quote(v, safe="")),
                         st.binary(max_size=8).map(lambda b: quote_from_bytes(b, safe="")),
                         st.sampled_from(["", "0", "-1", "2", "abc", "%zz", "9" * 30]))
queries = st.lists(st.tuples(query_names.map(lambda n: quote(n, safe="")), query_values),
                   max_size=4).map(lambda q: "&".join(f"{k}={v}" if v else k for k, v in q))


def test_fuzzed_paths_and_queries_never_cause_a_server_error(
        fresh_server: RunningServer) -> None:
    """Random methods, percent-encoded byte paths and query strings, on a server of its own so
    the buckets they create and delete touch no other test."""
    s3 = boto3.client("s3", endpoint_url=fresh_server.s3_url, region_name="us-west-2",
                      aws_access_key_id="AKIABIFROSTTEST00000",
                      aws_secret_access_key="bifrost-test-secret")
    s3.create_bucket(Bucket="fuzz-bucket")
    etag = s3.put_object(Bucket="fuzz-bucket", Key="sentinel/zz", Body=b"sentinel")["ETag"]
    sentinel = Stored("fuzz-bucket", "sentinel/zz", b"sentinel", etag)

    @settings(max_examples=200, deadline=None, database=None)
    @given(method=st.sampled_from(["GET", "HEAD", "PUT", "DELETE", "POST"]), path=paths,
           query=queries, body=st.binary(max_size=64))
    def probe(method: str, path: str, query: str, body: bytes) -> None:
        target = f"/bedrock/files{path}" + (f"?{query}" if query else "")
        conn = http.client.HTTPConnection("127.0.0.1", fresh_server.port, timeout=10)
        try:
            conn.request(method, target, body=body if method in ("PUT", "POST") else None)
            response = conn.getresponse()
            response.read()
        finally:
            conn.close()
        assert response.status < 500 or response.status == 501, (method, target,
                                                                   response.status)
        assert response.getheader("x-amz-request-id"), (method, target)

    probe()
    assert httpx.get(f"{fresh_server.url}/health").status_code == 200
    assert_intact(s3, sentinel)
