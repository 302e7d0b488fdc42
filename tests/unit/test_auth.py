"""Request authentication against requests signed by real botocore / boto3 clients."""

from __future__ import annotations

import calendar
import contextlib
import datetime as dt
import hashlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

import boto3  # type: ignore[import-untyped]
import pytest
from botocore.auth import S3SigV4Auth, SigV4Auth  # type: ignore[import-untyped]
from botocore.awsrequest import AWSRequest, AWSResponse  # type: ignore[import-untyped]
from botocore.config import Config  # type: ignore[import-untyped]
from botocore.credentials import Credentials  # type: ignore[import-untyped]

from bifrost_py.wire.auth.chunk_signatures import ChunkSignatures
from bifrost_py.wire.auth.verify import (
    AuthError,
    Caller,
    Key,
    allowed,
    authenticate,
    check_body_sha256,
)

ENDPOINT = "http://localhost:8000"
KEY_A = Key("AKIAEXAMPLETEAMA0001", "secret/A+key", "team-a", bearer_token="bedrock-api-key-a")
KEY_B = Key("AKIAEXAMPLETEAMB0002", "secret-B", "team-b", ("local",), ("anthropic.*",))
KEYS = {k.access_key_id: k for k in (KEY_A, KEY_B)}
BEARER = {KEY_A.bearer_token: KEY_A}


@dataclass
class Req:
    service: str
    method: str
    path: bytes
    query: bytes
    headers: dict[str, str]
    body: bytes

    @property
    def now(self) -> float:
        stamp = self.headers.get("x-amz-date") or _query_value(self.query, b"X-Amz-Date")
        return float(calendar.timegm(time.strptime(stamp, "%Y%m%dT%H%M%SZ")))

    def auth(
        self,
        *,
        now: float | None = None,
        body_sha256: str | bool | None = True,
        keys: dict[str, Key] = KEYS,
    ) -> Caller:
        sha = hashlib.sha256(self.body).hexdigest() if body_sha256 is True else body_sha256
        return authenticate(
            self.service,
            self.method,
            self.path,
            self.query,
            self.headers,
            sha if isinstance(sha, str) else None,
            keys,
            BEARER,
            self.now if now is None else now,
        )


def _query_value(query: bytes, name: bytes) -> str:
    for part in query.split(b"&"):
        if part.startswith(name + b"="):
            return part.split(b"=", 1)[1].decode()
    raise KeyError(name)


def _from_url(service: str, method: str, url: str, headers: Any, body: Any) -> Req:
    parts = urlsplit(url)
    hdrs = {k.lower(): v.decode() if isinstance(v, bytes) else v for k, v in headers.items()}
    hdrs.setdefault("host", parts.netloc)
    if body is None:
        data = b""
    elif isinstance(body, bytes):
        data = body
    elif isinstance(body, str):
        data = body.encode()
    else:
        data = body.read()
    return Req(service, method, parts.path.encode(), parts.query.encode(), hdrs, data)


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


def client(service: str, key: Key = KEY_A, **config: Any) -> Any:
    mount = "/bedrock/files" if service == "s3" else "/bedrock"
    c = boto3.client(
        service,
        endpoint_url=ENDPOINT + mount,
        region_name="eu-west-3",
        aws_access_key_id=key.access_key_id,
        aws_secret_access_key=key.secret_access_key,
        config=Config(retries={"max_attempts": 1}, **config),
    )
    return c


def capture(service: str, call: Callable[[Any], Any], key: Key = KEY_A) -> Req:
    """Run a boto3 call; record the request it would send, answer it without sending it."""
    c = client(service, key)
    seen: list[Req] = []

    def before_send(request: Any, **_: Any) -> AWSResponse:
        seen.append(
            _from_url(
                "s3" if service == "s3" else "bedrock",
                request.method,
                request.url,
                request.headers,
                request.body,
            )
        )
        body = b"{}" if service != "s3" else b""
        return AWSResponse(request.url, 200, {}, _Raw(body))

    c.meta.events.register("before-send", before_send)
    # Parsing the canned answer may fail; the request is what we want.
    with contextlib.suppress(Exception):
        call(c)
    assert seen, "no request was captured"
    return seen[0]


