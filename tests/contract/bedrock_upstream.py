"""The stand-in AWS the bedrock provider's contract tests run against, and their fixtures.

S3 is moto behind `SignedS3`, a front that checks every request's SigV4 with the server's keys as
AWS does (moto checks none), so a test that passes proves the server's own credentials signed
what reached "AWS". Bedrock is the fake control plane, which checks SigV4 itself and reads and
writes moto directly. Test modules import the fixtures they use from here.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from bedrock_helpers import (
    REGION,
    bedrock_client,
    configured_server,
    job_id,
    s3_client,
    unique,
    wait_for,
    with_provider,
)
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bifrost_py.testing import RunningServer, ServerThread
from tests.fakes.bedrock_fake import FakeBedrock, MotoS3, _Job

FAKE_KEY, FAKE_SECRET = "AKIAFAKEBEDROCK00001", "fake-secret"
CONFIGURED_ROLE = "arn:aws:iam::111122223333:role/ConfiguredBedrockRole"
USER_ROLE = "arn:aws:iam::111122223333:role/UserBedrockRole"
MAPPED_MODEL = "anthropic.claude-3-5-haiku-20241022-v1:0"  # [models] sends it as HAIKU
HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
_AUTH = re.compile(r"AWS4-HMAC-SHA256 Credential=([^/,]+)/[^,]*, ?SignedHeaders=([^,]+), ?"
                   r"Signature=([0-9a-f]+)")
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade"}


class SignedS3:
    """moto behind a SigV4 check with the fake's keys; `seen` holds each request's raw target
    (path and query) and headers, as they arrived."""

    def __init__(self, moto_url: str) -> None:
        self.moto_url = moto_url
        self.seen: list[tuple[str, dict[str, str]]] = []
        methods = ["GET", "PUT", "POST", "DELETE", "HEAD"]
        self._server = ServerThread(Starlette(routes=[Route("/{rest:path}", self._handle,
                                                            methods=methods)]))
        self.url = self._server.url

    def __enter__(self) -> SignedS3:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop()

    async def _handle(self, request: Request) -> Response:
        body = await request.body()
        raw_path, query = request.scope["raw_path"], request.scope["query_string"]
        self.seen.append(((raw_path + b"?" + query).decode(), dict(request.headers)))
        problem = _signature_problem(request, body)
        if problem:
            return _s3_error(403, *problem)
        url = httpx.URL(self.moto_url).copy_with(
            raw_path=raw_path + (b"?" + query if query else b""))
        headers = [(k, v) for k, v in request.headers.raw if k.lower() != b"host"]
        async with httpx.AsyncClient() as client:
            answer = await client.send(httpx.Request(request.method, url, headers=headers,
                                                     content=body), stream=True)
            content = b"".join([chunk async for chunk in answer.aiter_raw()])
        kept = {k: v for k, v in answer.headers.items() if k.lower() not in _HOP_BY_HOP}
        return Response(content, answer.status_code, kept)


def _signature_problem(request: Request, body: bytes) -> tuple[str, str] | None:
    """What AWS would refuse in this request's signature, or None: botocore's own S3 signer over
    the raw path and query and the signed headers as they arrived."""
    match = _AUTH.fullmatch(request.headers.get("authorization", ""))
    if match is None:
        return "AccessDenied", "Missing or malformed Authorization header."
    access_key, signed_headers, signature = match.groups()
    if access_key != FAKE_KEY:
        return "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist."
    payload_hash = request.headers.get("x-amz-content-sha256", "")
    if re.fullmatch(r"[0-9a-f]{64}", payload_hash) and (
            hashlib.sha256(body).hexdigest() != payload_hash):
        return "XAmzContentSHA256Mismatch", "The provided 'x-amz-content-sha256' header does " \
                                            "not match what was computed."
    query = request.scope["query_string"].decode()
    url = f"http://{request.headers['host']}{request.scope['raw_path'].decode()}"
    headers = {name: ",".join(request.headers.getlist(name))
               for name in signed_headers.split(";")}
    rebuilt = AWSRequest(method=request.method, url=f"{url}?{query}" if query else url,
                         headers=headers)
    rebuilt.context["timestamp"] = request.headers.get("x-amz-date", "")
    signer = S3SigV4Auth(Credentials(FAKE_KEY, FAKE_SECRET), "s3", REGION)
    expected = signer.signature(signer.string_to_sign(rebuilt, signer.canonical_request(rebuilt)),
                                rebuilt)
    if not hmac.compare_digest(expected, signature):
        return "SignatureDoesNotMatch", ("The request signature we calculated does not match "
                                         "the signature you provided. Check your key and signing "
                                         "method.")
    return None


def _s3_error(status: int, code: str, message: str) -> Response:
    body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
            f"<Message>{message}</Message><RequestId>SIGNEDS3</RequestId></Error>")
    return Response(body, status, {"x-amz-request-id": "SIGNEDS3"}, "application/xml")


def bedrock_config(s3_url: str, fake: FakeBedrock, secret: str | None = FAKE_SECRET,
                   role_arn: str = CONFIGURED_ROLE) -> str:
    """[providers.bedrock] on the stand-ins; secret None leaves the keys to the AWS chain."""
    keys = f'access_key_id = "{FAKE_KEY}"\nsecret_access_key = "{secret}"' if secret else ""
    return f"""
