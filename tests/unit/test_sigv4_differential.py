"""canonical.py against botocore's own signers, on random requests.

A client signs each request with botocore's ``S3SigV4Auth`` (S3, Authorization header),
``S3SigV4QueryAuth`` (S3 presigned URL) or ``SigV4Auth`` (the Bedrock control plane), as boto3
would but at a drawn time. The server sees what arrives: the path and query as sent, lower-case
header names, each header value trimmed of spaces and tabs by the HTTP parser and a repeated
header's values joined with ``,``. From that view the canonical request, string to sign and
signature computed in-house must be botocore's, and ``authenticate`` must accept the request
(and refuse a Bedrock path that botocore signs normalised: the router would see another one).

Hypothesis draws from the test run's seed (tests/conftest.py prints it; --hypothesis-seed
repeats a run). The end of the module checks requests boto3 itself makes.
"""

from __future__ import annotations

import calendar
import contextlib
import dataclasses
import datetime as dt
import hashlib
import string
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlsplit

import boto3  # type: ignore[import-untyped]
import pytest
from botocore.auth import (  # type: ignore[import-untyped]
    S3SigV4Auth,
    S3SigV4QueryAuth,
    SigV4Auth,
)
from botocore.awsrequest import AWSRequest, AWSResponse  # type: ignore[import-untyped]
from botocore.config import Config  # type: ignore[import-untyped]
from botocore.credentials import Credentials  # type: ignore[import-untyped]
from botocore.utils import normalize_url_path  # type: ignore[import-untyped]
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bifrost_py.wire.auth.canonical import (
    canonical_request,
    normalized_path,
    signature,
    string_to_sign,
)
from bifrost_py.wire.auth.credentials import AuthError, Key, malformed
from bifrost_py.wire.auth.sigv4_parts import (
    SIGV4_TIMESTAMP,
    canonical_path,
    parse_authorization,
    parse_credential,
    query_pairs,
)
from bifrost_py.wire.auth.verify import authenticate

EXAMPLES = 500


def _differential(test: Callable[..., None]) -> Callable[..., None]:
    """Hypothesis without a database: a failure replays from the run's seed."""
    return settings(max_examples=EXAMPLES, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow])(test)


# --- what clients send --------------------------------------------------------------------------

# Bytes a client's HTTP layer sends in a path as they are (urllib3 encodes any other); anything
# else reaches the path percent-encoded.
PATH_AS_SENT = string.ascii_letters + string.digits + "-._~!$&'()*+,;=:@%"
TEXT = st.text(st.characters(codec="utf-8"), max_size=8)  # any text UTF-8 can carry
SEGMENT = st.one_of(
    st.sampled_from(["", ".", "..", "~", "+", "%", "100%", "%2F", "%2e", "%2E%2E", "a%20b"]),
    st.text(PATH_AS_SENT, max_size=6),
    # Encoded as boto3 encodes keys, as most SDKs encode path segments, and as little as a
    # client may (sub-delims, ":" and "@" left as they are).
    st.tuples(TEXT, st.sampled_from(["/~", "", "~!$&'()*+,;=:@"])).map(
        lambda text_safe: quote(text_safe[0], safe=text_safe[1])),
)
PATHS = st.lists(SEGMENT, max_size=6).map(lambda segments: "/" + "/".join(segments))

QUERY_NAMES = st.one_of(
    st.sampled_from(["a", "a-b", "a.b", "A", "uploads", "prefix", "list-type", "X-Amz-Date",
                     "X-Amz-Expires", "+", "a b", "ü", ""]),
    TEXT,
)
# botocore appends its own X-Amz-* members to a presigned URL: a client's own would be sent twice.
PRESIGN_QUERY_NAMES = QUERY_NAMES.filter(lambda name: not name.startswith("X-Amz-"))
# None: the name alone, without "=" (``?uploads``).
QUERY_VALUES = st.one_of(st.none(), st.sampled_from(["", "1", "+", "a b", "~/", "%"]), TEXT)

HEADER_NAMES = ["Content-Type", "Content-MD5", "Range", "If-Match", "Cache-Control", "X-Custom",
                "X-Amz-Meta-Note", "X-Amz-Acl", "X-Amz-Meta-A"]
