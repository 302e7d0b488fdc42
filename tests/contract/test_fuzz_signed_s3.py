"""Signed S3 requests with fuzzed paths, query strings and headers: unicode keys, %-escapes, `//`,
`..`, keys around the 1024-byte limit, random parameter names and values, subresources; both fully
random and shaped like each S3 operation (ListObjects, ListParts, UploadPart, GetObject partNumber,
...) so the parameter parsers behind the routes are reached.

Properties: those of every answer (fuzz_signed.py) and of the store (fuzz_signed_fixtures.py).
"""

from __future__ import annotations

import base64
import string
from urllib.parse import quote, quote_from_bytes

from hypothesis import given
from hypothesis import strategies as st

from tests.contract.fuzz_signed import (
    FUZZ_BUCKET,
    SENTINEL_BUCKET,
    SENTINEL_PREFIX,
    SHAPED_KEY,
    SHAPED_MULTIPART,
    SHAPED_UPLOAD_KEY,
    Answer,
    Signer,
    check_s3_answer,
    encode_query_part,
    exchange,
    fuzz_settings,
    raw_queries,
    s3_verifiable,
)
from tests.contract.fuzz_signed_fixtures import *  # noqa: F403 - the fixtures
from tests.contract.fuzz_signed_fixtures import Sentinels

SUB_DELIMS = "!$&'()*+,;=:@"
ODD_SEGMENTS = ["", ".", "..", "...", "%", "%zz", "%2", "%2F", "%2f", "%2E%2E", "%2e", "a%20b",
                "~", "+", "%2B", "%00", "%0A", "%0D%0A", "%C0%AF", "%25", "%252F", "%EF%BF%BF",
                "%ED%A0%80", "%F4%90%80%80", "%E2%80%AE", "%F0%9F%98%80", "%C3%A9", "e%CC%81",
                "%01", "%7F", "%3Cx%3E", "%26amp%3B", "victim-0", "sentinel-", "uploads"]
segments = st.one_of(
    st.text(max_size=12).map(lambda t: quote(t, safe="")),
    st.text(string.ascii_letters + string.digits + "-._~" + SUB_DELIMS, max_size=12),
    st.binary(max_size=12).map(lambda b: quote_from_bytes(b, safe="")),
    st.sampled_from(ODD_SEGMENTS),
)
long_segments = st.one_of(
    st.integers(1015, 1030).map(lambda n: "k" * n),  # around S3's 1024-byte key limit
    st.integers(505, 515).map(lambda n: "%C3%A9" * n),  # the same, in two-byte characters
    st.sampled_from([3000, 6000]).map(lambda n: "x" * n),
)
s3_buckets = st.one_of(
    st.just(FUZZ_BUCKET), st.just(SENTINEL_BUCKET),
    st.sampled_from(["", "Fuzz-Bucket", "%ff", "xn--fuzz", "192.168.0.1", "ab", "a" * 64,
                     "fuzz..bucket", "fuzz-new", "no-such-bucket-fuzz", "fuzz_bucket"]),
    segments,
)
s3_paths = st.builds(lambda bucket, keys, slash: "/" + "/".join([bucket, *keys])
                     + ("/" if slash else ""),
                     s3_buckets, st.lists(segments | long_segments, max_size=4), st.booleans())

# The parameters the routes read, then subresources outside the subset and other mechanisms'.
S3_PARAMS = ["delete", "uploads", "uploadId", "partNumber", "list-type", "max-keys",
             "continuation-token", "start-after", "prefix", "delimiter", "fetch-owner",
             "encoding-type", "marker", "key-marker", "upload-id-marker", "max-uploads",
             "max-parts", "part-number-marker", "location", "x-id", "max-buckets",
             "bucket-region", "response-content-type", "response-expires", "x-amz-foo",
             "X-Amz-Date", "X-Amz-Expires"]