[providers.bedrock]
region = "{REGION}"
{keys}
s3_endpoint_url = "{s3_url}"
bedrock_endpoint_url = "{fake.url}"
role_arn = "{role_arn}"
poll_interval = 0.2
max_retries = 1
timeout_seconds = 10

[models."{MAPPED_MODEL}"]
bedrock = "{HAIKU}"
"""


def upstream_of(fake: FakeBedrock, arn: str) -> _Job:
    """The fake's job for our job: created with our job id as its clientRequestToken."""
    found: _Job = wait_for(
        lambda: next((job for job in fake.jobs.values()
                      if job.spec.get("clientRequestToken") == job_id(arn)), None),
        lambda job: job is not None, what=f"upstream job of {arn}")
    return found


def read_lines(s3: Any, bucket: str, key: str) -> list[dict[str, Any]]:
    body: bytes = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    return [json.loads(line) for line in body.splitlines()]


def answer(response: dict[str, Any]) -> dict[str, Any]:
    """A boto3 answer without what differs per request (request ids, dates, host ids)."""
    value = {k: v for k, v in response.items() if k != "ResponseMetadata"}
    if "Body" in value:
        value["Body"] = value["Body"].read()
    return value


# fixtures


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoS3]:
    with MotoS3() as server:
        yield server


@pytest.fixture(scope="module")
def signed_s3(moto: MotoS3) -> Iterator[SignedS3]:
    with SignedS3(moto.url) as front:
        yield front


@pytest.fixture(scope="module")
def fake(moto: MotoS3) -> Iterator[FakeBedrock]:
    with FakeBedrock(moto.url) as server:
        yield server


@pytest.fixture(autouse=True)
def fake_defaults(fake: FakeBedrock) -> Iterator[None]:
    """Each test leaves the shared fake unheld and completing its jobs."""
    yield
    fake.hold = False
    fake.outcome = "completed"


@pytest.fixture(scope="module")
def server(signed_s3: SignedS3, fake: FakeBedrock,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with configured_server(tmp_path_factory.mktemp("bedrock"),
                           bedrock_config(signed_s3.url, fake)) as running:
        yield running


@pytest.fixture
def s3(server: RunningServer) -> Any:
    """The seed's S3 client: this server's test keys, not AWS's, and the provider header."""
    return with_provider(s3_client(server), "bedrock")


@pytest.fixture
def bedrock(server: RunningServer) -> Any:
    return with_provider(bedrock_client(server), "bedrock")


@pytest.fixture
def direct(moto: MotoS3) -> Any:
    """A boto3 client straight on moto: what S3 itself answers."""
    return moto.client()


@pytest.fixture
def bucket(direct: Any) -> str:
    name = unique("bedrock")
    direct.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    return name