# Latin-1, as header values travel; with whitespace str.split knows beyond spaces and tabs.
HEADER_VALUE_CHARS = (string.ascii_letters + string.digits + string.punctuation
                      + " \t\xa0\x85\x0b\x0c\x1fé")
HEADER_VALUES = st.text(HEADER_VALUE_CHARS, max_size=12)
# Sent, never signed by botocore.
UNSIGNED_HEADERS = {"User-Agent": "Boto3/1.0 md/x", "X-Amzn-Trace-Id": "Root=1-abc"}

METHODS = st.sampled_from(["GET", "PUT", "POST", "HEAD", "DELETE", "PATCH", "OPTIONS", "get"])
ENDPOINTS = st.sampled_from(["http://bifrost.test:8000", "http://localhost",
                             "http://127.0.0.1:9000", "http://Bifrost.TEST:80"])
KEYS = st.builds(
    Key,
    st.from_regex(r"AKIA[A-Z0-9]{16}", fullmatch=True),
    st.one_of(st.text(string.ascii_letters + string.digits + "/+=", min_size=1, max_size=40),
              TEXT),
    st.just("tenant"),
)
REGIONS = st.one_of(st.sampled_from(["us-east-1", "eu-west-3"]),
                    st.from_regex(r"[a-z0-9-]{1,12}", fullmatch=True))
TIMES = st.datetimes(min_value=dt.datetime(1990, 1, 1), max_value=dt.datetime(2090, 1, 1))


def _case(name: str, mask: int) -> str:
    return "".join(c.upper() if mask >> i & 1 else c.lower() for i, c in enumerate(name))


HEADERS = st.lists(
    st.tuples(st.sampled_from(HEADER_NAMES), st.integers(0, 2**16), HEADER_VALUES), max_size=6
).map(lambda items: [(_case(name, mask), value) for name, mask, value in items])


def encode_query(items: list[tuple[str, str | None]]) -> str:
    """The query as an SDK sends it: each part percent-encoded from UTF-8 but for unreserved."""
    parts = []
    for name, value in items:
        encoded = quote(name, safe="-_.~")
        if value is not None or not encoded:
            encoded += "=" + quote(value or "", safe="-_.~")
        parts.append(encoded)
    return "&".join(parts)


@dataclasses.dataclass
class Signed:
    """A request as botocore signed it, as the server receives it, with botocore's workings."""

    service: str
    method: str
    raw_path: bytes
    raw_query: bytes
    headers: dict[str, str]
    body: bytes
    amz_date: str
    canonical: str
    to_sign: str
    signature: str


def sign(signer: Any, request: AWSRequest, amz_date: str, service: str) -> Signed:
    """What ``signer.add_auth`` does, at ``amz_date``, keeping the canonical request and the
    string to sign it computes on the way."""
    request.context["timestamp"] = amz_date
    signer._modify_request_before_signing(request)
    canonical = signer.canonical_request(request)
    to_sign = signer.string_to_sign(request, canonical)
    sig = signer.signature(to_sign, request)
    signed_host = signer.headers_to_sign(request)["host"]
    signer._inject_signature_to_request(request, sig)
    return Signed(service, request.method, *_received(request, signed_host), request.body or b"",
                  amz_date, canonical, to_sign, sig)


def _received(request: AWSRequest, host: str) -> tuple[bytes, bytes, dict[str, str]]:
    """The raw path, raw query and headers a server reads off the request botocore sends."""
    url = urlsplit(request.url)
    values: dict[str, list[str]] = {"host": [host]}
    for name, value in request.headers.items():
        values.setdefault(name.lower(), []).append(value.strip(" \t"))
    for name, value in UNSIGNED_HEADERS.items():
        values.setdefault(name.lower(), [value])
    headers = {name: ",".join(vals) for name, vals in values.items()}
    return url.path.encode("ascii"), url.query.encode("ascii"), headers


