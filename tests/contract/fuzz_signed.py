"""What the test_fuzz_signed_* modules share: the server's configuration, requests signed for it,
the exchange of one request, and the checks every answer must pass.

test_bad_input_requests.py fuzzes an open server. Here every fuzzed request is correctly
SigV4-signed with a configured key (botocore's own `S3SigV4Auth` / `SigV4Auth` over an
`AWSRequest`), so the random bytes get past authentication and reach the parsers behind it. Requests
go out raw (http.client, the exact bytes), so nothing normalises the path or the query.

Properties, for every example: the answer is well formed (status < 500, or S3's 501 NotImplemented
for a subresource outside the subset; an S3 error is an XML `<Error>` with a `<Code>` and the
request id; a Bedrock answer is a JSON object, an error one with `x-amzn-ErrorType`); a request
signed correctly is not refused as unauthenticated, unless it is one the server cannot verify by
design (a query that is not UTF-8, a second auth mechanism, a path botocore would normalise). What
the store must keep is in fuzz_signed_fixtures.py; what each module fuzzes, in its own docstring:
test_fuzz_signed_s3, _xml, _chunked, _bedrock, _forgery, and _regressions for the bugs found.
"""

from __future__ import annotations

import contextlib
import dataclasses
import http.client
import json
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, quote_from_bytes, unquote, unquote_to_bytes
from xml.etree import ElementTree

from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.utils import normalize_url_path
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from tests.contract.s3_helpers import md5_hex

REGION = "us-west-2"
ACCOUNT = "123456789012"
KEY_ID = "AKIAFUZZSIGNED000001"
SECRET = "fuzz-signed-secret-0123456789"
OTHER_ID = "AKIAFUZZSIGNED000002"
OTHER_SECRET = "fuzz-other-secret-0123456789"
UNKNOWN_ID = "AKIAFUZZSIGNEDNOBODY"
WRONG_SECRET = "not-the-secret-0123456789"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/BedrockBatchInference"
MODEL = "anthropic.claude-3-sonnet-20240229-v1:0"
SLOW_MODEL = "slow-echo"
S3_MOUNT = "/bedrock/files"
BEDROCK_MOUNT = "/bedrock"
NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/"
MIB = 2**20
TIMEOUT = 30.0

FUZZ_BUCKET = "fuzz-bucket"  # victims, the chunked target and the multipart target live here
SENTINEL_BUCKET = "sentinel-bucket"  # in both tenants; fuzzed requests may reach it too
IO_BUCKET = "fuzz-io"  # batch job input and output
EMPTY_BUCKET = "fuzz-empty"  # what a forged DeleteBucket would remove
FORGED_BUCKET = "fuzz-forged"  # what a forged CreateBucket would create
FORGED_JOB = "forgedjob"  # what a forged CreateModelInvocationJob would create
# No strategy can produce this prefix, so no fuzzed request can legitimately touch a sentinel.
SENTINEL_PREFIX = f"sentinel-{uuid.uuid4().hex}/"
VICTIMS = {"victim-0": b"victim zero\n", "victim \u00e9/1": b"victim one\n" * 10,
           "dir/victim-2": b""}
CHUNKED_KEY = "chunked/target"
MPU_KEY = "mpu/target"
SHAPED_KEY = "shaped/object"  # operation-shaped requests read, overwrite and delete this one
SHAPED_MULTIPART = "shaped/multipart"  # two parts: GetObject partNumber reads them
SHAPED_UPLOAD_KEY = "shaped/upload"  # an upload that stays open: ListParts, UploadPart
PART_DATA = b"the only part of the upload"
PART_ETAG = md5_hex(PART_DATA)

CONFIG = f"""
[server]
requests_per_second_per_key = 0  # a burst of fuzzing is not what SlowDown is about

[providers.local.models."{SLOW_MODEL}"]
latency_ms = 100
concurrency = 1

[[keys]]
access_key_id = "{KEY_ID}"
secret_access_key = "{SECRET}"
tenant = "fuzz"

[[keys]]
access_key_id = "{OTHER_ID}"
secret_access_key = "{OTHER_SECRET}"
tenant = "other"
"""


def fuzz_settings(examples: int) -> settings:
    return settings(max_examples=examples, deadline=None, database=None,
                    print_blob=False, report_multiple_bugs=False,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.large_base_example,
                                           HealthCheck.filter_too_much])


def job_template(name: str) -> dict[str, Any]:
    """The body of a CreateModelInvocationJob for a job named `name`."""
    return {"jobName": name, "modelId": MODEL, "roleArn": ROLE_ARN,
            "inputDataConfig": {"s3InputDataConfig": {"s3Uri": f"s3://{IO_BUCKET}/in.jsonl",
                                                      "s3InputFormat": "JSONL"}},
            "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": f"s3://{IO_BUCKET}/out/"}},
            "timeoutDurationInHours": 24, "tags": [{"key": "origin", "value": "fuzz"}]}