S3_OTHER_PARAMS = ["acl", "tagging", "versioning", "versionId", "policy", "Expires",
                   "AWSAccessKeyId", "Signature", "X-Amz-Algorithm", "X-Amz-Credential",
                   "X-Amz-Signature", "X-Amz-SignedHeaders"]
S3_VALUES = ["", "0", "1", "2", "-1", "1000", "1001", "10000", "10001", "999999999",
             "1234567890", "abc", "1.5", " 1", "0x10", "9" * 30, "url", "URL", "true", "false",
             "/", "%", "a/b", "victim", "dir/", "\u0663", "\uff11",
             base64.urlsafe_b64encode(b"bifrost:victim-0").decode(),
             base64.urlsafe_b64encode(b"bifrost:\xff").decode(), "!!!", "==", "Zm9v",
             "ListObjectsV2",
             # isdigit() accepts them, int() does not (once a 500: see the regression tests)
             "\u00b2", "9" * 5000]
query_values = st.one_of(st.sampled_from(S3_VALUES), st.sampled_from(S3_VALUES),
                         st.sampled_from(S3_VALUES), st.text(max_size=16),
                         st.text(max_size=16), st.binary(max_size=6))



s3_queries = raw_queries(st.one_of(st.sampled_from(S3_PARAMS), st.sampled_from(S3_PARAMS),
                                   st.sampled_from(S3_PARAMS), st.sampled_from(S3_OTHER_PARAMS),
                                   st.text(max_size=8)), query_values)

HEADER_SPECIALS = [
    "", " ", "bytes=0-1", "bytes=-5", "bytes=10-", "bytes=0-0,2-3", "*",
    '"d41d8cd98f00b204e9800998ecf8427e"', 'W/"x"', "Wed, 21 Oct 2015 07:28:00 GMT",
    "Sat, 01 Jan 0001 00:00:00 GMT", "Fri, 31 Dec 9999 23:59:59 +2359", "CRC32", "CRC32C",
    "SHA1", "SHA256", "CRC64NVME", "ENABLED", "REPLACE", "COPY", "FULL_OBJECT", "COMPOSITE",
    f"{SENTINEL_BUCKET}/{quote(SENTINEL_PREFIX)}small.txt", f"/{FUZZ_BUCKET}/victim-0",
    "/no-such-bucket-fuzz/key", "fuzz-bucket", "aws-chunked", "gzip,aws-chunked",
    "x-amz-checksum-crc32", "AAAAAA==", "1B2M2Y8AsgTpgAmY7PhCfg==", "application/xml", "local",
    "12", "-3", "\u00e9t\u00e9",
]
S3_HEADERS = ["Range", "If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since",
              "Content-MD5", "Content-Type", "Cache-Control", "Content-Disposition", "Expires",
              "Content-Encoding", "x-amz-copy-source", "x-amz-copy-source-range",
              "x-amz-copy-source-if-match", "x-amz-metadata-directive", "x-amz-checksum-crc32",
              "x-amz-checksum-sha256", "x-amz-checksum-algorithm", "x-amz-sdk-checksum-algorithm",
              "x-amz-checksum-mode", "x-amz-checksum-type", "x-amz-trailer", "x-amz-meta-fuzz",
              "x-amz-decoded-content-length", "x-amz-storage-class", "x-amz-tagging"]
# Printable latin-1 (what an HTTP header can carry), no controls.
header_values = st.one_of(
    st.sampled_from(HEADER_SPECIALS),
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_categories=("Cc",)),
            max_size=40),
)
s3_headers = st.dictionaries(st.sampled_from(S3_HEADERS), header_values, max_size=3)