def _joined_values_keep_their_meaning(headers: list[tuple[str, str]]) -> bool:
    """Joined with ",", repeated values are one string to the server: botocore trims each value
    of every kind of whitespace, the parser only of spaces and tabs. Whitespace of another kind
    at the end of a repeated value is where the two differ; a server that kept each value could
    tell. Such requests are left out."""
    counts: dict[str, int] = {}
    for name, _ in headers:
        counts[name.lower()] = counts.get(name.lower(), 0) + 1
    return all(counts[name.lower()] == 1 or value.strip(" \t") == value.strip()
               for name, value in headers)


def _request(method: str, endpoint: str, path: str, query: str,
             headers: list[tuple[str, str]], body: bytes) -> AWSRequest:
    request = AWSRequest(method=method, url=endpoint + path + (f"?{query}" if query else ""),
                         data=body)
    for name, value in headers:
        request.headers[name] = value  # a second value of a name is added, as sent
    return request


def in_house(signed: Signed, key: Key, form: str) -> tuple[str, str, str]:
    """The canonical request, string to sign and signature canonical.py computes from what the
    server received, reading the signed headers and scope where the client put them."""
    refusal = malformed("credential")
    pairs = query_pairs(signed.raw_query)
    if form == "query":
        params = dict(pairs)
        names = tuple(params["X-Amz-SignedHeaders"].split(";"))
        scope = parse_credential(params["X-Amz-Credential"], refusal)
        payload = (signed.headers["x-amz-content-sha256"] if "x-amz-content-sha256" in names
                   else "UNSIGNED-PAYLOAD")
        pairs = [(name, value) for name, value in pairs if name != "X-Amz-Signature"]
    else:
        credential, signed_list, _ = parse_authorization(signed.headers["authorization"])
        names = tuple(signed_list.split(";"))
        scope = parse_credential(credential, refusal)
        payload = (signed.headers.get("x-amz-content-sha256")
                   or hashlib.sha256(signed.body).hexdigest())
    canonical = canonical_request(signed.method, canonical_path(signed.raw_path), pairs,
                                  signed.headers, names, payload, s3=signed.service == "s3")
    to_sign = string_to_sign(signed.amz_date, scope.text, canonical)
    return canonical, to_sign, signature(key.secret_access_key, scope, to_sign)


def seconds(amz_date: str) -> float:
    return float(calendar.timegm(time.strptime(amz_date, SIGV4_TIMESTAMP)))


def check(signed: Signed, key: Key, form: str) -> None:
    canonical, to_sign, sig = in_house(signed, key, form)
    assert canonical == signed.canonical
    assert to_sign == signed.to_sign
    assert sig == signed.signature
    path = canonical_path(signed.raw_path)
    accepted = signed.service == "s3" or normalized_path(path) == path
    try:
        caller = authenticate(signed.service, signed.method, signed.raw_path, signed.raw_query,
                              signed.headers, hashlib.sha256(signed.body).hexdigest(),
                              {key.access_key_id: key}, {}, seconds(signed.amz_date))
    except AuthError as refused:
        assert not accepted, refused
        assert refused.code_bedrock == "InvalidSignatureException"
    else:
        assert accepted and caller.key is key


def _credentials(key: Key, token: str | None) -> Credentials:
    return Credentials(key.access_key_id, key.secret_access_key, token)


TOKENS = st.one_of(st.none(), st.just("session/token+="))


# --- the three forms ----------------------------------------------------------------------------


@_differential
@given(method=METHODS, endpoint=ENDPOINTS, path=PATHS,
       query=st.lists(st.tuples(QUERY_NAMES, QUERY_VALUES), max_size=6), headers=HEADERS,
       body=st.binary(max_size=64), key=KEYS, region=REGIONS, when=TIMES, token=TOKENS,
       date_header=st.booleans(), unsigned_payload=st.booleans())
def test_s3_header_signature_is_botocores(
    method: str, endpoint: str, path: str, query: list[tuple[str, str | None]],
    headers: list[tuple[str, str]], body: bytes, key: Key, region: str, when: dt.datetime,
    token: str | None, date_header: bool, unsigned_payload: bool,
) -> None:
    assume(_joined_values_keep_their_meaning(headers))
    if date_header:  # botocore then signs Date, not X-Amz-Date
        headers = [*headers, ("Date", "now")]
    request = _request(method, endpoint, path, encode_query(query), headers, body)
    if unsigned_payload:
        request.context["client_config"] = Config(s3={"payload_signing_enabled": False})
    signer = S3SigV4Auth(_credentials(key, token), "s3", region)
    signed = sign(signer, request, when.strftime(SIGV4_TIMESTAMP), "s3")
    check(signed, key, "header")


