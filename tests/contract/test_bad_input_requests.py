"""Requests S3 refuses: malformed or hostile XML, invalid bucket names and over-long keys,
ranges, part numbers and subresources outside the subset, fuzzed paths; each gets S3's error, and
nothing already stored is harmed.

Requests go out raw (httpx); the server runs open, so nothing needs signing. Every error case
checks the status, the `<Error><Code>`, the request id, and that a known object put beforehand
still reads back byte for byte with its ETag.
"""

from __future__ import annotations

import http.client
import time
from typing import Any
from urllib.parse import quote, quote_from_bytes

import boto3
import httpx
import pytest
from bad_input_helpers import *  # noqa: F403 - the fixtures client and stored
from bad_input_helpers import (
    Stored,
    assert_error,
    assert_intact,
    md5_b64,
    part_numbers,
    start_upload,
)
from botocore.exceptions import ClientError
from hypothesis import given, settings
from hypothesis import strategies as st

from bifrost_py.testing import RunningServer


def bucket_names(s3: Any) -> set[str]:
    return {b["Name"] for b in s3.list_buckets()["Buckets"]}



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