def code(exc: pytest.ExceptionInfo[AuthError], service: str) -> str:
    return exc.value.code_s3 if service == "s3" else exc.value.code_bedrock


# --- S3: header-signed -----------------------------------------------------------------------

S3_KEYS = [
    "plain.txt",
    "with space/and+plus.txt",
    "100%/done%20.txt",
    "ünïcødé/日本語.jsonl",
    "double//slash/x",
    "tilde~/!'()*&$@=;:,?#[]",
    "../dots/./here",
]


@pytest.mark.parametrize("object_key", S3_KEYS)
def test_s3_get_object(object_key: str) -> None:
    req = capture("s3", lambda c: c.get_object(Bucket="bkt", Key=object_key))
    assert req.headers["x-amz-content-sha256"] == hashlib.sha256(b"").hexdigest()
    assert req.auth().key is KEY_A


@pytest.mark.parametrize("object_key", S3_KEYS)
def test_s3_put_object(object_key: str) -> None:
    body = b"hello \x00 world" * 10
    req = capture(
        "s3",
        lambda c: c.put_object(Bucket="bkt", Key=object_key, Body=body, Metadata={"a": "b c"}),
    )
    assert req.body == body
    caller = req.auth()
    assert caller.key.tenant == "team-a"
    assert caller.seed_signature and caller.scope.endswith("/eu-west-3/s3/aws4_request")


def test_s3_list_with_query() -> None:
    req = capture(
        "s3",
        lambda c: c.list_objects_v2(
            Bucket="bkt", Prefix="a b/ü+%", Delimiter="/", StartAfter="x=y&z", MaxKeys=7
        ),
    )
    assert req.query
    req.auth()


def test_s3_multipart_query_without_values() -> None:
    req = capture("s3", lambda c: c.create_multipart_upload(Bucket="bkt", Key="big one"))
    assert b"uploads" in req.query
    req.auth()


def test_s3_tampered_path_query_header_method() -> None:
    base = capture("s3", lambda c: c.get_object(Bucket="bkt", Key="a/b c", Range="bytes=0-9"))
    tampered = [
        replace(base, path=base.path.replace(b"a/b", b"a/x")),
        replace(base, path=base.path.replace(b"a/b", b"a%2Fb")),
        replace(base, path=base.path + b"#frag"),
        replace(base, query=b"versionId=1"),
        replace(base, headers={**base.headers, "range": "bytes=0-99"}),
        replace(base, headers={**base.headers, "host": "evil:8000"}),
        replace(base, method="DELETE"),
    ]
    for req in tampered:
        with pytest.raises(AuthError) as exc:
            req.auth()
        assert exc.value.code_s3 == "SignatureDoesNotMatch", req
        assert exc.value.status == 403


def test_s3_unsigned_amz_header_added() -> None:
    base = capture("s3", lambda c: c.get_object(Bucket="bkt", Key="k"))
    req = replace(base, headers={**base.headers, "x-amz-meta-evil": "1"})
    with pytest.raises(AuthError) as exc:
        req.auth()
    assert exc.value.code_s3 == "AccessDenied"


def test_s3_wrong_secret_and_unknown_key() -> None:
    wrong = Key(KEY_A.access_key_id, "not-the-secret", "team-a")
    req = capture("s3", lambda c: c.get_object(Bucket="bkt", Key="k"), key=wrong)
    with pytest.raises(AuthError) as exc:
        req.auth()
    assert (exc.value.code_s3, exc.value.code_bedrock) == (
        "SignatureDoesNotMatch",
        "InvalidSignatureException",
    )
    unknown = Key("AKIAUNKNOWN000000000", "x", "nobody")
    req = capture("s3", lambda c: c.get_object(Bucket="bkt", Key="k"), key=unknown)
    with pytest.raises(AuthError) as exc:
        req.auth()
    assert exc.value.code_s3 == "InvalidAccessKeyId"
    assert exc.value.code_bedrock == "UnrecognizedClientException"