@_differential
@given(method=METHODS, endpoint=ENDPOINTS, path=PATHS,
       query=st.lists(st.tuples(PRESIGN_QUERY_NAMES, QUERY_VALUES), max_size=6), headers=HEADERS,
       key=KEYS, region=REGIONS, when=TIMES, token=TOKENS,
       expires=st.integers(1, 7 * 24 * 3600),
       content_sha256=st.sampled_from([None, "UNSIGNED-PAYLOAD", hashlib.sha256().hexdigest()]))
def test_s3_presigned_signature_is_botocores(
    method: str, endpoint: str, path: str, query: list[tuple[str, str | None]],
    headers: list[tuple[str, str]], key: Key, region: str, when: dt.datetime, token: str | None,
    expires: int, content_sha256: str | None,
) -> None:
    assume(_joined_values_keep_their_meaning(headers))
    if content_sha256 is not None:  # then signed, and the payload line
        headers = [*headers, ("X-Amz-Content-SHA256", content_sha256)]
    request = _request(method, endpoint, path, encode_query(query), headers, b"")
    signer = S3SigV4QueryAuth(_credentials(key, token), "s3", region, expires)
    signed = sign(signer, request, when.strftime(SIGV4_TIMESTAMP), "s3")
    assert b"X-Amz-Signature=" in signed.raw_query
    check(signed, key, "query")


@_differential
@given(method=METHODS, endpoint=ENDPOINTS, path=PATHS,
       query=st.lists(st.tuples(QUERY_NAMES, QUERY_VALUES), max_size=6), headers=HEADERS,
       body=st.binary(max_size=64), key=KEYS, region=REGIONS, when=TIMES, token=TOKENS,
       date_header=st.booleans(), declared_sha256=st.booleans())
def test_bedrock_signature_is_botocores(
    method: str, endpoint: str, path: str, query: list[tuple[str, str | None]],
    headers: list[tuple[str, str]], body: bytes, key: Key, region: str, when: dt.datetime,
    token: str | None, date_header: bool, declared_sha256: bool,
) -> None:
    assume(_joined_values_keep_their_meaning(headers))
    if date_header:
        headers = [*headers, ("Date", "now")]
    if declared_sha256:  # botocore then signs the header's value as the payload line
        headers = [*headers, ("X-Amz-Content-SHA256", hashlib.sha256(body).hexdigest())]
    request = _request(method, endpoint, path, encode_query(query), headers, body)
    signer = SigV4Auth(_credentials(key, token), "bedrock", region)
    signed = sign(signer, request, when.strftime(SIGV4_TIMESTAMP), "bedrock")
    check(signed, key, "header")


# --- fixed cases --------------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "expected"), [
    ("", "/"), ("/", "/"), ("//", "/"), ("/a//b/", "/a/b/"), ("/a/./b/../c", "/a/c"),
    ("/..", "/"), ("/a/..", "/"), ("/a/.", "/a"), ("a/b", "a/b"), ("/%2e%2e/x", "/%2e%2e/x"),
])
def test_normalized_path_is_botocores(path: str, expected: str) -> None:
    assert normalized_path(path) == expected == normalize_url_path(path)


def test_a_path_sent_unencoded_is_signed_encoded() -> None:
    """Bytes a client should have percent-encoded (a space, non-ASCII, ``[``) are signed as their
    encoding, which is what a client that encodes the path signs."""
    key = Key("AKIAEXAMPLE000000001", "secret", "tenant")
    request = AWSRequest(method="GET", url="http://bifrost.test/bkt/a%20b/%C3%BC%5B%5D")
    signed = sign(S3SigV4Auth(_credentials(key, None), "s3", "us-east-1"), request,
                  "20260102T030405Z", "s3")
    check(dataclasses.replace(signed, raw_path="/bkt/a b/ü[]".encode()), key, "header")