# Operation-shaped requests: each S3 operation's method, level and parameters, with random
# values, so the parameter parsers behind the routes are reached as often as the routing.
S3_SHAPES: list[tuple[str, str, str, list[str]]] = [  # method, level, fixed query, optional
    # (Hypothesis favours the first entries of a sampled_from: the deepest parsers come first.)
    ("GET", "object", "", ["partNumber", "response-content-type", "response-cache-control",
                           "response-expires", "x-id"]),
    ("GET", "upload", "uploadId=@upload", ["max-parts", "part-number-marker"]),
    ("GET", "bucket", "list-type=2", ["prefix", "delimiter", "max-keys", "continuation-token",
                                      "start-after", "fetch-owner", "encoding-type"]),
    ("PUT", "upload", "uploadId=@upload", ["partNumber"]),
    ("HEAD", "object", "", ["partNumber", "response-content-type"]),
    ("GET", "bucket", "uploads", ["prefix", "delimiter", "max-uploads", "key-marker",
                                  "upload-id-marker", "encoding-type"]),
    ("PUT", "object", "", ["x-id"]),
    ("GET", "bucket", "", ["prefix", "delimiter", "max-keys", "marker", "encoding-type"]),
    ("DELETE", "object", "", ["x-id"]),
    ("GET", "service", "", ["prefix", "max-buckets", "continuation-token", "bucket-region"]),
    ("POST", "object", "uploads", []),
    ("GET", "bucket", "location", []),
    ("HEAD", "bucket", "", []),
]


@st.composite
def shaped_s3_requests(draw: st.DrawFn) -> tuple[str, str, str]:
    method, level, fixed, optional = draw(st.sampled_from(S3_SHAPES))
    # (one_of drops repeated branches, so weights are drawn explicitly.)
    mostly = st.sampled_from([True, True, True, False])
    bucket = FUZZ_BUCKET if draw(mostly) else draw(s3_buckets)
    if draw(mostly):  # writes leave the multipart object alone: it takes 5 MiB to remake
        keys = [SHAPED_MULTIPART, SHAPED_KEY, "victim-0"][method != "GET" and method != "HEAD":]
        key = quote(draw(st.sampled_from(keys)))
    else:
        key = draw(segments | long_segments)
    path = {"service": "/", "bucket": f"/{bucket}", "object": f"/{bucket}/{key}",
            "upload": f"/{FUZZ_BUCKET}/{SHAPED_UPLOAD_KEY}"}[level]
    parts = [fixed] if fixed else []
    for name in optional:
        if draw(st.booleans()):
            parts.append(f"{name}={encode_query_part(draw(query_values), 'strict')}")
    return method, path, "&".join(draw(st.permutations(parts)))


random_s3_requests = st.tuples(st.sampled_from(["GET", "HEAD", "PUT", "DELETE", "POST", "PATCH"]),
                               s3_paths, s3_queries)


def _send_s3(signer: Signer, sentinels: Sentinels, shaped: tuple[str, str, str],
             headers: dict[str, str], body: bytes) -> Answer:
    method, path, query = shaped
    query = query.replace("@upload", sentinels.ids["@upload"])
    request = signer.s3(method, path, query, body if method in ("PUT", "POST") else b"", headers)
    answer = exchange(signer.port, request)
    check_s3_answer(request, answer, authenticated=s3_verifiable(query))
    sentinels.quick_check()
    return answer


@fuzz_settings(150)
@given(shaped=random_s3_requests, headers=s3_headers, body=st.binary(max_size=64))
def test_signed_s3_requests_with_random_paths_queries_and_headers_are_answered_well(
        signer: Signer, sentinels: Sentinels, shaped: tuple[str, str, str],
        headers: dict[str, str], body: bytes) -> None:
    _send_s3(signer, sentinels, shaped, headers, body)


@fuzz_settings(250)
@given(shaped=shaped_s3_requests(), headers=s3_headers, body=st.binary(max_size=64))
def test_signed_s3_operations_with_random_parameters_are_answered_well(
        signer: Signer, sentinels: Sentinels, shaped: tuple[str, str, str],
        headers: dict[str, str], body: bytes) -> None:
    answer = _send_s3(signer, sentinels, shaped, headers, body)
    if shaped[1] == f"/{FUZZ_BUCKET}/{SHAPED_KEY}" and answer.status < 300:
        sentinels.s3.put_object(Bucket=FUZZ_BUCKET, Key=SHAPED_KEY, Body=b"shaped object")