def test_s3_body_hash() -> None:
    req = capture("s3", lambda c: c.put_object(Bucket="bkt", Key="k", Body=b"original"))
    # Same signed headers, different body: the payload hash no longer matches.
    tampered = replace(req, body=b"tampered")
    with pytest.raises(AuthError) as exc:
        tampered.auth()
    assert exc.value.code_s3 == "XAmzContentSHA256Mismatch"
    assert exc.value.status == 400
    # Without the body hash (streamed), authentication passes; the later check catches it.
    tampered.auth(body_sha256=None)
    with pytest.raises(AuthError):
        check_body_sha256("s3", tampered.headers, hashlib.sha256(b"tampered").hexdigest())
    check_body_sha256("s3", req.headers, hashlib.sha256(b"original").hexdigest())
    # Tampering with the header breaks the signature.
    evil = hashlib.sha256(b"tampered").hexdigest()
    forged = replace(tampered, headers={**req.headers, "x-amz-content-sha256": evil})
    with pytest.raises(AuthError) as exc:
        forged.auth()
    assert exc.value.code_s3 == "SignatureDoesNotMatch"
    bogus = replace(req, headers={**req.headers, "x-amz-content-sha256": "nope"})
    with pytest.raises(AuthError) as exc:
        bogus.auth()
    assert exc.value.code_s3 == "InvalidArgument"


def test_s3_missing_content_sha256() -> None:
    req = capture("s3", lambda c: c.get_object(Bucket="bkt", Key="k"))
    headers = dict(req.headers)
    del headers["x-amz-content-sha256"]
    with pytest.raises(AuthError) as exc:
        replace(req, headers=headers).auth()
    assert exc.value.code_s3 in ("InvalidRequest", "SignatureDoesNotMatch")