# --- requests boto3 itself makes ------------------------------------------------------------------

BOTO_KEY = Key("AKIAEXAMPLEBOTO00001", "boto/secret+key", "tenant")


def boto3_client(service: str) -> tuple[Any, list[AWSRequest]]:
    """A boto3 client whose requests are kept instead of sent (each answered with an empty 200),
    and the list they are kept in."""
    mount = "/bedrock" if service == "bedrock" else "/bedrock/files"
    client = boto3.client(service, endpoint_url="http://bifrost.test:8000" + mount,
                          region_name="eu-west-3", aws_access_key_id=BOTO_KEY.access_key_id,
                          aws_secret_access_key=BOTO_KEY.secret_access_key,
                          config=Config(retries={"max_attempts": 1}))
    sent: list[AWSRequest] = []

    def keep(request: AWSRequest, **_: Any) -> AWSResponse:
        sent.append(request)
        return AWSResponse(request.url, 200, {}, None)

    client.meta.events.register("before-send", keep)
    return client, sent


BOTO_CALLS: list[tuple[str, Callable[[Any], Any]]] = [
    ("s3", lambda c: c.put_object(Bucket="bkt", Key="a b/ü+%/~!'()*.txt", Body=b"x",
                                  Metadata={"note": "  two   spaces "}, ContentType="a/b")),
    ("s3", lambda c: c.get_object(Bucket="bkt", Key="../dots/./x//y", Range="bytes=0-9")),
    ("s3", lambda c: c.list_objects_v2(Bucket="bkt", Prefix="a b/ü+%", Delimiter="/",
                                       StartAfter="x=y&z", MaxKeys=7)),
    ("s3", lambda c: c.create_multipart_upload(Bucket="bkt", Key="big one")),
    ("bedrock", lambda c: c.get_model_invocation_job(
        jobIdentifier="arn:aws:bedrock:us-east-1:123456789012:model-invocation-job/abc")),
    ("bedrock", lambda c: c.list_model_invocation_jobs(nameContains="a b+c/ü", maxResults=10)),
    ("bedrock", lambda c: c.create_model_invocation_job(
        jobName="job-1", roleArn="arn:aws:iam::123456789012:role/r", modelId="m",
        inputDataConfig={"s3InputDataConfig": {"s3Uri": "s3://bkt/in/"}},
        outputDataConfig={"s3OutputDataConfig": {"s3Uri": "s3://bkt/out/"}})),
]


@pytest.mark.parametrize(("service", "call"), BOTO_CALLS)
def test_requests_boto3_signs_verify(service: str, call: Callable[[Any], Any]) -> None:
    client, sent = boto3_client(service)
    with contextlib.suppress(Exception):  # the empty answer may not parse; the request counts
        call(client)
    request = sent[0]
    url = urlsplit(request.url)
    headers = {name.lower(): value.decode() if isinstance(value, bytes) else value
               for name, value in request.headers.items()}
    headers.setdefault("host", url.netloc)
    body = request.body or b""
    body = body if isinstance(body, bytes) else body.read()
    caller = authenticate(service, request.method, url.path.encode(), url.query.encode(), headers,
                          hashlib.sha256(body).hexdigest(), {BOTO_KEY.access_key_id: BOTO_KEY},
                          {}, seconds(headers["x-amz-date"]))
    assert caller.key is BOTO_KEY


@pytest.mark.parametrize("method", ["get_object", "put_object", "head_object"])
def test_urls_boto3_presigns_verify(method: str) -> None:
    client, _ = boto3_client("s3")
    url = urlsplit(client.generate_presigned_url(
        method, Params={"Bucket": "bkt", "Key": "dir/a b+c%ü.txt"}, ExpiresIn=60))
    query = dict(query_pairs(url.query.encode()))
    http = {"get_object": "GET", "put_object": "PUT", "head_object": "HEAD"}[method]
    caller = authenticate("s3", http, url.path.encode(), url.query.encode(),
                          {"host": url.netloc}, None, {BOTO_KEY.access_key_id: BOTO_KEY}, {},
                          seconds(query["X-Amz-Date"]))
    assert caller.key is BOTO_KEY