# --- raw requests, signed by botocore -------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    """One HTTP request exactly as it goes on the wire."""

    service: str  # "s3" | "bedrock": which dialect answers
    method: str
    path: str  # the raw path, mount included
    query: str  # the raw query, without "?"
    headers: tuple[tuple[str, str], ...]  # in order, Host and Content-Length included
    body: bytes

    @property
    def target(self) -> str:
        return f"{self.path}?{self.query}" if self.query else self.path

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((v for k, v in self.headers if k.lower() == wanted), None)

    def with_header(self, name: str, value: str | None) -> Request:
        """This request with header `name` replaced (None: removed)."""
        kept = tuple((k, v) for k, v in self.headers if k.lower() != name.lower())
        return dataclasses.replace(self, headers=kept if value is None else (*kept, (name, value)))

    def with_body(self, body: bytes) -> Request:
        return dataclasses.replace(self, body=body).with_header("Content-Length", str(len(body)))

    def __repr__(self) -> str:
        return (f"{self.method} {clip(self.target)}\n  headers={list(self.headers)}\n"
                f"  body={clip(self.body)!r}")


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes
    elapsed: float

    def __repr__(self) -> str:
        return f"{self.status} {self.headers} {clip(self.body)!r} ({self.elapsed:.3f} s)"


def clip(value: Any, limit: int = 400) -> Any:
    if len(value) <= limit:
        return value
    return value[:limit] + (b"..." if isinstance(value, bytes) else "...") + \
        (b"(%d bytes)" % len(value) if isinstance(value, bytes) else f"({len(value)} chars)")


def query_pairs(query: str) -> list[tuple[str, str]]:
    """The (name, value) pairs a SigV4 verifier reads from a raw query: split on `&` and the first
    `=`, percent-decoded as UTF-8, `+` left as it is."""
    pairs = []
    for part in query.split("&"):
        if part:
            name, _, value = part.partition("=")
            pairs.append((unquote(name, errors="replace"), unquote(value, errors="replace")))
    return pairs


def query_is_utf8(query: str) -> bool:
    try:
        for part in query.split("&"):
            name, _, value = part.partition("=")
            unquote_to_bytes(name).decode("utf-8")
            unquote_to_bytes(value).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


PRESIGN_V4_NAMES = frozenset({"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature"})


def _raw_names(query: str) -> set[str]:
    return {part.partition("=")[0] for part in query.split("&")}


def s3_verifiable(query: str) -> bool:
    """Whether a correctly header-signed S3 request with this query must authenticate: its
    parameters are UTF-8 (so they have a canonical form) and none names another mechanism."""
    names = _raw_names(query)
    return (query_is_utf8(query) and names.isdisjoint(PRESIGN_V4_NAMES)
            and not {"AWSAccessKeyId", "Signature"} <= names)


def bedrock_verifiable(path: str, query: str) -> bool:
    """As s3_verifiable, for /bedrock, where botocore also signs the path without dot segments
    and empty segments: the server refuses a path whose signature would not bind what it routes."""
    return (query_is_utf8(query) and _raw_names(query).isdisjoint(PRESIGN_V4_NAMES)
            and normalize_url_path(path) == path)


class Signer:
    """Builds requests signed exactly as boto3 signs them: botocore's S3SigV4Auth (s3, the path
    as sent) or SigV4Auth (bedrock), over an AWSRequest of the raw path and the query's pairs."""

    def __init__(self, port: int, key_id: str = KEY_ID, secret: str = SECRET) -> None:
        self.port = port
        self.host = f"127.0.0.1:{port}"
        self.credentials = Credentials(key_id, secret)

    def s3(self, method: str, path: str, query: str = "", body: bytes = b"",
           headers: dict[str, str] | None = None, *, payload: str = "sha256") -> Request:
        """`payload`: "sha256" (the body's hash is signed), "trailer"
        (STREAMING-UNSIGNED-PAYLOAD-TRAILER) or "unsigned" (UNSIGNED-PAYLOAD)."""
        return self._sign("s3", method, S3_MOUNT + path, query, body, headers or {}, payload)

    def bedrock(self, method: str, path: str, query: str = "", body: bytes = b"",
                headers: dict[str, str] | None = None) -> Request:
        return self._sign("bedrock", method, BEDROCK_MOUNT + path, query, body,
                          headers or {"Content-Type": "application/json"}, "sha256")

    def _sign(self, service: str, method: str, path: str, query: str, body: bytes,
              headers: dict[str, str], payload: str) -> Request:
        request = AWSRequest(method=method, url=f"http://{self.host}{path}", data=body,
                             headers=dict(headers), params=query_pairs(query))
        if payload == "trailer":
            request.context["checksum"] = {"request_algorithm": {"in": "trailer",
                                                                 "name": "crc32"}}
        elif payload == "unsigned":
            request.context["client_config"] = Config(s3={"payload_signing_enabled": False})
        signer = S3SigV4Auth if service == "s3" else SigV4Auth
        signer(self.credentials, service, REGION).add_auth(request)
        sent = (("Host", self.host), *((k, str(v)) for k, v in request.headers.items()),
                ("Content-Length", str(len(body))))
        return Request(service, method, path, query, sent, body)