@pytest.mark.parametrize("placeholder", ["UNSIGNED-PAYLOAD", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"])
def test_s3_placeholder_payloads_are_signed_values(placeholder: str) -> None:
    amz_date = "20260102T030405Z"
    request = AWSRequest(
        method="PUT",
        url=ENDPOINT + "/bedrock/files/bkt/k",
        headers={"X-Amz-Content-SHA256": placeholder, "X-Amz-Date": amz_date},
        data=b"whatever",
    )
    request.context["timestamp"] = amz_date
    signer = S3SigV4Auth(Credentials(KEY_A.access_key_id, KEY_A.secret_access_key), "s3", "x-1")
    cr = signer.canonical_request(request)
    sig = signer.signature(signer.string_to_sign(request, cr), request)
    signer._inject_signature_to_request(request, sig)
    req = _from_url("s3", "PUT", request.url, request.headers, b"whatever")
    caller = req.auth()
    assert caller.seed_signature == sig
    assert caller.amz_date == amz_date and caller.scope == "20260102/x-1/s3/aws4_request"


@pytest.mark.parametrize("service", ["s3", "bedrock"])
def test_clock_skew(service: str) -> None:
    if service == "s3":
        req = capture("s3", lambda c: c.get_object(Bucket="bkt", Key="k"))
    else:
        req = capture("bedrock", lambda c: c.list_model_invocation_jobs())
    req.auth(now=req.now + 14 * 60)
    req.auth(now=req.now - 14 * 60)
    for delta in (16 * 60, -16 * 60):
        with pytest.raises(AuthError) as exc:
            req.auth(now=req.now + delta)
        assert code(exc, service) == (
            "RequestTimeTooSkewed" if service == "s3" else "InvalidSignatureException"
        )
    with pytest.raises(AuthError) as exc:
        req.auth(now=req.now + 16 * 60)
    if service == "bedrock":
        assert exc.value.message.startswith("Signature expired:")


def test_date_in_scope_must_match() -> None:
    req = capture("s3", lambda c: c.get_object(Bucket="bkt", Key="k"))
    stamp = req.headers["x-amz-date"]
    other = "19990101" + stamp[8:]
    headers = {**req.headers, "x-amz-date": other}
    with pytest.raises(AuthError) as exc:
        replace(req, headers=headers).auth(now=req.now)
    assert exc.value.code_s3 in ("AuthorizationHeaderMalformed", "RequestTimeTooSkewed")


def test_no_auth_and_malformed() -> None:
    base = capture("s3", lambda c: c.get_object(Bucket="bkt", Key="k"))
    headers = {k: v for k, v in base.headers.items() if k != "authorization"}
    with pytest.raises(AuthError) as exc:
        replace(base, headers=headers).auth()
    assert exc.value.code_s3 == "AccessDenied"
    with pytest.raises(AuthError) as exc:
        replace(base, service="bedrock", headers=headers).auth()
    assert exc.value.code_bedrock == "MissingAuthenticationTokenException"
    for bad in (
        "AWS4-HMAC-SHA256 garbage",
        "AWS4-HMAC-SHA256 Credential=AKIAEXAMPLETEAMA0001/x, SignedHeaders=host, Signature=ab",
        "AWS AKIAEXAMPLETEAMA0001:abc",
    ):
        with pytest.raises(AuthError) as exc:
            replace(base, headers={**headers, "authorization": bad}).auth()
        assert exc.value.status == 400
    # A credential scoped to another service is refused.
    wrong_service = base.headers["authorization"].replace("/s3/", "/bedrock/")
    with pytest.raises(AuthError):
        replace(base, headers={**headers, "authorization": wrong_service}).auth()


# --- Bedrock control plane --------------------------------------------------------------------

JOB_ARN = "arn:aws:bedrock:us-east-1:123456789012:model-invocation-job/abc"


def test_bedrock_get_job_by_arn() -> None:
    req = capture("bedrock", lambda c: c.get_model_invocation_job(jobIdentifier=JOB_ARN))
    assert req.path == b"/bedrock/model-invocation-job/" + (
        b"arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Amodel-invocation-job%2Fabc"
    )
    assert req.auth().key is KEY_A
    tampered = replace(req, path=req.path.replace(b"abc", b"abd"))
    with pytest.raises(AuthError) as exc:
        tampered.auth()
    assert exc.value.code_bedrock == "InvalidSignatureException"
    # Decoding the path is a different request.
    decoded = replace(req, path=b"/bedrock/model-invocation-job/" + JOB_ARN.encode())
    with pytest.raises(AuthError):
        decoded.auth()


def test_bedrock_list_with_query() -> None:
    after = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    req = capture(
        "bedrock",
        lambda c: c.list_model_invocation_jobs(
            submitTimeAfter=after,
            submitTimeBefore=after + dt.timedelta(days=1),
            statusEquals="Completed",
            nameContains="a b+c/ü",
            maxResults=10,
            sortBy="CreationTime",
        ),
    )
    assert b"submitTimeAfter=2026-01-02T03%3A04%3A05Z" in req.query
    req.auth()
    for query in (
        req.query.replace(b"maxResults=10", b"maxResults=11"),
        req.query + b"&nextToken=x",
        req.query.replace(b"statusEquals=Completed&", b""),
    ):
        with pytest.raises(AuthError) as exc:
            replace(req, query=query).auth()
        assert exc.value.code_bedrock == "InvalidSignatureException"


def test_bedrock_post_json_body() -> None:
    req = capture(
        "bedrock",
        lambda c: c.create_model_invocation_job(
            jobName="job-1",
            roleArn="arn:aws:iam::123456789012:role/r",
            modelId="anthropic.claude-3-haiku-20240307-v1:0",
            inputDataConfig={"s3InputDataConfig": {"s3Uri": "s3://bkt/in/"}},
            outputDataConfig={"s3OutputDataConfig": {"s3Uri": "s3://bkt/out/"}},
        ),
    )
    assert req.method == "POST" and req.body
    assert "x-amz-content-sha256" not in req.headers
    req.auth()
    tampered = replace(req, body=req.body.replace(b"job-1", b"job-2"))
    with pytest.raises(AuthError) as exc:
        tampered.auth()
    assert exc.value.code_bedrock == "InvalidSignatureException"
    with pytest.raises(AuthError):  # no body hash: cannot be verified
        req.auth(body_sha256=None)


def test_bedrock_dot_segments_refused() -> None:
    creds = Credentials(KEY_A.access_key_id, KEY_A.secret_access_key)
    request = AWSRequest(method="GET", url=ENDPOINT + "/bedrock/x/../model-invocation-jobs")
    SigV4Auth(creds, "bedrock", "us-east-1").add_auth(request)
    req = _from_url("bedrock", "GET", request.url, request.headers, b"")
    with pytest.raises(AuthError):
        req.auth()


def test_bedrock_sigv4auth_direct() -> None:
    creds = Credentials(KEY_B.access_key_id, KEY_B.secret_access_key)
    request = AWSRequest(
        method="GET",
        url=ENDPOINT + "/bedrock/model-invocation-job/arn%3Aaws%3Ax%2Fabc",
        headers={"x-model-provider": "local"},
    )
    SigV4Auth(creds, "bedrock", "ap-south-1").add_auth(request)
    req = _from_url("bedrock", "GET", request.url, request.headers, b"")
    assert req.auth().key is KEY_B
    evil = replace(req, headers={**req.headers, "x-model-provider": "openai"})
    with pytest.raises(AuthError):
        evil.auth()


def test_bearer() -> None:
    base = Req("bedrock", "GET", b"/bedrock/model-invocation-jobs", b"", {}, b"")
    ok = replace(base, headers={"authorization": "Bearer bedrock-api-key-a"})
    caller = authenticate(
        "bedrock", "GET", ok.path, b"", ok.headers, None, KEYS, BEARER, time.time()
    )
    assert caller.key is KEY_A
    bad = {"authorization": "Bearer bedrock-api-key-b"}
    with pytest.raises(AuthError) as exc:
        authenticate("bedrock", "GET", base.path, b"", bad, None, KEYS, BEARER, time.time())
    assert exc.value.code_bedrock == "UnrecognizedClientException" and exc.value.status == 403
    with pytest.raises(AuthError) as exc:
        authenticate("s3", "GET", b"/bedrock/files/b", b"", ok.headers, None, KEYS, BEARER, 0)
    assert exc.value.code_s3 == "InvalidArgument"


# --- presigned URLs ---------------------------------------------------------------------------


def presigned(method: str = "get_object", expires: int = 60, **params: Any) -> Req:
    c = client("s3")
    url = c.generate_presigned_url(
        method, Params={"Bucket": "bkt", "Key": "dir/a b+c%ü.txt", **params}, ExpiresIn=expires
    )
    http = "PUT" if method == "put_object" else "GET"
    return _from_url("s3", http, url, {}, b"")


def test_presigned_get_and_put() -> None:
    for req in (presigned(), presigned("put_object"), presigned(ResponseContentType="a/b c")):
        assert b"X-Amz-Signature=" in req.query
        assert req.auth(body_sha256=None).key is KEY_A
        req.auth(now=req.now + 59)


def test_presigned_expired() -> None:
    req = presigned(expires=60)
    with pytest.raises(AuthError) as exc:
        req.auth(now=req.now + 61)
    assert exc.value.code_s3 == "AccessDenied"
    assert exc.value.message == "Request has expired"


def test_presigned_tampered() -> None:
    req = presigned()
    sig = _query_value(req.query, b"X-Amz-Signature")
    cases = [
        replace(req, path=req.path.replace(b"dir", b"die")),
        replace(req, query=req.query.replace(b"X-Amz-Expires=60", b"X-Amz-Expires=600")),
        replace(req, query=req.query + b"&versionId=2"),
        replace(req, query=req.query.replace(sig.encode(), b"0" * 64)),
        replace(req, headers={"host": "other:1"}),
        replace(req, method="DELETE"),
    ]
    for bad in cases:
        with pytest.raises(AuthError) as exc:
            bad.auth()
        assert exc.value.code_s3 == "SignatureDoesNotMatch", bad
    both = replace(req, headers={**req.headers, "authorization": "AWS4-HMAC-SHA256 x"})
    with pytest.raises(AuthError) as exc:
        both.auth()
    assert exc.value.status == 400


def test_presigned_unknown_key_and_bedrock() -> None:
    req = presigned()
    with pytest.raises(AuthError) as exc:
        req.auth(keys={})
    assert exc.value.code_s3 == "InvalidAccessKeyId"
    with pytest.raises(AuthError):
        replace(req, service="bedrock").auth()


# --- aws-chunked chunk signatures (AWS's published worked examples) -------------------------

DOC_KEY = Key("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "doc")
DOC_DATE = "20130524T000000Z"
DOC_SCOPE = "20130524/us-east-1/s3/aws4_request"
DOC_CHUNKS = [b"a" * 65536, b"a" * 1024, b""]
# ChunkSignatures takes each chunk's SHA-256, so a server can hash chunks as they stream.
DOC_HASHES = [hashlib.sha256(chunk).hexdigest() for chunk in DOC_CHUNKS]


def _doc_seed_request(trailer: bool) -> Req:
    content = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD" + ("-TRAILER" if trailer else "")
    headers = {
        "host": "s3.amazonaws.com",
        "x-amz-date": DOC_DATE,
        "x-amz-storage-class": "REDUCED_REDUNDANCY",
        "x-amz-content-sha256": content,
        "content-encoding": "aws-chunked",
        "x-amz-decoded-content-length": "66560",
    }
    if trailer:
        headers["x-amz-trailer"] = "x-amz-checksum-crc32c"
        signed = (
            "content-encoding;host;x-amz-content-sha256;x-amz-date;"
            "x-amz-decoded-content-length;x-amz-storage-class;x-amz-trailer"
        )
        seed = "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e"
    else:
        headers["content-length"] = "66824"
        signed = (
            "content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;"
            "x-amz-decoded-content-length;x-amz-storage-class"
        )
        seed = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
    headers["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/{DOC_SCOPE},"
        f"SignedHeaders={signed},Signature={seed}"
    )
    return Req("s3", "PUT", b"/examplebucket/chunkObject.txt", b"", headers, b"")


def test_chunk_signatures_aws_example() -> None:
    req = _doc_seed_request(trailer=False)
    caller = req.auth(body_sha256=None, keys={DOC_KEY.access_key_id: DOC_KEY})
    assert caller.seed_signature.startswith("4f232c43")
    sigs = [
        "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
        "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
        "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
    ]
    chain = ChunkSignatures.for_caller(caller)
    for digest, sig in zip(DOC_HASHES, sigs, strict=True):
        assert not chain.complete
        chain.verify(digest, sig)
    assert chain.complete
    chain.verify_trailer(b"", "")  # no trailer on this form: the end of the body is fine
    assert chain.complete
    # Out of order, altered data, or a restarted chain all fail.
    chain = ChunkSignatures(DOC_KEY, caller.seed_signature, DOC_DATE, DOC_SCOPE)
    with pytest.raises(AuthError) as exc:
        chain.verify(DOC_HASHES[1], sigs[1])
    assert exc.value.code_s3 == "SignatureDoesNotMatch"
    with pytest.raises(AuthError):  # a broken chain stays broken
        chain.verify(DOC_HASHES[0], sigs[0])
    assert not chain.complete
    chain = ChunkSignatures(DOC_KEY, caller.seed_signature, DOC_DATE, DOC_SCOPE)
    with pytest.raises(AuthError):
        chain.verify(hashlib.sha256(b"b" + DOC_CHUNKS[0][1:]).hexdigest(), sigs[0])
    wrong_key = replace(DOC_KEY, secret_access_key="other")
    with pytest.raises(AuthError):
        ChunkSignatures(wrong_key, caller.seed_signature, DOC_DATE, DOC_SCOPE).verify(
            DOC_HASHES[0], sigs[0]
        )


def _doc_chain(caller: Caller, sigs: list[str], trailer: bool = False) -> ChunkSignatures:
    chain = ChunkSignatures.for_caller(caller, trailer=trailer)
    for digest, sig in zip(DOC_HASHES, sigs, strict=True):
        chain.verify(digest, sig)
    return chain


def test_chunk_signatures_missing_or_misplaced() -> None:
    caller = _doc_seed_request(trailer=False).auth(
        body_sha256=None, keys={DOC_KEY.access_key_id: DOC_KEY}
    )
    sigs = [
        "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
        "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
        "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
    ]
    # A chunk without a signature.
    with pytest.raises(AuthError):
        ChunkSignatures.for_caller(caller).verify(DOC_HASHES[0], "")
    # The body ends before the final chunk.
    chain = ChunkSignatures.for_caller(caller)
    chain.verify(DOC_HASHES[0], sigs[0])
    with pytest.raises(AuthError):
        chain.verify_trailer(b"", "")
    assert not chain.complete
    # Anything after the final chunk.
    with pytest.raises(AuthError):
        _doc_chain(caller, sigs).verify(DOC_HASHES[0], sigs[0])
    # Trailers on a body that was not signed as -TRAILER.
    with pytest.raises(AuthError):
        _doc_chain(caller, sigs).verify_trailer(b"x-amz-checksum-crc32:AAAAAA==\r\n", "")
    with pytest.raises(AuthError):
        _doc_chain(caller, sigs).verify_trailer(b"", sigs[0])


def test_chunk_signatures_aws_trailer_example() -> None:
    req = _doc_seed_request(trailer=True)
    caller = req.auth(body_sha256=None, keys={DOC_KEY.access_key_id: DOC_KEY})
    sigs = [
        "b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2",
        "1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7",
        "2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992",
    ]
    trailer_sig = "d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435"
    for lines in (b"x-amz-checksum-crc32c:sOO8/Q==\r\n", b"x-amz-checksum-crc32c:sOO8/Q==\n"):
        chain = _doc_chain(caller, sigs, trailer=True)
        assert not chain.complete  # the trailer signature is still due
        chain.verify_trailer(lines, trailer_sig)
        assert chain.complete
    with pytest.raises(AuthError):
        _doc_chain(caller, sigs, trailer=True).verify_trailer(
            b"x-amz-checksum-crc32c:AAAAAA==\r\n", trailer_sig
        )
    # The -TRAILER form must end with a trailer signature.
    with pytest.raises(AuthError):
        _doc_chain(caller, sigs, trailer=True).verify_trailer(
            b"x-amz-checksum-crc32c:sOO8/Q==\r\n", ""
        )


def test_presigned_caller_has_no_chunk_chain() -> None:
    with pytest.raises(AuthError) as exc:
        ChunkSignatures.for_caller(presigned().auth(body_sha256=None))
    assert exc.value.code_s3 == "AccessDenied"


# --- allow-lists ------------------------------------------------------------------------------


def test_allowed() -> None:
    a, b = Caller(KEY_A), Caller(KEY_B)
    assert allowed(a, "openai", "gpt-4o") and allowed(a, "local", None)
    assert allowed(b, "local", "anthropic.claude-3-haiku-20240307-v1:0")
    assert allowed(b, "local", None)
    assert not allowed(b, "openai", None)
    assert not allowed(b, "local", "meta.llama3")
    assert "secret" not in repr(KEY_A) and "bedrock-api-key" not in repr(KEY_A)