def exchange(port: int, request: Request, timeout: float = TIMEOUT) -> Answer:
    """Send `request` byte for byte on a new connection and read the whole answer."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    started = time.perf_counter()
    try:
        conn.putrequest(request.method, request.target, skip_host=True,
                        skip_accept_encoding=True)
        for name, value in request.headers:
            conn.putheader(name, value.encode("latin-1"))
        # Answered before the whole body was read: the answer is still there to read.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            conn.endheaders(request.body)
        response = conn.getresponse()
        body = response.read()
    except (OSError, http.client.HTTPException) as error:
        raise AssertionError(f"no answer ({error!r}) to {request!r}") from error
    finally:
        conn.close()
    headers = {k.lower(): v for k, v in response.getheaders()}
    return Answer(response.status, headers, body, time.perf_counter() - started)


# --- what every answer must be -----------------------------------------------------------------

# Characters XML 1.0 cannot carry. S3 keys may hold them and S3 echoes keys as they are (which is
# why listings have encoding-type=url), so an answer holding one is checked by pattern instead.
XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def s3_error_code(request: Request, answer: Answer) -> str:
    """The <Code> of an S3 error answer, checked to be an XML <Error> with the request id."""
    where = f"{request!r}\n-> {answer!r}"
    text = answer.body.decode("utf-8")
    if XML_ILLEGAL.search(text):
        match = re.match(r"<\?xml[^>]*\?>\s*<Error><Code>([A-Za-z0-9.]+)</Code>", text)
        assert match, where
        return match[1]
    root = ElementTree.fromstring(answer.body)
    assert root.tag == "Error", where
    code = root.findtext("Code") or ""
    assert code, where
    assert root.findtext("RequestId") == answer.headers.get("x-amz-request-id"), where
    return code


def check_s3_answer(request: Request, answer: Answer, *, authenticated: bool) -> str | None:
    """Every S3 answer: a request id; an XML <Error> with a code for a status of 400 or more (but
    to HEAD); no 5xx but 501 NotImplemented; no 403 to a verifiable signed request; well-formed
    XML for a 2xx XML answer other than an object's bytes. The code, if any."""
    where = f"{request!r}\n-> {answer!r}"
    assert answer.headers.get("x-amz-request-id"), where
    code = None
    if answer.status >= 400 and request.method != "HEAD":
        code = s3_error_code(request, answer)
    if answer.status >= 500:
        not_implemented = answer.status == 501 and (code == "NotImplemented"
                                                    or request.method == "HEAD")
        assert not_implemented, where
    if authenticated:
        assert answer.status != 403, where
    reads_object = (request.method == "GET"
                    and "/" in request.path[len(S3_MOUNT) + 1:].strip("/"))
    if (200 <= answer.status < 300 and answer.body and not reads_object
            and "xml" in answer.headers.get("content-type", "")
            and not XML_ILLEGAL.search(answer.body.decode("utf-8"))):
        ElementTree.fromstring(answer.body)
    return code


def check_bedrock_answer(request: Request, answer: Answer, *, authenticated: bool) -> str | None:
    """Every Bedrock answer: a request id and a JSON object; for 400 or more, x-amzn-ErrorType
    and a message; no 5xx; no 403 to a verifiable signed request. The code."""
    where = f"{request!r}\n-> {answer!r}"
    assert answer.headers.get("x-amzn-requestid"), where
    assert answer.status < 500, where
    document = json.loads(answer.body)
    assert isinstance(document, dict), where
    code = None
    if answer.status >= 400:
        code = answer.headers.get("x-amzn-errortype", "").split(":")[0]
        assert code, where
        assert "message" in {k.lower() for k in document}, where
    if authenticated:
        assert answer.status != 403, where
    return code


# --- fuzzed query strings -----------------------------------------------------------------------

QUERY_JUNK = ["%zz", "%", "%C3", "&", "=", "==", "%26", "%3D", "a=b=c", "+", "%2B"]


def encode_query_part(part: str | bytes, style: str) -> str:
    if isinstance(part, bytes):
        return quote_from_bytes(part, safe="")
    return quote(part, safe="-_.~" if style == "strict" else "-_.~!$'()*,;:@/+")


@st.composite
def raw_queries(draw: st.DrawFn, names: st.SearchStrategy[str],
                values: st.SearchStrategy[str | bytes]) -> str:
    items = draw(st.lists(st.tuples(names, st.none() | values,
                                    st.sampled_from(["strict", "loose"])), max_size=5))
    parts = []
    for name, value, style in items:
        encoded = encode_query_part(name, style)
        parts.append(encoded if value is None else f"{encoded}={encode_query_part(value, style)}")
    parts += draw(st.lists(st.sampled_from(QUERY_JUNK), max_size=1))
    return "&".join(draw(st.permutations(parts)))
